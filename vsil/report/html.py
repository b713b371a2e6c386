"""The HTML report: one self-contained file, plots inlined, every dataset string escaped.

The page loads nothing from outside (inline CSS, ``data:`` PNGs, no JavaScript) and carries a
Content-Security-Policy that forbids scripts and remote fetches. Jinja2 autoescape is on for
every template, and no dataset text is ever marked safe.
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from vsil.report._common import (
    category_rows,
    clip,
    error_summary,
    flatten,
    headline,
    overlap_names,
    sample_rows,
    top_leaky,
)

if TYPE_CHECKING:
    from vsil.audit.result import AuditResult

TEMPLATES = Path(__file__).parent / "templates"
#: rows of the most-leaky table in the full report / in a notebook
TOP_K = 50
NOTEBOOK_TOP_K = 10
#: error rows listed in full
MAX_ERROR_ROWS = 100


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment of the reports (autoescape always on)."""
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )


def context(result: AuditResult, *, top_k: int, max_errors: int, plots: bool
            ) -> dict[str, Any]:
    """Everything the templates show, as plain strings and numbers (escaped by Jinja2)."""
    s = result.summary
    prov = result.provenance or {}
    n_err, err_rows, kinds = error_summary(result.samples, max_errors)
    names = overlap_names(result)
    ctx: dict[str, Any] = {
        "dataset": clip(s.dataset or "dataset", 200),
        "judge": clip(s.judge or "", 200),
        "text_judge": clip(s.text_judge or s.judge or "", 200),
        "judge_mode": clip(prov.get("judge_mode", ""), 200),
        "version": clip(prov.get("vsil_version", _version()), 40),
        "time": clip(prov.get("time") or _now(), 60),
        "headline": headline(result),
        "n_load_errors": s.n_load_errors,
        "n_skipped_at_load": s.n_skipped_at_load,
        "cache_hits": s.cache_hits,
        "computed": s.computed,
        "image_text_sources": [(clip(k, 100), v) for k, v in
                               sorted(s.image_text_sources.items(), key=lambda kv: -kv[1])],
        "overlap_names": [clip(n, 60) for n in names],
        "categories": category_rows(result.per_category, names),
        "leaky_rows": sample_rows(top_leaky(result.samples, top_k)),
        "n_error_rows": n_err,
        "error_rows": err_rows,
        "error_kinds": kinds,
        "provenance": flatten(prov),
        "plots": [],
    }
    if plots:
        from vsil.report.plots import report_plots

        ctx["plots"] = report_plots(result)
    return ctx


def render_html(result: AuditResult) -> str:
    """The full report as one self-contained HTML page."""
    ctx = context(result, top_k=TOP_K, max_errors=MAX_ERROR_ROWS, plots=True)
    return environment().get_template("report.html.j2").render(**ctx)


def render_notebook(result: AuditResult) -> str:
    """A compact HTML fragment for notebooks: headline figures and the 10 most leaky rows."""
    ctx = context(result, top_k=NOTEBOOK_TOP_K, max_errors=0, plots=False)
    return environment().get_template("notebook.html.j2").render(**ctx)


def _version() -> str:
    from vsil._version import __version__

    return __version__


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
