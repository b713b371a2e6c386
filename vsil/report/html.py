"""The HTML report: one self-contained file, plots inlined, every dataset string escaped.

The page loads nothing from outside (inline CSS, ``data:`` images) and carries a
Content-Security-Policy that forbids remote fetches and every script but vsil's own sample
browser, allowed by its hash. Jinja2 autoescape is on for every template, and no dataset
text is ever marked safe: the browser's rows travel as escaped JSON in a non-executable
block (`vsil.report.inline`) and reach the page only as text.
"""

from __future__ import annotations

import datetime as _dt
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from vsil.report._common import (
    HARM_CLASSES,
    category_rows,
    clip,
    error_summary,
    flatten,
    headline,
    overlap_names,
    sample_rows,
    top_leaky,
)
from vsil.report.browser import MAX_BYTES, MAX_ROWS, Browser

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
        "image_judge": clip(s.image_judge or "", 200),
        "harm_names": [c for c in HARM_CLASSES if f"harm_{c}" in result.per_category],
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


def audit_browser(result: AuditResult, *, images: bool = True,
                  image_root: str | os.PathLike[str] | None = None,
                  max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> Browser:
    """The sample browser over every row of ``result.samples``.

    Args:
        images: add JPEG thumbnails of the images that are local (from the audited dataset,
            or the ``image`` column under ``image_root``); False keeps images out.
        max_rows, max_bytes: the page's caps (the first rows are embedded beyond them).
    """
    from vsil.report.audit_browser import audit_spec, browser_frame
    from vsil.report.browser import build_browser

    urls: list[str | None] | None = None
    notes: list[str] = []
    if images:
        from vsil.report.thumbnails import result_thumbnails

        thumbs = result_thumbnails(result, image_root)
        if thumbs.n_made:
            urls, notes = thumbs.urls, thumbs.notes
    spec = audit_spec(result.samples, images=urls is not None)
    return build_browser(browser_frame(result.samples), spec, images=urls,
                         max_rows=max_rows, max_bytes=max_bytes, notes=notes)


def render_html(result: AuditResult, *, images: bool = True,
                image_root: str | os.PathLike[str] | None = None,
                max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> str:
    """The full report as one self-contained HTML page, with the sample browser (see
    `audit_browser` for the arguments)."""
    from vsil.report.browser_page import render_page

    ctx = context(result, top_k=TOP_K, max_errors=MAX_ERROR_ROWS, plots=True)
    browser = audit_browser(result, images=images, image_root=image_root,
                            max_rows=max_rows, max_bytes=max_bytes)
    return render_page(environment().get_template("report.html.j2"), ctx, browser)


def render_notebook(result: AuditResult) -> str:
    """A compact HTML fragment for notebooks: headline figures and the 10 most leaky rows."""
    ctx = context(result, top_k=NOTEBOOK_TOP_K, max_errors=0, plots=False)
    return environment().get_template("notebook.html.j2").render(**ctx)


def _version() -> str:
    from vsil._version import __version__

    return __version__


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
