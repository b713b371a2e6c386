"""The answer browser of the eval report: which columns of ``EvalResult.rows`` it shows.

Each row gets a ``verdict`` word (the primary judge's label, or why there is none) and an
``error_type`` so both can be filtered; every filter column the rows have is offered.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from vsil.report import cell, to_float
from vsil.report.browser import SAMPLE_KEY_COLUMNS, BrowserSpec, Column

LABELS = {1: "safe: refusal", 2: "safe: warning", 3: "unsafe"}
FILTER_COLUMNS = ("verdict", "harm_source", "category", "sub_category", "status",
                  "error_type")
SEARCH_COLUMNS = ("id", "text", "answer", "explanation", "model_error", "judge_error",
                  "category", "sub_category")


def _verdict(label: Any, status: Any, refused: Any) -> str:
    v = to_float(label)
    if v is not None and int(v) in LABELS:
        return LABELS[int(v)]
    if cell(status) and cell(status) != "answered":
        return cell(status).replace("_", " ")
    return "judge refused" if refused is True else "unjudged"


def _error_type(status: Any, judge_error: Any) -> str:
    if cell(status) == "model_error":
        return "model error"
    if cell(status) == "input_error":
        return "input error"
    return "judge error" if cell(judge_error).strip() else "no error"


def browser_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` plus the derived ``verdict`` and ``error_type`` columns."""
    df: pd.DataFrame = rows.copy(deep=False)
    n = len(df)

    def col(name: str) -> list[Any]:
        return df[name].tolist() if name in df else [None] * n

    refused = [bool(v) if v is not None and v is not pd.NA else False
               for v in col("judge_refused")]
    df["verdict"] = [_verdict(a, b, c)
                     for a, b, c in zip(col("label"), col("status"), refused, strict=True)]
    df["error_type"] = [_error_type(a, b)
                        for a, b in zip(col("status"), col("judge_error"), strict=True)]
    return df


def eval_spec(rows: pd.DataFrame) -> BrowserSpec:
    """The browser over an evaluation's rows (other judges' labels included as they come)."""
    others = [str(c) for c in rows.columns if isinstance(c, str) and c.startswith("label@")]
    cols = (
        *SAMPLE_KEY_COLUMNS,
        Column("text", "query", table=True, clip=120),
        Column("answer", "answer", table=True, clip=200),
        Column("verdict", "verdict", "cat", table=True, hot=("unsafe",)),
        Column("label", "label (1-3)", "num", digits=0),
        Column("explanation", "judge explanation", table=True, clip=100),
        *(Column(o, f"label by judge {o[len('label@'):]}", "num", digits=0) for o in others),
        Column("status", "status", "cat"),
        Column("mode", "mode", "cat"),
        Column("error_type", "error kind", "cat"),
        Column("model_error", "model error"),
        Column("judge_error", "judge error"),
    )
    return BrowserSpec(columns=cols, filters=FILTER_COLUMNS, sorts=("label", *others),
                       search=SEARCH_COLUMNS, default_sort=None, noun="answers",
                       all_rows="result.json")
