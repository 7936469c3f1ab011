"""Fit time of a topic model on ~4k reports at a fixed k, on 2 worker processes.

    python benchmarks/topics_fit.py                 # k from evaluation/results/topics_eval.json
    python benchmarks/topics_fit.py --k 10 --repeat 3 --workers 2

Corpus: IU/Open-i (findings + impression, 3,059 readable reports) + synthetic_cxr (1,000), from
../shared/corpora. Prints the time of each stage (tokenising, the whole ``fit`` at one k with
its coherence and off-domain calibration, the LDA alone) and of ``transform``. Pin the process
to 2 cores to reproduce the "2 cores" figure: ``taskset -c 0,1 python benchmarks/topics_fit.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "evaluation"))

from labeler.topics import TopicModel  # noqa: E402
from topics_eval import load_iu, load_synthetic  # noqa: E402


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the LDA workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
    parser.add_argument("--corpora", type=Path, default=default_shared)
    parser.add_argument("--k", type=int, default=None, help="Number of topics (default: the evaluation's chosen k).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--passes", type=int, default=None, help="Override TopicModel's default passes.")
    parser.add_argument("--no-refit", action="store_true", help="refit_inliers=False (one LDA fit only).")
    args = parser.parse_args()
    if not args.corpora.is_dir():
        print(f"shared corpora not found at {args.corpora}", file=sys.stderr)
        return 2
    k = args.k
    if k is None:
        res = ROOT / "evaluation" / "results" / "topics_eval.json"
        k = json.loads(res.read_text())["coherence"]["chosen_k"] if res.is_file() else 10
    texts = list(load_iu(args.corpora).texts) + list(load_synthetic(args.corpora).texts)
    extra: dict[str, object] = {"passes": args.passes} if args.passes else {}
    if args.no_refit:
        extra["refit_inliers"] = False
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{len(texts)} reports, k = {k}, workers = {args.workers}, CPUs available = {cpus}")

    model = TopicModel(n_topics=k, workers=args.workers, random_state=0, **extra)
    t0 = time.perf_counter()
    model._make_preprocessor().segments(texts)
    print(f"tokenise (spaCy tokenizer, sections): {time.perf_counter() - t0:.2f} s")

    fits, ldas, cpus_used = [], [], []
    for r in range(args.repeat):
        model = TopicModel(n_topics=k, workers=args.workers, random_state=0, **extra)
        c0 = _cpu_seconds()
        t0 = time.perf_counter()
        model.fit(texts)
        fits.append(time.perf_counter() - t0)
        cpus_used.append(_cpu_seconds() - c0)
        ldas.append(model.coherence_curve_[0]["fit_seconds"])
        refit = model.training_["refit_seconds"]
        print(f"run {r + 1}: fit {fits[-1]:.2f} s wall, {cpus_used[-1]:.1f} CPU-s in all processes "
              f"(LDA {ldas[-1]:.2f} s; refit without {model.training_['n_excluded_offdomain']} off-domain "
              f"reports {refit:.2f} s; tokenising, bigrams, coherence, scoring {fits[-1] - ldas[-1] - refit:.2f} s), "
              f"c_v = {model.coherence_curve_[0]['coherence']:.4f}")
    t0 = time.perf_counter()
    model.transform(texts)
    tr = time.perf_counter() - t0
    print(f"fit at k = {k}: median {statistics.median(fits):.2f} s (min {min(fits):.2f}) over {args.repeat} runs; "
          f"LDA alone median {statistics.median(ldas):.2f} s; CPU time median {statistics.median(cpus_used):.1f} s "
          f"(on an idle machine, wall time is at least CPU time / {args.workers} workers)")
    print(f"transform: {tr:.2f} s ({len(texts) / tr:.0f} reports/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
