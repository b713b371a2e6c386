"""Formatting shared by the HTML and Markdown reports: numbers, intervals, row extracts.

Everything here returns plain strings; escaping is the renderer's job (Jinja2 autoescape for
HTML, `markdown.md_escape` for Markdown).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from vsil.audit.result import AuditResult

#: provenance keys whose values are never shown (defence in depth: detectors should not
#: put secrets in `info()`, but a report must not leak one if they do). A key named like a
#: token ("token", "hf_token", "access_token") is secret; token *counts* ("max_tokens",
#: "prompt_tokens", "completion_tokens") are not.
_SECRET_KEY = re.compile(
    r"(api[_-]?key|secret|passw(?:or)?d|authori[sz]ation|bearer|credential|cookie|"
    r"(?:^|[_\-.])(?:access|auth|refresh|id|session|hf|api|bearer)?[_\-]?token$)",
    re.IGNORECASE)
Z95 = 1.959963984540054


def to_float(x: Any) -> float | None:
    """A finite float, or None for None/NaN/NA/non-numbers."""
    if x is None or x is pd.NA or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def pct(x: Any, digits: int = 2, sign: bool = True) -> str:
    """``0.548`` -> ``"54.80%"``; ``"n/a"`` when missing."""
    v = to_float(x)
    if v is None:
        return "n/a"
    return f"{100 * v:.{digits}f}" + ("%" if sign else "")


def pct_ci(ci: Any, digits: int = 2, sign: bool = True) -> str:
    """``(0.50, 0.59)`` -> ``"[50.00%, 59.00%]"``; ``""`` when missing."""
    lo, hi = _pair(ci)
    if lo is None or hi is None:
        return ""
    return f"[{pct(lo, digits, sign)}, {pct(hi, digits, sign)}]"


def num(x: Any, digits: int = 3) -> str:
    v = to_float(x)
    return "n/a" if v is None else f"{v:.{digits}f}"


def num_ci(ci: Any, digits: int = 3) -> str:
    lo, hi = _pair(ci)
    if lo is None or hi is None:
        return ""
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def _pair(ci: Any) -> tuple[float | None, float | None]:
    if ci is None or isinstance(ci, str):
        return None, None
    try:
        lo, hi = ci
    except (TypeError, ValueError):
        return None, None
    return to_float(lo), to_float(hi)


def clip(text: Any, limit: int) -> str:
    """Display text for a cell: lists joined, missing values empty, long text cut."""
    s = cell(text)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def cell(v: Any) -> str:
    if v is None or v is pd.NA:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, str):
        return v
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={cell(x)}" for k, x in v.items())
    if isinstance(v, Iterable):
        return ", ".join(cell(x) for x in v)
    return str(v)


@dataclass(frozen=True)
class FigureRow:
    """One line of the headline table, already formatted."""

    label: str
    value: str
    ci: str
    count: str
    note: str = ""


HARM_CLASSES = ("text", "image", "joint", "none", "unjudged")
#: what each harm_source class means, beside its share (vsil.audit.harm_source)
HARM_NOTES = {
    "text": "pair and text unsafe: the leak (= R2); Wilson 95%",
    "image": "pair unsafe, text safe, image alone unsafe; Wilson 95%",
    "joint": "pair unsafe, text and image each safe alone; Wilson 95%",
    "none": "pair safe; Wilson 95%",
    "unjudged": "a needed verdict is missing; never guessed",
}


def headline(result: AuditResult) -> list[FigureRow]:
    """N, scored, errors, R1, R2, R1-R2, leak ratio, text-only rate, overlap means."""
    f = result.summary.figures
    n = f.n
    rows = [
        FigureRow("N (samples)", str(n), "", "", "every sample is in the denominator"),
        FigureRow("scored", str(f.n_scored), "", "", "both judges gave a verdict"),
        FigureRow("errors", str(f.n_errors), "", f"{f.n_errors} / {n}",
                  "counted in N, never turned into a label"),
        FigureRow("R1: J(T,I) unsafe", pct(f.r1), pct_ci(f.r1_ci),
                  f"{f.n_pair_unsafe} / {n}", "Wilson 95%"),
        FigureRow("R2: J(T,I) and J(T) unsafe", pct(f.r2), pct_ci(f.r2_ci),
                  f"{f.n_leaky} / {n}", "Wilson 95%"),
        FigureRow("R1 − R2: harm needs the image", pct(f.r1_minus_r2),
                  pct_ci(f.r1_minus_r2_ci), f"{f.n_pair_unsafe - f.n_leaky} / {n}",
                  "Wilson 95%"),
        FigureRow("leak ratio R2/R1", pct(f.leak_ratio), pct_ci(f.leak_ratio_ci),
                  f"{f.n_leaky} / {f.n_pair_unsafe}",
                  "vsil-derived statistic (not reported in the paper); bootstrap 95%"),
        FigureRow("text-only unsafe rate J(T)", pct(f.text_unsafe_rate),
                  pct_ci(f.text_unsafe_rate_ci), f"{f.n_text_unsafe} / {n}", "Wilson 95%"),
    ]
    for cls, v in result.summary.harm_sources.items():
        rows.append(FigureRow(f"harm source: {cls}", pct(v.get("share")),
                              pct_ci((v.get("lo"), v.get("hi"))), f"{_int(v.get('n'))} / {n}",
                              HARM_NOTES.get(cls, "")))
    for name, mean in result.summary.overlap_means.items():
        ci, k = overlap_ci(result.samples, name)
        rows.append(FigureRow(f"mean overlap: {name}", num(mean), num_ci(ci),
                              f"{k} scored", "normal approx. 95%"))
    return rows


def overlap_ci(samples: pd.DataFrame, name: str) -> tuple[tuple[float, float] | None, int]:
    """Normal-approximation 95% interval of the mean of ``overlap_<name>`` and its count."""
    col = f"overlap_{name}"
    if col not in samples:
        return None, 0
    v = pd.to_numeric(samples[col], errors="coerce").dropna()
    k = len(v)
    if k < 2:
        return None, k
    m, sd = float(v.mean()), float(v.std(ddof=1))
    half = Z95 * sd / math.sqrt(k)
    return (m - half, m + half), k


def numeric(samples: pd.DataFrame, col: str) -> pd.Series:
    if col not in samples:
        nan: pd.Series = pd.Series([math.nan] * len(samples), index=samples.index, dtype=float)
        return nan
    out: pd.Series = pd.to_numeric(samples[col], errors="coerce").astype(float)
    return out


def top_leaky(samples: pd.DataFrame, k: int) -> pd.DataFrame:
    """The ``k`` rows with the highest leakage score (flagged-leaky first when no score)."""
    if len(samples) == 0 or k <= 0:
        empty: pd.DataFrame = samples.head(0)
        return empty
    score = numeric(samples, "leakage_score")
    leaky = (samples["leaky"].map(lambda v: 1.0 if is_true(v) else 0.0)
             if "leaky" in samples else pd.Series(0.0, index=samples.index))
    order = pd.DataFrame({"score": score.fillna(-1.0), "leaky": leaky.astype(float)},
                         index=samples.index)
    order = order.sort_values(["score", "leaky"], ascending=False, kind="stable")
    top: pd.DataFrame = samples.loc[order.index[:k]]
    return top


def sample_rows(df: pd.DataFrame, text_limit: int = 400) -> list[dict[str, str]]:
    """Display cells for the leaky-sample table."""
    out: list[dict[str, str]] = []
    for _, r in df.iterrows():
        out.append({
            "id": clip(r.get("id"), 120),
            "category": clip(r.get("category"), 80),
            "sub_category": clip(r.get("sub_category"), 80),
            "text": clip(r.get("text"), text_limit),
            "image_text": clip(r.get("image_text"), text_limit),
            "image_text_source": clip(r.get("image_text_source"), 40),
            "leakage_score": num(r.get("leakage_score")),
            "leaky": _flag(r.get("leaky")),
            "pair_unsafe": _flag(r.get("pair_unsafe")),
            "text_unsafe": _flag(r.get("text_unsafe")),
            "evidence": clip(r.get("evidence"), text_limit),
            "error": clip(r.get("error"), text_limit),
        })
    return out


def is_true(v: Any) -> bool:
    """True for a set flag; False for False, None, NaN and NA."""
    return _flag(v) == "yes"


def _flag(v: Any) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return "yes" if bool(v) else "no"


def error_mask(samples: pd.DataFrame) -> pd.Series:
    if "error" not in samples:
        none: pd.Series = pd.Series(False, index=samples.index, dtype=bool)
        return none
    mask: pd.Series = samples["error"].map(lambda e: bool(cell(e).strip())).astype(bool)
    return mask


def error_summary(samples: pd.DataFrame, k: int, kinds: int = 20
                  ) -> tuple[int, list[dict[str, str]], list[tuple[str, int]]]:
    """(number of error rows, the first ``k`` as id/error cells, the commonest messages)."""
    mask = error_mask(samples)
    errs = samples[mask]
    rows = [{"id": clip(r.get("id"), 120), "error": clip(r.get("error"), 600)}
            for _, r in errs.head(k).iterrows()]
    counts = Counter(clip(e, 200) for e in errs["error"]) if len(errs) else Counter()
    return int(mask.sum()), rows, counts.most_common(kinds)


def category_rows(per_category: pd.DataFrame, overlap_names: list[str],
                  limit: int = 500) -> list[dict[str, Any]]:
    """Display cells per row of ``result.per_category`` (category rows have sub_category "*")."""
    if per_category is None or len(per_category) == 0 or "category" not in per_category:
        return []
    out: list[dict[str, Any]] = []
    for _, r in per_category.head(limit).iterrows():
        sub = r.get("sub_category")
        is_cat = sub == "*" or sub is None
        row: dict[str, Any] = {
            "is_category": is_cat,
            "category": clip(r.get("category"), 120),
            "sub_category": "" if is_cat else clip(sub, 120),
            "n": _int(r.get("n")),
            "n_errors": _int(r.get("n_errors")),
        }
        for key in ("r1", "r2", "r1_minus_r2", "leak_ratio", "text_unsafe_rate"):
            row[key] = pct(r.get(key))
            row[f"{key}_ci"] = pct_ci((r.get(f"{key}_lo"), r.get(f"{key}_hi")))
        row["overlap"] = [num(r.get(f"overlap_{n}")) for n in overlap_names]
        row["harm"] = [pct(r.get(f"harm_{c}")) for c in HARM_CLASSES
                       if f"harm_{c}" in per_category]
        out.append(row)
    return out


def category_level(per_category: pd.DataFrame) -> pd.DataFrame:
    """Only the category rows (sub_category == "*")."""
    if per_category is None or len(per_category) == 0 or "category" not in per_category:
        empty: pd.DataFrame = pd.DataFrame()
        return empty
    if "sub_category" not in per_category:
        return per_category
    cats: pd.DataFrame = per_category[per_category["sub_category"] == "*"]
    return cats


def _int(x: Any) -> str:
    v = to_float(x)
    return "" if v is None else str(int(v))


def overlap_names(result: AuditResult) -> list[str]:
    names = list(result.summary.overlap_means)
    for c in result.samples.columns:
        if isinstance(c, str) and c.startswith("overlap_") and c[8:] not in names:
            names.append(c[8:])
    return names


def flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested provenance as ``(dotted.key, value)`` rows, secrets redacted."""
    out: list[tuple[str, str]] = []
    if isinstance(d, Mapping):
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if _SECRET_KEY.search(str(k)):
                out.append((key, "[redacted]"))
            else:
                out.extend(flatten(v, key))
    elif isinstance(d, list | tuple) and any(isinstance(x, Mapping) for x in d):
        for i, v in enumerate(d):
            out.extend(flatten(v, f"{prefix}[{i}]"))
    else:
        out.append((prefix or "value", clip(d, 500)))
    return out
