"""The only conftest: shared fixtures, the ``--slow`` option and the shared-corpora skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
SAMPLE = ROOT / "corpora" / "sample" / "reports.csv"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: run with --slow")
    skip_corpora = pytest.mark.skip(reason=f"shared corpora not found at {SHARED}")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--slow"):
            item.add_marker(skip_slow)
        if "corpora" in item.keywords and not SHARED.is_dir():
            item.add_marker(skip_corpora)


@pytest.fixture(scope="session")
def rule_labeler():
    """The default rule labeler, built once (spaCy/medspaCy import and rule compilation take seconds)."""
    from labeler import RuleLabeler

    lab = RuleLabeler()
    lab.stages  # noqa: B018 - build now
    return lab


@pytest.fixture(scope="session")
def ruleset(rule_labeler):
    return rule_labeler.ruleset


@pytest.fixture()
def label_text(rule_labeler):
    """Label one text; returns {observation id: status value}."""
    from labeler import Report

    def run(text: str) -> dict[str, str]:
        res = rule_labeler.label_one(Report("t", text))
        assert not res.errors
        return {k: v.value for k, v in res.statuses().items()}

    return run


@pytest.fixture(scope="session")
def shared_corpora() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    return SAMPLE


@pytest.fixture()
def write_csv(tmp_path):
    """Write rows (list of lists, header first) to a CSV file and return its path."""
    import csv

    def write(rows, name: str = "in.csv", delimiter: str = ",") -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, delimiter=delimiter, lineterminator="\n").writerows(rows)
        return path

    return write
