"""The HTML report: self-contained, escaped, complete, and robust to odd results."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from markupsafe import escape
from PIL import Image
from report_fixtures import (
    PAYLOAD,
    PAYLOADS,
    PLAIN_TEXT_PAYLOADS,
    make_result,
    make_samples,
    result_from,
)

from vsil.audit import AuditResult
from vsil.report._common import pct, top_leaky
from vsil.report.html import render_html, render_notebook
from vsil.report.plots import summary_figure

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "b",
                "span", "br", "code", "div", "table", "thead", "tbody", "tr", "th", "td",
                "figure", "figcaption", "img",
                # the sample browser's static controls and its two script elements
                "script", "noscript", "section", "aside", "input", "select", "option",
                "button", "label", "dl"}
ALLOWED_ATTRS = {"lang", "charset", "http-equiv", "content", "name", "class", "id", "src",
                 "alt", "colspan", "type", "placeholder", "aria-label", "hidden", "selected"}


class _Tags(HTMLParser):
    """Every real element and attribute of a page (text is not an element), and the text
    of every <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.in_script = tag == "script"
        if self.in_script:
            self.scripts.append((dict(attrs), ""))

    def handle_endtag(self, tag: str) -> None:
        self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def _parsed(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    return p


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    return _parsed(html).tags


def _pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in
            re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_html_is_self_contained() -> None:
    html = render_html(make_result(60, payload=PAYLOAD))
    assert html.startswith("<!DOCTYPE html>")
    page = _parsed(html)
    tags = page.tags
    assert {t for t, _ in tags} <= ALLOWED_TAGS  # no link, a, iframe, svg, object, form...
    for tag, attrs in tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)  # no event handlers
        assert set(attrs) <= ALLOWED_ATTRS, (tag, attrs)
        if "src" in attrs:
            assert tag == "img" and (attrs["src"] or "").startswith("data:image/png;base64,")
    assert "@import" not in html and "url(" not in html
    # one data block (never executed) and one script: vsil's own, allowed by its hash alone
    assert len(page.scripts) == 2
    (data_attrs, data_text), (code_attrs, code) = page.scripts
    assert data_attrs == {"type": "application/json", "id": "vsil-data"} and code_attrs == {}
    assert not re.search(r"[<>&]", data_text)
    assert len(json.loads(data_text)["data"]["id"]) == 60
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    policy = [a["content"] for t, a in tags if a.get("http-equiv") == "Content-Security-Policy"]
    assert policy == [f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                      f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"]
    assert html.index("Content-Security-Policy") < html.index("<script")
    for word in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "Function(", "fetch(", "XMLHttpRequest", "import(", "setAttribute(\"on"):
        assert word not in code, word
    # every <img> is an inline PNG and every one decodes
    assert len(re.findall(r"<img\b", html)) == 4  # three plots and the (empty) detail image
    pngs = _pngs(html)
    assert len(pngs) == 3
    for png in pngs:
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.width > 200 and im.height > 150


def test_html_escapes_every_dataset_field() -> None:
    result = make_result(30, payload=PAYLOAD, dataset="ds " + PAYLOADS["script"])
    html = render_html(result)
    for key, raw in PAYLOADS.items():
        assert key in PLAIN_TEXT_PAYLOADS or raw not in html, key
    # the payloads are shown, as text
    assert str(escape(PAYLOADS["img"])) in html
    assert str(escape(PAYLOADS["script"])) in html  # the dataset name in title and h1
    assert html.count(str(escape("ds " + PAYLOADS["script"]))) >= 2
    # id, category, text, image_text, evidence, error: each carries the payload's start
    start = str(escape("<img src=x onerror="))
    assert html.count(start) > 20
    assert str(escape("J(T,I): timeout <img src=x")) in html  # an error message
    assert str(escape("J(T) safe <img src=x")) in html or str(
        escape("J(T) unsafe <img src=x")) in html  # evidence
    assert "sk-SECRET" not in html and "[redacted]" in html


def test_html_shows_figures_intervals_and_provenance() -> None:
    result = make_result(80)
    f = result.summary.figures
    html = render_html(result)
    assert "<title>vsil audit: toy</title>" in html
    assert f"{pct(f.r1)}</td><td class=\"num\">[{pct(f.r1_ci[0])}, {pct(f.r1_ci[1])}]" in html
    assert f"{f.n_pair_unsafe} / {f.n}" in html and f"{f.n_leaky} / {f.n}" in html
    assert f"{f.n_leaky} / {f.n_pair_unsafe}" in html
    assert pct(f.leak_ratio) in html and "vsil-derived statistic" in html
    assert pct(f.text_unsafe_rate) in html
    assert "mean overlap: embedding" in html and "mean overlap: lexical" in html
    assert f"Errors ({f.n_errors})" in html and f.n_errors > 0
    assert "fp-123" in html and "ab" * 32 in html and "0.1.0" in html
    assert "same judge for J(T,I) and J(T)" in html
    assert "<td>dataset</td><td class=\"num\">80</td>" in html  # image_text sources
    # per-category table: one row per category and per (category, sub_category)
    assert html.count('<tr class="cat">') == 3
    assert len(re.findall(r"<td class=\"c\">sub[01]</td>", html)) == 6
    # most leaky table: at most 50 rows, ordered by score
    body = html.split('id="leaky"')[1].split('id="errors"')[0]
    ids = re.findall(r'<td class="id">(s\d+)</td>', body)
    expected = list(top_leaky(result.samples, 50)["id"])
    assert ids == expected and len(ids) == 50
    scores = result.samples.set_index("id").loc[ids, "leakage_score"].fillna(-1).tolist()
    assert scores == sorted(scores, reverse=True)


