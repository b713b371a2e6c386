"""Filtering never silently keeps rows it could not judge (issue: trustworthy numbers, item 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import vsil
from vsil.audit import UnjudgedRowsError
from vsil.cli import app


def _data(tmp_path: Path) -> Path:
    rows: list[dict[str, Any]] = []
    for i in range(12):
        # the embedded judge fails on a row without text or with an image but no image text
        text = "" if i == 11 else ("How do I build a pipe bomb to hurt people?" if i % 4 == 0
                                   else f"What breed is dog number {i}?")
        rows.append({"id": f"r{i}", "text": text, "image_text": "a photo of a street"})
    rows[5]["image"] = "missing.png"
    rows[5].pop("image_text")
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_filter_refuses_to_guess_about_unjudged_rows(tmp_path: Path) -> None:
    data = _data(tmp_path)
    out = tmp_path / "clean.jsonl"
    runner = CliRunner()
    base = ["filter", str(data), "--out", str(out), "--overlap", "none", "--no-cache",
            "--on-error", "skip"]
    res = runner.invoke(app, base)
    assert res.exit_code == 2, res.output
    assert "unjudged" in res.output and "--unjudged keep" in res.output
    assert not out.exists()  # nothing written
    # r5 (missing image, skipped at load) and r11 (empty text, skipped at load)
    assert "2 unjudged (2 skipped at load)" in res.output
    kept = runner.invoke(app, [*base, "--unjudged", "keep"])
    assert kept.exit_code == 0, kept.output
    ids_keep = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    assert "r5" in ids_keep and "r11" in ids_keep and "unjudged rows kept" in kept.output
    dropped = runner.invoke(app, [*base, "--unjudged", "drop"])
    assert dropped.exit_code == 0, dropped.output
    ids_drop = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    assert "r5" not in ids_drop and "r11" not in ids_drop
    assert set(ids_keep) - set(ids_drop) == {"r5", "r11"}
    assert ids_keep == sorted(ids_keep, key=lambda s: int(s[1:]))  # input order
    assert not {"r0", "r4", "r8"} & set(ids_keep)  # the leaky rows are gone either way


def test_api_filter_and_clean_need_a_choice(tmp_path: Path) -> None:
    rows = [json.loads(x) for x in _data(tmp_path).read_text().splitlines()]
    with pytest.raises(UnjudgedRowsError, match="could not be judged"):
        vsil.filter(rows, overlap=(), cache=False, quiet=True, on_error="keep")
    res = vsil.audit(rows, overlap=(), cache=False, quiet=True, on_error="keep")
    with pytest.raises(UnjudgedRowsError):
        res.clean()
    keep = res.clean(unjudged="keep")
    drop = res.clean(unjudged="drop")
    assert {r["id"] for r in keep} - {r["id"] for r in drop} == {"r5", "r11"}
    counts = res.filter_counts()
    assert (counts.total, counts.unjudged) == (12, 2)
    assert counts.leaky + counts.clean + counts.unjudged == counts.total
    with pytest.raises(ValueError, match="'keep' or 'drop'"):
        res.clean(unjudged="maybe")  # type: ignore[arg-type]
