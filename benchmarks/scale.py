"""Archive-scale benchmark: N synthetic reports labeled by ``labeler label`` with 1 and 2 workers.

The corpus is made by recombining sentences of ``corpora/sample/reports.csv`` (seeded, see
``benchmarks/_corpus.py``). Each run is the real command line in a subprocess; its memory is
sampled every 0.2 s over the whole process tree (the command and its worker processes):

* **peak RSS** — the largest sum of resident set sizes (shared pages counted once per process,
  so an upper bound);
* **peak PSS** — the largest sum of proportional set sizes (shared pages split between the
  processes that share them: what the tree really occupies). Linux only.

Run (from the repository root)::

    python benchmarks/scale.py                           # 100k and 1M reports, 1 and 2 workers
    python benchmarks/scale.py --sizes 100000 --workers 1 2
    python benchmarks/scale.py --sizes 20000 --workers 2 --engine dask

Prints one line per run and a summary table; ``--json`` also writes the figures to a file.
Targets from the issue (2-core machine): 1M reports in < 15 min, peak RSS < 1.5 GB and flat
from 100k to 1M.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _corpus import generate_csv  # noqa: E402


class TreeMemory:
    """Samples the memory of a process and all its descendants in a background thread."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        rss = pss = 0
        for p in procs:
            try:
                rss += p.memory_info().rss
                if sys.platform.startswith("linux"):
                    pss += p.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_processes = max(self.peak_processes, len(procs))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def read_rate(path: Path) -> float:
    """Reports/s of ingest alone (parse + validate + duplicate check): the client's ceiling."""
    from labeler.ingest import read_reports

    start = time.perf_counter()
    n = sum(1 for _ in read_reports(path))
    return n / (time.perf_counter() - start)


def run_once(corpus: Path, n: int, workers: int, engine: str, chunk_size: int, workdir: Path) -> dict:
    out = workdir / f"labels_{n}_{engine}_{workers}.csv"
    cmd = [sys.executable, "-m", "labeler", "label", str(corpus), "-o", str(out), "--overwrite", "-q",
           "--workers", str(workers), "--chunk-size", str(chunk_size), "--engine", engine]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    with TreeMemory(proc.pid) as mem:
        _, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        raise SystemExit(f"labeler label failed ({proc.returncode}): {err.decode()[-2000:]}")
    meta = json.loads(out.with_name(out.name + ".meta.json").read_text())
    labeled = meta["counts"]["labeled"]
    return {
        "reports": n,
        "engine": engine,
        "workers": workers,
        "wall_s": round(wall, 1),
        "labeling_s": meta["timing"]["seconds"],
        "reports_per_s": round(labeled / wall, 1),
        "reports_per_s_per_worker": round(labeled / wall / workers, 1),
        "labeled": labeled,
        "errors": meta["counts"]["errors"],
        "peak_rss_mb": round(mem.peak_rss / 2**20),
        "peak_pss_mb": round(mem.peak_pss / 2**20) if mem.peak_pss else None,
        "processes": mem.peak_processes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--engine", choices=["local", "dask"], default="local")
    ap.add_argument("--chunk-size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/radlabeler-scale"))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"# {platform.node()} · {psutil.cpu_count()} CPUs · load {os.getloadavg()[0]:.1f} · "
          f"Python {platform.python_version()}", flush=True)
    rows = []
    for n in args.sizes:
        corpus = args.workdir / f"reports_{n}_seed{args.seed}.csv"
        if not corpus.exists():
            t = time.perf_counter()
            generate_csv(corpus, n, seed=args.seed)
            print(f"generated {corpus} ({corpus.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.0f} s",
                  flush=True)
        print(f"ingest alone: {read_rate(corpus):,.0f} reports/s", flush=True)
        for w in args.workers:
            row = run_once(corpus, n, w, args.engine, args.chunk_size, args.workdir)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(f"{'reports':>9} {'engine':>6} {'workers':>7} {'wall s':>8} {'reports/s':>10} {'/worker':>8} "
          f"{'peak RSS MB':>11} {'peak PSS MB':>11}")
    for r in rows:
        print(f"{r['reports']:>9,} {r['engine']:>6} {r['workers']:>7} {r['wall_s']:>8.1f} {r['reports_per_s']:>10,.0f} "
              f"{r['reports_per_s_per_worker']:>8,.0f} {r['peak_rss_mb']:>11,} {r['peak_pss_mb'] or '-':>11}")
    if args.json:
        args.json.write_text(json.dumps({"load": os.getloadavg(), "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
