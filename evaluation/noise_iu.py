"""Noise estimates of the rules labeler on IU/Open-i, estimated with no gold, checked against the MeSH codes.

    python evaluation/noise_iu.py                 # writes evaluation/results/noise_iu.json, prints tables
    python evaluation/noise_iu.py --n-bootstrap 0 # faster, no intervals
    python evaluation/noise_iu.py --audit-labeler classifier \
        --out evaluation/results/noise_iu_audit_classifier.json   # audit the BiGRU's labels instead

Which reports: every IU report with MeSH codes (3,008; ``No Indexing`` left out), findings +
impression, as ``labeler.gold.load_iu_mesh_gold`` reads them (core tier). The audit sees the
texts only; the codes are used afterwards, to score it:

* per observation with >= 10 gold reports: the estimated rate at which the rules' coded /
  not-coded decision (positive or uncertain = coded) is wrong, vs that rate measured against
  the codes — within +-3 percentage points? Two reference estimators put the numbers in context:
  "zero" (estimate 0 errors) and "disagreement" (the share of reports where any signal votes
  against the rules);
* calibration of the confidences against the codes (expected calibration error, reliability bins);
* the review list: share of the 100 most suspicious labels / reports that truly disagree with the
  codes, against the base rate;
* with gold: the label model recalibrated on a gold subset (hedged findings read as the gold codes
  them, then Platt scaling per observation), its
  error-rate estimates and calibration on the reports it did not see.

``--audit-labeler classifier`` audits another labeler's labels with the same signals (what
``labeler noise --labeler classifier`` does): here the classifier's *out-of-fold* labels (a model per
fold, trained on the other folds' texts with the rules' labels, as ``classifier_eval.py`` does
without the synthetic reports), so that no report is labeled by a model that read it.

Needs ../shared/corpora (or LABELER_SHARED). Writes numbers and ids only, no report text.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeler import Report, RuleLabeler, __version__  # noqa: E402
from labeler.cli import split_list  # noqa: E402
from labeler.gold import load_iu_mesh_gold  # noqa: E402
from labeler.noise import calibration  # noqa: E402
from labeler.noise_audit import (  # noqa: E402
    CODED_GROUPS,
    DEFAULT_MODELS,
    NoiseConfig,
    audit_matrix,
    calibrate_on_gold,
    collect_signals,
)
from labeler.vocab import ABSTAIN, CODED_CLASSES, STATUS_ORDER, UNCERTAIN_CLASS, statuses_to_classes  # noqa: E402


def _r(x: float, d: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), d)


def precision_at(scores: np.ndarray, wrong: np.ndarray, k: int) -> float:
    order = np.argsort(-scores, kind="stable")[:k]
    return float(wrong[order].mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
    parser.add_argument("--corpora", type=Path, default=default_shared)
    parser.add_argument("--out", type=Path, default=ROOT / "evaluation" / "results" / "noise_iu.json")
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=100)
    parser.add_argument("--model-signals", default=",".join(DEFAULT_MODELS),
                        help="trainable labelers cross-fitted as signals, comma-separated (e.g. baseline.tfidf,classifier)")
    parser.add_argument("--audit-labeler", default=None,
                        help="audit this trainable labeler's out-of-fold labels instead of the rules' (e.g. classifier)")
    parser.add_argument("--pooled-signals", default="",
                        help="trainable labelers cross-fitted and pooled into the confidences only (e.g. classifier)")
    parser.add_argument("--review-for", default="decision", choices=["decision", "status"],
                        help="what the review list ranks by (NoiseConfig.review)")
    parser.add_argument("--hedged-coded", type=float, default=0.5,
                        help="P(a reader codes a hedged finding), for --review-for decision")
    args = parser.parse_args()
    if not args.corpora.is_dir():
        print(f"shared corpora not found at {args.corpora}", file=sys.stderr)
        return 2

    gold = load_iu_mesh_gold(args.corpora / "iu" / "reports.csv", args.corpora / "iu" / "mesh_to_chexpert.tsv")
    labeler = RuleLabeler()
    reports = [Report(u, t) for u, t in zip(gold.study_uids, gold.texts)]
    cfg = NoiseConfig(models=tuple(split_list(args.model_signals) or ()),
                      pooled_models=tuple(split_list(args.pooled_signals) or ()), n_bootstrap=args.n_bootstrap,
                      review=args.review_for, hedged_coded=args.hedged_coded, seed=args.seed)
    start = time.perf_counter()
    matrix, results = collect_signals(reports, labeler, cfg)
    audited_info = labeler.info().to_dict()
    if args.audit_labeler:
        # out-of-fold labels have no labeler object to pass as audit_corpus(audited=...): swap them in
        from labeler.labelers.base import make_labeler
        from labeler.signals import cross_val_predict_proba

        proba = cross_val_predict_proba(lambda: make_labeler(args.audit_labeler, seed=args.seed), reports,
                                        labels=results, n_splits=cfg.n_splits, seed=args.seed + 1)
        statuses = np.array(STATUS_ORDER, dtype=object)[proba.argmax(axis=2)]
        matrix = dataclasses.replace(matrix, labels=statuses_to_classes(statuses), statuses=statuses)
        audited_info = {"name": args.audit_labeler, "labels": f"out of fold ({cfg.n_splits} folds, seed "
                        f"{args.seed + 1}), trained on the other folds' texts with the rules' labels"}
    audit = audit_matrix(matrix, labeler, cfg)  # one label-model fit (and bootstrap) per run
    seconds = time.perf_counter() - start
    if audit.study_uids != gold.study_uids:
        raise SystemExit("the rules failed on some IU reports; rows no longer align")

    names = list(audit.names)
    cols = [gold.observations.index(n) for n in names]
    codes = gold.values[:, cols]                                   # (N, F) 0/1
    coded = np.isin(audit.signals.labels, CODED_CLASSES).astype(int)
    wrong = coded != codes                                         # (N, F): rules disagree with the codes
    support = codes.sum(axis=0)
    eligible = support >= 10
    dconf = audit.decision_confidence()
    L = audit.signals.L
    any_disagree = ((L != ABSTAIN) & (L != audit.signals.labels[:, :, None])).any(axis=2)
    uncertain = audit.signals.labels == UNCERTAIN_CLASS

    # 1. estimated vs measured error rate of the coded decision, per observation -------------------
    rows = []
    for j, (name, ob) in enumerate(zip(names, audit.per_observation)):
        est = ob.coded
        ci = est.interval("error_rate")
        measured = float(wrong[:, j].mean())
        definite = ~uncertain[:, j]
        rows.append({
            "observation": name,
            "gold_reports": int(support[j]),
            "eligible": bool(eligible[j]),
            "measured_error_rate": _r(measured),
            "estimated_error_rate": _r(est.error_rate),
            "estimated_ci": None if ci is None else [_r(ci[0]), _r(ci[1])],
            "abs_difference_pp": _r(100 * abs(est.error_rate - measured), 2),
            "within_3pp": bool(abs(est.error_rate - measured) <= 0.03),
            "reference_zero_within_3pp": bool(measured <= 0.03),
            "reference_disagreement_rate": _r(float(any_disagree[:, j].mean())),
            "confident_learning_error_rate": None if ob.confident_learning is None else _r(
                ob.confident_learning.collapse(CODED_GROUPS).error_rate),
            "n_uncertain_labels": int(uncertain[:, j].sum()),
            "uncertain_labels_coded_share": _r(float(codes[uncertain[:, j], j].mean())) if uncertain[:, j].any()
            else None,
            "measured_error_rate_definite_labels": _r(float(wrong[definite, j].mean())),
            "estimated_error_rate_definite_labels": _r(float(1.0 - dconf[definite, j].mean())),
            "warnings": list(ob.warnings),
        })
    el = [r for r in rows if r["eligible"]]
    est_v = np.array([r["estimated_error_rate"] for r in el])
    mea_v = np.array([r["measured_error_rate"] for r in el])
    from scipy.stats import spearmanr

    rho = spearmanr(est_v, mea_v).statistic if len(el) > 2 else float("nan")
    dis_v = np.array([r["reference_disagreement_rate"] for r in el])
    summary_rates = {
        "n_eligible": len(el),
        "n_within_3pp": int(sum(r["within_3pp"] for r in el)),
        "target": "within +-3 pp for >= 10 observations",
        "mean_abs_difference_pp": _r(100 * float(np.abs(est_v - mea_v).mean()), 2),
        "spearman_estimated_vs_measured": _r(rho),
        "reference_zero": {"n_within_3pp": int(sum(r["reference_zero_within_3pp"] for r in el)),
                           "mean_abs_difference_pp": _r(100 * float(mea_v.mean()), 2)},
        "reference_disagreement": {"n_within_3pp": int((np.abs(dis_v - mea_v) <= 0.03).sum()),
                                   "mean_abs_difference_pp": _r(100 * float(np.abs(dis_v - mea_v).mean()), 2)},
    }

    # 2. calibration against the codes --------------------------------------------------------------
    ok = ~wrong[:, eligible]
    conf = audit.confidence[:, eligible]
    cal_conf = calibration(conf.ravel(), ok.ravel(), n_bins=10)
    cal_dec = calibration(dconf[:, eligible].ravel(), ok.ravel(), n_bins=10)
    pos = coded[:, eligible] == 1
    cal_pos = calibration(conf[pos], ok[pos], n_bins=10)
    calib = {
        "what": "confidence = P(emitted label right) (the __conf column), scored as right when the label's coded "
                "decision matches the IU codes; all labels of the eligible observations",
        "n_labels": int(ok.size),
        "ece": _r(cal_conf.ece), "mce": _r(cal_conf.mce), "target": "ece <= 0.05",
        "reliability_bins": cal_conf.table(),
        "ece_decision_confidence": _r(cal_dec.ece),
        "ece_coded_labels_only": _r(cal_pos.ece),
        "n_coded_labels": int(pos.sum()),
    }

    # 3. review list ---------------------------------------------------------------------------------
    sus = audit.suspicion[:, eligible]
    w = wrong[:, eligible]
    eligible_obs = [o for o, e in zip(audit.observations, eligible) if e]
    rep_sus = audit.report_suspicion_among(eligible_obs)
    rep_wrong = w.any(axis=1)
    k = args.top
    p_lab = precision_at(sus.ravel(), w.ravel(), k)
    p_rep = precision_at(rep_sus, rep_wrong, k)
    per_obs_review = {}
    for jj, j in enumerate(np.flatnonzero(eligible)):
        kk = min(10, int(support[j]))
        per_obs_review[names[j]] = {"k": kk, "precision": _r(precision_at(sus[:, jj], w[:, jj], kk)),
                                    "base_rate": _r(float(w[:, jj].mean()))}
    # how the ranking depends on the reading of hedged findings (the default is fixed a priori, 0.5)
    sensitivity = []
    for review_for, q in [("status", None), ("decision", 0.0), ("decision", 0.25), ("decision", 0.5),
                          ("decision", 0.75), ("decision", 1.0)]:
        cfg_q = dataclasses.replace(cfg, review=review_for, hedged_coded=cfg.hedged_coded if q is None else q)
        alt = dataclasses.replace(audit, config=cfg_q)
        alt_rep = alt.report_suspicion_among(eligible_obs)
        sensitivity.append({"review": review_for, "hedged_coded": q,
                            "labels_precision": _r(precision_at(alt.suspicion[:, eligible].ravel(), w.ravel(), k)),
                            "reports_precision": _r(precision_at(alt_rep, rep_wrong, k))})
    review = {
        "top": k,
        "suspicion": f"review={cfg.review}, hedged_coded={cfg.hedged_coded}: P(a reader deciding coded / not coded "
                     "decides otherwise than the label), a hedged finding coded with probability hedged_coded"
                     if cfg.review == "decision" else "review=status: 1 - confidence",
        "labels": {"what": "top (report, observation) labels by suspicion",
                   "precision": _r(p_lab), "base_rate": _r(float(w.mean())),
                   "lift": _r(p_lab / max(float(w.mean()), 1e-12), 2)},
        "reports": {"what": "top reports by P(any label wrong) = 1 - prod(1 - suspicion) over the primary observations "
                            "(No Finding is derived from them); a report is wrong when any of its labels, No Finding "
                            "included, disagrees with the codes",
                    "precision": _r(p_rep), "base_rate": _r(float(rep_wrong.mean())),
                    "lift": _r(p_rep / max(float(rep_wrong.mean()), 1e-12), 2)},
        "target": "precision >= 5x the base rate",
        "per_observation_top10": per_obs_review,
        "sensitivity_to_the_reading": sensitivity,
        "hedged_labels": {"n": int(uncertain[:, eligible].sum()),
                          "coded_share": _r(float(codes[:, eligible][uncertain[:, eligible]].mean()))},
    }

    # 4. with gold: recalibrate on a gold subset, score on the rest -----------------------------------
    rng = np.random.default_rng(args.seed)
    with_gold = {"method": "Platt scaling of the label-model confidence with a per-class offset, per observation, "
                           "fitted on the gold subset; estimates scored on the reports outside it"}
    for n_gold in (300, len(gold.study_uids) // 2):
        idx = rng.permutation(len(gold.study_uids))
        fit_idx, rest = np.sort(idx[:n_gold]), np.sort(idx[n_gold:])
        calib_res = calibrate_on_gold(audit, [gold.study_uids[i] for i in fit_idx], codes[fit_idx], "binary",
                                      observations=list(audit.observations), seed=args.seed)
        dc = calib_res.decision_confidence
        per = []
        for j, name in enumerate(names):
            if not eligible[j]:
                continue
            if not calib_res.check[audit.observations[j]]["recalibrated"]:
                per.append({"observation": name, "recalibrated": False})
                continue
            m = float(wrong[rest, j].mean())
            e = float(1.0 - dc[rest, j].mean())
            per.append({"observation": name, "recalibrated": True, "measured_error_rate": _r(m),
                        "estimated_error_rate": _r(e), "abs_difference_pp": _r(100 * abs(e - m), 2),
                        "within_3pp": bool(abs(e - m) <= 0.03),
                        "estimated_error_rate_no_gold": _r(float(1.0 - dconf[rest, j].mean()))})
        done = [p for p in per if p["recalibrated"]]
        ok_rest = ~wrong[np.ix_(rest, np.flatnonzero(eligible))]
        dc_rest = dc[np.ix_(rest, np.flatnonzero(eligible))]
        have = np.isfinite(dc_rest)
        with_gold[f"gold_{n_gold}"] = {
            "n_gold": int(n_gold), "n_scored": int(len(rest)),
            "n_recalibrated": len(done),
            "n_within_3pp": int(sum(p["within_3pp"] for p in done)),
            "mean_abs_difference_pp": _r(float(np.mean([p["abs_difference_pp"] for p in done])), 2) if done else None,
            "ece_decision_confidence": _r(calibration(dc_rest[have], ok_rest[have]).ece),
            "ece_decision_confidence_no_gold": _r(calibration(dconf[np.ix_(rest, np.flatnonzero(eligible))][have],
                                                              ok_rest[have]).ece),
            "review_reports_outside_gold": {
                "what": f"top {k} of the reports outside the gold subset by report suspicion, recalibrated vs not",
                "precision": _r(precision_at(calib_res.audit.report_suspicion_among(eligible_obs)[rest],
                                             rep_wrong[rest], k)),
                "precision_no_gold": _r(precision_at(rep_sus[rest], rep_wrong[rest], k)),
                "base_rate": _r(float(rep_wrong[rest].mean()))},
            "per_observation": per,
        }

    result = {
        "gold": f"IU/Open-i reports.csv ({len(gold.study_uids)} reports with MeSH codes), core tier; "
                "positive or uncertain = coded",
        "estimated_on": f"all {len(gold.study_uids)} reports, texts only (no gold used by the estimator)",
        "engine_version": __version__,
        "labeler": audited_info,
        **({"signals_from": labeler.info().to_dict()} if args.audit_labeler else {}),
        "noise_config": cfg.to_dict(),
        "signals": list(audit.signals.signal_names),
        "seconds": round(seconds, 1),
        "error_rates": {"summary": summary_rates, "per_observation": rows},
        "calibration": calib,
        "review": review,
        "with_gold": with_gold,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"IU noise audit: {len(gold.study_uids)} reports, {seconds:.0f} s, signals {', '.join(result['signals'])}")
    print(f"{'observation':27s} {'gold':>5s} {'measured%':>9s} {'estimated%':>10s} {'CI':>13s} {'within':>6s}")
    for r in rows:
        ci = r["estimated_ci"]
        ci_s = f"{100 * ci[0]:.2f}-{100 * ci[1]:.2f}" if ci else "-"
        print(f"{r['observation']:27s} {r['gold_reports']:5d} {100 * r['measured_error_rate']:9.2f} "
              f"{100 * r['estimated_error_rate']:10.2f} {ci_s:>13s} {'yes' if r['within_3pp'] else 'NO':>6s}")
    s = summary_rates
    print(f"within +-3 pp: {s['n_within_3pp']}/{s['n_eligible']} (zero estimator: "
          f"{s['reference_zero']['n_within_3pp']}); mean |diff| {s['mean_abs_difference_pp']} pp; "
          f"Spearman {s['spearman_estimated_vs_measured']}")
    print(f"ECE of confidences vs codes: {calib['ece']} (coded labels only: {calib['ece_coded_labels_only']})")
    print(f"review top {k}: labels {review['labels']['precision']} vs base {review['labels']['base_rate']} "
          f"(x{review['labels']['lift']}); reports {review['reports']['precision']} vs base "
          f"{review['reports']['base_rate']} (x{review['reports']['lift']})")
    for row in review["sensitivity_to_the_reading"]:
        print(f"  review={row['review']:8s} hedged_coded={row['hedged_coded']}: labels {row['labels_precision']}, "
              f"reports {row['reports_precision']}")
    for key, v in with_gold.items():
        if key.startswith("gold_"):
            print(f"with gold ({v['n_gold']} reports): within +-3 pp {v['n_within_3pp']}/{v['n_recalibrated']}, "
                  f"mean |diff| {v['mean_abs_difference_pp']} pp, ECE {v['ece_decision_confidence']} "
                  f"(no gold: {v['ece_decision_confidence_no_gold']}); review top {k} of the rest: "
                  f"{v['review_reports_outside_gold']['precision']} (no gold: "
                  f"{v['review_reports_outside_gold']['precision_no_gold']}, base "
                  f"{v['review_reports_outside_gold']['base_rate']})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
