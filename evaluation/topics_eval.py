"""Topic models on the shared corpora: coherence curve, off-domain flag, drift.

    python evaluation/topics_eval.py            # writes evaluation/results/topics_eval.json + topics_report.html

1. **Coherence / topics.** ``TopicModel`` (default grid 5,8,10,12,15,20, c_v, seed 0, 2 workers)
   fitted on IU/Open-i (findings + impression, as ``labeler label -t findings -t impression``)
   plus ``synthetic_cxr`` (4,080 reports): the curve, the chosen k, top words, prevalence.
2. **Off-domain.** The 56 non-chest reports of ``tests/data/offdomain_reports.jsonl`` (written
   for this project; knee/shoulder/spine/brain MRI, CT head/abdomen, ultrasound, mammography,
   echo, pathology ...), given as findings + impression like IU:
   * *archive* protocol: they are mixed into IU and the model is fitted on the mix (the real
     use: an archive with strays in it); flags are read off the fitted corpus;
   * *reference* protocol: the model is fitted on 80 % of IU + synthetic_cxr, and scores the
     held-out 20 % of IU plus the 56 reports.
   The threshold is always the model's own (the 0.99 quantile of a normal fitted by median/MAD to
   its training scores); nothing is tuned on the 56 reports. Reported: share of the 56 flagged,
   share of IU flagged, ROC AUC of the score, and per exam type.
3. **Drift.** Under the model of step 1: IU vs synthetic_cxr against IU-half vs IU-half.

Needs ../shared/corpora (or LABELER_SHARED). The outputs hold statistics and vocabulary terms only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labeler import __version__  # noqa: E402
from labeler.ingest import IngestOptions, join_text_columns  # noqa: E402
from labeler.topics import TopicModel, read_corpus, topic_drift  # noqa: E402
from labeler.topics.corpus import CorpusTexts  # noqa: E402

OFFDOMAIN = ROOT / "tests" / "data" / "offdomain_reports.jsonl"
SEED = 0


def load_iu(corpora: Path) -> CorpusTexts:
    """IU reports: uid as id, findings + impression joined under their headers."""
    return read_corpus(corpora / "iu" / "reports.csv", IngestOptions(id_column="uid",
                                                                     text_columns=("findings", "impression")))


def load_synthetic(corpora: Path) -> CorpusTexts:
    """synthetic_cxr reports (id, text)."""
    return read_corpus(corpora / "synthetic_cxr" / "reports.jsonl", IngestOptions(id_column="id"))


def load_offdomain(path: Path = OFFDOMAIN) -> tuple[list[str], list[str], list[str]]:
    """(ids, exam types, texts) of the non-chest test reports, joined like IU."""
    ids, exams, texts = [], [], []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            obj = json.loads(line)
            ids.append(obj["study_uid"])
            exams.append(obj["exam"])
            texts.append(join_text_columns({"findings": obj["findings"], "impression": obj["impression"]}))
    return ids, exams, texts


def _rates(model: TopicModel, in_texts: list[str], off_texts: list[str], off_exams: list[str],
           train_texts: list[str]) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    from labeler.topics.model import robust_threshold

    a_in = model.assign(in_texts)
    a_off = model.assign(off_texts)
    s_in = np.nan_to_num(a_in.score, nan=-np.inf)
    s_off = np.nan_to_num(a_off.score, nan=-np.inf)
    y = np.r_[np.zeros(len(s_in)), np.ones(len(s_off))]
    s = np.r_[s_in, s_off]
    finite = np.isfinite(s)
    fpr5_thr = float(np.quantile(s_in[np.isfinite(s_in)], 0.95))
    by_exam: dict[str, list[int]] = {}
    for exam, f in zip(off_exams, a_off.flag):
        by_exam.setdefault(exam, [0, 0])
        by_exam[exam][0] += int(f)
        by_exam[exam][1] += 1
    train_scores = np.delete(model.offdomain_score(train_texts), model.excluded_indices_)  # as the model calibrates
    sensitivity = []
    for q in (0.95, 0.975, 0.99, 0.995):
        thr = robust_threshold(train_scores, q)["threshold"]
        sensitivity.append({"offdomain_quantile": q, "threshold": thr,
                            "offdomain_catch_rate": round(float(np.mean(s_off > thr)), 4),
                            "in_domain_false_flag_rate": round(float(np.mean(s_in > thr)), 4)})
    return {
        "threshold": round(model.offdomain_threshold_, 4),
        "threshold_calibration": model.offdomain_calibration_,
        "offdomain_caught": int(a_off.flag.sum()),
        "offdomain_n": len(off_texts),
        "offdomain_catch_rate": round(float(a_off.flag.mean()), 4),
        "in_domain_flagged": int(a_in.flag.sum()),
        "in_domain_n": len(in_texts),
        "in_domain_false_flag_rate": round(float(a_in.flag.mean()), 4),
        "in_domain_no_tokens": int((a_in.n_tokens == 0).sum()),
        "roc_auc": round(float(roc_auc_score(y[finite], s[finite])), 4),
        "catch_rate_at_5pct_false_flags": round(float(np.mean(s_off > fpr5_thr)), 4),
        "score_quantiles_in_domain": {q: round(float(np.nanquantile(a_in.score, float(q))), 3)
                                      for q in ("0.5", "0.95", "0.99")},
        "score_quantiles_offdomain": {q: round(float(np.quantile(a_off.score, float(q))), 3)
                                      for q in ("0.0", "0.1", "0.5")},
        "missed": [exam for exam, f in zip(off_exams, a_off.flag) if not f],
        "quantile_sensitivity": sensitivity,
        "by_exam": {k: {"caught": v[0], "n": v[1]} for k, v in sorted(by_exam.items())},
    }


def offdomain_archive(iu: CorpusTexts, off: tuple[list[str], list[str], list[str]], k: int,
                      workers: int = 2) -> dict[str, Any]:
    """Fit on IU with the non-chest reports mixed in; read the flags off the fitted corpus."""
    _, exams, texts = off
    rng = np.random.default_rng(SEED)
    mixed = list(iu.texts) + list(texts)
    order = rng.permutation(len(mixed))
    train = [mixed[i] for i in order]
    model = TopicModel(n_topics=k, workers=workers, random_state=SEED).fit(train)
    out = _rates(model, list(iu.texts), list(texts), exams, train)
    return {"protocol": "archive: fit on IU + the non-chest reports mixed in, flags on the same corpus",
            "k": k, "n_train": len(mixed), **out}


def offdomain_reference(iu: CorpusTexts, syn: CorpusTexts, off: tuple[list[str], list[str], list[str]], k: int,
                        workers: int = 2) -> dict[str, Any]:
    """Fit on 80 % of IU + synthetic; score the held-out 20 % of IU and the non-chest reports."""
    _, exams, texts = off
    rng = np.random.default_rng(SEED)
    perm = rng.permutation(len(iu.texts))
    cut = int(0.8 * len(perm))
    train = [iu.texts[i] for i in perm[:cut]] + list(syn.texts)
    held = [iu.texts[i] for i in perm[cut:]]
    model = TopicModel(n_topics=k, workers=workers, random_state=SEED).fit(train)
    out = _rates(model, held, list(texts), exams, train)
    return {"protocol": "reference: fit on 80% of IU + synthetic_cxr; score held-out 20% of IU + non-chest reports",
            "k": k, "n_train": len(train), **out}


def drift_eval(model: TopicModel, iu: CorpusTexts, syn: CorpusTexts) -> tuple[dict[str, Any], Any, Any]:
    """IU vs synthetic_cxr, and IU-half vs IU-half, under one model: (JSON-able dict, cross, within)."""
    theta_iu = model.transform(iu.texts)
    theta_syn = model.transform(syn.texts)
    rng = np.random.default_rng(SEED)
    perm = rng.permutation(len(iu.texts))
    half = len(perm) // 2
    names = model.topic_names(3)
    cross = topic_drift(theta_iu, theta_syn, random_state=SEED)
    within = topic_drift(theta_iu[perm[:half]], theta_iu[perm[half:]], random_state=SEED)

    def named(d: dict[str, Any]) -> dict[str, Any]:
        for row in d["topics"]:
            row["name"] = names[row["topic"]]
        return d

    summary = {
        "iu_vs_synthetic": named(cross.to_dict()),
        "iu_half_vs_iu_half": named(within.to_dict()),
        "js_ratio_cross_over_within": round(cross.js / within.js, 1) if within.js > 0 else None,
    }
    return summary, cross, within


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = Path(os.environ.get("LABELER_SHARED", ROOT.parent / "shared")) / "corpora"
    parser.add_argument("--corpora", type=Path, default=default_shared)
    parser.add_argument("--out", type=Path, default=ROOT / "evaluation" / "results")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model-dir", type=Path, default=None, help="Also keep the fitted model here.")
    args = parser.parse_args()
    if not args.corpora.is_dir():
        print(f"shared corpora not found at {args.corpora}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    iu, syn, off = load_iu(args.corpora), load_synthetic(args.corpora), load_offdomain()
    print(f"IU {len(iu.texts)} reports ({iu.n_fatal} rows unreadable), synthetic {len(syn.texts)}, "
          f"off-domain {len(off[2])}", file=sys.stderr)

    start = time.perf_counter()
    model = TopicModel(workers=args.workers, random_state=SEED).fit(list(iu.texts) + list(syn.texts))
    fit_s = time.perf_counter() - start
    k = model.n_topics_
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(args.model_dir) if args.model_dir else Path(tmp) / "model", overwrite=True)
    print(f"coherence (c_v): {[(c['k'], c['coherence']) for c in model.coherence_curve_]} -> k = {k} "
          f"({fit_s:.0f} s)", file=sys.stderr)
    terms = model.top_terms(10)
    for t in range(k):
        print(f"  topic {t} ({100 * model.prevalence_[t]:.1f}%): {', '.join(w for w, _ in terms[t])}", file=sys.stderr)

    drift, cross, within = drift_eval(model, iu, syn)
    print(f"drift: IU vs synthetic JS = {cross.js:.4f} (p = {cross.permutation_p:.4g}); IU half vs half "
          f"JS = {within.js:.4f} (p = {within.permutation_p:.3f})", file=sys.stderr)

    archive = offdomain_archive(iu, off, k, args.workers)
    reference = offdomain_reference(iu, syn, off, k, args.workers)
    for name, res in (("archive", archive), ("reference", reference)):
        print(f"off-domain ({name}): caught {res['offdomain_caught']}/{res['offdomain_n']} "
              f"({100 * res['offdomain_catch_rate']:.1f}%), IU false flags {res['in_domain_flagged']}/"
              f"{res['in_domain_n']} ({100 * res['in_domain_false_flag_rate']:.2f}%), AUC {res['roc_auc']}",
              file=sys.stderr)

    chosen = next(c for c in model.coherence_curve_ if c["k"] == k)
    result = {
        "engine_version": __version__,
        "corpora": {"iu": f"reports.csv, findings + impression, {len(iu.texts)} reports",
                    "synthetic_cxr": f"{len(syn.texts)} reports",
                    "offdomain": f"tests/data/offdomain_reports.jsonl, {len(off[2])} reports, "
                                 f"{len(set(off[1]))} exam types"},
        "model": {**model.info(), "params": model.get_params(), "training": model.training_},
        "coherence": {"measure": model.coherence, "chosen_k": k,
                      "curve": [{kk: v for kk, v in c.items() if kk != "per_topic"} for c in model.coherence_curve_]},
        "topics": [{"topic": t, "prevalence": round(float(model.prevalence_[t]), 4),
                    "coherence": round(model.topic_coherence_[t], 4),
                    "top_words": [w for w, _ in terms[t]]} for t in range(k)],
        "fit_seconds_grid_total": round(fit_s, 1),
        "fit_seconds_at_chosen_k": chosen["fit_seconds"],
        "offdomain": {"archive": archive, "reference": reference},
        "drift": drift,
        "note": "timings from a shared 2-core machine; rerun benchmarks/topics_fit.py on an idle one",
    }
    (args.out / "topics_eval.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    from labeler.topics.report import _table, topics_html

    rows = [[name, f"{r['offdomain_caught']}/{r['offdomain_n']} ({100 * r['offdomain_catch_rate']:.1f}%)",
             f"{r['in_domain_flagged']}/{r['in_domain_n']} ({100 * r['in_domain_false_flag_rate']:.2f}%)",
             r["threshold"], r["roc_auc"]] for name, r in (("archive", archive), ("reference", reference))]
    extra = [("Off-domain flag (56 non-chest reports written for the tests)",
              _table(["protocol", "non-chest flagged", "IU flagged", "threshold", "ROC AUC"], rows)),
             ("Drift: IU half vs IU half (control)",
              f"<p>Jensen–Shannon {within.js:.5f} bits · permutation p = {within.permutation_p:.3f} · "
              f"IU vs synthetic_cxr is {drift['js_ratio_cross_over_within']}× larger</p>")]
    page = topics_html(model, title="Topics of IU/Open-i + synthetic_cxr", drift=cross,
                       drift_labels=("IU", "synthetic_cxr"), extra_sections=extra)
    (args.out / "topics_report.html").write_text(page, encoding="utf-8")
    print(f"wrote {args.out / 'topics_eval.json'} and {args.out / 'topics_report.html'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
