"""The README's quality table shows the numbers of the committed evaluation results."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
NUM = r"(\d\.\d{3})"
EST = rf"{NUM}\**\s*\[{NUM}, {NUM}\]"
#: the README shows 3 decimals of numbers the JSON keeps to 4
TOL = 6e-4


def load(name):
    return json.loads((ROOT / "evaluation" / name / "evaluation.json").read_text(encoding="utf-8"))


def triple(estimate):
    return [estimate["value"], *estimate["ci"]]


def test_readme_headline_matches_committed_iu_results():
    head = load("iu_core")["labelers"][0]["headline"]
    m = re.search(rf"macro F1 \(14 observations\) \| \*\*{EST} \|", README)
    assert m is not None
    assert [float(x) for x in m.groups()] == pytest.approx(triple(head["macro"]), abs=TOL)
    m = re.search(rf"micro F1 · macro Cohen's kappa \| {EST} · {EST} \|", README)
    assert m is not None
    assert [float(x) for x in m.groups()] == pytest.approx(triple(head["micro"]) + triple(head["kappa_macro"]), abs=TOL)


def test_readme_headline_matches_committed_negex_results():
    head = load("negex")["labelers"][0]["headline"]
    m = re.search(rf"negation F1 \| \*\*{EST} \(GenNegEx", README)
    assert m is not None
    assert [float(x) for x in m.groups()] == pytest.approx(triple(head["macro"]), abs=TOL)


def test_readme_per_observation_iu_f1_matches_committed_results():
    per_obs = load("iu_core")["labelers"][0]["tasks"]["coded"]["per_observation"]
    for name, row in per_obs.items():
        m = re.search(rf"{re.escape(name)} {NUM}", README)
        assert m is not None, name
        assert float(m.group(1)) == pytest.approx(row["f1"]["value"], abs=TOL), name
