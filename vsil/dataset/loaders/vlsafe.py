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

from vsil.dataset._dataset import Dataset
from vsil.dataset._errors import DataError
from vsil.dataset.loaders._common import unique_ids
from vsil.dataset.loaders._spec import LoaderSpec, Option, Source, benchmark

NAME = "vlsafe"
HF_ID = "YangyiYY/LVLM_NLF"
SPLITS = {"examine": "harmlessness_examine.jsonl", "alignment": "harmlessness_alignment.jsonl"}
KEYS = ("image_id", "caption", "query", "reference")
LAYOUT = ("the LVLM_NLF layout: ROOT/VLSafe/harmlessness_examine.jsonl (or the VLSafe folder "
          "as ROOT), with COCO train2017 images under coco_root=")


SPEC = LoaderSpec(
    NAME,
    description="VLSafe: GPT-written harmful queries about COCO train2017 images "
    "(split='examine', 1,110, default; or 'alignment'). Images: coco_root=COCO train2017.",
    layout=LAYOUT,
    files=lambda c: [f"VLSafe/{SPLITS[str(c['split'])]}", SPLITS[str(c["split"])]],
    required=("image_id", "query"),
    columns=KEYS,
    options=(Option("variant"), Option("split", tuple(SPLITS), "examine")),
    extra=("coco_root",),
    hf_id=HF_ID,
    hub_files=lambda c: ["VLSafe/*.jsonl"],
    root_may_be_file=True,
    where=f"HF {HF_ID} (folder VLSafe/); images from COCO train2017",
    license="see the LVLM_NLF dataset card; COCO images CC BY 4.0 (Flickr terms)",
)


@benchmark(SPEC)
def load_vlsafe(src: Source) -> Dataset:
    """Load VLSafe from a local copy (or the hub's ``VLSafe/*.jsonl`` when online)."""
    path = src.path
    assert path is not None
    img_base = _image_base(src.base, path.parent, src.extra["coco_root"])
    ids, composed = unique_ids([Path(str(r.get("image_id") or f"row{i}")).stem
                                for i, r in enumerate(src.rows)])
    records: list[dict[str, Any]] = []
    for sid, r in zip(ids, src.rows, strict=True):
        rec: dict[str, Any] = {
            "id": sid,
            "text": r.get("query"),
            "image": r.get("image_id"),
            "image_text": r.get("caption"),
        }
        meta = {k: val for k, val in r.items() if k not in ("query", "caption")}
        records.append({**meta, **rec})
    info: dict[str, Any] = {"loader": NAME, "variant": "query", "split": src.chosen["split"],
                            "path": str(path), "ids_composed": composed}
    if img_base is None:
        info["images_note"] = ("COCO train2017 images not found (pass coco_root=DIR); "
                               "loaded without images")
    return src.dataset(records, image_root=img_base, info=info)



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
