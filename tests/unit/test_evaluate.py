"""The evaluation harness: exact numbers on hand-computed examples, id/observation alignment,
error lists with evidence, determinism, labels files of every format."""

import csv
import json

import numpy as np
import pytest

from labeler.errors import ConfigError, DataError
from labeler.evaluate import evaluate, evaluate_paths, write_report
from labeler.gold import load_binary_gold, load_chexpert_gold
from labeler.predictions import Predictions, load_predictions
from labeler.vocab import AssertionStatus

P, A, U, B = AssertionStatus.PRESENT, AssertionStatus.ABSENT, AssertionStatus.UNCERTAIN, AssertionStatus.NOT_MENTIONED

# A status gold and predictions with known errors; every expected number below is worked out by hand.
# Edema  gold [P, P, N, U, B, P]  pred [P, U, N, U, P, B]
# PTX    gold [N, B, P, B, N, P]  pred [N, N, P, B, N, P]
STATUS_GOLD = [["study_uid", "Edema", "Pneumothorax"],
               ["r1", "1", "0"], ["r2", "1", ""], ["r3", "0", "1"], ["r4", "-1", ""], ["r5", "", "0"], ["r6", "1", "1"]]
STATUS_PRED = [["study_uid", "Edema", "Pneumothorax"],
               ["r1", "1", "0"], ["r2", "-1", "0"], ["r3", "0", "1"], ["r4", "-1", ""], ["r5", "1", "0"], ["r6", "", "1"]]

# Binary gold: Edema [1, 1, 0, 0, 1], Effusion [0, 1, 0, 1, 0]
BINARY_GOLD = [["study_uid", "Edema", "Pleural Effusion"],
               ["r1", "1", "0"], ["r2", "1", "1"], ["r3", "0", "0"], ["r4", "0", "1"], ["r5", "1", "0"]]
BINARY_PRED = [["study_uid", "Edema", "Pleural Effusion"],
               ["r1", "1", "0"], ["r2", "-1", ""], ["r3", "0", "-1"], ["r4", "", "1"], ["r5", "0", ""]]


@pytest.fixture()
def status_report(write_csv):
    gold = load_chexpert_gold(write_csv(STATUS_GOLD, "gold.csv"))
    pred = load_predictions(write_csv(STATUS_PRED, "pred.csv"), name="mine")
    return evaluate(gold, [pred], n_bootstrap=200, seed=0)


@pytest.fixture()
def binary_report(write_csv):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    pred = load_predictions(write_csv(BINARY_PRED, "pred.csv"), name="mine")
    return evaluate(gold, [pred], n_bootstrap=200, seed=0)


def f1s(report, task):
    return report.labelers[0].scores.tasks[task].f1.tolist()


def test_evaluate_status_known_errors_per_task_f1(status_report):
    assert f1s(status_report, "positive") == pytest.approx([0.4, 1.0])
    assert f1s(status_report, "negative") == pytest.approx([1.0, 0.8])
    unc = f1s(status_report, "uncertain")
    assert unc[0] == pytest.approx(2 / 3) and np.isnan(unc[1])  # no uncertain gold nor prediction
    assert f1s(status_report, "blank") == pytest.approx([0.0, 2 / 3])
    assert f1s(status_report, "mention") == pytest.approx([0.8, 8 / 9])


def test_evaluate_status_known_errors_precision_recall(status_report):
    pos = status_report.labelers[0].scores.tasks["positive"]
    assert pos.precision.tolist() == pytest.approx([0.5, 1.0])
    assert pos.recall.tolist() == pytest.approx([1 / 3, 1.0])
    assert (pos.tp.tolist(), pos.fp.tolist(), pos.fn.tolist()) == ([1, 2], [1, 0], [2, 0])


def test_evaluate_status_known_errors_kappa_and_weighted_f1(status_report):
    s = status_report.labelers[0].scores
    assert s.kappa.tolist() == pytest.approx([4 / 13, 0.75])
    assert s.kappa_macro.value == pytest.approx((4 / 13 + 0.75) / 2)
    assert s.weighted_f1.tolist() == pytest.approx([(1.0 + 2 / 3 + 0.4 * 3) / 5, 0.9])
    assert s.weighted_f1_macro.value == pytest.approx(((1.0 + 2 / 3 + 1.2) / 5 + 0.9) / 2)


