"""MOSSBench (Li et al., arXiv 2406.17806): benign pairs that trigger over-sensitive refusals.

Layout (GitHub xirui-li/MOSSBench, CC BY-SA 4.0, test use only)::

    ROOT/data/images_information/information.json            benign set (default)
    ROOT/data/images/...                                     its images
    ROOT/data_contrast/images_information/information.json   harmful contrast set

Each information file is an object keyed by pid; each value has ``image`` (e.g.
``images/1.png``, relative to the set's folder), ``short description``, ``description``,
``question``, ``metadata`` (``over``, ``human``, ``child``, ``syn``, ``ocr``, ``harm``) and
``pid``. The contrast set reuses the benign images (looked up in ``data_contrast/`` first,
then ``data/``) and rewrites the question so the harm is in the text.

Subsets: ``subset="benign"`` (default) or ``"contrast"``. What the benchmark feeds the model
(the only variant): ``question`` with the image.

Mapping: id = ``pid``; text = ``question``; ``image_text`` = ``description`` (may be
empty); ``category`` = ``metadata.over`` (the over-sensitivity type); ``short description``,
``metadata`` and the subset stay in ``meta``.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from vsil.dataset._dataset import Dataset
from vsil.dataset.loaders._spec import LoaderSpec, Option, Source, benchmark

NAME = "mossbench"
SUBSETS = {"benign": "data", "contrast": "data_contrast"}
KEYS = ("image", "short description", "description", "question", "metadata", "pid")
LAYOUT = ("the MOSSBench repo layout: ROOT/data/images_information/information.json (benign) "
          "or ROOT/data_contrast/images_information/information.json (contrast), with images "
          "under ROOT/data/images/")


SPEC = LoaderSpec(
    NAME,
    description="MOSSBench: benign image-text pairs that over-sensitive models refuse "
    "(subset='benign', default) and their harmful contrast set (subset='contrast').",
    layout=LAYOUT,
    files=lambda c: [f"{SUBSETS[str(c['subset'])]}/images_information/information.json"],
    required=("image", "question"),
    columns=KEYS,
    options=(Option("variant"), Option("subset", tuple(SUBSETS), "benign")),
    where="GitHub xirui-li/MOSSBench (root=the repo: data/ and data_contrast/)",
    license="CC BY-SA 4.0 (test use only)",
)


@benchmark(SPEC)
def load_mossbench(src: Source) -> Dataset:
    """Load MOSSBench's benign or contrast set from a local checkout."""
    sub = str(src.chosen["subset"])
    base, folder = src.base, SUBSETS[sub]
    records: list[dict[str, Any]] = []
    for r in src.rows:
        meta_field = r.get("metadata")
        over = meta_field.get("over") if isinstance(meta_field, dict) else None
        rec: dict[str, Any] = {
            "id": r.get("pid") if r.get("pid") not in (None, "") else r.get("id"),
            "text": r.get("question"),
            "image": _image_path(base, folder, r.get("image")),
            "image_text": r.get("description"),
            "category": over,
        }
        meta = {k: val for k, val in r.items() if k not in ("question", "description")}
        records.append({**meta, "subset": sub, **rec})
    return src.dataset(records, name=NAME if sub == "benign" else f"{NAME}-contrast",
                       image_root=base,
                       info={"loader": NAME, "variant": "question", "subset": sub,
                             "path": str(src.path)})



def _image_path(base: Path, folder: str, image: Any) -> str | None:
    """The image path relative to ROOT: under the set's folder, else (contrast) under data/."""
    if not image:
        return None
    rel = str(image)
    first = posixpath.join(folder, rel)
    if folder != "data" and not (base / first).is_file() and (base / "data" / rel).is_file():
        return posixpath.join("data", rel)
    return first
