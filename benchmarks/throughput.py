"""Single-process labeling speed of the rule labeler vs medspaCy's default pipeline, same rules.

    python benchmarks/throughput.py                 # IU reports (findings + impression), one core
    python benchmarks/throughput.py --corpus sample # the project's sample corpus, repeated

Prints reports/s (wall clock and CPU time, best of --repeat passes), peak RSS, and the same figures
for ``medspacy.load()`` (PyRuSH sentence splitter + TargetMatcher + ConText) loaded with this
engine's mention phrases/patterns as TargetRules and its ConText rules, run with ``nlp.pipe`` on
the same texts. Pins itself to one CPU core by default (``--cores 0`` to leave affinity alone).
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeler import Report, RuleLabeler, __version__  # noqa: E402
from labeler.ingest import join_text_columns  # noqa: E402


def load_texts(corpus: str, n: int | None) -> list[tuple[str, str]]:
    shared = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
    rows: list[tuple[str, str]] = []
    if corpus == "iu":
        path = shared / "iu" / "reports.csv"
        if not path.is_file():
            raise SystemExit(f"{path} not found: use --corpus sample")
        with path.open(encoding="utf-8", newline="") as fh:
            for rec in csv.DictReader(fh):
                text = join_text_columns({"findings": rec["findings"], "impression": rec["impression"]})
                if text.strip():
                    rows.append((rec["uid"], text))
    else:
        with (ROOT / "corpora" / "sample" / "reports.csv").open(encoding="utf-8", newline="") as fh:
            base = [(r["study_uid"], r["text"]) for r in csv.DictReader(fh)]
        k = 0
        while len(rows) < (n or 3000):
            uid, text = base[k % len(base)]
            rows.append((f"{uid}.{k}", text))
            k += 1
    return rows[:n] if n else rows


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeat: int) -> tuple[float, float]:
    """Best wall and CPU seconds of ``repeat`` runs."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best_wall, best_cpu


def medspacy_pipeline(labeler: RuleLabeler):
    """medspacy.load() with this engine's mention rules (TargetRules) and ConText rules."""
    import medspacy
    from medspacy.target_matcher import TargetRule

    from labeler.assertion import context_rules

    try:  # PyRuSH logs every sentence boundary at DEBUG through loguru
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
    except ImportError:
        pass
    nlp = medspacy.load(load_rules=False)
    rs = labeler.ruleset
    targets = []
    for obs, ff in rs.findings.items():
        for rule in ff.mentions:
            targets += [TargetRule(literal=p, category=obs.upper()) for p in rule.phrases]
            targets += [TargetRule(literal=rule.id, category=obs.upper(), pattern=p) for p in rule.patterns]
    nlp.get_pipe("medspacy_target_matcher").add(targets)
    nlp.get_pipe("medspacy_context").add(context_rules(rs))
    return nlp


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=["iu", "sample"], default="iu")
    ap.add_argument("--n", type=int, default=None, help="number of reports (default: all IU / 3000 sample)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cores", type=int, default=1, help="pin to this many cores (0 = do not pin)")
    ap.add_argument("--skip-medspacy", action="store_true")
    args = ap.parse_args()
    if args.cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    rows = load_texts(args.corpus, args.n)
    reports = [Report(uid, text) for uid, text in rows]
    print(f"engine {__version__} · python {platform.python_version()} · {len(reports)} reports ({args.corpus}) · "
          f"cores pinned: {args.cores or 'no'} · affinity {sorted(os.sched_getaffinity(0))}")

    t = time.perf_counter()
    labeler = RuleLabeler()
    labeler.stages  # noqa: B018
    setup = time.perf_counter() - t
    results: list = []

    def run_ours() -> None:
        results.clear()
        for i in range(0, len(reports), 512):  # chunks, as `labeler label` does
            results.extend(labeler.label(reports[i:i + 512]))

    wall, cpu = timed(run_ours, args.repeat)
    ours = len(reports) / wall
    print(f"rules labeler : {ours:8.0f} reports/s wall, {len(reports) / cpu:8.0f} reports/s CPU "
          f"(setup {setup:.1f} s, peak RSS {peak_rss_mb():.0f} MB)")
    assert len(results) == len(reports) and not any(r.errors for r in results)

    if not args.skip_medspacy:
        t = time.perf_counter()
        nlp = medspacy_pipeline(labeler)
        setup = time.perf_counter() - t
        texts = [r.text for r in reports]
        wall_m, cpu_m = timed(lambda: list(nlp.pipe(texts, batch_size=64)), max(1, min(args.repeat, 2)))
        theirs = len(reports) / wall_m
        print(f"medspacy.load : {theirs:8.0f} reports/s wall, {len(reports) / cpu_m:8.0f} reports/s CPU "
              f"(setup {setup:.1f} s, peak RSS {peak_rss_mb():.0f} MB)")
        print(f"speed-up      : {ours / theirs:8.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
