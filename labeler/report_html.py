"""A self-contained HTML page for an :class:`~labeler.evaluate.EvalReport`.

One file, no network: inline CSS, plots as inline SVG drawn by matplotlib (the ``report``
extra; without it the page says so and keeps the tables), no scripts. It shows the headline
numbers, per-observation metrics with interval bars, paired comparisons, confusion tables and
the error list (ids, offsets and rule ids; evidence sentences only when the run was made with
``with_text``). Rendering is deterministic, so committed pages only change when numbers do.
"""

from __future__ import annotations

import html
import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .evaluate import EvalReport

__all__ = ["render_html", "MAX_ERRORS_PER_TABLE"]

#: error rows shown per (labeler, observation); the full list is in errors.csv
MAX_ERRORS_PER_TABLE = 200

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1rem 2rem;
color:#1b1f24;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
h3{font-size:1rem} .muted{color:#57606a;font-size:.9rem}
.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.headline{border:1px solid #d0d7de;border-radius:8px;padding:.8rem 1.2rem;min-width:240px;background:#f6f8fa}
.headline .big{font-size:2rem;font-weight:600} .headline .label{font-size:.85rem;color:#57606a}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem} th,td{border:1px solid #d0d7de;padding:3px 7px}
th{background:#f6f8fa;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.avg td{font-style:italic;background:#fbfbfb}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.5rem 1rem}
.phi{background:#ffebe9;border:1px solid #cf222e;border-radius:6px;padding:.5rem 1rem}
details{margin:.3rem 0} summary{cursor:pointer}
.confusions{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem} .confusion h4{margin:.6rem 0 .2rem;font-size:.9rem}
.confusion table{font-size:.75rem}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;font-size:.8rem}
svg{max-width:100%;height:auto}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _f(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def _est(e: Any) -> str:
    if e is None or np.isnan(e.value):
        return "–"
    return f"{e.value:.3f}" + ("" if np.isnan(e.low) else f" [{e.low:.3f}, {e.high:.3f}]")


def _p(p: float) -> str:
    if p is None or np.isnan(p):
        return "–"
    return "&lt;0.001" if p < 0.001 else f"{p:.3f}"


def _metric_name(metric: str) -> str:
    return {"weighted_f1": "weighted F1", "kappa": "kappa", "accuracy": "accuracy"}.get(
        metric, metric.replace(".f1", " F1"))


# ---------------------------------------------------------------------------------------------
# plots


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _plots(report: EvalReport) -> tuple[str, str]:
    """(metric plot, difference plot) as inline SVG, or an explanation when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        note = ("<p class='muted'>Plots need matplotlib (<code>pip install radlabeler[report]</code>); "
                "the tables below hold every number.</p>")
        return note, ""
    obs = list(report.observations)
    y = np.arange(len(obs))[::-1]
    n_lab = len(report.labelers)
    offsets = (np.arange(n_lab) - (n_lab - 1) / 2) * (0.6 / max(n_lab, 1))
    colors = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#57606a"]
    rc = {"svg.fonttype": "none", "svg.hashsalt": "radlabeler-metric", "font.size": 9}
    with plt.rc_context(rc):
        fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(obs) * max(1, n_lab * 0.6) + 1.2))
        for i, lab in enumerate(report.labelers):
            values, cis = report.metric_values(i)
            lo = np.where(np.isnan(cis[:, 0]), values, cis[:, 0])
            hi = np.where(np.isnan(cis[:, 1]), values, cis[:, 1])
            err = np.vstack([np.clip(values - lo, 0, None), np.clip(hi - values, 0, None)])
            ax.errorbar(values, y + offsets[i], xerr=err, fmt="o", ms=4, capsize=2.5, lw=1.2,
                        color=colors[i % len(colors)], label=lab.name)
        ax.set_yticks(y, obs)
        ax.set_xlabel(f"{_metric_name(report.primary)} (95% bootstrap CI)" if report.settings.get("confidence") == 0.95
                      else _metric_name(report.primary))
        lo_x = min(0.0, float(np.nanmin([np.nanmin(report.metric_values(i)[0]) for i in range(n_lab)] + [0.0])))
        ax.set_xlim(lo_x if report.primary == "kappa" else 0.0, 1.0)
        ax.grid(axis="x", color="#ddd", lw=0.6)
        ax.set_axisbelow(True)
        if n_lab > 1:
            ax.legend(loc="lower left", fontsize=8, frameon=False)
        metric_svg = _svg(fig)
        plt.close(fig)
    diff_svg = ""
    if report.comparisons:
        rc["svg.hashsalt"] = "radlabeler-diff"
        with plt.rc_context(rc):
            fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(obs) * max(1, len(report.comparisons) * 0.6) + 1.2))
            k = len(report.comparisons)
            offs = (np.arange(k) - (k - 1) / 2) * (0.6 / k)
            for ci_, c in enumerate(report.comparisons):
                d = c.metrics[report.primary]
                lo = np.where(np.isnan(d.ci[:, 0]), d.diff, d.ci[:, 0])
                hi = np.where(np.isnan(d.ci[:, 1]), d.diff, d.ci[:, 1])
                err = np.vstack([np.clip(d.diff - lo, 0, None), np.clip(hi - d.diff, 0, None)])
                ax.errorbar(d.diff, y + offs[ci_], xerr=err, fmt="s", ms=4, capsize=2.5, lw=1.2,
                            color=colors[c.other % len(colors)],
                            label=f"{report.labelers[c.other].name} − {report.labelers[c.reference].name}")
            ax.axvline(0, color="#57606a", lw=0.8)
            ax.set_yticks(y, obs)
            ax.set_xlabel(f"difference in {_metric_name(report.primary)} (paired bootstrap CI)")
            ax.grid(axis="x", color="#ddd", lw=0.6)
            ax.set_axisbelow(True)
            ax.legend(loc="lower left", fontsize=8, frameon=False)
            diff_svg = _svg(fig)
            plt.close(fig)
    return metric_svg, diff_svg


# ---------------------------------------------------------------------------------------------
# sections


def _headlines(report: EvalReport) -> str:
    cards = []
    metric = _metric_name(report.primary)
    for i, lab in enumerate(report.labelers):
        h = report.headline(i)
        macro = h.get("macro")
        rows = "".join(
            f"<div class='label'>{_e(avg)} {_e(metric)}: <b>{_est(e)}</b></div>" for avg, e in h.items() if avg != "macro"
        )
        cards.append(
            f"<div class='headline' id='headline-{i}' data-labeler='{_e(lab.name)}'>"
            f"<h3>{_e(lab.name)}</h3>"
            f"<div class='big'>{_f(macro.value if macro else None)}</div>"
            f"<div class='label'>macro {_e(metric)}"
            + (f" [{_f(macro.low)}, {_f(macro.high)}]" if macro and not np.isnan(macro.low) else "")
            + f"</div>{rows}"
            f"<div class='label'>macro kappa: <b>{_est(lab.scores.kappa_macro)}</b></div>"
            f"<div class='label'>errors: {sum(1 for e in report.errors if e.labeler == lab.name)}</div>"
            "</div>"
        )
    return "<div class='cards'>" + "".join(cards) + "</div>"


def _metric_table(report: EvalReport, i: int) -> str:
    from .evaluate import table_header, table_rows

    header = table_header(report)
    body = []
    for row in table_rows(report, i):
        body.append("<tr>" + f"<td>{_e(row[0])}</td>" + "".join(f"<td class='num'>{_e(c)}</td>" for c in row[1:])
                    + "</tr>")
    s = report.labelers[i].scores
    for task in s.tasks:
        if report.kind == "status" and task != report.primary.removesuffix(".f1") and task != "mention":
            continue
        for avg in ("macro", "micro", "weighted"):
            a = s.tasks[task].averages[avg]
            body.append(f"<tr class='avg'><td colspan='{len(header) - 2}'>{_e(avg)} {_e(task)}: precision "
                        f"{_est(a['precision'])} · recall {_est(a['recall'])}</td>"
                        f"<td class='num'>F1 {_est(a['f1'])}</td><td></td></tr>")
    if s.weighted_f1_macro is not None:
        body.append(f"<tr class='avg'><td colspan='{len(header) - 2}'>macro weighted F1 (CheXbert)</td>"
                    f"<td class='num'>{_est(s.weighted_f1_macro)}</td><td></td></tr>")
    body.append(f"<tr class='avg'><td colspan='{len(header) - 1}'>macro kappa</td>"
                f"<td class='num'>{_est(s.kappa_macro)}</td></tr>")
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return f"<table class='metrics' id='metrics-{i}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _comparisons(report: EvalReport) -> str:
    if not report.comparisons:
        return ""
    parts = ["<h2>Paired comparisons</h2>",
             f"<p class='muted'>Differences other − reference in {_e(_metric_name(report.primary))} on the same "
             "bootstrap resamples (percentile interval, two-sided paired-bootstrap p); McNemar's exact test on "
             "per-report correctness, Holm-adjusted across observations.</p>"]
    for c in report.comparisons:
        d = c.metrics[report.primary]
        ref, oth = report.labelers[c.reference].name, report.labelers[c.other].name
        rows = []
        for j, o in enumerate(report.observations):
            lo, hi = d.ci[j]
            ci = "" if np.isnan(lo) else f" [{lo:+.3f}, {hi:+.3f}]"
            rows.append(f"<tr><td>{_e(o)}</td><td class='num'>{'–' if np.isnan(d.diff[j]) else f'{d.diff[j]:+.3f}'}"
                        f"{ci}</td><td class='num'>{_p(d.p_bootstrap[j])}</td>"
                        f"<td class='num'>{int(c.mcnemar_b[j])} / {int(c.mcnemar_c[j])}</td>"
                        f"<td class='num'>{_p(c.mcnemar_p[j])}</td><td class='num'>{_p(c.mcnemar_p_holm[j])}</td></tr>")
        for avg, (e, p) in d.averages.items():
            ci = "" if np.isnan(e.low) else f" [{e.low:+.3f}, {e.high:+.3f}]"
            val = "–" if np.isnan(e.value) else f"{e.value:+.3f}"
            rows.append(f"<tr class='avg'><td>{_e(avg)}</td><td class='num'>{val}{ci}</td>"
                        f"<td class='num'>{_p(p)}</td><td></td><td></td><td></td></tr>")
        parts.append(
            f"<h3>{_e(oth)} − {_e(ref)}</h3><table class='comparison'><thead><tr><th>observation</th>"
            "<th>difference [CI]</th><th>p (bootstrap)</th><th>McNemar ref right/other right</th><th>McNemar p</th>"
            "<th>p (Holm)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    return "".join(parts)


def _confusions(report: EvalReport) -> str:
    from .vocab import STATUS_ORDER

    gold_names = ["not coded", "coded"] if report.kind == "binary" else [s.value for s in STATUS_ORDER]
    pred_names = [s.value for s in STATUS_ORDER]
    parts = ["<h2>Confusion tables</h2><p class='muted'>Rows: gold; columns: predicted status.</p>"]
    for j, o in enumerate(report.observations):
        tables = []
        for lab in report.labelers:
            m = lab.scores.confusion[j]
            head = "".join(f"<th>{_e(p)}</th>" for p in pred_names)
            body = "".join(
                f"<tr><th>{_e(g)}</th>" + "".join(f"<td class='num'>{int(v)}</td>" for v in m[k]) + "</tr>"
                for k, g in enumerate(gold_names))
            tables.append(f"<div><b>{_e(lab.name)}</b><table><thead><tr><th>gold \\ predicted</th>{head}</tr>"
                          f"</thead><tbody>{body}</tbody></table></div>")
        parts.append(f"<div class='confusion'><h4>{_e(o)}</h4>{''.join(tables)}</div>")
    return parts[0] + "<div class='confusions'>" + "".join(parts[1:]) + "</div>"


def _errors(report: EvalReport) -> str:
    parts = ["<h2>Errors</h2>"]
    if report.with_text:
        parts.append("<p class='phi'>This page contains report text (evidence sentences): keep it where the "
                     "reports may be kept.</p>")
    else:
        parts.append("<p class='muted'>Ids, evidence offsets and rule ids only (run with <code>--with-text</code> "
                     "to add the evidence sentences). The full list is in <code>errors.csv</code>.</p>")
    columns = ["study_uid", "error", "gold", "predicted", "rule_id", "modifier_rule_id", "derived_by", "section",
               "sentence_start", "sentence_end"] + (["sentence"] if report.with_text else [])
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in report.errors:
        grouped.setdefault((e.labeler, e.observation), []).append(e.to_row(report.with_text))
    for lab in report.labelers:
        parts.append(f"<h3>{_e(lab.name)}</h3>")
        for o in report.observations:
            rows = grouped.get((lab.name, o), [])
            if not rows:
                continue
            counts: dict[str, int] = {}
            for r in rows:
                counts[r["error"]] = counts.get(r["error"], 0) + 1
            summary = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
            shown = rows[:MAX_ERRORS_PER_TABLE]
            head = "".join(f"<th>{_e(c)}</th>" for c in columns)
            body = "".join("<tr>" + "".join(f"<td>{_e(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in shown)
            more = (f"<p class='muted'>{len(rows) - len(shown)} more in errors.csv</p>"
                    if len(rows) > len(shown) else "")
            parts.append(f"<details><summary>{_e(o)}: {len(rows)} ({_e(summary)})</summary><table class='errors'>"
                         f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}</details>")
    return "".join(parts)


def render_html(report: EvalReport) -> str:
    """The report as one self-contained HTML page (UTF-8 text)."""
    from .evaluate import CONVENTIONS, count_noun

    names = ", ".join(lab.name for lab in report.labelers)
    title = f"Evaluation: {names} on {report.gold_name}"
    metric_svg, diff_svg = _plots(report)
    s = report.settings
    gold_line = (f"{report.n} gold rows · {count_noun(len(report.observations), 'observation')} · {report.kind} gold "
                 f"({report.gold_format}) · {s['n_bootstrap']} bootstrap resamples, seed {s['seed']}, "
                 f"{int(round(s['confidence'] * 100))}% intervals · min support {s['min_support']} · "
                 f"engine {report.engine_version}")
    warnings = ""
    if report.warnings:
        warnings = "<div class='warn'><b>Warnings</b><ul>" + "".join(f"<li>{_e(w)}</li>" for w in report.warnings) \
            + "</ul></div>"
    notes = "".join(f"<li>{_e(n)}</li>" for n in report.gold_notes)
    tables = "".join(f"<h3>{_e(lab.name)}</h3>{_metric_table(report, i)}" for i, lab in enumerate(report.labelers))
    provenance = json.dumps(
        {"gold": {"name": report.gold_name, "sha256": report.gold_sha256},
         **{lab.name: {"source": lab.source, "source_sha256": lab.source_sha256, **lab.provenance}
            for lab in report.labelers}},
        indent=2, ensure_ascii=False, default=str)
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class='muted' id='gold-line'>{_e(gold_line)}</p>",
        _headlines(report),
        warnings,
        f"<h2>Per observation: {_e(_metric_name(report.primary))}</h2>",
        f"<figure id='metric-plot'>{metric_svg}</figure>",
        tables,
        _comparisons(report),
        f"<figure id='diff-plot'>{diff_svg}</figure>" if diff_svg else "",
        _confusions(report),
        _errors(report),
        "<h2>Gold set and conventions</h2>",
        f"<ul>{notes}</ul>" if notes else "",
        f"<p>{_e(CONVENTIONS[report.kind])}</p>",
        "<h2>Provenance</h2>",
        f"<pre>{_e(provenance)}</pre>",
    ]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(b for b in body if b) + "</body></html>\n")
