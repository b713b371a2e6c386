"""The sample browser's data, caps, thumbnails and policy, checked without a browser."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image
from report_fixtures import PAYLOAD, make_result, make_samples, result_from
from rule_judge_impl import RuleJudge

import vsil
from vsil.audit import AuditResult
from vsil.report import inline
from vsil.report.audit_browser import audit_spec, browser_frame
from vsil.report.browser import TEXT_LIMIT, build_browser
from vsil.report.html import audit_browser, render_html
from vsil.report.thumbnails import SIDE, make_thumbnails

DATA_BLOCK = re.compile(r'<script type="application/json" id="vsil-data">(.*?)</script>', re.S)


def _data(html: str) -> dict[str, Any]:
    m = DATA_BLOCK.search(html)
    assert m is not None
    return dict(json.loads(m.group(1)))


def _column(d: dict[str, Any], key: str) -> list[Any]:
    """A column as the page shows it (category codes turned back into their values)."""
    col = next(c for c in d["columns"] if c["key"] == key)
    vals = d["data"][key]
    return [d["values"][key][v] for v in vals] if col["kind"] == "cat" else vals


def test_script_json_cannot_end_its_block() -> None:
    hostile = {"q": "</script><script>alert(1)</script><!-- & --> \u2028\u2029 \ud800 end",
               "k<>": ["</SCRIPT >", "<\\/script>"]}
    text = str(inline.script_json(hostile))
    assert not re.search("[<>&\u2028\u2029\ud800-\udfff]", text)
    back = json.loads(text)
    assert back["k<>"] == hostile["k<>"]
    assert back["q"] == hostile["q"].replace("\ud800", "\ufffd")
    assert inline.script_json(float("nan")) == "null"  # strict JSON


def test_policy_allows_exactly_vsils_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    code = str(inline.script("browser"))
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    policy = inline.csp(code)
    assert f"script-src 'sha256-{digest}'" in policy
    assert policy.startswith("default-src 'none'; img-src data:;")
    assert "unsafe-eval" not in policy and "script-src 'unsafe-inline'" not in policy
    assert inline.csp() == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    # a script that could end its own element is refused
    (tmp_path / "bad.js").write_text("var s = '</scr' + 'ipt>'; // </script>\n")
    monkeypatch.setattr(inline, "TEMPLATES", tmp_path)
    with pytest.raises(ValueError, match="cannot be inlined"):
        inline.script("bad")


def test_every_sample_is_in_the_page_as_it_is_in_the_frame() -> None:
    result = make_result(90, payload=PAYLOAD)
    s = result.samples
    html = render_html(result, images=False)
    d = _data(html)
    assert d["n_total"] == 90 and len(d["data"]["id"]) == 90
    for key in ("id", "text", "image_text", "evidence"):
        assert _column(d, key) == [str(v) for v in s[key]], key
    assert _column(d, "error") == [v if isinstance(v, str) else "" for v in s["error"]]
    assert _column(d, "category") == list(s["category"])
    flags = {True: "unsafe", False: "safe"}
    assert _column(d, "pair_verdict") == [
        "no verdict" if v is pd.NA else flags[bool(v)] for v in s["pair_unsafe"]]
    assert _column(d, "leak") == [
        "unknown" if v is pd.NA else ("leaky" if v else "not leaky") for v in s["leaky"]]
    for key in ("leakage_score", "p_pair_unsafe", "overlap_lexical"):
        for got, want in zip(d["data"][key], s[key], strict=True):
            assert (got is None) == pd.isna(want)
            assert got is None or abs(got - want) <= 5e-5
    assert _column(d, "error_type") == [
        "no error" if not isinstance(e, str) else "error" for e in s["error"]]
    assert d["filters"] == ["pair_verdict", "text_verdict", "leak", "harm_source", "category",
                            "sub_category", "error_type"]
    assert _column(d, "harm_source") == [v if isinstance(v, str) else ""
                                         for v in s["harm_source"]]
    assert d["sorts"][:3] == ["leakage_score", "p_pair_unsafe", "p_text_unsafe"]
    assert d["default_sort"] == "leakage_score"
    assert "This page weighs about" in html and "no thumbnail" not in html


def test_filters_follow_the_frame_harm_source_included() -> None:
    s = make_samples(30)
    s["harm_source"] = ["text" if i % 3 == 0 else "image" if i % 3 == 1 else None
                        for i in range(len(s))]
    s["error_kind"] = ["transient" if isinstance(e, str) else None for e in s["error"]]
    d = _data(render_html(result_from(s), images=False))
    assert d["filters"] == ["pair_verdict", "text_verdict", "leak", "harm_source",
                            "category", "sub_category", "error_type"]
    assert d["values"]["harm_source"] == ["image", "text", ""]
    assert set(_column(d, "error_type")) == {"no error", "transient"}
    s2 = make_samples(10, categories=False).drop(columns=["sub_category"])
    d2 = _data(render_html(result_from(s2), images=False))
    assert "sub_category" not in d2["data"] and "sub_category" not in d2["filters"]
    assert _column(d2, "category") == [""] * 10  # shown as "(none)"


def test_page_caps_rows_and_says_so() -> None:
    result = make_result(120)
    html = render_html(result, images=False, max_rows=25)
    d = _data(html)
    assert d["n_total"] == 120 and len(d["data"]["id"]) == 25
    assert _column(d, "id") == list(result.samples["id"][:25])
    assert "This page holds the first 25 of 120 samples" in html
    assert '<a href="samples.parquet">samples.parquet</a>' in html
    small = audit_browser(result, images=False, max_bytes=20_000)
    assert 1 <= small.n_rows < 120 and small.truncated
    assert small.data_bytes < 20_000 + 5_000
    full = render_html(result, images=False)
    assert "This page holds the first" not in full and "<a href" not in full


def test_long_text_is_cut_in_the_page_only() -> None:
    s = make_samples(3)
    s.loc[1, "text"] = "x" * (TEXT_LIMIT + 500)
    b = build_browser(browser_frame(s), audit_spec(s))
    text = json.loads(str(b.json))["data"]["text"][1]
    assert text.startswith("x" * TEXT_LIMIT) and text.endswith(
        f"…[cut: {TEXT_LIMIT + 500} characters]")


def test_stated_page_weight_is_the_pages_weight() -> None:
    html = render_html(make_result(400), images=False)
    m = re.search(r"This page weighs about ([\d.]+) (kB|MB)", html)
    assert m is not None
    stated = float(m.group(1)) * (1000 if m.group(2) == "kB" else 1_000_000)
    actual = len(html.encode("utf-8"))
    assert abs(stated - actual) <= 0.01 * actual + 1000


# ---- thumbnails ------------------------------------------------------------------------

COLOURS = [(220, 30, 30), (30, 200, 40), (30, 60, 220), (240, 220, 20)]


def _image_rows(root: Path, n: int = 8) -> list[dict[str, Any]]:
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        name = f"img/{i}.png" if i % 4 else f"img/{i}.jpg"
        Image.new("RGB", (600 + 10 * i, 400), COLOURS[i % 4]).save(root / name)
        rows.append({"id": f"r{i}", "text": "how to steal a bike" if i % 2 else "a bike",
                     "image": name, "image_text": "a bike", "category": "c"})
    return rows


def _decoded(url: str) -> Image.Image:
    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_thumbnails_of_local_images(tmp_path: Path) -> None:
    rows = _image_rows(tmp_path)
    (tmp_path / "img" / "7.png").write_bytes(b"not an image at all")
    rows.append({"id": "outside", "text": "t", "image": "../secret.png", "category": "c"})
    Image.new("RGB", (20, 20)).save(tmp_path.parent / "secret.png")
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    res = vsil.audit(str(data), judge=RuleJudge(), overlap=(), cache=False, quiet=True,
                     on_error="keep")
    html = res.to_html(tmp_path / "with.html")
    d = _data(html)
    thumbs = _column(d, "thumbnail")
    assert len(thumbs) == 9
    for i in range(7):
        im = _decoded(thumbs[i])
        assert max(im.size) <= SIDE and im.format == "JPEG"
        mean = im.convert("RGB").resize((1, 1)).getpixel((0, 0))
        assert all(abs(a - b) < 25 for a, b in zip(mean, COLOURS[i % 4], strict=True)), i
    assert thumbs[7] is None and thumbs[8] is None  # corrupt; outside the dataset root
    assert "7 thumbnails" in html and "could not be read" in html
    # no image: no thumbnail column and a lighter page
    bare = res.to_html(images=False)
    assert "thumbnail" not in _data(bare)["data"] and "data:image/jpeg" not in bare
    assert len(html) - len(bare) >= sum(len(u) for u in thumbs if u)
    # a result read from disk finds its images under image_root, and only there
    back = AuditResult.from_json(res.to_json())
    assert "thumbnail" not in _data(back.to_html())["data"]
    again = _column(_data(back.to_html(image_root=tmp_path)), "thumbnail")
    assert [u is not None for u in again] == [True] * 7 + [False, False]


def test_thumbnails_stop_at_the_budget(tmp_path: Path) -> None:
    from vsil.dataset import ImageRef

    _image_rows(tmp_path, 12)
    refs = [ImageRef.from_path(tmp_path, f"img/{i}.{'png' if i % 4 else 'jpg'}")
            for i in range(12)]
    one = make_thumbnails(refs[:1]).n_bytes
    t = make_thumbnails(refs, budget=int(one * 4.5))
    assert t.n_made == 4 and t.n_over_budget == 8
    assert t.urls[:4] == [u for u in t.urls if u] and t.n_bytes <= one * 4.5
    assert any("stop at" in n for n in t.notes)
