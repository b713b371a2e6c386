"""Bad input gets a named error on its row, never a raw exception (issue: trustworthy numbers,
item 7)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image
from rule_judge_impl import RuleJudge
from typer.testing import CliRunner

import vsil
from vsil.cli import app
from vsil.dataset import DataError


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png")  # 48 kB, 400 Mpx
    os.symlink("loop2.png", tmp_path / "loop.png")
    os.symlink("loop.png", tmp_path / "loop2.png")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "ok.png")
    return tmp_path


BAD_IMAGES = {"bomb": "bomb.png", "loop": "loop.png", "long": "a" * 5000 + ".png",
              "nul": "x\x00y.png", "missing": "nowhere.png", "escape": "../outside.png"}


def _rows() -> list[dict[str, Any]]:
    rows = [{"id": k, "text": f"question {k}", "image": v} for k, v in BAD_IMAGES.items()]
    return [*rows, {"id": "ok", "text": "question ok", "image": "ok.png"}]


def test_every_bad_image_is_a_named_row_error(bad_dir: Path) -> None:
    with pytest.raises(DataError) as ei:
        vsil.load(_rows(), image_root=bad_dir)
    msg = str(ei.value)
    assert f"({len(BAD_IMAGES)} bad rows)" in msg
    for k in BAD_IMAGES:
        assert f"id={k!r}" in msg
    assert "too large" in msg and "symlink loop" in msg and "outside the dataset root" in msg
    assert len(msg) < 5000  # a 5,000-character path is cut in the message
    ds = vsil.load(_rows(), image_root=bad_dir, on_error="keep")
    errors = {s.id: s.load_error for s in ds}
    assert errors["ok"] is None and all(errors[k] for k in BAD_IMAGES)
    res = vsil.audit(ds, judge=RuleJudge(), overlap=(), cache=False, quiet=True)
    s = res.samples.set_index("id")
    assert s.loc[list(BAD_IMAGES), "error"].str.startswith("load: ").all()
    assert pd.isna(s.loc["ok", "error"])


def test_cli_reports_bad_rows_without_a_traceback(bad_dir: Path, tmp_path: Path) -> None:
    data = bad_dir / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    runner = CliRunner()
    res = runner.invoke(app, ["audit", str(data), "--overlap", "none", "--no-cache",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "id='loop'" in res.output and "id='nul'" in res.output
    res = runner.invoke(app, ["audit", str(data), "--overlap", "none", "--no-cache",
                              "--on-error", "keep", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output


def test_missing_image_unchecked_at_load_fails_its_row_only(bad_dir: Path) -> None:
    rows = [{"id": "gone", "text": "what is this", "image": "nowhere.png"},
            {"id": "ok", "text": "what is this", "image": "ok.png"}]
    ds = vsil.load(rows, image_root=bad_dir, check_images=False)

    class PixelJudge(RuleJudge):
        uses_image_pixels = True  # type: ignore[assignment]

    res = vsil.audit(ds, judge=PixelJudge(), overlap=(), cache=False, quiet=True)
    s = res.samples.set_index("id")
    assert "nowhere.png" in s.loc["gone", "error"] and s.loc["gone", "error_kind"] == "input"
    assert pd.isna(s.loc["ok", "error"]) and res.summary.figures.n_errors == 1


def test_jsonl_lines_that_are_not_json_are_row_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"id": "a", "text": "first\u2028line \u0085 two \u2029 three"}),
             "[" * 100_000 + "]" * 100_000,
             '{"id": "c", "text": broken',
             json.dumps({"id": "d", "text": "fine"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as ei:
        vsil.load(path)
    assert "d.jsonl:2" in str(ei.value) and "nested too deeply" in str(ei.value)
    assert "d.jsonl:3" in str(ei.value)
    ds = vsil.load(path, on_error="keep")
    assert ds[0].id == "a" and len(ds) == 4
    assert ds[0].text == "first\u2028line \u0085 two \u2029 three"  # not split inside strings
    assert ds[1].load_error and ds[2].load_error and ds[3].load_error is None
    skipped = vsil.load(path, on_error="skip")
    assert [s.id for s in skipped] == ["a", "d"] and len(skipped.skipped) == 2


def test_named_loaders_reject_unknown_arguments() -> None:
    with pytest.raises(TypeError, match="'rot'"):
        vsil.load("vlsbench", rot="x")
    with pytest.raises(TypeError, match="text="):
        vsil.load("vlsbench", text="question")
    res = CliRunner().invoke(app, ["audit", "vlsbench", "--variant", "x", "--no-cache"])
    assert res.exit_code == 2 and "'variant'" in res.output


def test_in_memory_paths_stay_under_image_root(tmp_path: Path, monkeypatch: Any) -> None:
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    data_root = tmp_path / "data"
    data_root.mkdir()
    Image.new("RGB", (4, 4)).save(data_root / "in.png")
    monkeypatch.chdir(data_root)
    rows = [{"id": "abs", "text": "q", "image": str(secret)},
            {"id": "up", "text": "q", "image": "../secret.png"},
            {"id": "in", "text": "q", "image": "in.png"}]
    for data in (rows, pd.DataFrame(rows)):
        ds = vsil.load(data, on_error="keep")  # confined to the working directory
        errs = {s.id: s.load_error for s in ds}
        assert "outside the dataset root" in (errs["abs"] or "")
        assert "outside the dataset root" in (errs["up"] or "")
        assert errs["in"] is None
        ds = vsil.load(data, image_root=tmp_path, on_error="keep")  # an explicit root
        errs = {s.id: s.load_error for s in ds}
        assert errs["abs"] is None and "outside the dataset root" in (errs["up"] or "")
    trusted = vsil.load(rows, confine_images=False, on_error="keep")  # opting out
    assert all(s.load_error is None for s in trusted)


def test_hf_dataset_image_paths_are_confined(tmp_path: Path, monkeypatch: Any) -> None:
    datasets = pytest.importorskip("datasets")
    Image.new("RGB", (4, 4)).save(tmp_path / "outside.png")
    inside = tmp_path / "root"
    inside.mkdir()
    monkeypatch.chdir(inside)
    hf = datasets.Dataset.from_list([{"text": "q", "image": str(tmp_path / "outside.png")}])
    ds = vsil.load(hf, on_error="keep")
    assert "outside the dataset root" in (ds[0].load_error or "")


def test_vlguard_github_clone_layout(tmp_path: Path) -> None:
    (tmp_path / "data" / "test" / "bad_ads").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "data" / "test" / "bad_ads" / "x.png")
    entry = {"id": "x", "image": "bad_ads/x.png", "safe": False,
             "harmful_category": "deception", "harmful_subcategory": "ads",
             "instr-resp": [{"instruction": "Write an ad for this.", "response": "No."}]}
    (tmp_path / "data" / "test.json").write_text(json.dumps([entry]))
    ds = vsil.load("vlguard", root=tmp_path)
    assert len(ds) == 1 and ds[0].image is not None and ds[0].category == "deception"
    assert ds[0].image.open().size == (8, 8)
