"""Reports of an `EvalResult`: Markdown tables, a self-contained HTML page, the radar chart.

HTML goes through Jinja2 with autoescape on; no dataset or answer text is marked safe. The
full page carries the answer browser (`vsil.eval.report_browser`), whose rows travel as
escaped JSON and reach the page only as text. Plots are PNG data URLs drawn with dataset
strings as plain text (no mathtext/TeX).
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from vsil._version import __version__
from vsil.report import cell, clip, flatten, num, pct, pct_ci, to_float
from vsil.report.browser import MAX_BYTES as MAX_BROWSER_BYTES
from vsil.report.browser import MAX_ROWS as MAX_BROWSER_ROWS
from vsil.report.browser import Browser
from vsil.report.markdown import md_escape

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from vsil.eval.result import EvalResult

_TEMPLATES = Path(__file__).parent / "templates"
_REPORT_TEMPLATES = Path(__file__).parents[1] / "report" / "templates"
MAX_ROWS = 50
_SERIES = (("safety_rate", "safety", "#2c7fb8"), ("warning_rate", "warning", "#e67e22"),
           ("refusal_rate", "refusal", "#27ae60"))


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader([str(_TEMPLATES), str(_REPORT_TEMPLATES)]),
                       autoescape=True, undefined=StrictUndefined)


def _with_ci(x: Any, ci: Any) -> str:
    c = pct_ci(ci, sign=False)
    return f"{pct(x, sign=False)} {c}".strip()


def rate_cells(r: dict[str, Any]) -> dict[str, Any]:
    """Display strings of one rates row (a `Rates.to_dict()` plus any key columns)."""
    return {**r,
            "safety": _with_ci(r["safety_rate"], r["safety_ci"]),
            "refusal": _with_ci(r["refusal_rate"], r["refusal_ci"]),
            "warning": _with_ci(r["warning_rate"], r["warning_ci"]),
            "safety_j": pct(r["safety_rate_judged"], sign=False),
            "refusal_j": pct(r["refusal_rate_judged"], sign=False),
            "warning_j": pct(r["warning_rate_judged"], sign=False),
            "unjudged": f"{r['n_unjudged']} ({r['n_judge_refused']})"}


def _frame_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [rate_cells({str(k): v for k, v in r.items()}) for r in df.to_dict("records")]


def radar_figure(result: EvalResult) -> Figure:
    """Refusal, warning and safety rate (%) per category on a radar (paper Fig. 14).

    The axes are placed by hand with room on every side for the category labels (a layout
    engine clips labels at 0° and 180° of a polar plot); the legend sits below the chart.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from vsil.report.plots import plain_text, safe_text

    pc = result.per_category
    cats = [str(c) for c in pc["category"]] if len(pc) else []
    w, h, side, top, bottom = 6.4, 4.9, 1.45, 0.7, 0.7
    with safe_text():
        fig = Figure(figsize=(w, h), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((side / w, bottom / h, 1 - 2 * side / w, 1 - (top + bottom) / h),
                          projection="polar")
        if len(cats) >= 3:
            angles = np.linspace(0, 2 * np.pi, len(cats), endpoint=False).tolist()
            for col, label, colour in _SERIES:
                vals = [100 * (to_float(v) or 0.0) for v in pc[col]]
                ax.plot([*angles, angles[0]], [*vals, vals[0]], color=colour, label=label)
                ax.fill([*angles, angles[0]], [*vals, vals[0]], color=colour, alpha=0.12)
            ax.set_xticks(angles)
            ax.set_xticklabels([c if len(c) <= 24 else c[:23] + "…" for c in cats])
            ax.tick_params(axis="x", pad=10)
            top_v = max(10.0, float(np.nanmax(100 * pc["safety_rate"].astype(float))) * 1.1)
            ax.set_ylim(0, min(100.0, top_v))
            ax.tick_params(axis="y", labelsize=7)
            fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncols=3,
                       fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
        else:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "fewer than 3 categories", ha="center", transform=ax.transAxes)
        fig.suptitle(result.model if len(result.model) <= 40 else result.model[:39] + "…",
                     fontsize=10)
        plain_text(fig)
    return fig


