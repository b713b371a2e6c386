"""Markdown tables a paper or README can paste: the headline figures and one row per category."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from vsil.report._common import HARM_CLASSES, category_level, pct, pct_ci, to_float

if TYPE_CHECKING:
    from vsil.audit.result import AuditResult

_SPECIAL = re.compile(r"([\\`*_\[\]|<>#~])")
HEADER = ("dataset", "N", "R1 % [95% CI]", "R2 % [95% CI]", "R1−R2 %",
          "leak ratio R2/R1 % [95% CI] †", "text-only unsafe % [95% CI]", "errors", "judge")
CATEGORY_HEADER = ("category", "N", "R1 % [95% CI]", "R2 % [95% CI]", "R1−R2 %",
                   "leak ratio R2/R1 % †", "text-only unsafe %", "errors")


def md_escape(value: Any, limit: int = 200) -> str:
    """One table cell: newlines flattened, ``|``, ``<``, ``>``, ``&`` and Markdown marks escaped."""
    s = " ".join(str(value if value is not None else "").split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("&", "&amp;")
    return _SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1), "\\" + m.group(1)),
                        s)


def _row(cells: tuple[str, ...] | list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _with_ci(x: Any, ci: Any) -> str:
    v, c = pct(x, sign=False), pct_ci(ci, sign=False)
    return f"{v} {c}" if c else v


def render_markdown(result: AuditResult) -> str:
    """Headline table (one row) and a per-category table (category-level rows)."""
    s = result.summary
    f = s.figures
    judge = s.judge or ""
    if s.text_judge and s.text_judge != s.judge:
        judge = f"{judge} / J(T): {s.text_judge}"
    head = [
        md_escape(s.dataset),
        str(f.n),
        _with_ci(f.r1, f.r1_ci),
        _with_ci(f.r2, f.r2_ci),
        pct(f.r1_minus_r2, sign=False),
        _with_ci(f.leak_ratio, f.leak_ratio_ci),
        _with_ci(f.text_unsafe_rate, f.text_unsafe_rate_ci),
        str(f.n_errors),
        md_escape(judge),
    ]
    lines = _table(HEADER, [head])
    lines += [
        "",
        "R1 = J(T,I) unsafe / N; R2 = J(T,I) and J(T) unsafe / N (all N samples in the "
        "denominator; errors count in N and in no numerator). Wilson 95% intervals. "
        "† The leak ratio R2/R1 is a vsil-derived statistic (bootstrap 95% interval); "
        "the paper reports R1, R2 and R1−R2.",
    ]
    if s.harm_sources:
        lines += ["", _row(["harm source", *HARM_CLASSES]), _row(["---"] * (1 + len(HARM_CLASSES))),
                  _row(["% of N [95% CI]", *(
                      _with_ci(s.harm_sources.get(c, {}).get("share"),
                               (s.harm_sources.get(c, {}).get("lo"),
                                s.harm_sources.get(c, {}).get("hi")))
                      for c in HARM_CLASSES)]),
                  "", "Harm source: text = J(T,I) and J(T) unsafe (the leak; equals R2); image = "
                  "J(T) safe, J(I) unsafe; joint = J(T) and J(I) safe, J(T,I) unsafe; none = "
                  "J(T,I) safe; unjudged = a needed verdict is missing."
                  + (f" J(I): {md_escape(s.image_judge)}." if s.image_judge else "")]
    cats = category_level(result.per_category)
    harm_cols = [c for c in HARM_CLASSES if f"harm_{c}" in cats]
    if len(cats):
        rows: list[list[str]] = []
        for _, r in cats.iterrows():
            n = to_float(r.get("n"))
            e = to_float(r.get("n_errors"))
            rows.append([
                md_escape(r.get("category"), 120),
                "" if n is None else str(int(n)),
                _with_ci(r.get("r1"), (r.get("r1_lo"), r.get("r1_hi"))),
                _with_ci(r.get("r2"), (r.get("r2_lo"), r.get("r2_hi"))),
                pct(r.get("r1_minus_r2"), sign=False),
                pct(r.get("leak_ratio"), sign=False),
                pct(r.get("text_unsafe_rate"), sign=False),
                "" if e is None else str(int(e)),
                *(pct(r.get(f"harm_{c}"), sign=False) for c in harm_cols),
            ])
        header = (*CATEGORY_HEADER, *(f"harm: {c} %" for c in harm_cols))
        lines += ["", *_table(header, rows)]
    return "\n".join(lines) + "\n"
