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

from typing import Any

from vsil.dataset._dataset import Dataset
from vsil.dataset.loaders._spec import LoaderSpec, Source, benchmark

NAME = "harmbench-mm"
CSV = "data/behavior_datasets/harmbench_behaviors_multimodal_all.csv"
IMAGES = "data/multimodal_behavior_images"
COLUMNS = ("Behavior", "BehaviorID", "FunctionalCategory", "SemanticCategory", "ImageFileName",
           "Source", "ImageDescription", "RedactedImageDescription", "Tags")
LAYOUT = f"the HarmBench repo layout: ROOT/{CSV} and ROOT/{IMAGES}/"


SPEC = LoaderSpec(
    NAME,
    description="HarmBench multimodal behaviours: 110 harmful requests about an image.",
    layout=LAYOUT,
    files=lambda c: [CSV],
    required=("Behavior", "BehaviorID", "ImageFileName"),
    columns=COLUMNS,
    where="GitHub centerforaisafety/HarmBench (root=the repo: data/behavior_datasets/ + "
    "data/multimodal_behavior_images/)",
    license="MIT",
    aliases=("harmbench_mm", "harmbench-multimodal"),
)


@benchmark(SPEC)
def load_harmbench_mm(src: Source) -> Dataset:
    """Load HarmBench's multimodal behaviours from a local checkout."""
    records: list[dict[str, Any]] = []
    for r in src.rows:
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
    return src.dataset(records, image_root=src.base,
                       info={"loader": NAME, "variant": "behavior", "path": str(src.path)})
