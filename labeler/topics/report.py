"""A self-contained HTML page about a topic model: coherence curve, top-word bars, prevalence,
and optionally the label–topic lift and a drift comparison.

Figures are matplotlib PNGs embedded as base64 (the ``[report]`` extra); the page holds model
statistics and vocabulary terms only, never report text.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import ConfigError
from .model import TopicModel
from .stats import DriftResult, LiftTable

__all__ = ["topics_html", "coherence_figure", "top_terms_figure"]


def _plt() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("the HTML page needs matplotlib: pip install 'radlabeler[report]'",
                          code="missing_dependency") from None
    return plt


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def coherence_figure(curve: Sequence[dict[str, Any]], chosen_k: int, measure: str) -> str:
    """Base64 PNG of coherence against k (± one standard error over topics), the chosen k marked."""
    plt = _plt()
    ks = [c["k"] for c in curve]
    ys = [c["coherence"] for c in curve]
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ses = [c.get("se") for c in curve]
    if all(isinstance(x, (int, float)) for x in ses):
        ax.errorbar(ks, ys, yerr=ses, marker="o", color="#3465a4", ecolor="#9bb7d9", capsize=3,
                    label="mean over topics ± 1 SE")
        ax.legend(fontsize=8, loc="lower right")
    else:
        ax.plot(ks, ys, marker="o", color="#3465a4")
    if chosen_k in ks:
        y = ys[ks.index(chosen_k)]
        ax.scatter([chosen_k], [y], s=120, facecolors="none", edgecolors="#cc0000", linewidths=2, zorder=3)
        ax.annotate(f"k = {chosen_k}", (chosen_k, y), textcoords="offset points", xytext=(8, -14), color="#cc0000")
    ax.set_xlabel("number of topics k")
    ax.set_ylabel(f"coherence ({measure})")
    ax.set_xticks(ks)
    ax.grid(alpha=0.3)
    return _png(fig)


def top_terms_figure(terms: Sequence[Sequence[tuple[str, float]]], prevalence: Sequence[float],
                     names: Sequence[str] | None = None) -> str:
    """Base64 PNG: one horizontal bar chart of top-term probabilities per topic."""
    plt = _plt()
    k = len(terms)
    cols = min(4, k)
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
    for idx in range(rows * cols):
        ax = axes[idx // cols][idx % cols]
        if idx >= k:
            ax.axis("off")
            continue
        words = [t for t, _ in terms[idx]][::-1]
        probs = [p for _, p in terms[idx]][::-1]
        ax.barh(range(len(words)), probs, color="#73a9d8")
        ax.set_yticks(range(len(words)))
        ax.set_yticklabels(words, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        title = f"topic {idx} · {100 * prevalence[idx]:.1f}%"
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _prevalence_figure(prevalence: Sequence[float], other: Sequence[float] | None = None,
                       labels: tuple[str, str] = ("corpus", "")) -> str:
    plt = _plt()
    k = len(prevalence)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * k + 1.5), 3.0))
    x = np.arange(k)
    if other is None:
        ax.bar(x, prevalence, color="#73a9d8")
    else:
        ax.bar(x - 0.2, prevalence, width=0.4, color="#73a9d8", label=labels[0])
        ax.bar(x + 0.2, other, width=0.4, color="#f0a04b", label=labels[1])
        ax.legend(fontsize=8)
    ax.set_xticks(x)
    ax.set_xlabel("topic")
    ax.set_ylabel("share of corpus")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _lift_figure(lift: LiftTable) -> str:
    plt = _plt()
    keep = [i for i in range(len(lift.labels)) if lift.n_positive[i] > 0]
    values = np.log2(np.clip(lift.lift[keep], 1e-3, None))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.5 * values.shape[1] + 3), 0.32 * len(keep) + 1.5))
    lim = max(1.0, float(np.nanmax(np.abs(values))) if values.size else 1.0)
    im = ax.imshow(values, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_yticks(range(len(keep)))
    ax.set_yticklabels([lift.labels[i] for i in keep], fontsize=8)
    ax.set_xticks(range(values.shape[1]))
    ax.set_xlabel("topic")
    fig.colorbar(im, ax=ax, label="log2 lift")
    return _png(fig)


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}td,th{border:1px solid #ddd;padding:3px 7px;text-align:left}
th{background:#f4f4f4}.meta{color:#666;font-size:.85em}img{max-width:100%}
"""


