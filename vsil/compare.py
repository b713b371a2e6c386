"""`vsil.compare`: audit several datasets with the same detectors, one row per dataset.

The table puts the paper's Table 1 figures side by side (R1, R2, R1-R2, the leak ratio, the
text-only unsafe rate), with the mean overlap per scorer, 95% intervals and judge-error
counts. Every audit goes through the shared cache, so adding a dataset to a comparison that
already ran costs only that dataset.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from vsil._jsonable import dumps
from vsil._output import save_files, written
from vsil.audit.metrics import Z95

if TYPE_CHECKING:
    from vsil.audit.plan import CacheArg
    from vsil.audit.result import AuditResult
    from vsil.detectors import Judge, OverlapScorer

#: the headline figures: (column prefix, LeakageFigures attribute, label)
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("R1", "r1", "R1"),
    ("R2", "r2", "R2"),
    ("R1_minus_R2", "r1_minus_r2", "R1−R2"),
    ("leak_ratio", "leak_ratio", "leak ratio R2/R1"),
    ("text_unsafe_rate", "text_unsafe_rate", "text-only unsafe"),
)


@dataclass
class CompareResult:
    """The outcome of `compare`.

    Attributes:
        table: one row per dataset: ``dataset, N, R1, R1_lo, R1_hi, R2, ..., R1_minus_R2,
            leak_ratio, text_unsafe_rate`` (each with ``_lo`` / ``_hi``), ``overlap_<name>``
            (mean, with ``_lo`` / ``_hi``), ``n_errors``, ``judge``. Rates are fractions.
        results: dataset name -> its full AuditResult.
        judge: the judge's name; overlap: the overlap scorers' names.
    """

    table: pd.DataFrame
    results: dict[str, AuditResult]
    judge: str = ""
    overlap: list[str] = field(default_factory=list)

    # ---- exports ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "overlap": self.overlap,
            "table": [{k: _clean(v) for k, v in r.items()}
                      for r in self.table.to_dict(orient="records")],
            "datasets": {name: {"summary": res.summary.to_dict(),
                                "provenance": res.provenance}
                         for name, res in self.results.items()},
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The table, each dataset's summary and provenance, as JSON."""
        text = dumps(self.to_dict(), ensure_ascii=False, indent=1)
        return written(text, path)

    def to_markdown(self) -> str:
        """A Markdown table (percentages, 95% intervals in brackets) for papers and READMEs."""
        heads = ["dataset", "N", *[lab for _, _, lab in FIGURES],
                 *[f"overlap {o}" for o in self.overlap], "judge errors"]
        lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        for r in self.table.to_dict(orient="records"):
            cells = [_md_escape(str(r["dataset"])), str(r["N"])]
            cells += [_pct_ci(r[c], r[f"{c}_lo"], r[f"{c}_hi"]) for c, _, _ in FIGURES]
            cells += [_num_ci(r[f"overlap_{o}"], r[f"overlap_{o}_lo"], r[f"overlap_{o}_hi"])
                      for o in self.overlap]
            cells.append(str(r["n_errors"]))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(f"Judge: {_md_escape(self.judge)}. Rates in % over all N samples "
                     "(judge failures count in N and in no numerator); 95% Wilson intervals, "
                     "bootstrap for the leak ratio.")
        return "\n".join(lines) + "\n"

    def plot(self) -> Any:
        """Grouped bars of R1, R2 and R1−R2 per dataset with their 95% intervals (dataset
        names drawn as plain text: no mathtext, no TeX)."""
        from vsil.report.plots import plain_text, safe_text

        with safe_text():
            fig = self._plot()
            plain_text(fig)
        return fig

    def _plot(self) -> Any:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        t = self.table
        names = [str(n) if len(str(n)) <= 40 else str(n)[:39] + "…" for n in t["dataset"]]
        x = np.arange(len(names))
        width = 0.27
        fig = Figure(figsize=(max(5.0, 1.6 * len(names) + 2), 3.8))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for k, (col, _, label) in enumerate(FIGURES[:3]):
            vals = 100 * t[col].to_numpy(dtype=float)
            lo = 100 * t[f"{col}_lo"].to_numpy(dtype=float)
            hi = 100 * t[f"{col}_hi"].to_numpy(dtype=float)
            err = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
            err = np.nan_to_num(err)
            ax.bar(x + (k - 1) * width, np.nan_to_num(vals), width, yerr=err, capsize=3,
                   label=label)
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=15, ha="right")
        ax.set_ylabel("% of N")
        ax.set_ylim(0, 105)
        # the legend sits between the title and the axes, where no bar or error bar can be
        ax.legend(frameon=False, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  borderaxespad=0.2)
        ax.set_title(f"Visual safety information leakage (judge: {self.judge})", pad=24)
        fig.tight_layout()
        return fig

    def plot_png(self) -> bytes:
        fig = self.plot()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        return buf.getvalue()

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """One self-contained HTML page: the table (all text escaped) and the plot inline."""
        from jinja2 import Environment

        env = Environment(autoescape=True)
        rows = []
        for r in self.table.to_dict(orient="records"):
            cells = [str(r["N"])]
            cells += [_pct_ci(r[c], r[f"{c}_lo"], r[f"{c}_hi"]) for c, _, _ in FIGURES]
            cells += [_num_ci(r[f"overlap_{o}"], r[f"overlap_{o}_lo"], r[f"overlap_{o}_hi"])
                      for o in self.overlap]
            cells.append(str(r["n_errors"]))
            rows.append({"dataset": str(r["dataset"]), "cells": cells})
        heads = ["dataset", "N", *[lab for _, _, lab in FIGURES],
                 *[f"overlap {o}" for o in self.overlap], "judge errors"]
        prov = {name: {"n": res.summary.figures.n,
                       "sha256": res.provenance.get("dataset", {}).get("sha256", ""),
                       "judge": res.provenance.get("judge", {}).get("fingerprint", "")}
                for name, res in self.results.items()}
        png = base64.b64encode(self.plot_png()).decode("ascii")
        html = env.from_string(_HTML).render(judge=self.judge, heads=heads, rows=rows,
                                             png=png, prov=prov)
        return written(html, path)

    def save(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """compare.html, compare.md, compare.json and compare.png in ``out_dir``."""
        return save_files(out_dir, {
            "html": ("compare.html", self.to_html),
            "md": ("compare.md", lambda p: written(self.to_markdown(), p)),
            "json": ("compare.json", self.to_json),
            "png": ("compare.png", lambda p: p.write_bytes(self.plot_png())),
        })

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"CompareResult(judge={self.judge!r}, datasets={list(self.results)})"


def compare(
    datasets: Sequence[Any],
    judge: str | Judge = "embedded",
    overlap: Sequence[str | OverlapScorer] | str | None = ("embedding", "lexical"),
    *,
    cache: CacheArg = True,
    text_judge: str | Judge | None = None,
    quiet: bool = True,
    **audit_kwargs: Any,
) -> CompareResult:
    """Audit each dataset with the same detectors and put their figures in one table.

    Args:
        datasets: each one a registered dataset name (``"figstep"``), a ``(name, kwargs)``
            tuple (``("jailbreakv-28k", {"root": DIR, "subset": "mini"})``; a ``"label"`` key
            names the row), a `Dataset`, or anything `vsil.load` accepts.
        judge, overlap, text_judge: as in `vsil.audit`; the detectors are built once and
            shared by every dataset.
        cache: as in `vsil.audit`; one cache serves all datasets, so a re-run with one
            dataset added computes only that dataset.
        quiet: do not print each audit's summary line.
        **audit_kwargs: passed to `vsil.audit` (``describe=``, ``seed=``, ...).
    """
    from vsil.audit.audit import audit
    from vsil.dataset import Dataset, load
    from vsil.detectors import create
    from vsil.runtime.cache import open_cache

    if not datasets:
        raise ValueError("compare needs at least one dataset")
    store = open_cache(cache)
    pair_judge = create("judge", judge)
    txt_judge = create("judge", text_judge) if text_judge is not None else None
    specs = [overlap] if isinstance(overlap, str) else list(overlap or ())
    scorers = [create("overlap", o) for o in specs]

    results: dict[str, AuditResult] = {}
    for i, spec in enumerate(datasets):
        label, ds = _load_one(spec, i, load, Dataset)
        label = _unique(label, results)
        results[label] = audit(ds, judge=pair_judge, overlap=scorers, text_judge=txt_judge,
                               cache=store, quiet=quiet, **audit_kwargs)
    names = [str(s.name) for s in scorers]
    table = compare_table(results, names)
    return CompareResult(table=table, results=results, judge=str(pair_judge.name),
                         overlap=names)


def compare_table(results: Mapping[str, AuditResult], overlap: Sequence[str]) -> pd.DataFrame:
    """The one-row-per-dataset table of `CompareResult` from audit results."""
    rows: list[dict[str, Any]] = []
    for name, res in results.items():
        f = res.summary.figures
        row: dict[str, Any] = {"dataset": name, "N": f.n}
        for col, attr, _ in FIGURES:
            row[col] = getattr(f, attr)
            row[f"{col}_lo"], row[f"{col}_hi"] = getattr(f, f"{attr}_ci")
        for o in overlap:
            col = f"overlap_{o}"
            vals = res.samples[col] if col in res.samples else pd.Series(dtype=float)
            row[col], row[f"{col}_lo"], row[f"{col}_hi"] = mean_ci(vals)
        row["n_errors"] = f.n_errors
        row["judge"] = res.summary.judge
        rows.append(row)
    out: pd.DataFrame = pd.DataFrame(rows)
    return out


def mean_ci(values: pd.Series) -> tuple[float, float, float]:
    """Mean of the non-missing values with a normal-approximation 95% interval."""
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    m = float(v.mean())
    if v.size == 1:
        return (m, math.nan, math.nan)
    half = Z95 * float(v.std(ddof=1)) / math.sqrt(v.size)
    return (m, m - half, m + half)


def _load_one(spec: Any, i: int, load: Any, dataset_type: type) -> tuple[str, Any]:
    if isinstance(spec, dataset_type):
        return str(getattr(spec, "name", f"data{i}")), spec
    if isinstance(spec, str | os.PathLike):
        ds = load(spec)
        # a named dataset keeps its name; a file or folder is labelled by its stem (or the
        # folder's name), never by its full path
        return (str(ds.name) if _is_path(spec) else str(spec)), ds
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) \
            and isinstance(spec[1], Mapping):
        kw = dict(spec[1])
        label = kw.pop("label", None) or _label(spec[0], kw)
        return str(label), load(spec[0], **kw)
    ds = load(spec)
    return str(ds.name if ds.name not in ("records", "dataframe", "hf_dataset")
               else f"data{i}"), ds


