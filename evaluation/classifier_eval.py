"""Rules vs classifier vs ensemble on IU/Open-i, 5-fold out-of-fold (weak supervision from the rules).

    python evaluation/classifier_eval.py                          # BiGRU, 5 folds, all systems
    python evaluation/classifier_eval.py --architecture transformer --folds-run 0   # MiniLM, fold 0 only
    python evaluation/classifier_eval.py --train-fraction 0.5 --no-stack --no-fine-tune  # learning curve

Protocol (no human code of a held-out fold is ever used to train anything scored on it):

* Gold: the 3,008 IU reports with MeSH codes (core tier), findings + impression, positive or
  uncertain = coded, macro F1 over the observations with >= 10 gold reports (as ``spine_eval.py``).
* Folds: ``KFold(5, shuffle=True, random_state=seed)`` over the gold reports.
* Classifier for fold k: trained on the **texts** of the other folds labeled by the rule labeler
  (plus the 1,000 synthetic reports of ``synthetic_cxr``, also rule-labeled, unless
  ``--no-synthetic``); it predicts fold k. No human code is used. ``--train-fraction F`` keeps a
  seeded random share F of those weak-supervision texts (the same IU reports in every fold they
  train, and the same synthetic ones): the learning curve of the classifier in corpus size.
* Classifier + gold fine-tuning (``clf+ft``): that classifier fine-tuned on the human codes of the
  other folds (binary loss), then fold k.
* Ensemble ``gate`` (no gold): rules where they fired, classifier otherwise (``gate-modifier``:
  rules only where a modifier decided). Fixed defaults, not tuned here.
* Ensemble ``stack``: a logistic regression per observation fitted on the other folds' human codes.
  Its classifier features for a training fold j come from a classifier trained on the folds other
  than k and j (nested, so they are out-of-fold like the held-out fold's), so fold k's text and
  codes never reach it. ``stack-rules-only`` is the same stacker without classifier features (an
  ablation: what the gold's coding convention alone is worth).
* Scores and differences to the rules: ``labeler.metrics`` (what ``labeler evaluate`` uses), coded
  F1 macro-averaged over observations with >= 10 gold reports; one set of report resamples
  (``--bootstrap``, seeded) shared by all systems, so each difference is paired; 95 % percentile
  intervals and the paired-bootstrap p-value.

Writes ``evaluation/results/classifier_iu_<architecture>.json`` (``..._frac<F>.json`` with
``--train-fraction``; numbers, fold and model
fingerprints, timings; no report text). Trained models and out-of-fold probabilities are cached
under ``--cache`` so that a rerun only scores. Needs ../shared/corpora (or LABELER_SHARED).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeler import Report, RuleLabeler, __version__  # noqa: E402
from labeler.cli.label import parse_params  # noqa: E402
from labeler.gold import GoldSet, load_iu_mesh_gold  # noqa: E402
from labeler.metrics import compare_arrays, score_arrays  # noqa: E402
from labeler.labelers.classifier import ClassifierLabeler  # noqa: E402
from labeler.labelers.ensemble import fit_stacker, gate_combine, rule_arrays, stacked_proba  # noqa: E402
from labeler.vocab import STATUS_ORDER  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load_synthetic(path: Path) -> list[Report]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                out.append(Report(f"synthetic:{rec['id']}", rec["text"]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
    parser.add_argument("--corpora", type=Path, default=default_shared)
    parser.add_argument("--out", type=Path, default=ROOT / "evaluation" / "results")
    parser.add_argument("--cache", type=Path, default=ROOT / "out" / "classifier_eval")
    parser.add_argument("--architecture", default="bigru", choices=["bigru", "transformer"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--folds-run", type=int, nargs="*", default=None,
                        help="Run only these outer folds (scores cover only their reports).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--train-fraction", type=float, default=1.0,
                        help="Share of the weak-supervision texts (IU training folds, synthetic) to train on.")
    parser.add_argument("--no-stack", action="store_true", help="Skip the nested models of the stacked ensemble.")
    parser.add_argument("--no-fine-tune", action="store_true", help="Skip classifier + gold fine-tuning.")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--freeze-layers", type=int, default=0)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="another ClassifierLabeler parameter (JSON value), e.g. batch_size=64; repeatable")
    parser.add_argument("--save-cards", type=Path, default=None,
                        help="Copy the outer-fold model cards (JSON + Markdown, no weights) here.")
    args = parser.parse_args()
    if not args.corpora.is_dir():
        print(f"shared corpora not found at {args.corpora}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.cache / args.architecture
    cache.mkdir(parents=True, exist_ok=True)
    from sklearn.model_selection import KFold

    gold = load_iu_mesh_gold(args.corpora / "iu" / "reports.csv", args.corpora / "iu" / "mesh_to_chexpert.tsv")
    reports = [Report(u, t) for u, t in zip(gold.study_uids, gold.texts)]
    if not 0.0 < args.train_fraction <= 1.0:
        parser.error("--train-fraction must be in (0, 1]")
    extra = [] if args.no_synthetic else load_synthetic(args.corpora / "synthetic_cxr" / "reports.jsonl")
    rules = RuleLabeler()
    obs = list(rules.observations)
    names = [rules.ruleset.display_name(o) for o in obs]
    col = [names.index(c) for c in gold.observations]  # gold column -> observation index
    log(f"rules on {len(reports)} IU + {len(extra)} synthetic reports")
    t0 = time.perf_counter()
    rule_results = list(rules.label(reports))
    rules_seconds = time.perf_counter() - t0
    extra_results = list(rules.label(extra))
    # --train-fraction: one seeded subset of the weak-supervision texts, shared by every fold
    frac_rng = np.random.default_rng([args.seed, 7])
    weak_iu = frac_rng.random(len(reports)) < args.train_fraction if args.train_fraction < 1 else None
    if args.train_fraction < 1:
        keep = np.sort(frac_rng.permutation(len(extra))[: int(round(args.train_fraction * len(extra)))])
        extra = [extra[i] for i in keep]
        extra_results = [extra_results[i] for i in keep]
    r_status, r_mod = rule_arrays(rule_results, obs)
    g = np.zeros_like(gold.values)  # gold in observation order
    for jg, jo in enumerate(col):
        g[:, jo] = gold.values[:, jg]

    kf = KFold(args.folds, shuffle=True, random_state=args.seed)
    folds = [test for _, test in kf.split(np.arange(len(reports)))]
    fold_of = np.empty(len(reports), dtype=np.int64)
    for k, idx in enumerate(folds):
        fold_of[idx] = k
    fold_hash = hashlib.sha256(("\n".join(f"{u}\t{f}" for u, f in zip(gold.study_uids, fold_of))).encode()).hexdigest()
    run_folds = list(range(args.folds)) if args.folds_run is None else sorted(set(args.folds_run))

    params: dict[str, object] = {"architecture": args.architecture, "seed": args.seed, "n_threads": args.threads}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    if args.architecture == "transformer":
        params["freeze_layers"] = args.freeze_layers
    params.update(parse_params(args.param))  # the CLI's --param KEY=VALUE parser
    tag_parts: list[object] = [params, args.no_synthetic, fold_hash]
    if args.train_fraction < 1:
        tag_parts.append(args.train_fraction)
    tag = hashlib.sha256(json.dumps(tag_parts, sort_keys=True).encode()).hexdigest()[:10]
    models_info: dict[str, dict[str, object]] = {}

    def train_predict(key: str, train_idx: np.ndarray, predict_idx: np.ndarray) -> np.ndarray:
        """Classifier on rule labels of IU[train_idx] (+ synthetic) → probabilities on IU[predict_idx]."""
        path = cache / f"{tag}_{key}"
        proba_file = path / "oof_proba.npz"
        if (path / "model.json").is_file():
            clf = ClassifierLabeler(model=path, n_threads=args.threads)
        else:
            if weak_iu is not None:
                train_idx = train_idx[weak_iu[train_idx]]
            train_reports = [reports[i] for i in train_idx] + extra
            labels = [rule_results[i] for i in train_idx] + extra_results  # the rules' results: weak labels
            log(f"train {key}: {len(train_reports)} reports")
            start = time.perf_counter()
            clf = ClassifierLabeler(**params).fit(train_reports, labels)  # type: ignore[arg-type]
            clf.save(path)
            log(f"  done in {time.perf_counter() - start:.0f} s, best epoch {clf.card_['training']['best_epoch']}")
        card = clf.card_ or {}
        models_info[key] = {"n_train_reports": card["training_data"]["n_reports"],
                            "fingerprint_sha256": card["training_data"]["fingerprint_sha256"],
                            "weights_sha256": card["weights"]["sha256"],
                            "epochs_run": card["training"]["epochs_run"], "best_epoch": card["training"]["best_epoch"],
                            "train_seconds": card["training"]["seconds"],
                            "validation_macro_f1_vs_rules": card["metrics"]["validation"].get("macro_f1")}
        if proba_file.is_file():
            data = np.load(proba_file)
            if np.array_equal(data["idx"], predict_idx):
                return data["proba"]
        start = time.perf_counter()
        proba = clf.predict_proba([reports[i] for i in predict_idx])
        models_info[key]["predict_reports_per_second"] = round(len(predict_idx) / (time.perf_counter() - start), 1)
        np.savez(proba_file, idx=predict_idx, proba=proba)
        return proba

    n, f, s = len(reports), len(obs), len(STATUS_ORDER)
    clf_p = np.full((n, f, s), np.nan)
    ft_p = np.full((n, f, s), np.nan)
    pair_p: dict[tuple[int, int], np.ndarray] = {}  # (excluded k, predicted fold j) -> proba on fold j
    for k in run_folds:
        train_idx = np.concatenate([folds[j] for j in range(args.folds) if j != k])
        clf_p[folds[k]] = train_predict(f"fold{k}", train_idx, folds[k])
        if args.save_cards is not None:
            dst = args.save_cards / f"iu-oof-{args.architecture}-fold{k}"
            dst.mkdir(parents=True, exist_ok=True)
            for name in ("model.json", "MODEL_CARD.md"):
                (dst / name).write_bytes((cache / f"{tag}_fold{k}" / name).read_bytes())
        if not args.no_fine_tune:
            ft_dir = cache / f"{tag}_fold{k}_ft"
            ft_file = ft_dir / "oof_proba.npz"
            if ft_file.is_file():
                ft_p[folds[k]] = np.load(ft_file)["proba"]
            else:
                clf = ClassifierLabeler(model=cache / f"{tag}_fold{k}", n_threads=args.threads)
                sub = GoldSet(tuple(gold.study_uids[i] for i in train_idx), gold.observations,
                              gold.values[train_idx], "binary", tuple(gold.texts[i] for i in train_idx),
                              f"iu-train-folds-{k}")
                log(f"fine-tune fold{k} on {len(train_idx)} gold reports")
                clf.fine_tune(sub)
                clf.save(ft_dir)
                ft_p[folds[k]] = clf.predict_proba([reports[i] for i in folds[k]])
                np.savez(ft_file, idx=folds[k], proba=ft_p[folds[k]])
        if not args.no_stack:
            for j in range(args.folds):
                if j == k:
                    continue
                a, b = sorted((k, j))
                if (k, j) in pair_p:
                    continue
                pair_train = np.concatenate([folds[x] for x in range(args.folds) if x not in (a, b)])
                both = np.concatenate([folds[a], folds[b]])
                proba = train_predict(f"pair{a}{b}", pair_train, both)
                pair_p[(b, a)] = proba[: len(folds[a])]
                pair_p[(a, b)] = proba[len(folds[a]):]

    covered = np.concatenate([folds[k] for k in run_folds])
    covered.sort()
    systems: dict[str, np.ndarray] = {"rules": np.eye(s)[r_status]}
    systems["classifier"] = clf_p
    if not args.no_fine_tune:
        systems["classifier+gold-ft"] = ft_p
    systems["ensemble-gate"] = gate_combine(r_status, r_mod, np.nan_to_num(clf_p), trust="fired")[0]
    systems["ensemble-gate-modifier"] = gate_combine(r_status, r_mod, np.nan_to_num(clf_p), trust="modifier")[0]
    stack_info = {}
    if not args.no_stack:
        st_p = np.full((n, f, s), np.nan)
        ro_p = np.full((n, f, s), np.nan)
        uniform = np.full((n, f, s), 1.0 / s)
        for k in run_folds:
            tr = np.concatenate([folds[j] for j in range(args.folds) if j != k])
            feats = np.concatenate([pair_p[(k, j)] for j in range(args.folds) if j != k])
            mask = np.ones(f, dtype=bool)
            st = fit_stacker(r_status[tr], r_mod[tr], feats, g[tr], mask, kind="binary", observations=obs)
            st_p[folds[k]] = stacked_proba(st, r_status[folds[k]], r_mod[folds[k]], clf_p[folds[k]])[0]
            ro = fit_stacker(r_status[tr], r_mod[tr], uniform[tr], g[tr], mask, kind="binary", observations=obs)
            ro_p[folds[k]] = stacked_proba(ro, r_status[folds[k]], r_mod[folds[k]], uniform[folds[k]])[0]
            stack_info[f"fold{k}"] = {"n_train_reports": int(len(tr)),
                                      "n_constant_observations": sum(1 for m in st.models if m and "constant" in m)}
        systems["ensemble-stack"] = st_p
        systems["stack-rules-only (ablation)"] = ro_p

    # Scores and paired differences with labeler.metrics (the code behind `labeler evaluate`): one
    # set of report resamples shared by every system, so each difference to the rules is paired.
    gold_covered = gold.values[covered]
    names_ = list(systems)
    codes = [systems[name][covered].argmax(-1)[:, col] for name in names_]  # status codes, STATUS_ORDER
    scores, reps = score_arrays(gold_covered, codes, "binary", n_bootstrap=args.bootstrap, seed=args.seed,
                                min_support=10)
    comparisons = {c.other: c for c in compare_arrays(gold_covered, codes, scores, reps, reference=0)}
    scored: dict[str, dict[str, object]] = {}
    for li, name in enumerate(names_):
        t = scores[li].tasks["coded"]
        macro = t.averages["macro"]["f1"]
        scored[name] = {"macro_f1": round(macro.value, 4),
                        "macro_f1_ci95": [round(macro.low, 4), round(macro.high, 4)],
                        "per_observation": {
            o: {"precision": round(float(p), 4), "recall": round(float(r), 4), "f1": round(float(x), 4),
                "support": int(tp + fn)}
            for o, p, r, x, tp, fn in zip(gold.observations, t.precision, t.recall, t.f1, t.tp, t.fn)}}
        if li in comparisons:
            est, p_value = comparisons[li].metrics["coded.f1"].averages["macro"]
            scored[name]["vs_rules"] = {"diff": round(est.value, 4), "ci95": [round(est.low, 4), round(est.high, 4)],
                                        "p_bootstrap": round(p_value, 4), "n_boot": args.bootstrap}
            # agreement of the classifier-based systems with the rules' statuses (what they were trained on)
            agree = (systems[name][covered].argmax(-1) == r_status[covered]).mean()
            scored[name]["status_agreement_with_rules"] = round(float(agree), 4)

    result = {
        "gold": f"IU/Open-i reports.csv ({len(gold.study_uids)} reports with MeSH codes), tier core",
        "convention": "positive or uncertain = coded; macro F1 over observations with >= 10 gold reports",
        "protocol": __doc__.split("Protocol")[1].split("Writes")[0].strip(),
        "engine_version": __version__,
        "ruleset": {"name": rules.ruleset.name, "version": rules.ruleset.version, "sha256": rules.ruleset.sha256},
        "classifier_params": params,
        "folds": {"n_folds": args.folds, "run": run_folds, "n_scored_reports": int(len(covered)),
                  "assignment_sha256": fold_hash, "sizes": [int(len(x)) for x in folds],
                  "splitter": f"sklearn KFold(n_splits={args.folds}, shuffle=True, random_state={args.seed})"},
        "extra_training_text": None if args.no_synthetic else f"synthetic_cxr ({len(extra)} reports, rule labels)",
        "train_fraction": args.train_fraction,
        "bootstrap": {"n": args.bootstrap, "seed": args.seed, "implementation": "labeler.metrics.score_arrays / "
                      "compare_arrays (percentile interval, paired over the same report resamples)"},
        "systems": scored,
        "models": models_info,
        "stacker": stack_info or None,
        "rules_seconds_iu": round(rules_seconds, 2),
    }
    suffix = f"_frac{args.train_fraction:g}" if args.train_fraction < 1 else ""
    out = args.out / f"classifier_iu_{args.architecture}{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"IU 5-fold out-of-fold, {len(covered)} reports scored ({args.architecture}):")
    for name, sc in scored.items():
        line = f"  {name:30s} macro F1 = {sc['macro_f1']:.4f}"
        if "vs_rules" in sc:
            d = sc["vs_rules"]
            line += f"   vs rules {d['diff']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}] p={d['p_bootstrap']:.3f}"
        print(line)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
