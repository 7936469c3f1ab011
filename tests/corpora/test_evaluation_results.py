"""The committed results under evaluation/ are what `bash evaluation/regenerate.sh` produces now,
agree with the older scoring helpers, and hold no report text."""

import json
import re
from pathlib import Path

import pytest

from labeler.evaluate import (
    assert_items,
    evaluate_paths,
    predict_gold_statuses,
    score_assertions,
    score_binary,
)
from labeler.gold import load_iu_mesh_gold, load_negex

pytestmark = pytest.mark.corpora

ROOT = Path(__file__).resolve().parents[2]
EVALUATION = ROOT / "evaluation"
REGENERATE = "stale committed results: run `bash evaluation/regenerate.sh` and commit evaluation/"


@pytest.fixture(scope="module")
def iu_report(rule_labeler, shared_corpora):
    iu = shared_corpora / "iu"
    return evaluate_paths(iu / "reports.csv", labelers={"rules": rule_labeler}, gold_format="iu-mesh",
                          mapping=iu / "mesh_to_chexpert.tsv", tier="core", n_bootstrap=1000, seed=0)


@pytest.fixture(scope="module")
def negex_report(rule_labeler, shared_corpora):
    return evaluate_paths(shared_corpora / "negex" / "rsAnnotations-1-120-random.txt", labelers={"rules": rule_labeler},
                          gold_format="negex", n_bootstrap=1000, seed=0)


def test_committed_iu_results_are_reproduced(iu_report):
    committed = json.loads((EVALUATION / "iu_core" / "evaluation.json").read_text(encoding="utf-8"))
    assert iu_report.to_dict() == committed, REGENERATE


def test_committed_negex_results_are_reproduced(negex_report):
    committed = json.loads((EVALUATION / "negex" / "evaluation.json").read_text(encoding="utf-8"))
    assert negex_report.to_dict() == committed, REGENERATE


def test_iu_evaluation_agrees_with_score_binary(iu_report, rule_labeler, shared_corpora):
    gold = load_iu_mesh_gold(shared_corpora / "iu" / "reports.csv", shared_corpora / "iu" / "mesh_to_chexpert.tsv")
    old = score_binary(gold, predict_gold_statuses(rule_labeler, gold), min_support=10)
    new = iu_report.labelers[0].scores.tasks["coded"]
    assert iu_report.observations == gold.observations
    assert new.f1.tolist() == pytest.approx(old.f1.tolist())
    assert iu_report.headline(0)["macro"].value == pytest.approx(old.macro_f1)


def test_negex_evaluation_agrees_with_score_assertions(negex_report, rule_labeler, shared_corpora):
    items = load_negex(shared_corpora / "negex" / "rsAnnotations-1-120-random.txt")
    old = score_assertions(items, *assert_items(rule_labeler.stages[3], items))
    neg = negex_report.labelers[0].scores.tasks["negative"]
    assert (int(neg.tp[0]), int(neg.fp[0]), int(neg.fn[0]), int(neg.tn[0])) == (old.tp, old.fp, old.fn, old.tn)
    assert negex_report.headline(0)["macro"].value == pytest.approx(old.f1)


def test_committed_results_hold_no_report_text(shared_corpora):
    import pandas as pd

    df = pd.read_csv(shared_corpora / "iu" / "reports.csv", dtype=str, keep_default_na=False)
    texts = [t for c in ("indication", "comparison", "findings", "impression") for t in df[c]]
    with open(shared_corpora / "negex" / "rsAnnotations-1-120-random.txt", encoding="utf-8", errors="replace") as fh:
        texts += [line.split("\t")[2] for line in list(fh)[1:] if line.count("\t") >= 2]
    fragments = {s.strip() for t in texts for s in re.split(r"(?<=[.:])\s+", t) if len(s.strip()) >= 25}
    blob = "\n".join(p.read_text(encoding="utf-8") for p in EVALUATION.rglob("*") if p.is_file())
    leaked = [f for f in fragments if f in blob]
    assert len(fragments) > 5000
    assert leaked == []
