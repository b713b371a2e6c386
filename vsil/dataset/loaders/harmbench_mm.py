"""HarmBench, multimodal behaviours (Mazeika et al., arXiv 2402.04249): 110 image behaviours.

Layout (GitHub centerforaisafety/HarmBench, MIT)::

    ROOT/data/behavior_datasets/harmbench_behaviors_multimodal_all.csv
    ROOT/data/multimodal_behavior_images/{ImageFileName}

Columns: ``Behavior, BehaviorID, FunctionalCategory, SemanticCategory, ImageFileName, Source,
ImageDescription, RedactedImageDescription, Tags``.

What the benchmark feeds the model (the only variant): ``Behavior`` with the image.

Mapping: id = ``BehaviorID``; text = ``Behavior``; image = ``ImageFileName`` under
``multimodal_behavior_images/``; ``image_text`` = ``ImageDescription``; ``category`` =
``SemanticCategory``. ``FunctionalCategory``, ``Source`` (the image's URL),
``RedactedImageDescription`` and ``Tags`` stay in ``meta``.
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

NAME = "harmbench-mm"
CSV = "data/behavior_datasets/harmbench_behaviors_multimodal_all.csv"
IMAGES = "data/multimodal_behavior_images"
COLUMNS = ("Behavior", "BehaviorID", "FunctionalCategory", "SemanticCategory", "ImageFileName",
           "Source", "ImageDescription", "RedactedImageDescription", "Tags")
LAYOUT = f"the HarmBench repo layout: ROOT/{CSV} and ROOT/{IMAGES}/"


@register_loader(
    NAME,
    description="HarmBench multimodal behaviours: 110 harmful requests about an image.",
    where="GitHub centerforaisafety/HarmBench (root=the repo: data/behavior_datasets/ + "
    "data/multimodal_behavior_images/)",
    license="MIT",
    aliases=("harmbench_mm", "harmbench-multimodal"),
)
def load_harmbench_mm(
    root: str | os.PathLike[str] | None = None,
    *,
    variant: str | None = None,
    hf: bool = False,
    on_error: OnError = "raise",
    check_images: bool = True,
) -> Dataset:
    """Load HarmBench's multimodal behaviours from a local checkout."""
    base, _hub = resolve_root(NAME, root, hf, None, None, LAYOUT)
    path = locate(NAME, base, [CSV], LAYOUT)
    rows = read_rows(path)
    require_fields(NAME, path, rows, ("Behavior", "BehaviorID", "ImageFileName"), COLUMNS)
    records: list[dict[str, Any]] = []
    for r in rows:
        rec: dict[str, Any] = {
            "id": r["BehaviorID"],
            "text": r["Behavior"],
            "image": f"{IMAGES}/{r['ImageFileName']}" if r.get("ImageFileName") else None,
            "image_text": r.get("ImageDescription"),
            "category": r.get("SemanticCategory"),
        }
        meta = {k: val for k, val in r.items()
                if k not in ("BehaviorID", "Behavior", "ImageDescription", "SemanticCategory")}
        records.append({**meta, **rec})
    images = any_image_present(base, [r["image"] for r in records])
    return finish(records, name=NAME, image_root=base, images=images, on_error=on_error,
                  check_images=check_images,
                  info={"loader": NAME, "variant": "behavior", "path": str(path)})
