"""Rules labeler on the shared gold sets: IU/Open-i (MeSH codes) and NegEx sentences.

    python evaluation/spine_eval.py            # writes evaluation/results/spine_*.json, prints tables

IU: findings + impression, uid as id, core tier of mesh_to_chexpert.tsv, positive or uncertain
counts as coded, macro F1 over observations with >= 10 gold reports. NegEx: the assertion stage on
each (sentence, condition) pair, negated vs not. Needs ../shared/corpora (or LABELER_SHARED).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeler import RuleLabeler, __version__  # noqa: E402
from labeler.evaluate import assert_items, predict_gold_statuses, score_assertions, score_binary  # noqa: E402
from labeler.gold import load_iu_mesh_gold, load_negex  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
    parser.add_argument("--corpora", type=Path, default=default_shared)
    parser.add_argument("--out", type=Path, default=ROOT / "evaluation" / "results")
    parser.add_argument("--tier", default="core", choices=["core", "ext"])
    args = parser.parse_args()
    if not args.corpora.is_dir():
        print(f"shared corpora not found at {args.corpora}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    labeler = RuleLabeler()
    info = labeler.info().to_dict()

    gold = load_iu_mesh_gold(args.corpora / "iu" / "reports.csv", args.corpora / "iu" / "mesh_to_chexpert.tsv",
                             tier=args.tier)
    start = time.perf_counter()
    pred = predict_gold_statuses(labeler, gold)
    seconds = time.perf_counter() - start
    scores = score_binary(gold, pred, min_support=10)
    iu = {
        "gold": f"IU/Open-i reports.csv ({len(gold.study_uids)} reports with MeSH codes), tier {args.tier}",
        "convention": "positive or uncertain = coded; macro over observations with >= 10 gold reports",
        "engine_version": __version__,
        "labeler": info,
        "macro_f1": round(scores.macro_f1, 4),
        "per_observation": scores.table(),
        "seconds": round(seconds, 2),
    }
    (args.out / f"spine_iu_{args.tier}.json").write_text(json.dumps(iu, indent=2) + "\n")
    print(f"IU ({args.tier}) macro F1 = {scores.macro_f1:.4f}")
    for row in scores.table():
        print(f"  {row['observation']:28s} P={row['precision']:.3f} R={row['recall']:.3f} F1={row['f1']:.3f} "
              f"n={row['support']}")

    items = load_negex(args.corpora / "negex" / "rsAnnotations-1-120-random.txt")
    negated, found = assert_items(labeler.stages[3], items)
    s = score_assertions(items, negated, found)
    negex = {
        "gold": f"NegEx annotated sentences ({s.n} condition/sentence pairs)",
        "engine_version": __version__,
        "labeler": info,
        "negation": {"precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4),
                     "accuracy": round(s.accuracy, 4), "tp": s.tp, "fp": s.fp, "fn": s.fn, "tn": s.tn,
                     "targets_not_found": s.n_target_not_found},
        "reference": {"GenNegEx v1.2 F1": 0.9458},
    }
    (args.out / "spine_negex.json").write_text(json.dumps(negex, indent=2) + "\n")
    print(f"NegEx negation: P={s.precision:.4f} R={s.recall:.4f} F1={s.f1:.4f} (GenNegEx v1.2: 0.9458)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