def test_evaluate_status_known_errors_averages(status_report):
    t = status_report.labelers[0].scores.tasks
    assert t["positive"].averages["macro"]["f1"].value == pytest.approx(0.7)
    assert t["positive"].averages["micro"]["f1"].value == pytest.approx(6 / 9)
    assert t["positive"].averages["weighted"]["f1"].value == pytest.approx((0.4 * 3 + 1.0 * 2) / 5)
    assert t["uncertain"].averages["macro"]["f1"].value == pytest.approx(2 / 3)  # Pneumothorax has no support
    assert t["mention"].averages["micro"]["f1"].value == pytest.approx(16 / 19)


def test_evaluate_status_error_list(status_report):
    errors = [(e.observation, e.study_uid, e.error, e.gold, e.predicted) for e in status_report.errors]
    assert errors == [
        ("Edema", "r2", "wrong_status", "1", "-1"),
        ("Edema", "r5", "false_positive", "", "1"),
        ("Edema", "r6", "false_negative", "1", ""),
        ("Pneumothorax", "r2", "false_positive", "", "0"),
    ]


def test_evaluate_binary_known_errors(binary_report):
    t = binary_report.labelers[0].scores.tasks["coded"]
    assert t.precision.tolist() == pytest.approx([1.0, 0.5])
    assert t.recall.tolist() == pytest.approx([2 / 3, 0.5])
    assert t.f1.tolist() == pytest.approx([0.8, 0.5])
    assert binary_report.labelers[0].scores.kappa.tolist() == pytest.approx([8 / 13, 1 / 6])
    h = binary_report.headline(0)
    assert (h["macro"].value, h["micro"].value, h["weighted"].value) == pytest.approx((0.65, 6 / 9, 0.68))
    errors = [(e.observation, e.study_uid, e.error, e.gold, e.predicted) for e in binary_report.errors]
    assert errors == [("Edema", "r5", "false_negative", "1", "0"),
                      ("Pleural Effusion", "r2", "false_negative", "1", ""),
                      ("Pleural Effusion", "r3", "false_positive", "0", "-1")]


def test_evaluate_predictions_equal_to_gold_score_one(write_csv):
    gold = load_chexpert_gold(write_csv(STATUS_GOLD, "gold.csv"))
    pred = load_predictions(write_csv(STATUS_GOLD, "pred.csv"))
    rep = evaluate(gold, [pred], n_bootstrap=100)
    s = rep.labelers[0].scores
    for task, ts in s.tasks.items():
        assert np.all(ts.f1[ts.support > 0] == 1.0), task
        assert ts.averages["macro"]["f1"].value == 1.0
        assert ts.averages["macro"]["f1"].low == 1.0  # every resample is perfect too
    assert np.all(s.kappa == 1.0) and s.weighted_f1_macro.value == 1.0
    assert rep.errors == ()


def test_evaluate_same_seed_same_json(write_csv):
    gold = load_chexpert_gold(write_csv(STATUS_GOLD, "gold.csv"))
    pred = load_predictions(write_csv(STATUS_PRED, "pred.csv"))
    a = evaluate(gold, [pred], n_bootstrap=100, seed=5).to_json()
    b = evaluate(gold, [pred], n_bootstrap=100, seed=5).to_json()
    c = evaluate(gold, [pred], n_bootstrap=100, seed=6).to_json()
    assert a == b
    assert a != c


