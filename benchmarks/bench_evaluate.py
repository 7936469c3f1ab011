"""Speed of the evaluation harness on synthetic arrays (no corpora needed).

    PYTHONPATH=. python benchmarks/bench_evaluate.py [--n 50000] [--labelers 2] [--n-bootstrap 1000]

Prints seconds for the metric core (scores + bootstrap + paired tests) and for the whole
`evaluate()` (alignment, status codes, error list) on N reports x 14 observations.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from labeler.evaluate import evaluate
from labeler.gold import GoldSet
from labeler.metrics import compare_arrays, score_arrays
from labeler.vocab import STATUS_ORDER


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--observations", type=int, default=14)
    parser.add_argument("--labelers", type=int, default=2)
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.n, args.observations)
    gold = rng.choice(4, size=shape, p=[0.6, 0.15, 0.2, 0.05])
    preds = [np.where(rng.random(shape) < 0.1 + 0.05 * k, rng.integers(0, 4, shape), gold) for k in range(args.labelers)]

    start = time.perf_counter()
    scores, reps = score_arrays(gold, preds, "status", n_bootstrap=args.n_bootstrap, seed=0)
    mid = time.perf_counter()
    compare_arrays(gold, preds, scores, reps)
    core = time.perf_counter()
    print(f"metric core: N={args.n} F={args.observations} L={args.labelers} B={args.n_bootstrap}: "
          f"scores+bootstrap {mid - start:.2f} s, paired tests {core - mid:.2f} s")

    statuses = np.array(STATUS_ORDER, dtype=object)
    gs = GoldSet(tuple(f"r{i}" for i in range(args.n)), tuple(f"obs{j}" for j in range(args.observations)),
                 statuses[gold], "status")
    start = time.perf_counter()
    report = evaluate(gs, {f"l{k}": statuses[p] for k, p in enumerate(preds)}, n_bootstrap=args.n_bootstrap)
    whole = time.perf_counter() - start
    print(f"evaluate(): {whole:.2f} s, {len(report.errors)} error rows "
          f"({args.n * args.labelers / whole:,.0f} report-labelings/s)")


if __name__ == "__main__":
    main()