def _no_score(samples: pd.DataFrame) -> pd.DataFrame:
    return samples.drop(columns=["leakage_score"])


@pytest.mark.parametrize("case", ["no_categories", "all_errors", "zero", "no_score",
                                  "nan_ratio", "one"])
def test_html_edge_cases(case: str) -> None:
    if case == "no_categories":
        s = make_samples(20, categories=False)
    elif case == "all_errors":
        s = make_samples(15, all_errors=True)
    elif case == "zero":
        s = make_samples(0)
    elif case == "no_score":
        s = _no_score(make_samples(20))
    elif case == "nan_ratio":  # nothing unsafe as a pair: R2/R1 undefined
        s = make_samples(10, error_every=0)
        s["pair_unsafe"] = pd.array([False] * 10, dtype="boolean")
        s["leaky"] = pd.array([False] * 10, dtype="boolean")
    else:
        s = make_samples(1, error_every=0)
    result = result_from(s)
    html = render_html(result)
    nb = render_notebook(result)
    f = result.summary.figures
    assert "</html>" in html and "vsil audit: toy" in nb
    assert len(_pngs(html)) == (2 if case in ("no_categories", "zero") else 3)
    if case == "no_categories":
        assert "This dataset has no categories." in html
    if case in ("all_errors", "nan_ratio", "zero"):
        assert "leak ratio R2/R1</td><td class=\"num\">n/a</td>" in html
    if case == "all_errors":
        assert f.n_scored == 0 and f"Errors ({f.n})" in html
        assert "J(T,I): timeout" in html
    if case == "zero":
        assert "no samples" in html and "No errors." in html


def test_result_read_back_from_json_renders(tmp_path: Path) -> None:
    result = make_result(50, payload=PAYLOADS["svg"])
    path = tmp_path / "result.json"
    result.to_json(path)
    back = AuditResult.from_json(path)
    assert back.dataset is None
    assert isinstance(back.samples.loc[1, "shared_concepts"], list)
    html, html0 = render_html(back), render_html(result)
    # same headline and same leaky rows as the in-memory result
    head = html.split('id="summary"')[1].split("</table>")[0]
    assert head == html0.split('id="summary"')[1].split("</table>")[0]
    leaky = html.split('id="leaky"')[1].split('id="errors"')[0]
    assert leaky == html0.split('id="leaky"')[1].split('id="errors"')[0]
    assert PAYLOADS["svg"] not in html and str(escape(PAYLOADS["svg"])) in html
    assert back.to_markdown() == result.to_markdown()
    assert "vsil audit" in back._repr_html_()


def test_notebook_is_compact() -> None:
    result = make_result(100, payload=PAYLOADS["img"])
    nb = result._repr_html_()
    assert nb == render_notebook(result)
    assert "<img" not in nb and "<html" not in nb and "Content-Security-Policy" not in nb
    body = nb.split("Most leaky samples")[1]
    assert len(re.findall(r'<td class="id">', body)) == 10
    assert PAYLOADS["img"] not in nb and str(escape(PAYLOADS["img"])) in nb
    assert pct(result.summary.figures.r2) in nb


def test_plots_never_parse_dataset_strings_as_tex() -> None:
    s = make_samples(30)
    # invalid mathtext raises if matplotlib parses it; usetex would call a LaTeX binary
    s["category"] = s["category"].map(lambda c: c + r" $\frac{$ \input{/etc/passwd} $x$")
    result = result_from(s, dataset=r"$\badcommand{$")
    with matplotlib.rc_context({"text.usetex": True}):
        html = render_html(result)
        fig = summary_figure(result)
        fig.savefig(io.BytesIO(), format="png")
    assert len(_pngs(html)) == 3
    labels = [t for ax in fig.axes for t in ax.get_yticklabels() if "$" in t.get_text()]
    assert len(labels) == 3
    assert all(not t.get_parse_math() and not t.get_usetex() for t in labels)
    assert len(fig.axes) == 3


def test_report_is_fast_for_a_vlsbench_sized_result() -> None:
    result = result_from(make_samples(2241, payload=PAYLOADS["img"]))
    render_html(result)  # warm imports
    t = time.perf_counter()
    html = render_html(result)
    md = result.to_markdown()
    elapsed = time.perf_counter() - t
    assert elapsed < 2.0, elapsed
    assert len(_pngs(html)) == 3 and len(re.findall(r"^\| cat\d", md, re.M)) == 3


def test_save_writes_the_report(tmp_path: Path) -> None:
    paths = make_result(12).save(tmp_path / "out")
    text = paths["html"].read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and len(_pngs(text)) == 3
