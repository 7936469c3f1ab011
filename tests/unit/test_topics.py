"""Topic modelling: preprocessing, the TopicModel estimator, persistence, off-domain score, lift, drift.

All on small synthetic text generated here (three planted topics with disjoint vocabularies);
the shared-corpora checks are in tests/corpora/test_topics_corpora.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("gensim")

from labeler import ConfigError, ModelError, Report  # noqa: E402
from labeler.topics import (  # noqa: E402
    InvalidParameterError,
    ReportPreprocessor,
    TopicModel,
    dominant_topic,
    jensen_shannon,
    label_topic_lift,
    topic_drift,
)
from labeler.topics.model import robust_threshold, select_k  # noqa: E402
from labeler.topics.stats import js_contributions  # noqa: E402

POOLS = {
    "pleura": "effusion pneumothorax pleural blunting costophrenic thickening loculated hemothorax fissure "
              "meniscus_sign empyema".split(),
    "devices": "tube catheter carina pacemaker sternotomy wires jugular subclavian enteric stomach lead "
               "port".split(),
    "edema": "interstitial congestion kerley septal cephalization overload vascular hilar haziness "
             "redistribution indistinct engorgement".split(),
}
FOREIGN = "ligament cruciate tendon cartilage patella condyle tibial plateau quadriceps popliteal chondral " \
          "arthroscopy".split()


def make_docs(n: int, seed: int, pools=POOLS, mix: float = 0.85) -> tuple[list[str], list[str]]:
    """``n`` report-like texts, each mostly from one pool; returns (texts, dominant pool names)."""
    rng = np.random.default_rng(seed)
    names = list(pools)
    texts, doms = [], []
    for _ in range(n):
        dom = names[rng.integers(len(names))]
        words = []
        for _ in range(int(rng.integers(12, 20))):
            pool = pools[dom] if rng.random() < mix else pools[names[rng.integers(len(names))]]
            words.append(pool[rng.integers(len(pool))])
        sentences = [" ".join(words[i:i + 5]) for i in range(0, len(words), 5)]
        texts.append("FINDINGS: " + ". ".join(s.capitalize() for s in sentences) + ".")
        doms.append(dom)
    return texts, doms


@pytest.fixture(scope="module")
def corpus():
    return make_docs(150, seed=1)


@pytest.fixture(scope="module")
def fitted(corpus):
    texts, _ = corpus
    return TopicModel(n_topics=(2, 3, 4), passes=10, iterations=50, min_df=2, bigrams=False,
                      random_state=0).fit(texts)


# ------------------------------------------------------------------------------ preprocessing


def test_preprocess_drops_placeholders_numbers_dates_and_stop_words():
    pre = ReportPreprocessor()
    text = ("FINDINGS: Stable 2.3 cm nodule on XXXX 03/12/2010 at 4:45 p.m. compared with ___ in March; "
            "right x-XXXX seen.")
    assert pre.tokens([text]) == [["stable", "nodule", "compared"]]


def test_preprocess_keeps_findings_impression_technique_and_drops_history_comparison():
    pre = ReportPreprocessor()
    text = ("INDICATION: Cough and fever.\nCOMPARISON: Radiograph of prior year.\nTECHNIQUE: Portable view.\n"
            "FINDINGS: Lungs clear.\nIMPRESSION: Normal study.")
    assert pre.tokens([text]) == [["portable", "view", "lungs", "clear", "normal", "study"]]


def test_preprocess_sections_none_keeps_whole_text():
    pre = ReportPreprocessor(sections=None)
    assert pre.tokens(["INDICATION: Cough.\nFINDINGS: Lungs clear."]) == [["indication", "cough", "findings",
                                                                            "lungs", "clear"]]


def test_preprocess_report_without_kept_sections_falls_back_to_whole_text():
    pre = ReportPreprocessor()
    assert pre.tokens(["HISTORY: Chronic cough."]) == [["history", "chronic", "cough"]]


def test_preprocess_segments_break_at_sentence_punctuation_and_lines():
    pre = ReportPreprocessor()
    assert pre.segments(["FINDINGS: Pleural effusion. Heart enlarged\nmild edema"]) == [
        [["pleural", "effusion"], ["heart", "enlarged"], ["mild", "edema"]]]


def test_preprocess_accepts_reports_and_extra_stop_words():
    pre = ReportPreprocessor(extra_stop_words=("Stable",))
    assert pre.tokens([Report("u1", "FINDINGS: Stable cardiomegaly.")]) == [["cardiomegaly"]]


def test_preprocess_drops_mimic_bracket_placeholders():
    pre = ReportPreprocessor()
    assert pre.tokens(["FINDINGS: Seen by Dr. [**Last Name 123**] today, effusion."]) == [["today", "effusion"]]


@pytest.mark.parametrize("kwargs", [{"sections": "findings"}, {"extra_stop_words": "abc"},
                                    {"min_token_length": 0}])
def test_preprocess_rejects_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        ReportPreprocessor(**kwargs)


def test_preprocess_round_trips_through_dict():
    pre = ReportPreprocessor(sections=("findings",), extra_stop_words=("foo",), min_token_length=3)
    assert ReportPreprocessor.from_dict(json.loads(json.dumps(pre.to_dict()))) == pre


# ------------------------------------------------------------------------------ estimator


@pytest.mark.parametrize("params", [
    {"n_topics": 1}, {"n_topics": []}, {"n_topics": (3, "x")}, {"n_topics": True}, {"coherence": "c_npmi"},
    {"passes": 0}, {"max_df": 0.0}, {"max_df": 1.5}, {"min_df": 0}, {"alpha": "auto"}, {"alpha": -1.0},
    {"eta": 0}, {"offdomain_quantile": 1.0}, {"offdomain_quantile": 0.2}, {"workers": 0}, {"random_state": -1},
    {"sections": "findings"}, {"k_selection": "elbow"},
])
def test_topic_model_rejects_bad_parameters_as_value_and_config_errors(params):
    model = TopicModel(**params)
    with pytest.raises(InvalidParameterError) as exc:
        model.validate_params()
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, ConfigError)


def test_topic_model_grid_is_sorted_and_unique():
    assert TopicModel(n_topics=[8, 4, 8, 6]).grid == (4, 6, 8)
    assert TopicModel(n_topics=5).grid == (5,)


def test_select_k_max_and_one_standard_error_rules():
    curve = [{"k": 8, "coherence": 0.56, "se": 0.02}, {"k": 4, "coherence": 0.50, "se": 0.02},
             {"k": 6, "coherence": 0.55, "se": 0.02}]
    assert select_k(curve, "max") == 8
    assert select_k(curve, "one_se") == 6
    assert select_k([{"k": 5, "coherence": 0.6, "se": 0.0}, {"k": 9, "coherence": 0.6, "se": 0.0}], "max") == 5


def test_topic_model_unfitted_raises_model_error():
    with pytest.raises(ModelError):
        TopicModel().transform(["FINDINGS: effusion."])


def test_topic_model_coherence_curve_covers_the_grid_and_chooses_its_maximum(fitted):
    curve = {c["k"]: c["coherence"] for c in fitted.coherence_curve_}
    assert sorted(curve) == [2, 3, 4]
    assert all(np.isfinite(v) for v in curve.values())
    assert fitted.n_topics_ == max(curve, key=lambda k: (curve[k], -k))
    # too few topics mix the planted vocabularies: clearly less coherent than the planted k
    assert curve[2] < curve[3] - 0.1


def test_topic_model_topics_recover_the_planted_vocabularies(fitted):
    pool_of = {w: name for name, words in POOLS.items() for w in words}
    owners = []
    for terms in fitted.top_terms(5):
        pools = {pool_of[t] for t, _ in terms}
        assert len(pools) == 1, terms
        owners.append(pools.pop())
    assert set(owners) == set(POOLS)


def test_topic_model_transform_shape_and_simplex(fitted, corpus):
    theta = fitted.transform(corpus[0][:20])
    assert theta.shape == (20, fitted.n_topics_)
    assert np.all(theta >= 0)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, atol=1e-9)


def test_topic_model_dominant_topic_matches_planted_topic(fitted, corpus):
    texts, doms = make_docs(60, seed=7)
    pred = dominant_topic(fitted.transform(texts))
    # map each predicted topic to its majority planted pool; agreement must be near perfect
    agree = 0
    for t in set(pred.tolist()):
        members = [d for d, p in zip(doms, pred) if p == t]
        agree += max(members.count(d) for d in set(members))
    assert agree / len(texts) >= 0.95


def test_topic_model_transform_of_a_report_does_not_depend_on_the_batch(fitted, corpus):
    texts = corpus[0]
    together = fitted.transform(texts[:10])
    alone = fitted.transform([texts[3]])
    np.testing.assert_array_equal(together[3], alone[0])


def test_topic_model_fit_is_deterministic_for_a_seed(corpus):
    texts = corpus[0][:80]
    params = dict(n_topics=3, passes=5, iterations=30, min_df=2, bigrams=False, random_state=3)
    a = TopicModel(**params).fit(texts)
    b = TopicModel(**params).fit(texts)
    np.testing.assert_array_equal(a.lda_.state.sstats, b.lda_.state.sstats)
    np.testing.assert_array_equal(a.transform(texts), b.transform(texts))


def test_topic_model_fit_with_two_workers_is_deterministic(corpus):
    texts = corpus[0][:80]
    params = dict(n_topics=3, passes=5, iterations=30, min_df=2, bigrams=False, random_state=3, workers=2)
    a = TopicModel(**params).fit(texts)
    b = TopicModel(**params).fit(texts)
    np.testing.assert_array_equal(a.lda_.state.sstats, b.lda_.state.sstats)


def test_topic_model_different_seeds_give_different_models(corpus):
    texts = corpus[0][:80]
    params = dict(n_topics=3, passes=5, iterations=30, min_df=2, bigrams=False)
    a = TopicModel(random_state=1, **params).fit(texts)
    b = TopicModel(random_state=2, **params).fit(texts)
    assert not np.array_equal(a.lda_.state.sstats, b.lda_.state.sstats)


def test_topic_model_learns_bigrams_with_phrases():
    rng = np.random.default_rng(0)
    filler = "heart size normal mediastinum clear lungs stable".split()
    texts = []
    for _ in range(60):
        words = [filler[i] for i in rng.integers(0, len(filler), 6)]
        words.insert(int(rng.integers(0, 6)), "pleural effusion")
        texts.append("FINDINGS: " + " ".join(words) + ".")
    model = TopicModel(n_topics=2, passes=3, min_df=2, max_df=1.0, bigram_min_count=5,
                       bigram_threshold=0.5, random_state=0).fit(texts)
    assert "pleural_effusion" in model.dictionary_.token2id
    assert "pleural" not in model.dictionary_.token2id


def test_topic_model_rejects_a_corpus_too_small_for_the_grid():
    with pytest.raises(InvalidParameterError, match="terms"):
        TopicModel(n_topics=5, min_df=1, bigrams=False).fit(["FINDINGS: effusion.", "FINDINGS: pneumothorax."])


def test_topic_model_rejects_non_text_input():
    with pytest.raises(InvalidParameterError):
        TopicModel(n_topics=2).fit([1, 2, 3])


# ------------------------------------------------------------------------------ off-domain


def test_offdomain_flags_foreign_vocabulary_and_not_in_domain_reports(fitted):
    held_in, _ = make_docs(80, seed=11)
    foreign, _ = make_docs(20, seed=12, pools={"knee": FOREIGN}, mix=1.0)
    a_in = fitted.assign(held_in)
    a_off = fitted.assign(foreign)
    assert a_off.flag.all()
    assert a_in.flag.mean() <= 0.05
    assert np.nanmin(a_off.score) > np.nanmax(a_in.score)
    np.testing.assert_array_equal(a_off.oov_rate, np.ones(20))


def test_offdomain_report_without_tokens_is_not_flagged_and_has_nan_score(fitted):
    a = fitted.assign(["FINDINGS: 3/4/2010 XXXX ___.", "FINDINGS: effusion pneumothorax."])
    assert a.n_tokens.tolist() == [0, 2]
    assert np.isnan(a.score[0]) and np.isfinite(a.score[1])
    assert a.flag.tolist() == [False, False]
    np.testing.assert_allclose(a.theta[0], fitted.lda_.alpha / fitted.lda_.alpha.sum())


def test_offdomain_topics_flag_reports_dominated_by_them(fitted):
    texts, _ = make_docs(30, seed=5)
    base = fitted.assign(texts)
    target = int(base.dominant[0])
    flagged = fitted.assign(texts, offdomain_topics=[target])
    np.testing.assert_array_equal(flagged.flag, base.flag | (base.dominant == target))


def test_offdomain_user_threshold_overrides_the_model(fitted):
    texts, _ = make_docs(30, seed=5)
    a = fitted.assign(texts, threshold=-1.0)
    assert a.flag.all() and a.threshold == -1.0


@pytest.mark.parametrize("kwargs", [{"threshold": float("nan")}, {"offdomain_topics": [99]},
                                    {"offdomain_topics": [-1]}])
def test_offdomain_assign_rejects_bad_arguments(fitted, kwargs):
    with pytest.raises(InvalidParameterError):
        fitted.assign(["FINDINGS: effusion."], **kwargs)


def test_offdomain_threshold_is_robust_to_a_few_outliers():
    rng = np.random.default_rng(0)
    clean = rng.normal(5.0, 1.0, 3000)
    dirty = np.r_[clean, rng.normal(12.0, 0.5, 60)]  # 2% strays
    t_clean = robust_threshold(clean, 0.99)["threshold"]
    t_dirty = robust_threshold(dirty, 0.99)["threshold"]
    assert abs(t_clean - (5.0 + 2.326)) < 0.15  # calibrated on a normal
    assert abs(t_dirty - t_clean) < 0.3  # the strays barely move it ...
    assert np.quantile(dirty, 0.99) > 10  # ... while the plain quantile sits among them
    assert (dirty[3000:] > t_dirty).all()


def test_offdomain_threshold_calibrated_on_training_corpus(fitted):
    cal = fitted.offdomain_calibration_
    assert cal["rule"] == "Q50 + z_q / z_0.9 * (Q90 - Q50)"
    expected = cal["q50"] + cal["z_q"] / 1.2815516 * (cal["q90"] - cal["q50"])
    assert cal["threshold"] == pytest.approx(expected, abs=1e-3)
    assert fitted.offdomain_threshold_ == cal["threshold"]
    # calibrated on the reports the final (trimmed) model was fitted on
    assert cal["n_scores"] == fitted.training_["n_reports_modelled"] == 150 - fitted.training_["n_excluded_offdomain"]


# ------------------------------------------------------------------------------ persistence


def test_save_load_round_trip_gives_identical_outputs(fitted, corpus, tmp_path):
    path = fitted.save(tmp_path / "m")
    loaded = TopicModel.load(path)
    texts = corpus[0][:25] + ["FINDINGS: ligament tendon."]
    np.testing.assert_allclose(loaded.transform(texts), fitted.transform(texts), rtol=0, atol=1e-6)
    np.testing.assert_allclose(loaded.offdomain_score(texts), fitted.offdomain_score(texts), rtol=0, atol=1e-5)
    assert [[t for t, _ in x] for x in loaded.top_terms(5)] == [[t for t, _ in x] for x in fitted.top_terms(5)]
    assert loaded.n_topics_ == fitted.n_topics_
    assert loaded.offdomain_threshold_ == fitted.offdomain_threshold_
    assert loaded.coherence_curve_ == fitted.coherence_curve_
    assert loaded.model_sha256 == fitted.model_sha256 and len(loaded.model_sha256) == 64


def test_save_writes_manifest_with_provenance(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["kind"] == "radlabeler.topics.lda" and manifest["format_version"] == 1
    assert manifest["n_topics"] == fitted.n_topics_ and manifest["seed"] == 0
    assert [c["k"] for c in manifest["coherence"]["curve"]] == [2, 3, 4]
    assert len(manifest["training"]["fingerprint_sha256"]) == 64
    assert set(manifest["files"]) == {"dictionary.txt", "phrases.json", "lda.npz"}
    assert manifest["params"]["n_topics"] == [2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["dictionary.txt", "lda.npz", "manifest.json",
                                                                   "phrases.json"]


def test_load_detects_a_modified_file(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    with open(tmp_path / "m" / "dictionary.txt", "a", encoding="utf-8") as fh:
        fh.write("999\tinjected\t1\n")
    with pytest.raises(ModelError, match="sha256"):
        TopicModel.load(tmp_path / "m")


@pytest.mark.parametrize("setup", ["missing", "not_a_model", "other_kind", "future_format"])
def test_load_rejects_what_is_not_a_topic_model(tmp_path, setup):
    d = tmp_path / "m"
    if setup != "missing":
        d.mkdir()
    if setup == "other_kind":
        (d / "manifest.json").write_text(json.dumps({"kind": "radlabeler.classifier"}))
    if setup == "future_format":
        (d / "manifest.json").write_text(json.dumps({"kind": "radlabeler.topics.lda", "format_version": 99}))
    with pytest.raises(ModelError):
        TopicModel.load(d)


def test_save_refuses_to_replace_other_directories(fitted, tmp_path):
    d = tmp_path / "precious"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError):
        fitted.save(d)
    with pytest.raises(ConfigError):
        fitted.save(d, overwrite=True)
    assert (d / "notes.txt").read_text() == "keep me"
    fitted.save(tmp_path / "m")
    fitted.save(tmp_path / "m", overwrite=True)
    assert (tmp_path / "m" / "manifest.json").is_file()


# ------------------------------------------------------------------------------ stats


def test_jensen_shannon_known_values():
    assert jensen_shannon([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert jensen_shannon([1, 0], [0, 1]) == 1.0
    assert jensen_shannon([0.5, 0.5], [1, 0]) == pytest.approx(0.311278, abs=1e-6)
    assert jensen_shannon([2, 2], [4, 0]) == pytest.approx(0.311278, abs=1e-6)  # normalised


def test_jensen_shannon_contributions_sum_to_divergence():
    p, q = [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]
    c = js_contributions(p, q)
    assert c.sum() == pytest.approx(jensen_shannon(p, q))
    assert np.all(c >= 0)


@pytest.mark.parametrize("p,q", [([0.5, 0.5], [1.0]), ([], []), ([0, 0], [1, 0]), ([-1, 2], [1, 0])])
def test_jensen_shannon_rejects_bad_input(p, q):
    with pytest.raises(InvalidParameterError):
        jensen_shannon(p, q)


def test_dominant_topic_breaks_ties_low_and_marks_mixed():
    theta = [[0.5, 0.5, 0.0], [0.1, 0.3, 0.6], [0.4, 0.35, 0.25]]
    assert dominant_topic(theta).tolist() == [0, 2, 0]
    assert dominant_topic(theta, min_weight=0.45).tolist() == [0, 2, -1]
    with pytest.raises(InvalidParameterError):
        dominant_topic(theta, none_value=1)


def test_label_topic_lift_point_estimate():
    theta = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8]])
    t = label_topic_lift(theta, [1, 1, 0, 0], ["device"], n_bootstrap=0)
    np.testing.assert_allclose(t.lift[0], [1.7 / 2.0 / 0.5, 0.3 / 2.0 / 0.5])
    assert t.n_positive.tolist() == [2]
    assert np.isnan(t.ci_low).all()


def test_label_topic_lift_finds_the_carrying_topic_and_not_a_random_label():
    rng = np.random.default_rng(0)
    theta = rng.dirichlet([0.3, 0.3, 0.3], size=1500)
    dom = theta.argmax(axis=1)
    device = (rng.random(1500) < np.where(dom == 2, 0.6, 0.05)).astype(float)
    noise = (rng.random(1500) < 0.2).astype(float)
    t = label_topic_lift(theta, np.c_[device, noise], ["device", "noise"], n_bootstrap=300, random_state=1)
    assert t.ci_low[0, 2] > 1.5
    assert t.ci_high[0, 0] < 1 and t.ci_high[0, 1] < 1
    assert all(t.ci_low[1, k] < 1 < t.ci_high[1, k] for k in range(3))
    sig = t.rows(significant_only=True)
    assert {(r["label"], r["topic"]) for r in sig if r["lift"] > 1} == {("device", 2)}


def test_label_topic_lift_is_deterministic_and_skips_unknown_labels():
    rng = np.random.default_rng(0)
    theta = rng.dirichlet([1, 1], size=200)
    y = (rng.random(200) < 0.3).astype(float)
    y_nan = y.copy()
    y_nan[:50] = np.nan
    a = label_topic_lift(theta, y_nan, n_bootstrap=100, random_state=4)
    b = label_topic_lift(theta, y_nan, n_bootstrap=100, random_state=4)
    c = label_topic_lift(theta[50:], y[50:], n_bootstrap=100, random_state=4)
    np.testing.assert_array_equal(a.ci_low, b.ci_low)
    np.testing.assert_allclose(a.lift, c.lift)
    assert a.n_positive[0] == int(y[50:].sum())


def test_label_topic_lift_gives_no_interval_below_min_positive():
    theta = np.random.default_rng(0).dirichlet([1, 1], size=100)
    y = np.zeros(100)
    y[:3] = 1
    t = label_topic_lift(theta, y, n_bootstrap=100, min_positive=5)
    assert np.isfinite(t.lift).all() and np.isnan(t.ci_low).all()
    assert t.rows(significant_only=True) == []


@pytest.mark.parametrize("labels", [[0, 1, 2], [[0, 1]], [0.5, 1, 0]])
def test_label_topic_lift_rejects_bad_labels(labels):
    with pytest.raises(InvalidParameterError):
        label_topic_lift(np.full((3, 2), 0.5), labels)


def test_topic_drift_detects_a_shift_and_names_the_moved_topics():
    rng = np.random.default_rng(0)
    a = rng.dirichlet([4, 2, 2, 2], size=400)
    b = rng.dirichlet([2, 2, 2, 4], size=300)
    d = topic_drift(a, b, n_permutations=300, n_bootstrap=1000, min_shift=0.05, random_state=0)
    assert d.js > 5 * d.baseline_q95
    assert d.permutation_p == pytest.approx(1 / 301)
    assert sorted(s.topic for s in d.moved) == [0, 3]
    assert [s.topic for s in d.shifts][:2] in ([0, 3], [3, 0])
    out = d.to_dict()
    assert out["n_a"] == 400 and out["n_b"] == 300 and sorted(out["moved_topics"]) == [0, 3]


def test_topic_drift_same_source_stays_within_the_baseline():
    rng = np.random.default_rng(1)
    a = rng.dirichlet([2, 2, 2], size=400)
    b = rng.dirichlet([2, 2, 2], size=400)
    d = topic_drift(a, b, n_permutations=300, n_bootstrap=300, random_state=0)
    assert d.permutation_p > 0.05
    assert d.js < d.baseline_q95
    assert d.moved == ()


def test_topic_drift_is_deterministic_for_a_seed():
    rng = np.random.default_rng(2)
    a, b = rng.dirichlet([1, 1, 1], size=100), rng.dirichlet([1, 2, 1], size=100)
    d1 = topic_drift(a, b, n_permutations=50, n_bootstrap=50, random_state=9)
    d2 = topic_drift(a, b, n_permutations=50, n_bootstrap=50, random_state=9)
    assert d1.to_dict() == d2.to_dict()


def test_topic_drift_rejects_mismatched_topics():
    with pytest.raises(InvalidParameterError):
        topic_drift(np.full((5, 2), 0.5), np.full((5, 3), 1 / 3))


def test_topic_drift_on_model_output_separates_corpora(fitted):
    texts_a, _ = make_docs(80, seed=21, pools={"pleura": POOLS["pleura"], "edema": POOLS["edema"]})
    texts_b, _ = make_docs(80, seed=22, pools={"devices": POOLS["devices"]})
    texts_a2, _ = make_docs(80, seed=23, pools={"pleura": POOLS["pleura"], "edema": POOLS["edema"]})
    cross = topic_drift(fitted.transform(texts_a), fitted.transform(texts_b), n_permutations=200, n_bootstrap=200)
    same = topic_drift(fitted.transform(texts_a), fitted.transform(texts_a2), n_permutations=200, n_bootstrap=200)
    assert cross.js > 10 * same.js
    assert cross.permutation_p < 0.01 and same.permutation_p > 0.01


def test_refit_inliers_excludes_flagged_training_reports_and_flags_them_after():
    texts, _ = make_docs(200, seed=31)
    strays, _ = make_docs(6, seed=32, pools={"knee": FOREIGN}, mix=1.0)
    corpus = texts[:100] + strays + texts[100:]
    params = dict(n_topics=3, passes=10, iterations=50, min_df=2, bigrams=False, random_state=0)
    trimmed = TopicModel(**params).fit(corpus)
    plain = TopicModel(refit_inliers=False, **params).fit(corpus)
    assert trimmed.training_["n_excluded_offdomain"] >= 6
    assert trimmed.training_["n_reports_modelled"] == 206 - trimmed.training_["n_excluded_offdomain"]
    assert plain.training_["n_excluded_offdomain"] == 0 and plain.excluded_indices_.size == 0
    assert set(range(100, 106)) <= set(trimmed.excluded_indices_.tolist())
    assert not set(FOREIGN) & set(trimmed.dictionary_.token2id)
    assert set(FOREIGN) & set(plain.dictionary_.token2id)
    assert trimmed.assign(strays).flag.all()


def test_refit_that_cannot_be_done_keeps_the_first_fit(caplog):
    # the strange third report is flagged; without it one term is left, too few for k=2
    texts = ["FINDINGS: effusion effusion.", "FINDINGS: effusion.",
             "FINDINGS: ligament tendon cartilage meniscus patella."]
    model = TopicModel(n_topics=2, min_df=1, max_df=1.0, bigrams=False, passes=10, random_state=0,
                       offdomain_quantile=0.5).fit(texts)
    assert "keeping the first fit" in caplog.text
    assert model.training_["n_excluded_offdomain"] == 0 and model.excluded_indices_.size == 0
    assert model.transform(texts).shape == (3, 2)
    assert "ligament" in model.dictionary_.token2id


@pytest.mark.parametrize("module", ["labeler.topics.stats", "labeler.topics.preprocess", "labeler.topics.model"])
def test_topics_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
