"""Hostile dataset text through the sample browser, driven in headless Chromium: every row
opened, searched and filtered, and nothing runs.

A payload that ran would set ``data-pwned`` on <body>, open a dialog or send a request.
Positive controls show each route would be caught: the same text written with innerHTML
runs, an unescaped JSON block is broken out of, and a script the policy does not name runs
once the policy is gone. The report's escaping is tested with and without its policy, so
neither defence hides a failure of the other.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser_harness import choose, detail, listed, open_page, search
from report_fixtures import PAYLOADS, hostile_result

from vsil.eval.result import ROW_COLUMNS, EvalResult
from vsil.report.html import render_html

pytestmark = pytest.mark.browser

CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n?')
BROWSER_TAGS = {"DIV", "INPUT", "SPAN", "LABEL", "SELECT", "OPTION", "BUTTON", "P", "TABLE",
                "THEAD", "TBODY", "TR", "TH", "TD", "ASIDE", "H3", "IMG", "DL", "DT", "DD"}


def _pwned(page: Any) -> bool:
    return bool(page.evaluate("document.body.hasAttribute('data-pwned')"))


def hostile_eval() -> EvalResult:
    keys = list(PAYLOADS)
    rows = []
    for i in range(20):
        p = PAYLOADS[keys[i % len(keys)]]
        rows.append({"id": p if i < 3 else f"q{i}", "category": p if i % 4 == 0 else "Hate",
                     "sub_category": p, "mode": "image", "status": "answered",
                     "answer": p + f" answer {i}", "model_error": None, "label": 1 + i % 3,
                     "label_str": p, "explanation": p + " why", "judge_error": None,
                     "judge_refused": False, "text": p + f" query {i}"})
    df = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    df["label"] = df["label"].astype("Int64")
    return EvalResult(rows=df, provenance={"model": {"name": PAYLOADS["svg"]},
                                           "judges": [{"name": PAYLOADS["img"]}]})


def _page(tmp_path: Path, which: str, with_csp: bool) -> tuple[Path, pd.DataFrame]:
    if which == "audit":
        res = hostile_result()
        html, frame = render_html(res), res.samples
    else:
        ev = hostile_eval()
        html, frame = ev.to_html(), ev.rows
    assert CSP_META.search(html)
    if not with_csp:  # escaping alone must be enough
        html = CSP_META.sub("", html)
    path = tmp_path / f"{which}-{with_csp}.html"
    path.write_text(html, encoding="utf-8")
    return path, frame


@pytest.mark.parametrize("with_csp", [True, False])
@pytest.mark.parametrize("which", ["audit", "eval"])
def test_browser_shows_payloads_as_text_and_runs_nothing(pw_browser: Any, tmp_path: Path,
                                                         which: str, with_csp: bool) -> None:
    path, frame = _page(tmp_path, which, with_csp)
    page, watch = open_page(pw_browser, path)
    page.select_option("#vb-sort", "")
    page.select_option("#vb-size", "200")
    assert listed(page) == list(range(len(frame)))
    query = "query (T)" if which == "audit" else "query"
    templated = 0
    for i in range(len(frame)):  # open every row: all its fields reach the page
        page.locator("#vb-body tr").nth(i).click()
        got = detail(page)
        assert got["id"] == str(frame.loc[i, "id"])
        assert got[query] == frame.loc[i, "text"]  # shown exactly as written
        if which == "audit":
            assert got["image file"] == frame.loc[i, "image"]
            assert got["harm source"] == frame.loc[i, "harm_source"]
            assert got["sub-category"] == frame.loc[i, "sub_category"]
        else:
            assert got["answer"] == frame.loc[i, "answer"]
        templated += "{{7*7}}" in got[query]  # template syntax stays text, never evaluated
    assert templated >= 2
    search(page, "<img")
    assert len(listed(page)) > 0
    page.click("#vb-reset")
    choose(page, "category", PAYLOADS["script"] if which == "audit" else PAYLOADS["img"])
    assert len(listed(page)) >= 1
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)  # time for any onerror/onload to fire
    assert not _pwned(page)
    assert watch.dialogs == [] and watch.errors == [] and watch.requests == []
    tags = set(page.eval_on_selector_all("#vb *", "els => els.map(e => e.tagName)"))
    assert tags <= BROWSER_TAGS, tags - BROWSER_TAGS
    assert page.eval_on_selector_all("#vb img", "els => els.map(e => e.id)") == ["vb-img"]
    # the whole page has only vsil's two script elements and no link at all
    assert page.locator("script").count() == 2 and page.locator("a").count() == 0
    assert "javascript:" not in (page.get_attribute("#vb-img", "src") or "")
    page.close()


def test_positive_control_innerhtml_would_run(pw_browser: Any, tmp_path: Path) -> None:
    """The detector catches a payload written as HTML (what textContent prevents)."""
    block = json.dumps([PAYLOADS["img"]]).replace("<", "\\u003c")
    path = tmp_path / "control-innerhtml.html"
    path.write_text(
        "<!DOCTYPE html><html><body><div id=x></div>"
        f'<script type="application/json" id="d">{block}</script>'
        "<script>document.getElementById('x').innerHTML = "
        "JSON.parse(document.getElementById('d').textContent)[0];</script></body></html>",
        encoding="utf-8")
    page, _ = open_page(pw_browser, path, wait=False)
    page.wait_for_function("document.body.hasAttribute('data-pwned')", timeout=5_000)
    page.close()


def test_positive_control_unescaped_json_block_is_broken_out_of(pw_browser: Any,
                                                                tmp_path: Path) -> None:
    """``</script>`` inside a query ends a JSON block that is not escaped."""
    raw = json.dumps({"text": PAYLOADS["close"]})
    path = tmp_path / "control-json.html"
    path.write_text("<!DOCTYPE html><html><body>"
                    f'<script type="application/json">{raw}</script></body></html>',
                    encoding="utf-8")
    page, _ = open_page(pw_browser, path, wait=False)
    assert _pwned(page)
    page.close()


@pytest.mark.parametrize("with_csp", [True, False])
def test_policy_lets_only_vsils_script_run(pw_browser: Any, tmp_path: Path,
                                           with_csp: bool) -> None:
    """A script the policy does not name is blocked; without the policy the same one runs
    (so the block is the policy's doing), and vsil's own script runs either way."""
    html = render_html(hostile_result())
    foreign = "<script>document.body.setAttribute('data-pwned','foreign')</script>"
    html = html.replace("</body>", foreign + "</body>")
    if not with_csp:
        html = CSP_META.sub("", html)
    path = tmp_path / f"foreign-{with_csp}.html"
    path.write_text(html, encoding="utf-8")
    page, watch = open_page(pw_browser, path)
    assert page.get_attribute("#vb", "data-ready") is not None
    assert _pwned(page) is (not with_csp)
    if with_csp:
        assert any("Content Security Policy" in m for m in watch.console)
    page.close()
