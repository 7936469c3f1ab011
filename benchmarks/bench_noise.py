"""Cost of the noise audit, stage by stage (rules, weak labelers, cross-fitted baseline, label model, bootstrap).

    python benchmarks/bench_noise.py                      # IU reports (../shared/corpora), all 3,008
    python benchmarks/bench_noise.py --n 1000 --n-bootstrap 50

Prints seconds per stage and reports per second. Figures from a shared, busy machine are
preliminary: rerun on an idle one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeler import Report, RuleLabeler  # noqa: E402
from labeler.noise_audit import NoiseConfig, audit_signals, collect_signals  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
    parser.add_argument("--corpora", type=Path, default=default_shared)
    parser.add_argument("--n", type=int, default=None, help="first N reports only")
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    from labeler.gold import load_iu_mesh_gold

    gold = load_iu_mesh_gold(args.corpora / "iu" / "reports.csv", args.corpora / "iu" / "mesh_to_chexpert.tsv")
    reports = [Report(u, t) for u, t in zip(gold.study_uids, gold.texts)][: args.n]
    lab = RuleLabeler()
    t0 = time.perf_counter()
    lab.stages  # noqa: B018 - build once, outside the timings
    build = time.perf_counter() - t0
    stamps: dict[str, float] = {}
    last = [time.perf_counter()]

    def on_progress(stage: str, done: int, total: int) -> None:
        if done == total:
            now = time.perf_counter()
            stamps[stage] = now - last[0]
            last[0] = now

    cfg = NoiseConfig(n_splits=args.folds, n_bootstrap=0)
    start = time.perf_counter()
    last[0] = start
    matrix, _ = collect_signals(reports, lab, cfg, on_progress=on_progress)
    signals_s = time.perf_counter() - start
    t1 = time.perf_counter()
    audit_signals(matrix, config=cfg)
    model_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    audit_signals(matrix, config=NoiseConfig(n_splits=args.folds, n_bootstrap=args.n_bootstrap))
    boot_s = time.perf_counter() - t2
    n = len(reports)
    print(f"reports: {n} (rule labeler build {build:.1f} s, not counted)")
    for stage, sec in stamps.items():
        label = "rules + weak labelers" if stage == "rules" else f"{stage} ({args.folds}-fold cross-fitting)"
        print(f"  {label:40s} {sec:7.1f} s  {n / sec:8.0f} reports/s")
    print(f"  {'all signals':40s} {signals_s:7.1f} s  {n / signals_s:8.0f} reports/s")
    print(f"  {'label model + confident learning':40s} {model_s:7.1f} s")
    print(f"  {'the same with ' + str(args.n_bootstrap) + ' bootstrap resamples':40s} {boot_s:7.1f} s")
    total = signals_s + boot_s
    print(f"  {'total (labeler noise, defaults)':40s} {total:7.1f} s  {n / total:8.0f} reports/s")
    print(f"  rules alone, for comparison: see benchmarks/throughput.py; machine load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
