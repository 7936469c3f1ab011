"""Quality floors on the shared gold sets (skipped when ../shared/corpora is absent)."""

import pytest

from labeler.evaluate import assert_items, predict_gold_statuses, score_assertions, score_binary
from labeler.gold import load_iu_mesh_gold, load_negex

pytestmark = pytest.mark.corpora


def test_iu_core_macro_f1_floor(rule_labeler, shared_corpora):
    gold = load_iu_mesh_gold(shared_corpora / "iu" / "reports.csv", shared_corpora / "iu" / "mesh_to_chexpert.tsv")
    assert len(gold.study_uids) == 3008  # 3,080 reports minus 72 "No Indexing"
    scores = score_binary(gold, predict_gold_statuses(rule_labeler, gold), min_support=10)
    assert scores.eligible.sum() == 14
    assert scores.macro_f1 >= 0.85, scores.table()


def test_negex_negation_f1_floor(rule_labeler, shared_corpora):
    items = load_negex(shared_corpora / "negex" / "rsAnnotations-1-120-random.txt")
    assert len(items) == 2376
    negated, found = assert_items(rule_labeler.stages[3], items)
    scores = score_assertions(items, negated, found)
    assert scores.f1 >= 0.96, scores
