"""The sample browser in headless Chromium: filter, search, sort, page and open a sample,
and check what the page shows against ``samples.parquet`` written beside it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser_harness import choose, column_text, detail, listed, open_page, search
from report_fixtures import make_samples, result_from

from vsil.report.audit_browser import SEARCH_COLUMNS
from vsil.report.browser import DIGITS, TEXT_LIMIT

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A report with 240 samples saved with its samples.parquet (read back from disk)."""
    s = make_samples(240, seed=7)
    for i in (3, 40, 77, 150, 151, 199, 230):  # a rare word, in different fields
        col = ("text", "image_text", "evidence")[i % 3]
        s.loc[i, col] = f"{s.loc[i, col]} with a Crowbar"
    out = tmp_path_factory.mktemp("report")
    result_from(s, dataset="browser-test").save(out)
    return out / "report.html", pd.read_parquet(out / "samples.parquet")


def _flag(v: Any) -> bool:
    return not pd.isna(v) and bool(v)


def _order(df: pd.DataFrame, key: str, desc: bool) -> list[int]:
    """Row positions sorted like the page: missing values last, ties in frame order."""
    rows = list(range(len(df)))
    vals = [v if pd.isna(v) else round(float(v), DIGITS) for v in df[key].tolist()]
    have = [i for i in rows if not pd.isna(vals[i])]
    miss = [i for i in rows if pd.isna(vals[i])]
    have.sort(key=lambda i: (-vals[i] if desc else vals[i], i))
    return have + miss


def _matches(df: pd.DataFrame, words: list[str]) -> pd.Series:
    def hay(r: pd.Series) -> str:
        parts = []
        for c in SEARCH_COLUMNS:
            v = r.get(c)
            parts.append(", ".join(map(str, v)) if hasattr(v, "__len__") and not isinstance(
                v, str) else ("" if v is None or (isinstance(v, float) and math.isnan(v))
                              else str(v)))
        return "\n".join(parts).lower()

    h = df.apply(hay, axis=1)
    return h.map(lambda t: all(w.lower() in t for w in words))


