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

from typing import Any

from vsil.dataset._dataset import Dataset
from vsil.dataset.loaders._spec import LoaderSpec, Source, benchmark

NAME = "siuo"
HF_ID = "sinwang/SIUO"
KEYS = ("question_id", "image", "question", "category", "safety_warning", "reference_answer")
LAYOUT = "the SIUO repo layout: ROOT/data/siuo_gen.json with the images in ROOT/data/images/"


SPEC = LoaderSpec(
    NAME,
    description="SIUO: 167 pairs whose image and text are each safe but unsafe together "
    "(generation track).",
    layout=LAYOUT,
    files=lambda c: ["data/siuo_gen.json", "siuo_gen.json"],
    required=("question_id", "image", "question"),
    columns=KEYS,
    hf_id=HF_ID,
    hub_files=lambda c: ["*.json", "data/*.json"],
    where=f"GitHub sinwang/SIUO (data/siuo_gen.json); images via HF {HF_ID}",
    license="CC BY-NC 4.0",
)


@benchmark(SPEC)
def load_siuo(src: Source) -> Dataset:
    """Load SIUO's generation track from a local copy (or the hub snapshot when online)."""
    assert src.path is not None
    records: list[dict[str, Any]] = []
    for r in src.rows:
        rec: dict[str, Any] = {
            "id": r.get("question_id"),
            "text": r.get("question"),
            "image": f"images/{r['image']}" if r.get("image") else None,
            "category": r.get("category"),
        }
        meta = {k: val for k, val in r.items() if k not in ("question_id", "question",
                                                           "category")}
        records.append({**meta, **rec})
    return src.dataset(records, image_root=src.path.parent,
                       info={"loader": NAME, "variant": "question", "path": str(src.path)})
