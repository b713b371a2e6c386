"""The sample browser of the audit report: which columns of ``result.samples`` it shows.

Verdict flags become words (``unsafe`` / ``safe`` / ``no verdict``) so that they can be
filtered; every filter column that the samples frame has is offered (``harm_source`` too,
when present), so the browser follows the frame rather than a fixed list.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from vsil.report._common import cell
from vsil.report.browser import SAMPLE_KEY_COLUMNS, BrowserSpec, Column

#: categorical columns offered as filters when the samples frame has them, in this order
FILTER_COLUMNS = ("pair_verdict", "text_verdict", "leak", "harm_source", "category",
                  "sub_category", "error_type")
SEARCH_COLUMNS = ("id", "text", "image_text", "evidence", "error", "category",
                  "sub_category", "pair_categories", "text_categories", "shared_concepts")
THUMB = "thumbnail"


def _verdict(v: Any, yes: str, no: str, unknown: str) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return unknown
    return yes if bool(v) else no


def browser_frame(samples: pd.DataFrame) -> pd.DataFrame:
    """``samples`` plus the derived columns the browser filters on."""
    df: pd.DataFrame = samples.copy(deep=False)
    for src, dst in (("pair_unsafe", "pair_verdict"), ("text_unsafe", "text_verdict"),
                     ("image_unsafe", "image_verdict")):
        if src in df:
            df[dst] = [_verdict(v, "unsafe", "safe", "no verdict") for v in df[src].tolist()]
    if "leaky" in df:
        df["leak"] = [_verdict(v, "leaky", "not leaky", "unknown") for v in df["leaky"].tolist()]
    if "error" in df:
        kinds = df["error_kind"].tolist() if "error_kind" in df else [None] * len(df)
        df["error_type"] = [
            ((cell(k).strip() or "error") if cell(e).strip() else "no error")
            for e, k in zip(df["error"].tolist(), kinds, strict=True)]
    return df


def audit_spec(samples: pd.DataFrame, *, images: bool = False) -> BrowserSpec:
    """The browser over an audit's samples (overlap columns included as they come)."""
    overlaps = [str(c) for c in samples.columns
                if isinstance(c, str) and c.startswith("overlap_")]
    cols: list[Column] = []
    if images:
        cols.append(Column(THUMB, "image", "image", table=True))
    cols += [
        *SAMPLE_KEY_COLUMNS,
        Column("text", "query (T)", table=True, clip=160),
        Column("image_text", "image text", table=True, clip=120),
        Column("image_text_source", "image text source", "cat"),
        Column("pair_verdict", "J(T,I)", "cat", table=True, hot=("unsafe",)),
        Column("p_pair_unsafe", "p unsafe J(T,I)", "num"),
        Column("pair_categories", "categories J(T,I)"),
        Column("text_verdict", "J(T)", "cat", table=True, hot=("unsafe",)),
        Column("p_text_unsafe", "p unsafe J(T)", "num"),
        Column("text_categories", "categories J(T)"),
        Column("image_verdict", "J(I)", "cat", hot=("unsafe",)),
        Column("p_image_unsafe", "p unsafe J(I)", "num"),
        Column("image_categories", "categories J(I)"),
        Column("image_verdict_source", "J(I) looked at"),
        Column("leak", "leaky", "cat", table=True, hot=("leaky",)),
        Column("leakage_score", "leakage score", "num", table=True),
        *(Column(o, f"overlap {o[len('overlap_'):]}", "num") for o in overlaps),
        Column("shared_concepts", "shared concepts"),
        Column("evidence", "evidence"),
        Column("error_type", "error kind", "cat"),
        Column("error", "error", table=True, clip=60),
        Column("image", "image file"),
    ]
    return BrowserSpec(
        columns=tuple(cols), filters=FILTER_COLUMNS,
        sorts=("leakage_score", "p_pair_unsafe", "p_text_unsafe", "p_image_unsafe", *overlaps),
        search=SEARCH_COLUMNS, default_sort="leakage_score", noun="samples",
        all_rows="samples.parquet")
