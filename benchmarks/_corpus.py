"""Synthetic archives for the scale benchmark: sample-corpus sentences recombined (seeded).

The sentences come from ``corpora/sample/reports.csv`` at run time (nothing is copied into this
file). Each generated report keeps the section layout of a randomly drawn sample report and
fills every section with sentences drawn from the same section of other sample reports, so the
mix of findings, negations and hedges stays that of the sample corpus.
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample" / "reports.csv"
_HEADER = re.compile(r"^\s*([A-Za-z][A-Za-z ]*):", re.M)
_SENTENCE = re.compile(r"(?<=[.;])\s+(?=\S)")


def _layouts(sample: Path) -> tuple[list[list[tuple[str, int]]], dict[str, list[str]]]:
    """Section layouts ([(header, n sentences)]) of the sample reports, and sentences per header."""
    layouts: list[list[tuple[str, int]]] = []
    pool: dict[str, list[str]] = defaultdict(list)
    with sample.open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            text = rec["text"]
            heads = list(_HEADER.finditer(text))
            layout = []
            for i, m in enumerate(heads):
                body = text[m.end(): heads[i + 1].start() if i + 1 < len(heads) else len(text)].strip()
                sentences = [s for s in _SENTENCE.split(body) if s.strip()]
                if not sentences:
                    continue
                head = m.group(1).strip().upper()
                pool[head].extend(sentences)
                layout.append((head, len(sentences)))
            if layout:
                layouts.append(layout)
    return layouts, dict(pool)


def generate_csv(path: str | Path, n: int, *, seed: int = 0, sample: Path = SAMPLE) -> Path:
    """Write ``n`` synthetic reports (columns ``study_uid,text``) to ``path``; same seed, same file."""
    rng = random.Random(seed)
    layouts, pool = _layouts(sample)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["study_uid", "text"])
        for i in range(n):
            parts = []
            for head, k in rng.choice(layouts):
                sentences = pool[head]
                parts.append(f"{head}: " + " ".join(rng.choice(sentences) for _ in range(k)))
            writer.writerow([f"2.25.{seed}.{i + 1}", "\n".join(parts)])
    return out