def test_evaluate_json_has_every_number(status_report):
    data = json.loads(status_report.to_json())
    assert data["schema"] == "radlabeler.evaluation.v1"
    assert data["gold"]["n"] == 6 and data["gold"]["observations"] == ["Edema", "Pneumothorax"]
    assert data["gold"]["counts"]["per_observation"]["Edema"] == [1, 3, 1, 1]  # blank, pos, neg, unc
    lab = data["labelers"][0]
    edema = lab["tasks"]["positive"]["per_observation"]["Edema"]
    assert (edema["tp"], edema["fp"], edema["fn"], edema["tn"], edema["support"]) == (1, 1, 2, 2, 3)
    assert edema["f1"]["value"] == 0.4 and len(edema["f1"]["ci"]) == 2
    assert lab["tasks"]["uncertain"]["per_observation"]["Pneumothorax"]["in_averages"] is False
    assert lab["kappa"]["per_observation"]["Pneumothorax"]["value"] == 0.75
    assert lab["confusion"]["per_observation"]["Edema"] == [[0, 1, 0, 0], [1, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert lab["errors"]["Edema"] == {"false_positive": 1, "false_negative": 1, "wrong_status": 1}
    assert data["settings"]["seed"] == 0 and data["settings"]["n_bootstrap"] == 200
    assert data["primary_metric"] == "weighted_f1"


def test_evaluate_markdown_headline(binary_report):
    md = binary_report.to_markdown()
    assert "| labeler | coded F1 macro | micro | weighted | kappa macro |" in md
    assert "| mine | 0.650 [" in md
    assert "| Edema | 3 | 2 | 1.000 | 0.667 | 0.800 [" in md


def test_evaluate_reports_ids_in_predictions_not_in_gold(write_csv):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    pred = load_predictions(write_csv(BINARY_PRED + [["x1", "1", "1"], ["x2", "0", "0"]], "pred.csv"), name="p")
    rep = evaluate(gold, [pred], n_bootstrap=0)
    al = rep.labelers[0].alignment
    assert (al.n_extra, al.extra_ids) == (2, ("x1", "x2"))
    assert rep.warnings == ("p: 2 predicted id(s) not in the gold, not scored (e.g. ['x1', 'x2'])",)
    assert rep.headline(0)["macro"].value == pytest.approx(0.65)


@pytest.mark.parametrize(("policy", "n"), [("blank", 5), ("drop", 4)])
def test_evaluate_missing_ids_policies(write_csv, policy, n):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    pred = load_predictions(write_csv(BINARY_PRED[:-1], "pred.csv"), name="p")  # r5 not predicted
    rep = evaluate(gold, [pred], n_bootstrap=0, missing=policy)
    assert rep.n == n
    assert rep.labelers[0].alignment.n_missing == 1
    assert rep.warnings[0].startswith("p: 1 of 5 gold id(s) not predicted (e.g. ['r5'])")
    edema = rep.labelers[0].scores.tasks["coded"]
    # r5 is a coded Edema: a false negative when scored as blank, absent when dropped
    assert edema.fn[0] == (1 if policy == "blank" else 0)


def test_evaluate_missing_ids_error_policy(write_csv):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    pred = load_predictions(write_csv(BINARY_PRED[:-1], "pred.csv"))
    with pytest.raises(DataError, match="1 of 5 gold id"):
        evaluate(gold, [pred], n_bootstrap=0, missing="error")


def test_evaluate_scores_only_observations_every_labeler_predicts(write_csv):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    partial = [[r[0], r[1]] for r in BINARY_PRED]
    a = load_predictions(write_csv(BINARY_PRED, "a.csv"), name="a")
    b = load_predictions(write_csv(partial, "b.csv"), name="b")
    rep = evaluate(gold, [a, b], n_bootstrap=0)
    assert rep.observations == ("Edema",)
    assert rep.labelers[1].alignment.unscored_observations == ("Pleural Effusion",)
    assert "1 gold observation(s) not scored (not predicted by every labeler): ['Pleural Effusion']" in rep.warnings


def test_evaluate_no_common_observation_is_data_error(write_csv):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    pred = Predictions("p", ("r1",), ("Fracture",), np.array([[P]], dtype=object))
    with pytest.raises(DataError, match="no gold observation is predicted"):
        evaluate(gold, [pred], n_bootstrap=0)


def test_evaluate_accepts_status_arrays(write_csv):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    values = load_predictions(write_csv(BINARY_PRED, "pred.csv")).values
    rep = evaluate(gold, {"array": values}, n_bootstrap=0)
    assert rep.labelers[0].name == "array"
    assert rep.headline(0)["macro"].value == pytest.approx(0.65)


def test_evaluate_side_by_side_differences(write_csv):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    perfect = load_predictions(write_csv(BINARY_GOLD, "perfect.csv"), name="perfect")
    mine = load_predictions(write_csv(BINARY_PRED, "pred.csv"), name="mine")
    rep = evaluate(gold, [perfect, mine], n_bootstrap=100, seed=1)
    (cmp,) = rep.comparisons
    assert (cmp.reference, cmp.other) == (0, 1)
    d = cmp.metrics["coded.f1"]
    assert d.diff.tolist() == pytest.approx([0.8 - 1.0, 0.5 - 1.0])
    assert d.averages["macro"][0].value == pytest.approx(0.65 - 1.0)
    assert cmp.mcnemar_b.tolist() == [1, 2] and cmp.mcnemar_c.tolist() == [0, 0]
    data = rep.to_dict()["comparisons"][0]
    assert (data["reference"], data["other"]) == ("perfect", "mine")
    assert data["mcnemar"]["Pleural Effusion"]["reference_right_other_wrong"] == 2


def test_evaluate_reference_option(write_csv):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    a = load_predictions(write_csv(BINARY_GOLD, "a.csv"), name="a")
    b = load_predictions(write_csv(BINARY_PRED, "b.csv"), name="b")
    rep = evaluate(gold, [a, b], n_bootstrap=0, reference="b")
    assert rep.to_dict()["comparisons"][0]["reference"] == "b"
    with pytest.raises(ConfigError, match="unknown reference"):
        evaluate(gold, [a, b], n_bootstrap=0, reference="c")


def test_evaluate_unknown_metric_is_config_error(write_csv):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    with pytest.raises(ConfigError, match="unknown metric 'mention.f1' for binary gold"):
        evaluate(gold, {"p": load_predictions(write_csv(BINARY_PRED, "p.csv"))}, n_bootstrap=0, primary="mention.f1")


# ---- labels files


def test_load_predictions_reports_ignored_columns(write_csv):
    path = write_csv([["study_uid", "Edema", "Report Impression", "Edema__probability"], ["r1", "1", "", "0.9"]])
    pred = load_predictions(path, observations=["edema"])
    assert pred.observations == ("edema",)
    assert pred.notes == ("columns not scored: ['Report Impression']",)


def test_load_predictions_unknown_values(write_csv):
    with pytest.raises(DataError, match=r"'Edema': 1 cell\(s\) \('2' x1; rows \[2\]\)"):
        load_predictions(write_csv([["study_uid", "Edema"], ["r1", "1"], ["r2", "2"]]))


def test_load_predictions_engine_jsonl_with_evidence(tmp_path):
    line = {"study_uid": "r1", "labels": {"Edema": 1, "Fracture": None},
            "evidence": {"Edema": [{"status": "present", "rule_id": "edema.mention.002", "section": "impression",
                                    "sentence": [10, 40], "mention": [20, 25],
                                    "modifier": {"rule_id": "unc.fwd.001", "category": "uncertain", "span": [12, 18]}}]},
            "provenance": {"labeler": "rules", "ruleset_version": "1.0.0"}}
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    pred = load_predictions(path)
    assert pred.values.tolist() == [[P, B]]
    ev = pred.evidence[(0, 0)]
    assert (ev.rule_id, ev.modifier_rule_id, ev.section, ev.sentence_start, ev.sentence_end) == \
        ("edema.mention.002", "unc.fwd.001", "impression", 10, 40)
    assert pred.provenance == {"labeler": "rules", "ruleset_version": "1.0.0"}


def test_load_predictions_bad_jsonl_lines_counted(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"study_uid": "r1", "labels": {"Edema": 1}}\nnot json\n{"labels": {}}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"2 line\(s\) are not objects with study_uid and labels \(lines \[2, 3\]\)"):
        load_predictions(path)


# ---- labelers on the gold's texts


TEXT_GOLD = [["study_uid", "text", "Pleural Effusion", "Pneumothorax"],
             ["s1", "IMPRESSION: Small left pleural effusion. No pneumothorax.", "1", "0"],
             ["s2", "IMPRESSION: No pleural effusion.", "0", ""],
             ["s3", "IMPRESSION: Possible right pneumothorax.", "", "-1"],
             ["s4", "IMPRESSION: Normal chest.", "", "1"]]


def test_evaluate_runs_a_labeler_with_evidence(rule_labeler, write_csv):
    gold = load_chexpert_gold(write_csv(TEXT_GOLD, "gold.csv"), text_columns=["text"])
    rep = evaluate(gold, {"rules": rule_labeler}, n_bootstrap=0, with_text=True)
    s = rep.labelers[0].scores
    assert s.tasks["mention"].f1.tolist() == pytest.approx([1.0, 0.8])  # s4 pneumothorax missed: tp 2, fn 1
    (err,) = rep.errors
    assert (err.observation, err.study_uid, err.error, err.gold, err.predicted) == ("Pneumothorax", "s4",
                                                                                    "false_negative", "1", "")
    assert rep.labelers[0].provenance["labeler"]["ruleset"]["name"] == "chexpert14"


def test_evaluate_error_rows_carry_rule_ids_and_text_only_when_asked(rule_labeler, write_csv, tmp_path):
    rows = [r[:] for r in TEXT_GOLD]
    rows[2][2] = "1"  # s2 says "No pleural effusion": gold now claims positive -> a wrong status with evidence
    gold = load_chexpert_gold(write_csv(rows, "gold.csv"), text_columns=["text"])
    plain = evaluate(gold, {"rules": rule_labeler}, n_bootstrap=0)
    err = next(e for e in plain.errors if e.study_uid == "s2")
    assert err.error == "wrong_status" and err.evidence.rule_id.startswith("pleural_effusion.mention.")
    assert err.evidence.modifier_rule_id.startswith("neg.")
    assert err.sentence is None
    paths = write_report(plain, tmp_path / "plain", html=False)
    text = paths["errors"].read_text() + paths["json"].read_text() + paths["markdown"].read_text()
    assert "no pleural effusion" not in text.lower() and "sentence" not in text.split("\n")[0].split(",")
    texty = evaluate(gold, {"rules": rule_labeler}, n_bootstrap=0, with_text=True)
    err = next(e for e in texty.errors if e.study_uid == "s2")
    assert err.sentence == "No pleural effusion."
    with (write_report(texty, tmp_path / "texty", html=False)["errors"]).open() as fh:
        rows = list(csv.DictReader(fh))
    assert next(r for r in rows if r["study_uid"] == "s2")["sentence"] == "No pleural effusion."


def test_evaluate_labeler_needs_gold_texts(rule_labeler, write_csv):
    gold = load_chexpert_gold(write_csv(STATUS_GOLD, "gold.csv"))
    with pytest.raises(ConfigError, match="carries no report texts"):
        evaluate(gold, {"rules": rule_labeler}, n_bootstrap=0)


NEGEX = "line number\tCondition\tsentence\tnegation_status\ttemporality\texperiencer\n" \
        "1\tedema\tNo peripheral EDEMA.\tNegated\tRecent\tPatient\n" \
        "2\tpneumothorax\tSmall PNEUMOTHORAX on the right.\tAffirmed\tRecent\tPatient\n" \
        "3\teffusion\tThere is no EFFUSION.\tAffirmed\tRecent\tPatient\n" \
        "4\tmass\tClear lungs.\tAffirmed\tRecent\tPatient\n"


def test_evaluate_negex_gold_uses_assertion_stage(rule_labeler, tmp_path):
    from labeler.gold import load_negex_gold

    path = tmp_path / "negex.txt"
    path.write_text(NEGEX, encoding="utf-8")
    rep = evaluate(load_negex_gold(path), {"rules": rule_labeler}, n_bootstrap=0)
    assert rep.primary == "negative.f1"
    neg = rep.labelers[0].scores.tasks["negative"]
    assert (int(neg.tp[0]), int(neg.fp[0]), int(neg.fn[0])) == (1, 1, 0)  # line 3 is annotated (wrongly) affirmed
    assert rep.warnings == ("rules: target phrase not found in its sentence for 1 row(s), predicted blank",)
    assert [(e.study_uid, e.error) for e in rep.errors] == [("3", "wrong_status"), ("4", "false_negative")]
    assert rep.errors[0].evidence.modifier_rule_id.startswith("neg.")


# ---- evaluate_paths (what the CLI calls)


def test_evaluate_paths_picks_gold_columns_that_are_predicted(write_csv):
    gold = write_csv([["study_uid", "subject_id", "Airspace Opacity", "Edema"],
                      ["r1", "17", "1", "0"], ["r2", "18", "", "1"]], "gold.csv")
    pred = write_csv([["study_uid", "Lung Opacity", "Edema"], ["r1", "1", "0"], ["r2", "", "0"]], "pred.csv")
    rep = evaluate_paths(gold, predictions={"p": pred}, rename={"Airspace Opacity": "Lung Opacity"}, n_bootstrap=0)
    assert rep.observations == ("Lung Opacity", "Edema")
    assert rep.warnings[0] == "1 gold column(s) match no predicted observation, not scored: ['subject_id']"
    assert rep.labelers[0].scores.tasks["mention"].f1.tolist() == pytest.approx([1.0, 1.0])
    assert rep.labelers[0].scores.tasks["positive"].f1.tolist() == pytest.approx([1.0, 0.0])


def test_evaluate_paths_no_matching_column_hints_rename(write_csv):
    gold = write_csv([["study_uid", "Airspace Opacity"], ["r1", "1"]], "gold.csv")
    pred = write_csv([["study_uid", "Lung Opacity"], ["r1", "1"]], "pred.csv")
    with pytest.raises(DataError, match="--rename"):
        evaluate_paths(gold, predictions={"p": pred}, n_bootstrap=0)


def test_write_report_refuses_to_overwrite(binary_report, tmp_path):
    write_report(binary_report, tmp_path / "out", html=False)
    with pytest.raises(ConfigError, match="--overwrite"):
        write_report(binary_report, tmp_path / "out", html=False)
    paths = write_report(binary_report, tmp_path / "out", html=False, overwrite=True)
    assert sorted(p.name for p in paths.values()) == ["errors.csv", "evaluation.json", "evaluation.md"]


def test_evaluate_binary_predictions_equal_to_gold_score_one(write_csv):
    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    pred = load_predictions(write_csv(BINARY_GOLD, "pred.csv"))  # 1 = positive, 0 = negative
    rep = evaluate(gold, [pred], n_bootstrap=100)
    coded = rep.labelers[0].scores.tasks["coded"]
    assert coded.f1.tolist() == [1.0, 1.0]
    assert {avg: e.value for avg, e in rep.headline(0).items()} == {"macro": 1.0, "micro": 1.0, "weighted": 1.0}
    assert rep.labelers[0].scores.kappa.tolist() == [1.0, 1.0]
    assert rep.errors == ()


@pytest.mark.parametrize("metric", ["kappa", "accuracy", "coded.f1"])
def test_evaluate_every_headline_metric_renders(write_csv, metric):
    from labeler.report_html import render_html

    gold = load_binary_gold(write_csv(BINARY_GOLD, "gold.csv"))
    a = load_predictions(write_csv(BINARY_GOLD, "a.csv"), name="a")
    b = load_predictions(write_csv(BINARY_PRED, "b.csv"), name="b")
    rep = evaluate(gold, [a, b], n_bootstrap=20, primary=metric)
    assert rep.primary == metric and metric in rep.comparisons[0].metrics
    assert "### b − a (" in rep.to_markdown()
    assert "id='headline-1'" in render_html(rep)


def test_evaluate_negex_errors_with_text_show_the_sentence(rule_labeler, tmp_path):
    from labeler.gold import load_negex_gold

    path = tmp_path / "negex.txt"
    path.write_text(NEGEX, encoding="utf-8")
    rep = evaluate(load_negex_gold(path), {"rules": rule_labeler}, n_bootstrap=0, with_text=True)
    assert [(e.study_uid, e.sentence) for e in rep.errors] == [("3", "There is no EFFUSION."), ("4", "Clear lungs.")]


def test_evaluate_paths_records_file_digests(write_csv):
    import hashlib

    gold = write_csv(BINARY_GOLD, "gold.csv")
    pred = write_csv(BINARY_PRED, "pred.csv")
    data = evaluate_paths(gold, predictions={"p": pred}, gold_format="binary", n_bootstrap=0).to_dict()
    assert data["gold"]["sha256"] == hashlib.sha256(gold.read_bytes()).hexdigest()
    assert data["labelers"][0]["source_sha256"] == hashlib.sha256(pred.read_bytes()).hexdigest()
