"""The Markdown tables: shape, paper-style values, escaping of dataset strings."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import PAYLOADS, make_result, make_samples, result_from

from vsil.audit import AuditResult
from vsil.report.markdown import CATEGORY_HEADER, HEADER, md_escape, render_markdown

CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _tables(md: str) -> list[list[list[str]]]:
    """Each Markdown table as rows of cells (split on unescaped pipes)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in md.splitlines():
        if line.startswith("|"):
            current.append([c.strip() for c in CELL_SPLIT.split(line)[1:-1]])
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _paper_samples(n: int, k_pair: int, k_both: int, category: str = "c") -> pd.DataFrame:
    s = make_samples(n, error_every=0)
    pair = [i < k_pair for i in range(n)]
    both = [i < k_both for i in range(n)]
    s["pair_unsafe"] = pd.array(pair, dtype="boolean")
    s["text_unsafe"] = pd.array(both, dtype="boolean")
    s["leaky"] = pd.array(both, dtype="boolean")
    s["category"] = category
    return s


def test_headline_matches_the_paper_table_1_row() -> None:
    # SafeBench (FigStep) in VLSBench Table 1: 274 / 272 of 500 -> 54.80, 54.40, 0.40
    md = render_markdown(result_from(_paper_samples(500, 274, 272), dataset="SafeBench"))
    head = _tables(md)[0]
    assert head[0] == list(HEADER) and head[1] == ["---"] * len(HEADER)
    assert len(head) == 3
    row = dict(zip(HEADER, head[2], strict=True))
    assert row["dataset"] == "SafeBench" and row["N"] == "500"
    assert row["R1 % [95% CI]"].startswith("54.80 [")
    assert row["R2 % [95% CI]"].startswith("54.40 [")
    assert row["R1−R2 %"] == "0.40"
    assert row["leak ratio R2/R1 % [95% CI] †"].startswith("99.27 [")
    assert row["errors"] == "0" and row["judge"] == "embedded"
    lo, hi = map(float, re.findall(r"\[([\d.]+), ([\d.]+)\]", row["R1 % [95% CI]"])[0])
    assert lo < 54.80 < hi
    assert "vsil-derived statistic" in md and "Wilson" in md


def test_per_category_table_has_one_row_per_category() -> None:
    s = pd.concat([_paper_samples(110, 34, 33, "harm"), _paper_samples(280, 183, 182, "jb")],
                  ignore_index=True)
    s["id"] = [f"x{i}" for i in range(len(s))]
    md = render_markdown(result_from(s))
    _, cats = _tables(md)
    harm = [f"harm: {c} %" for c in ("text", "image", "joint", "none", "unjudged")]
    header = [*CATEGORY_HEADER, *(h for h in harm if h in cats[0])]
    assert cats[0] == header
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in cats[2:]}
    assert set(rows) == {"harm", "jb"}
    assert rows["harm"]["R1 % [95% CI]"].startswith("30.91 [")
    assert rows["harm"]["R2 % [95% CI]"].startswith("30.00 [")
    assert rows["harm"]["R1−R2 %"] == "0.91"
    assert rows["jb"]["R1 % [95% CI]"].startswith("65.36 [")
    assert rows["jb"]["R1−R2 %"] == "0.36" and rows["jb"]["N"] == "280"
    assert all(len(r) == len(header) for r in cats)


def test_dataset_strings_cannot_break_the_table() -> None:
    s = make_samples(30)
    s["category"] = s["category"].map(lambda c: f"{c} | evil\nrow | {PAYLOADS['img']}")
    result = result_from(s, dataset="name | with\npipe " + PAYLOADS["script"])
    md = render_markdown(result)
    tables = _tables(md)
    assert len(tables) == 2
    for t in tables:
        assert len({len(r) for r in t}) == 1  # every row has the header's cell count
    assert len(tables[1]) == 2 + 3
    assert "<" not in md and ">" not in md  # no raw HTML reaches a Markdown renderer
    assert "name \\| with pipe &lt;script&gt;" in md
    assert "\\| evil row \\|" in md


def test_missing_figures_show_na_and_no_category_table() -> None:
    s = make_samples(12, categories=False, all_errors=True)
    md = render_markdown(result_from(s))
    tables = _tables(md)
    assert len(tables) == 1
    row = dict(zip(HEADER, tables[0][2], strict=True))
    assert row["R1 % [95% CI]"].startswith("0.00 [")
    assert row["leak ratio R2/R1 % [95% CI] †"] == "n/a"
    assert row["errors"] == "12"


def test_zero_samples() -> None:
    md = render_markdown(result_from(make_samples(0)))
    row = dict(zip(HEADER, _tables(md)[0][2], strict=True))
    assert row["N"] == "0" and row["R1 % [95% CI]"] == "n/a"


def test_from_json_round_trip(tmp_path: Path) -> None:
    result = make_result(60)
    result.to_json(tmp_path / "r.json")
    assert render_markdown(AuditResult.from_json(tmp_path / "r.json")) == render_markdown(result)


@pytest.mark.parametrize(("raw", "expected"), [
    ("a|b", "a\\|b"),
    ("line1\nline2\r\nline3", "line1 line2 line3"),
    ("<b>&", "&lt;b&gt;&amp;"),
    ("*x* _y_ [z](u) `c` #", "\\*x\\* \\_y\\_ \\[z\\](u) \\`c\\` \\#"),
    (None, ""),
    (3, "3"),
])
def test_md_escape(raw: object, expected: str) -> None:
    assert md_escape(raw) == expected
