"""Topic models on the shared corpora: the off-domain flag and drift floors of the issue.

The protocols are those of ``evaluation/topics_eval.py`` (imported from there), at the k its
committed results chose. Each test fits one or two LDA models on ~3-4k reports: marked slow.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("gensim")

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.corpora, pytest.mark.slow]


@pytest.fixture(scope="module")
def ev():
    spec = importlib.util.spec_from_file_location("topics_eval", ROOT / "evaluation" / "topics_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def chosen_k():
    results = ROOT / "evaluation" / "results" / "topics_eval.json"
    return json.loads(results.read_text())["coherence"]["chosen_k"]


@pytest.fixture(scope="module")
def corpora(ev, shared_corpora):
    return ev.load_iu(shared_corpora), ev.load_synthetic(shared_corpora), ev.load_offdomain()


def test_topics_offdomain_reference_model_catches_non_chest_reports(ev, corpora, chosen_k):
    iu, syn, off = corpora
    res = ev.offdomain_reference(iu, syn, off, chosen_k)
    assert res["offdomain_n"] == 56
    assert res["offdomain_catch_rate"] >= 0.90, res["missed"]
    assert res["in_domain_false_flag_rate"] <= 0.05


def test_topics_offdomain_archive_with_strays_mixed_in(ev, corpora, chosen_k):
    iu, _, off = corpora
    res = ev.offdomain_archive(iu, off, chosen_k)
    assert res["offdomain_catch_rate"] >= 0.90, res["missed"]
    assert res["in_domain_false_flag_rate"] <= 0.05


def test_topics_drift_iu_vs_synthetic_far_above_iu_half_vs_half(ev, corpora, chosen_k):
    from labeler.topics import TopicModel

    iu, syn, _ = corpora
    model = TopicModel(n_topics=chosen_k, workers=2, random_state=0).fit(list(iu.texts) + list(syn.texts))
    summary, cross, within = ev.drift_eval(model, iu, syn)
    assert cross.js > 20 * within.js
    assert cross.js > 5 * cross.baseline_q95
    assert cross.permutation_p <= 0.01
    assert within.permutation_p > 0.01
    assert len(cross.moved) >= 2
