"""SIUO (Wang et al., arXiv 2406.15279): safe inputs whose combination is unsafe.

Layout (GitHub sinwang/SIUO, CC BY-NC 4.0; HF ``sinwang/SIUO``)::

    ROOT/data/siuo_gen.json      a list of objects (the generation track)
    ROOT/data/images/S-01.png    the images (SIUO-images.zip from the dataset card)

``ROOT`` may also be the ``data/`` folder itself. Each object has ``question_id``, ``image``
(e.g. ``S-01.png``), ``question``, ``category``, ``safety_warning`` and
``reference_answer``.

What the benchmark feeds the model (the only variant): ``question`` with the image.

Mapping: id = ``question_id``; text = ``question``; ``category`` = ``category``;
``safety_warning`` (the risk the pair carries), ``reference_answer`` and the rest stay in
``meta``. SIUO has no image text.
"""

from __future__ import annotations

import os
from typing import Any

from vsil.dataset._dataset import Dataset, OnError
from vsil.dataset._files import read_rows
from vsil.dataset._registry import register_loader
from vsil.dataset.loaders._common import (
    any_image_present,
    finish,
    locate,
    require_fields,
    resolve_root,
)

NAME = "siuo"
HF_ID = "sinwang/SIUO"
KEYS = ("question_id", "image", "question", "category", "safety_warning", "reference_answer")
LAYOUT = "the SIUO repo layout: ROOT/data/siuo_gen.json with the images in ROOT/data/images/"


@register_loader(
    NAME,
    description="SIUO: 167 pairs whose image and text are each safe but unsafe together "
    "(generation track).",
    where=f"GitHub sinwang/SIUO (data/siuo_gen.json); images via HF {HF_ID}",
    license="CC BY-NC 4.0",
    hf_id=HF_ID,
)
def load_siuo(
    root: str | os.PathLike[str] | None = None,
    *,
    variant: str | None = None,
    hf: bool = False,
    on_error: OnError = "raise",
    check_images: bool = True,
) -> Dataset:
    """Load SIUO's generation track from a local copy (or the hub snapshot when online)."""
    base, _hub = resolve_root(NAME, root, hf, HF_ID, ["*.json", "data/*.json"], LAYOUT)
    path = locate(NAME, base, ["data/siuo_gen.json", "siuo_gen.json"], LAYOUT)
    folder = path.parent
    rows = read_rows(path)
    require_fields(NAME, path, rows, ("question_id", "image", "question"), KEYS)
    records: list[dict[str, Any]] = []
    for r in rows:
        rec: dict[str, Any] = {
            "id": r.get("question_id"),
            "text": r.get("question"),
            "image": f"images/{r['image']}" if r.get("image") else None,
            "category": r.get("category"),
        }
        meta = {k: val for k, val in r.items() if k not in ("question_id", "question",
                                                           "category")}
        records.append({**meta, **rec})
    images = any_image_present(folder, [r["image"] for r in records])
    return finish(records, name=NAME, image_root=folder, images=images, on_error=on_error,
                  check_images=check_images,
                  info={"loader": NAME, "variant": "question", "path": str(path)})
