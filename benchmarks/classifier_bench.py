"""Training time and labeling speed of the classifier labeler on this machine's CPU.

    python benchmarks/classifier_bench.py                          # BiGRU and MiniLM
    python benchmarks/classifier_bench.py --architecture bigru --threads 2
    python benchmarks/classifier_bench.py --architecture transformer --json out/bench_minilm.json

Training corpus: the IU/Open-i reports (findings + impression, all 3,080) plus the 1,000 synthetic
reports, ~4k in all, labeled by the rule labeler (its time is reported apart). Training uses the
architecture's defaults (early stopping on a 10 % validation split). Labeling speed is measured
end to end through ``ClassifierLabeler.label`` (section and sentence split, tokenisation, network,
result records) on the IU reports, after a warm-up batch, with the model loaded from disk.

Targets (issue 4, a 2-core CPU): BiGRU trains on ~4k reports in < 3 min and labels >= 500
reports/s; MiniLM fine-tunes in < 30 min and labels >= 50 reports/s. Figures on a busy shared
machine are pessimistic; the script prints the load average so they can be judged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeler import Report, RuleLabeler, __version__  # noqa: E402
from labeler.cli.label import parse_params  # noqa: E402
from labeler.ingest import IngestOptions, read_reports  # noqa: E402
from labeler.labelers.classifier import ClassifierLabeler  # noqa: E402
from labeler.records import RowError  # noqa: E402


def load_corpus(corpora: Path) -> list[Report]:
    opts = IngestOptions(id_column="uid", text_columns=("findings", "impression"))
    reports = [r for r in read_reports(corpora / "iu" / "reports.csv", opts) if not isinstance(r, RowError)]
    with (corpora / "synthetic_cxr" / "reports.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                reports.append(Report(f"synthetic:{rec['id']}", rec["text"]))
    return reports


def bench(architecture: str, reports: list[Report], labels: list, iu: list[Report], args: argparse.Namespace,
          workdir: Path) -> dict[str, object]:
    import torch

    params: dict[str, object] = {"architecture": architecture, "seed": 0, "n_threads": args.threads}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    if architecture == "transformer" and args.freeze_layers:
        params["freeze_layers"] = args.freeze_layers
    params.update(parse_params(args.param))  # the CLI's --param KEY=VALUE parser
    print(f"[{architecture}] training on {len(reports)} reports ...", file=sys.stderr, flush=True)
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int, info: dict) -> None:
        rec = info.get("record")
        if rec is not None:
            print(f"  epoch {rec['epoch']}: val loss {rec['val_loss']:.4f}, {rec['seconds']:.0f} s",
                  file=sys.stderr, flush=True)

    clf = ClassifierLabeler(**params).fit(reports, labels, on_progress=progress)  # type: ignore[arg-type]
    train_s = time.perf_counter() - start
    path = clf.save(workdir / architecture)
    loaded = ClassifierLabeler(model=path, n_threads=args.threads, inference_batch_size=args.batch_size)
    list(loaded.label(iu[:64]))  # warm-up
    sample = iu[: args.n_label] if args.n_label else iu
    start = time.perf_counter()
    n = sum(1 for _ in loaded.label(sample))
    label_s = time.perf_counter() - start
    card = clf.card_ or {}
    return {
        "architecture": architecture,
        "n_train_reports": len(reports),
        "train_seconds": round(train_s, 1),
        "epochs_run": card["training"]["epochs_run"],
        "best_epoch": card["training"]["best_epoch"],
        "seconds_per_epoch": round(train_s / max(1, card["training"]["epochs_run"]), 1),
        "validation_macro_f1_vs_rules": card["metrics"]["validation"].get("macro_f1"),
        "n_labeled": n,
        "label_seconds": round(label_s, 2),
        "reports_per_second": round(n / label_s, 1),
        "threads": torch.get_num_threads() if args.threads is None else args.threads,
        "weights_mb": round((path / "model.pt").stat().st_size / 1e6, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
    parser.add_argument("--corpora", type=Path, default=default_shared)
    parser.add_argument("--architecture", choices=["bigru", "transformer", "both"], default="both")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, = cores)")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: the architecture's)")
    parser.add_argument("--freeze-layers", type=int, default=0)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="another ClassifierLabeler parameter (JSON value), e.g. batch_size=64; repeatable")
    parser.add_argument("--batch-size", type=int, default=64, help="inference batch size")
    parser.add_argument("--n-label", type=int, default=0, help="label only this many IU reports (0: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not args.corpora.is_dir():
        print(f"shared corpora not found at {args.corpora}", file=sys.stderr)
        return 2
    reports = load_corpus(args.corpora)
    iu = [r for r in reports if not r.study_uid.startswith("synthetic:")]
    start = time.perf_counter()
    rule_results = list(RuleLabeler().label(reports))
    rules_s = time.perf_counter() - start
    labels = rule_results
    archs = ["bigru", "transformer"] if args.architecture == "both" else [args.architecture]
    out: dict[str, object] = {"engine_version": __version__, "cpu_count": os.cpu_count(),
                              "load_average_before": [round(x, 2) for x in os.getloadavg()],
                              "rules_label_seconds": round(rules_s, 1),
                              "rules_reports_per_second": round(len(reports) / rules_s, 1), "results": []}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in archs:
            out["results"].append(bench(arch, reports, labels, iu, args, Path(tmp)))  # type: ignore[union-attr]
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"rules: labeled {len(reports)} training reports in {rules_s:.1f} s "
          f"({len(reports) / rules_s:.0f} reports/s)")
    for r in out["results"]:  # type: ignore[union-attr]
        print(f"{r['architecture']:12s} train {r['train_seconds']:7.1f} s ({r['epochs_run']} epochs, "
              f"{r['seconds_per_epoch']} s/epoch) on {r['n_train_reports']} reports · "
              f"label {r['reports_per_second']:7.1f} reports/s ({r['n_labeled']} reports) · "
              f"{r['threads']} threads · weights {r['weights_mb']} MB")
    print(f"load average before {out['load_average_before']}, after {out['load_average_after']} "
          f"({out['cpu_count']} CPUs)")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
