"""Bad input gets a named error listing every bad row; nothing is dropped silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

import vsil
from vsil.dataset import DataError


def _rows_with_problems(root: Path) -> list[dict[str, object]]:
    Image.new("RGB", (4, 4)).save(root / "ok.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    outside = root.parent / "outside.png"
    Image.new("RGB", (4, 4)).save(outside)
    return [
        {"id": "ok", "text": "fine", "image": "ok.png"},
        {"id": "notext", "text": "  ", "image": "ok.png"},
        {"id": "missing", "text": "q", "image": "nope.png"},
        {"id": "corrupt", "text": "q", "image": "corrupt.png"},
        {"id": "escape", "text": "q", "image": "../outside.png"},
        {"id": "ok", "text": "dup", "image": "ok.png"},
    ]


def test_one_error_lists_every_bad_row(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    rows = _rows_with_problems(root)
    with pytest.raises(DataError) as ei:
        vsil.load(rows, image_root=root)
    err = ei.value
    reasons = {e.id: e.reason for e in err.errors}
    assert set(reasons) == {"notext", "missing", "corrupt", "escape", "ok"}
    assert "missing text" in reasons["notext"]
    assert "not found" in reasons["missing"]
    assert "corrupt" in reasons["corrupt"]
    assert "outside the dataset root" in reasons["escape"]
    assert "duplicate id 'ok'" in reasons["ok"]
    assert "5 bad rows" in str(err)


def test_skip_reports_how_many_and_why(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    ds = vsil.load(_rows_with_problems(root), image_root=root, on_error="skip")
    assert [s.id for s in ds] == ["ok"]
    assert len(ds.skipped) == 5 and ds.positions == [0]


def test_keep_marks_rows_and_audit_reports_them(tmp_path: Path, rule_judge: object) -> None:
    root = tmp_path / "root"
    root.mkdir()
    ds = vsil.load(_rows_with_problems(root), image_root=root, on_error="keep")
    assert len(ds) == 6
    assert sum(s.load_error is not None for s in ds) == 5
    res = vsil.audit(ds, judge=rule_judge, overlap=(), cache=False, quiet=True)
    assert res.summary.figures.n == 6 and res.summary.figures.n_errors == 5
    assert res.samples["error"].str.startswith("load:").sum() == 5


def test_symlink_escaping_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    (root / "link.png").symlink_to(secret)
    with pytest.raises(DataError, match="outside the dataset root"):
        vsil.load([{"text": "q", "image": "link.png"}], image_root=root)


def test_absolute_path_outside_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(DataError, match="outside the dataset root"):
        vsil.load([{"text": "q", "image": "/etc/passwd"}], image_root=root)


def test_non_utf8_file(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_bytes(json.dumps({"text": "caf"}).encode()[:-2] + b"\xe9\"}\n")
    with pytest.raises(DataError, match="not valid UTF-8"):
        vsil.load(f)


@pytest.mark.parametrize("content", ["", "[]"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    f = tmp_path / "d.json"
    f.write_text(content)
    with pytest.raises(DataError):
        vsil.load(f)


def test_empty_inputs() -> None:
    import pandas as pd

    for empty in ([], pd.DataFrame({"text": []})):
        with pytest.raises(DataError, match="empty"):
            vsil.load(empty)


def test_bad_json_names_line(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "a"}\n{oops\n')
    with pytest.raises(DataError, match=r"d.jsonl:2"):
        vsil.load(f)


def test_missing_file_and_unknown_name() -> None:
    with pytest.raises(DataError, match="no such file or dataset"):
        vsil.load("definitely-not-a-dataset")


def test_images_are_lazy(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    ds = vsil.load([{"text": "q", "image": "a.png"}], image_root=tmp_path, check_images=False)
    (tmp_path / "a.png").unlink()
    with pytest.raises(vsil.dataset.ImageError, match="cannot read"):
        ds[0].image.open()  # type: ignore[union-attr]
