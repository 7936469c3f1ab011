"""The non-chest reports written for the off-domain tests (tests/data/offdomain_reports.jsonl)."""

import json
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "offdomain_reports.jsonl"


def test_offdomain_reports_are_many_varied_and_well_formed():
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 56
    assert all(set(r) == {"study_uid", "exam", "findings", "impression"} for r in rows)
    assert len({r["study_uid"] for r in rows}) == 56
    exams = Counter(r["exam"] for r in rows)
    assert len(exams) >= 20 and max(exams.values()) <= 6
    assert all(r["impression"].strip() for r in rows)
    assert sum(1 for r in rows if not r["findings"]) >= 5  # impression-only reports, as in IU
    assert not any("chest radiograph" in (r["findings"] + r["impression"]).lower() for r in rows)