def topics_html(
    model: TopicModel,
    *,
    title: str = "Topic model",
    lift: LiftTable | None = None,
    drift: DriftResult | None = None,
    drift_labels: tuple[str, str] = ("A", "B"),
    extra_sections: Sequence[tuple[str, str]] = (),
    n_words: int = 10,
) -> str:
    """The HTML page (a string) for a fitted model, with optional lift and drift sections.

    ``extra_sections`` are ``(heading, html)`` pairs appended verbatim (used by the evaluation
    script for its tables); pass trusted HTML only.
    """
    terms = model.top_terms(n_words)
    prev = [float(x) for x in model.prevalence_]
    info = model.info()
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    tr = model.training_
    parts.append(
        f"<p class='meta'>radlabeler {html.escape(__version__)} · k = {model.n_topics_} chosen by "
        f"{html.escape(model.coherence)} coherence · {tr['n_reports']} training reports · vocabulary "
        f"{tr['vocabulary']} · {tr.get('n_bigrams', 0)} bigrams · seed {info['seed']} · off-domain threshold "
        f"{model.offdomain_threshold_:.3f} nats/token · model sha256 {html.escape(str(info['model_sha256'] or '-'))[:16]}</p>")
    parts.append("<h2>Coherence curve</h2>")
    parts.append(_img(coherence_figure(model.coherence_curve_, model.n_topics_, model.coherence),
                      "coherence against number of topics"))
    parts.append(_table(["k", "coherence", "SE", "fit seconds"],
                        [[c["k"], c["coherence"], c.get("se", ""), c.get("fit_seconds", "")]
                         for c in model.coherence_curve_]))
    parts.append("<h2>Top words per topic</h2>")
    parts.append(_img(top_terms_figure(terms, prev), "top words per topic"))
    coh = model.topic_coherence_
    parts.append(_table(["topic", "prevalence", "coherence", "top words"],
                        [[k, f"{100 * prev[k]:.1f}%", round(coh[k], 3) if k < len(coh) else "",
                          ", ".join(t for t, _ in terms[k])] for k in range(model.n_topics_)]))
    parts.append("<h2>Topic prevalence</h2>")
    parts.append(_img(_prevalence_figure(prev), "topic prevalence"))
    if lift is not None:
        parts.append("<h2>Label–topic lift</h2><p class='meta'>lift = P(label | topic) / P(label); "
                     f"{int(100 * lift.confidence)}% bootstrap intervals ({lift.n_bootstrap} resamples); "
                     "rows whose interval excludes 1.</p>")
        parts.append(_img(_lift_figure(lift), "label-topic lift heatmap"))
        rows = [[r["label"], r["topic"], r["lift"], f"{r['ci_low']} – {r['ci_high']}", r["n_positive"]]
                for r in lift.rows(significant_only=True) if r["lift"] is not None and r["lift"] > 1]
        parts.append(_table(["label", "topic", "lift", "CI", "reports with label"], rows))
    if drift is not None:
        a_name, b_name = drift_labels
        parts.append(f"<h2>Drift: {html.escape(a_name)} vs {html.escape(b_name)}</h2>")
        parts.append(f"<p>Jensen–Shannon {drift.js:.4f} bits · A-vs-A baseline 95th percentile "
                     f"{drift.baseline_q95:.4f} · ratio {drift.ratio:.1f} · permutation p = {drift.permutation_p:.4g}</p>")
        by_topic = sorted(drift.shifts, key=lambda s: s.topic)
        parts.append(_img(_prevalence_figure([s.share_a for s in by_topic], [s.share_b for s in by_topic],
                                             (a_name, b_name)), "topic shares of both corpora"))
        parts.append(_table(["topic", "top words", f"share {a_name}", f"share {b_name}", "delta", "CI", "moved"],
                            [[s.topic, ", ".join(t for t, _ in terms[s.topic][:5]), round(s.share_a, 4),
                              round(s.share_b, 4), round(s.delta, 4), f"{s.ci_low:.4f} – {s.ci_high:.4f}",
                              "yes" if s.moved else ""] for s in drift.shifts]))
    for heading, body in extra_sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    parts.append("</body></html>")
    return "\n".join(parts)
