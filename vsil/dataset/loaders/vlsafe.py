"""VLSafe (Chen et al., DRESS, arXiv 2311.10081): harmful queries about COCO images.

Layout (HF dataset ``YangyiYY/LVLM_NLF``, folder ``VLSafe/``)::

    ROOT/VLSafe/harmlessness_examine.jsonl      the 1,110-query evaluation split (default)
    ROOT/VLSafe/harmlessness_alignment.jsonl    the alignment (training) split

``ROOT`` may also be the ``VLSafe/`` folder itself. One JSON object per line with ``image_id``
(a COCO train2017 file name such as ``000000350510.jpg``), ``caption`` (the COCO caption),
``query`` and, in the alignment split, ``reference``.

Images are COCO train2017 and are not shipped: pass ``coco_root=DIR`` (the folder holding the
``0000....jpg`` files); ``ROOT/train2017`` and ``ROOT/images`` (and the same under
``VLSafe/``) are found by themselves. Without any image the dataset loads text-only and
``info['images_note']`` says so.

What the benchmark feeds the model (the only variant): ``query`` with the image.

Mapping: text = ``query``; ``image_text`` = ``caption``; id = the image file stem, with
``#k`` added to the k-th repeat of an image; ``image_id`` and ``reference`` stay in ``meta``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vsil.dataset._dataset import Dataset, OnError
from vsil.dataset._errors import DataError
from vsil.dataset._files import read_rows
from vsil.dataset._registry import register_loader
from vsil.dataset.loaders._common import (
    any_image_present,
    check_choice,
    finish,
    locate,
    require_fields,
    resolve_root,
    unique_ids,
)

NAME = "vlsafe"
HF_ID = "YangyiYY/LVLM_NLF"
SPLITS = {"examine": "harmlessness_examine.jsonl", "alignment": "harmlessness_alignment.jsonl"}
KEYS = ("image_id", "caption", "query", "reference")
LAYOUT = ("the LVLM_NLF layout: ROOT/VLSafe/harmlessness_examine.jsonl (or the VLSafe folder "
          "as ROOT), with COCO train2017 images under coco_root=")


@register_loader(
    NAME,
    description="VLSafe: GPT-written harmful queries about COCO train2017 images "
    "(split='examine', 1,110, default; or 'alignment'). Images: coco_root=COCO train2017.",
    where=f"HF {HF_ID} (folder VLSafe/); images from COCO train2017",
    license="see the LVLM_NLF dataset card; COCO images CC BY 4.0 (Flickr terms)",
    hf_id=HF_ID,
)
def load_vlsafe(
    root: str | os.PathLike[str] | None = None,
    *,
    variant: str | None = None,
    split: str | None = None,
    coco_root: str | os.PathLike[str] | None = None,
    hf: bool = False,
    on_error: OnError = "raise",
    check_images: bool = True,
) -> Dataset:
    """Load VLSafe from a local copy (or the hub's ``VLSafe/*.jsonl`` when online)."""
    sp = check_choice(NAME, "split", split, tuple(SPLITS), "examine")
    base, _hub = resolve_root(NAME, root, hf, HF_ID, ["VLSafe/*.jsonl"], LAYOUT)
    if base.is_file():
        path, base = base, base.parent
    else:
        path = locate(NAME, base, [f"VLSafe/{SPLITS[sp]}", SPLITS[sp]], LAYOUT)
    rows = read_rows(path)
    require_fields(NAME, path, rows, ("image_id", "query"), KEYS)
    img_base = _image_base(base, path.parent, coco_root)
    ids, composed = unique_ids([Path(str(r.get("image_id") or f"row{i}")).stem
                                for i, r in enumerate(rows)])
    records: list[dict[str, Any]] = []
    for sid, r in zip(ids, rows, strict=True):
        rec: dict[str, Any] = {
            "id": sid,
            "text": r.get("query"),
            "image": r.get("image_id"),
            "image_text": r.get("caption"),
        }
        meta = {k: val for k, val in r.items() if k not in ("query", "caption")}
        records.append({**meta, **rec})
    images = img_base is not None and any_image_present(img_base, [r["image"] for r in records])
    info: dict[str, Any] = {"loader": NAME, "variant": "query", "split": sp, "path": str(path),
                            "ids_composed": composed}
    if img_base is None:
        info["images_note"] = ("COCO train2017 images not found (pass coco_root=DIR); "
                               "loaded without images")
    return finish(records, name=NAME, image_root=img_base, images=images, on_error=on_error,
                  check_images=check_images, info=info)


def _image_base(root: Path, folder: Path, coco_root: str | os.PathLike[str] | None
                ) -> Path | None:
    if coco_root is not None:
        p = Path(coco_root)
        if not p.is_dir():
            raise DataError(f"{NAME}: coco_root {str(p)!r} is not a directory; expected the "
                            "COCO train2017 image folder")
        return p
    for d in (root / "train2017", root / "images", folder / "train2017", folder / "images"):
        if d.is_dir():
            return d
    return None
