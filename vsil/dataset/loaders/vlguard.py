"""VLGuard (Zong et al., arXiv 2402.02207): safety fine-tuning and test pairs.

Layouts (HF dataset ``ys-zong/VLGuard``, gated; MIT per its card; or a clone of the GitHub
repository ``ys-zong/VLGuard``, which keeps the same files under ``data/``)::

    ROOT/test.json, ROOT/train.json       lists of images           (hub)
    ROOT/test/<image>, ROOT/train/<image> the unzipped test.zip / train.zip
    ROOT/data/test.json, ROOT/data/test/<image> ...                 (GitHub clone)

Each entry: ``id``, ``image`` (relative path, e.g. ``bad_ads/x.png``), ``safe`` (bool),
``harmful_category`` and ``harmful_subcategory`` (unsafe images), and ``instr-resp``: a list
of objects holding one of ``safe_instruction``, ``unsafe_instruction`` or ``instruction``,
plus ``response``.

One image gives one sample per instruction (what the benchmark feeds the model, the only
variant). Each sample's subset is recorded in ``meta['subset']``:

* ``unsafes`` -- an unsafe image with its instruction;
* ``safe_unsafes`` -- a safe image with an unsafe instruction;
* ``safe_safes`` -- a safe image with a safe instruction.

``subset=`` keeps only one of them; ``split="test"`` (default) or ``"train"``.

Mapping: id = ``{id}#{k}`` (k = the instruction's index); ``category`` /
``sub_category`` = ``harmful_category`` / ``harmful_subcategory``; ``safe``, ``response``,
the image id and the instruction key stay in ``meta``. VLGuard has no image text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vsil.dataset._dataset import Dataset
from vsil.dataset._errors import DataError
from vsil.dataset.loaders._spec import LoaderSpec, Option, Source, benchmark

NAME = "vlguard"
HF_ID = "ys-zong/VLGuard"
SPLITS = ("test", "train")
SUBSETS = ("unsafes", "safe_unsafes", "safe_safes")
INSTRUCTION_KEYS = ("instruction", "unsafe_instruction", "safe_instruction")
KEYS = ("id", "image", "safe", "harmful_category", "harmful_subcategory", "instr-resp")
LAYOUT = ("the VLGuard hub layout: ROOT/test.json (or train.json) with the images unzipped "
          "into ROOT/test/ (or ROOT/train/), or a clone of the GitHub repository: "
          "ROOT/data/test.json with the images in ROOT/data/test/")


SPEC = LoaderSpec(
    NAME,
    description="VLGuard: safe and unsafe images with safe/unsafe instructions, one sample "
    "per instruction (split='test' default or 'train'; subset= unsafes | safe_unsafes | "
    "safe_safes).",
    layout=LAYOUT,
    files=lambda c: [f"{c['split']}.json", f"data/{c['split']}.json"],
    required=("id", "image", "safe", "instr-resp"),
    columns=KEYS,
    options=(Option("variant"), Option("split", SPLITS, "test"), Option("subset", SUBSETS)),
    hf_id=HF_ID,
    hub_files=lambda c: [f"{c['split']}.json"],
    where=f"HF {HF_ID} (gated: test.json/train.json + test.zip/train.zip); GitHub ys-zong/VLGuard",
    license="MIT (HF dataset card)",
)


@benchmark(SPEC)
def load_vlguard(src: Source) -> Dataset:
    """Load VLGuard's test (or train) split from a local copy or the hub."""
    sp, only, path = str(src.chosen["split"]), src.chosen["subset"], src.path
    assert path is not None
    records: list[dict[str, Any]] = []
    for r in src.rows:
        pairs = r.get("instr-resp")
        if not isinstance(pairs, list):
            raise DataError(f"{NAME}: {path.name}: entry {r.get('id')!r} has no 'instr-resp' "
                            f"list; expected {LAYOUT}")
        safe = _as_bool(r.get("safe"))
        for k, pair in enumerate(pairs):
            key = next((x for x in INSTRUCTION_KEYS if isinstance(pair, dict) and x in pair),
                       None)
            sub = _subset(safe, key)
            if only is not None and sub != only:
                continue
            meta = {x: val for x, val in r.items()
                    if x not in ("id", "image", "harmful_category", "harmful_subcategory",
                                 "instr-resp")}
            records.append({
                **meta,
                "image_id": r.get("id"),
                "instruction_key": key,
                "subset": sub,
                "response": pair.get("response") if isinstance(pair, dict) else None,
                "id": f"{r.get('id')}#{k}",
                "text": pair.get(key) if (key and isinstance(pair, dict)) else None,
                "image": r.get("image"),
                "category": r.get("harmful_category"),
                "sub_category": r.get("harmful_subcategory"),
            })
    if not records:
        raise DataError(f"{NAME}: no sample in {path} for subset {only!r}")
    return src.dataset(records, image_root=_image_base(path.parent, sp),
                       info={"loader": NAME, "variant": "instruction", "split": sp,
                             "subset": only or "all", "path": str(path)})



def _as_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


def _subset(safe: bool | None, key: str | None) -> str | None:
    if safe is False:
        return "unsafes"
    if safe is True and key == "unsafe_instruction":
        return "safe_unsafes"
    if safe is True and key == "safe_instruction":
        return "safe_safes"
    return None


def _image_base(root: Path, split: str) -> Path:
    d = root / split
    return d if d.is_dir() else root