def _is_path(spec: str | os.PathLike[str]) -> bool:
    try:
        return Path(spec).exists()
    except (OSError, ValueError):
        return False


def _label(name: str, kw: Mapping[str, Any]) -> str:
    parts = [str(kw[k]) for k in ("subset", "split", "variant") if kw.get(k)]
    return f"{name} ({', '.join(parts)})" if parts else name


def _unique(label: str, taken: Mapping[str, Any]) -> str:
    if label not in taken:
        return label
    k = 2
    while f"{label} #{k}" in taken:
        k += 1
    return f"{label} #{k}"


def _isnan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _pct_ci(v: Any, lo: Any, hi: Any) -> str:
    """``12.34 [10.1, 14.6]``: a rate and its interval, in percent."""
    return _with_ci(v, lo, hi, scale=100, digits=2, ci_digits=1)


def _num_ci(v: Any, lo: Any, hi: Any) -> str:
    """``0.123 [0.101, 0.146]``: a score and its interval."""
    return _with_ci(v, lo, hi, scale=1, digits=3, ci_digits=3)


def _with_ci(v: Any, lo: Any, hi: Any, *, scale: float, digits: int, ci_digits: int) -> str:
    if _isnan(v):
        return "n/a"
    s = f"{scale * float(v):.{digits}f}"
    if not (_isnan(lo) or _isnan(hi)):
        s += f" [{scale * float(lo):.{ci_digits}f}, {scale * float(hi):.{ci_digits}f}]"
    return s


