"""Writing the kept items in VLSBench's own layout: ``OUT/data.json`` + ``OUT/imgs/N.png``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vsil._jsonable import dumps

#: the fields of one VLSBench ``data.json`` entry, in the released file's order
FIELDS = ("instruction_id", "instruction", "image_path", "category", "sub_category", "source",
          "image_description", "safety_reason")


def write_vlsbench(items: Sequence[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """Write ``out/data.json`` and ``out/imgs/`` (PNG, numbered from 0; items that share an
    image share its file). Returns the data.json entries. Replaces an earlier output."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "imgs.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    numbers: dict[str, int] = {}
    entries: list[dict[str, Any]] = []
    for i, it in enumerate(items):
        src = str(it["image"])
        if src not in numbers:
            numbers[src] = len(numbers)
            with Image.open(src) as im:
                im.convert("RGB").save(tmp / f"{numbers[src]}.png", format="PNG")
        entry = {
            "instruction_id": i,
            "instruction": it["instruction"],
            "image_path": f"imgs/{numbers[src]}.png",
            "category": it["category"],
            "sub_category": it["sub_category"],
            "source": it.get("source") or "generation",
            "image_description": it.get("image_description") or "",
            "safety_reason": it.get("safety_reason") or "",
        }
        entries.append({k: entry[k] for k in FIELDS})
    shutil.rmtree(out / "imgs", ignore_errors=True)
    os.replace(tmp, out / "imgs")
    write_json(out / "data.json", entries)
    return entries


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (a temporary file, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(obj, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)
