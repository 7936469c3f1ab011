"""Helpers the CLI tests share: run ``labeler`` in-process, read a CSV it wrote."""

from __future__ import annotations

import csv

import pytest

from labeler.cli import main


def run(*args: object) -> int:
    """``labeler *args`` in this process; returns the exit code."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code


def read_csv(path: object) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))