def _md_escape(s: str) -> str:
    out = s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "<>`*_[]":
        out = out.replace(ch, "\\" + ch)
    return out


def _clean(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>vsil compare: {{ judge }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:0.92em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
.note{color:#555;font-size:0.9em;max-width:60em}
</style></head><body>
<h1>Visual safety information leakage across datasets</h1>
<p>Judge: <code>{{ judge }}</code></p>
<table>
<thead><tr>{% for h in heads %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for r in rows %}<tr><td>{{ r.dataset }}</td>
{% for c in r.cells %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
<p class="note">Rates in % over all N samples: R1 = pair judged unsafe, R2 = pair and text
alone judged unsafe, R1−R2 = harmful pairs that need the image, leak ratio = R2/R1. Judge
failures count in N and in no numerator. Brackets: 95% Wilson intervals (bootstrap for the
leak ratio; normal approximation for mean overlaps).</p>
<img alt="R1, R2 and R1-R2 per dataset" src="data:image/png;base64,{{ png }}">
<h2>Provenance</h2>
<table><thead><tr><th>dataset</th><th>N</th><th>dataset sha256</th>
<th>judge fingerprint</th></tr></thead>
<tbody>{% for name, p in prov.items() %}<tr><td>{{ name }}</td><td>{{ p.n }}</td>
<td><code>{{ p.sha256[:16] }}</code></td><td><code>{{ p.judge }}</code></td></tr>
{% endfor %}</tbody></table>
</body></html>
"""


def paper_table1(judge: str = "llamaguard3-vision") -> tuple[pd.DataFrame, dict[str, Any]]:
    """The published VSIL figures (VLSBench paper, arXiv 2411.19939 v3) and their metadata.

    ``judge="llamaguard3-vision"`` gives Table 1, ``"gpt-4o"`` Appendix Table 7 (two of its
    values are not integral over N; see the ``integral`` and ``note`` columns). Rates are in %.
    Returns (one row per dataset key, the whole reference document with its ``source``).
    """
    from importlib import resources

    ref = json.loads((resources.files("vsil") / "data" / "reference" / "paper_table1.json")
                     .read_text(encoding="utf-8"))
    if judge not in ref["tables"]:
        raise ValueError(f"no published table for judge {judge!r}; "
                         f"choose one of {sorted(ref['tables'])}")
    rows = []
    for key, r in ref["tables"][judge]["rows"].items():
        d = ref["datasets"][key]
        rows.append({"key": key, "dataset": d["label"], "N": d["n"], **r})
    return pd.DataFrame(rows), ref