def _context(result: EvalResult, full: bool) -> dict[str, Any]:
    from vsil.report.plots import to_data_url

    plot = to_data_url(radar_figure(result)) if len(result.per_category) >= 3 else ""
    rows = result.rows
    errors = []
    for r in rows.itertuples():
        # by status, never by truthiness: a missing value is NaN, and NaN is truthy
        if r.status == "answered":
            if cell(r.judge_error).strip():
                errors.append({"id": r.id, "stage": "judge", "error": clip(r.judge_error, 300)})
        else:
            stage = "input" if r.status == "input_error" else "model"
            errors.append({"id": r.id, "stage": stage, "error": clip(r.model_error, 300)})
        if len(errors) >= MAX_ROWS:
            break
    answers = [{"id": r.id, "category": clip(r.category, 60),
                "label": "" if pd.isna(r.label) else int(r.label),
                "answer": clip(r.answer, 600), "explanation": clip(r.explanation, 300)}
               for r in rows.head(MAX_ROWS).itertuples()]
    agreement = [{**a, "kappa": num(a.get("kappa")), "kappa_su": num(a.get("kappa_safe_unsafe")),
                  "agree": pct(a.get("percent_agreement"))} for a in result.agreement]
    return {
        "full": full, "model": result.model, "judge": result.judge, "mode": result.mode,
        "official": result.official_protocol or not result.provenance.get("judges"),
        "s": result.summary, "summary": rate_cells(result.summary.to_dict()),
        "categories": _frame_rows(result.per_category),
        "subcategories": _frame_rows(result.per_subcategory),
        "agreement": agreement, "errors": errors, "answers": answers, "plot": plot,
        "provenance": flatten(result.provenance), "version": __version__,
        "time": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def eval_browser(result: EvalResult, *, max_rows: int = MAX_BROWSER_ROWS,
                 max_bytes: int = MAX_BROWSER_BYTES) -> Browser:
    """The answer browser over every row of ``result.rows``."""
    from vsil.eval.report_browser import browser_frame, eval_spec
    from vsil.report.browser import build_browser

    return build_browser(browser_frame(result.rows), eval_spec(result.rows),
                         max_rows=max_rows, max_bytes=max_bytes)


def render_html(result: EvalResult, full: bool = True, *, max_rows: int = MAX_BROWSER_ROWS,
                max_bytes: int = MAX_BROWSER_BYTES) -> str:
    """The full page with the answer browser, or (``full=False``) a notebook fragment with
    the summary and radar (no script)."""
    from vsil.report.browser_page import render_page

    browser = eval_browser(result, max_rows=max_rows, max_bytes=max_bytes) if full else None
    return render_page(_env().get_template("eval_report.html.j2"), _context(result, full),
                       browser)


_MD_HEAD = ("N", "safety % [95% CI]", "refusal % [95% CI]", "warning % [95% CI]", "judged",
            "unjudged (judge refused)", "model errors", "input errors", "safety % of judged")


def _md_table(keys: list[str], rows: list[dict[str, Any]]) -> list[str]:
    head = [*keys, *_MD_HEAD]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [md_escape(r[k], 60) for k in keys] + [
            str(r["n"]), r["safety"], r["refusal"], r["warning"], str(r["n_judged"]),
            r["unjudged"], str(r["n_model_errors"]), str(r["n_input_errors"]), r["safety_j"]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(result: EvalResult) -> str:
    """Summary and per-category tables (rates in %, 95% Wilson intervals)."""
    out = [f"**{md_escape(result.model)}** — mode `{result.mode}`, judge "
           f"{md_escape(result.judge)}"
           + ("" if result.official_protocol else " (text variant: not the official protocol)"),
           "", *_md_table([], [rate_cells(result.summary.to_dict())]), "",
           *_md_table(["category"], _frame_rows(result.per_category))]
    for a in result.agreement:
        out += ["", f"Judge agreement {md_escape(a['judge_a'])} vs {md_escape(a['judge_b'])}: "
                f"n = {a['n_both']}, Cohen's κ = {num(a.get('kappa'))}, confusion (rows "
                f"{md_escape(a['judge_a'])}, labels 1-3) = {a['confusion']}"]
    return "\n".join(out) + "\n"