def test_filter_search_sort_page_and_detail(pw_browser: Any,
                                            saved: tuple[Path, pd.DataFrame]) -> None:
    page_path, df = saved
    df = df.reset_index(drop=True)
    page, watch = open_page(pw_browser, page_path)
    assert page.text_content("#vb-count") == "1–50 of 240 matching samples"
    # opens sorted by leakage_score, highest first
    assert listed(page) == _order(df, "leakage_score", desc=True)[:50]

    # the leaky rows of one category
    choose(page, "leak", "leaky")
    choose(page, "category", "cat1")
    want = df[df["leaky"].map(_flag) & (df["category"] == "cat1")]
    assert len(want) > 5
    expect = [i for i in _order(df, "leakage_score", True) if i in set(want.index)]
    assert listed(page) == expect[:50]
    assert page.text_content("#vb-count") == (
        f"1–{min(50, len(want))} of {len(want)} matching samples (240 in all)")
    assert set(column_text(page, "leaky")) == {"leaky"}
    assert set(column_text(page, "category")) == {"cat1"}

    # a word, without the filters, then with them
    page.click("#vb-reset")
    search(page, "crowbar")
    hits = df[_matches(df, ["crowbar"])]
    assert len(hits) == 7
    assert sorted(listed(page)) == sorted(hits.index)
    choose(page, "text_verdict", "unsafe")
    both = hits[hits["text_unsafe"].map(_flag)]
    assert sorted(listed(page)) == sorted(both.index)
    page.click("#vb-reset")
    page.wait_for_function("document.getElementById('vb-q').value === ''")

    # sort by J(T)'s probability, lowest first, and page through
    page.select_option("#vb-sort", "p_text_unsafe")
    page.click("#vb-dir")
    assert page.text_content("#vb-dir") == "low → high"
    order = _order(df, "p_text_unsafe", desc=False)
    assert listed(page) == order[:50]
    page.click("#vb-next")
    assert listed(page) == order[50:100]
    assert page.text_content("#vb-page") == "page 2 of 5"
    page.click("#vb-last")
    assert listed(page) == order[200:]
    shown = [float(x) for x in column_text(page, "leakage score") if x != "–"]
    assert shown == [float(f"{round(df.loc[i, 'leakage_score'], DIGITS):.3f}") for i in order[200:]
                     if not pd.isna(df.loc[i, "leakage_score"])]

    # open a sample: every field as in samples.parquet
    page.click("#vb-first")
    page.locator("#vb-body tr").nth(2).click()
    i = order[2]
    r = df.loc[i]
    got = detail(page)
    assert page.is_visible("#vb-detail")
    assert page.text_content("#vb-title") == f"sample {r['id']}"
    assert got["query (T)"] == r["text"] and got["image text"] == r["image_text"]
    assert got["image text source"] == r["image_text_source"]
    assert got["J(T,I)"] == {True: "unsafe", False: "safe"}.get(r["pair_unsafe"], "no verdict")
    assert got["J(T)"] == {True: "unsafe", False: "safe"}.get(r["text_unsafe"], "no verdict")
    for label, key in (("p unsafe J(T,I)", "p_pair_unsafe"), ("p unsafe J(T)", "p_text_unsafe"),
                       ("leakage score", "leakage_score"), ("overlap embedding",
                                                            "overlap_embedding")):
        assert got[label] == ("–" if pd.isna(r[key]) else f"{round(r[key], DIGITS):.4f}"), label
    assert got["categories J(T,I)"] == (", ".join(r["pair_categories"]) or "–")
    assert got["evidence"] == (r["evidence"] or "–")
    assert got["error"] == (r["error"] if isinstance(r["error"], str) else "–")
    # step to the next sample in the list, then close
    page.click("#vb-down")
    assert page.text_content("#vb-title") == f"sample {df.loc[order[3], 'id']}"
    assert page.text_content("#vb-where") == "4 of 240"
    page.keyboard.press("Escape")
    assert not page.is_visible("#vb-detail")
    assert watch.errors == [] and watch.dialogs == [] and watch.requests == []
    page.close()


def test_an_error_row_shows_its_error(pw_browser: Any,
                                      saved: tuple[Path, pd.DataFrame]) -> None:
    page_path, df = saved
    page, _ = open_page(pw_browser, page_path)
    choose(page, "error_type", "error")
    errs = df[df["error"].map(lambda e: isinstance(e, str) and bool(e))]
    assert page.text_content("#vb-count").endswith(f"of {len(errs)} matching samples (240 in all)")
    page.locator("#vb-body tr").first.click()
    i = listed(page)[0]
    got = detail(page)
    assert got["error"] == df.loc[i, "error"] and got["J(T,I)"] == "no verdict"
    assert got["leakage score"] == "–"
    page.close()


def test_a_capped_page_says_so_and_browses_what_it_holds(pw_browser: Any,
                                                         tmp_path: Path) -> None:
    s = make_samples(300)
    s.loc[5, "text"] = "y" * (TEXT_LIMIT + 10)
    result = result_from(s)
    path = tmp_path / "report.html"
    from vsil.report.html import render_html

    path.write_text(render_html(result, images=False, max_rows=120), encoding="utf-8")
    page, watch = open_page(pw_browser, path)
    assert "This page holds the first 120 of 300 samples" in page.text_content("body")
    assert page.get_attribute("a[href='samples.parquet']", "href") == "samples.parquet"
    assert page.text_content("#vb-count") == "1–50 of 120 matching samples"
    page.select_option("#vb-sort", "")
    page.select_option("#vb-size", "200")
    assert listed(page) == list(range(120))
    page.locator("#vb-body tr").nth(5).click()
    assert detail(page)["query (T)"].endswith(f"…[cut: {TEXT_LIMIT + 10} characters]")
    assert watch.errors == [] and watch.requests == []
    page.close()
