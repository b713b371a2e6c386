"""`vsil view`, `--no-images` and `vsil report` of saved audit and eval results."""

from __future__ import annotations

import json
import webbrowser
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from rule_judge_impl import RuleJudge
from typer.testing import CliRunner

import vsil
from vsil.cli import app
from vsil.eval.result import ROW_COLUMNS, EvalResult

runner = CliRunner()


@pytest.fixture
def audited(tmp_path: Path) -> Path:
    rows = [{"id": "a", "text": "how to steal this bike"}, {"id": "b", "text": "a cat"}]
    vsil.audit(rows, judge=RuleJudge(), overlap=(), cache=False, quiet=True).save(
        tmp_path / "out")
    return tmp_path / "out"


def test_view_opens_the_report(audited: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda uri: opened.append(uri) or True)
    page = (audited / "report.html").resolve()
    res = runner.invoke(app, ["view", str(audited)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(page) and opened == [page.as_uri()]
    res = runner.invoke(app, ["view", str(audited / "report.html"), "--no-open"])
    assert res.exit_code == 0 and res.output.strip() == str(page) and len(opened) == 1


def test_view_says_when_no_browser_starts(audited: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webbrowser, "open", lambda uri: False)
    res = runner.invoke(app, ["view", str(audited)])
    assert res.exit_code == 0 and "could not start a browser" in res.output


def test_view_without_a_report_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["view", str(tmp_path / "empty"), "--no-open"])
    assert res.exit_code == 2
    assert "has no report.html" in res.output and "vsil report" in res.output
    res = runner.invoke(app, ["view", str(tmp_path / "nope"), "--no-open"])
    assert res.exit_code == 2 and "no such folder" in res.output
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "report.html").write_text("<!DOCTYPE html><html></html>")
    res = runner.invoke(app, ["view", str(tmp_path / "old"), "--no-open"])
    assert res.exit_code == 0 and "before vsil had the sample browser" in res.output


def test_images_flag_and_image_root(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    rows = []
    for i in range(3):
        Image.new("RGB", (300, 200), (80 * i, 120, 40)).save(tmp_path / "img" / f"{i}.png")
        rows.append({"id": f"r{i}", "query": "how to steal it", "image": f"img/{i}.png",
                     "caption": "a bike"})
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cache = str(tmp_path / "c.sqlite")
    base = ["audit", str(data), "--overlap", "lexical", "--describe", "off", "--cache", cache]
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "with")])
    assert res.exit_code == 0, res.output
    assert f"vsil view {tmp_path / 'with'}" in res.output
    with_html = (tmp_path / "with" / "report.html").read_text()
    assert with_html.count("data:image/jpeg;base64,") == 3 and "3 thumbnails" in with_html
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "bare"), "--no-images"])
    assert res.exit_code == 0, res.output
    assert "data:image/jpeg" not in (tmp_path / "bare" / "report.html").read_text()
    # a saved result: thumbnails only with --image-root, and none with --no-images
    saved = str(tmp_path / "with" / "result.json")
    for extra, n in (([], 0), (["--image-root", str(tmp_path)], 3),
                     (["--image-root", str(tmp_path), "--no-images"], 0)):
        out = tmp_path / f"again{len(extra)}.html"
        res = runner.invoke(app, ["report", saved, "--html", str(out), *extra])
        assert res.exit_code == 0, res.output
        assert out.read_text().count("data:image/jpeg;base64,") == n, extra
        assert "kB)" in res.output or "MB)" in res.output


def test_report_renders_a_saved_eval(tmp_path: Path) -> None:
    rows = pd.DataFrame([{"id": "1", "category": "Hate", "sub_category": "x", "mode": "image",
                          "status": "answered", "answer": "no", "model_error": None,
                          "label": 1, "label_str": "Safe with refusal", "explanation": "ok",
                          "judge_error": None, "judge_refused": False, "text": "q?"}],
                        columns=list(ROW_COLUMNS))
    EvalResult(rows=rows, provenance={"model": {"name": "m"}}).save(tmp_path)
    out = tmp_path / "again.html"
    res = runner.invoke(app, ["report", str(tmp_path / "result.json"), "--html", str(out)])
    assert res.exit_code == 0, res.output
    assert "vsil eval: m" in out.read_text() and 'id="vsil-data"' in out.read_text()
    res = runner.invoke(app, ["report", str(tmp_path / "result.json")])
    assert res.exit_code == 0 and "safety % [95% CI]" in res.output
