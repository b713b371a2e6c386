"""JailBreakV-28K (Luo et al., arXiv 2404.03027): image jailbreaks of 2,000 red-team queries.

Layout (HF dataset ``JailbreakV-28K/JailBreakV-28k``, MIT)::

    ROOT/JailBreakV_28K/JailBreakV_28K.csv        28,000 rows (subset="full", default)
    ROOT/JailBreakV_28K/mini_JailBreakV_28K.csv   280 rows (subset="mini")
    ROOT/JailBreakV_28K/{figstep,llm_transfer_attack,query_related,...}/...  images

``ROOT`` may also be the ``JailBreakV_28K/`` folder itself, or an older snapshot with the CSV
files at the top. ``image_path`` is relative to the folder holding the CSV. Columns: ``id,
jailbreak_query, redteam_query, format, policy, image_path, from, selected_mini,
transfer_from_llm``.

Variants (the text of each sample):

* ``jailbreak_query`` (default) -- what the benchmark feeds the model: the red-team query
  wrapped in the jailbreak (template, rewrite or plain query, by ``format``).
* ``redteam_query`` -- the raw harmful query. The VLSBench paper's Table 1 ("JailbreakV-raw")
  used the mini set with this variant: ``load("jailbreakv-28k", subset="mini",
  variant="redteam_query")``.

Mapping: ``category`` = ``policy``; ``source`` = ``from``; the other query, ``format``,
``selected_mini`` and ``transfer_from_llm`` stay in ``meta``. JailBreakV has no image text.
Ids are the ``id`` column (a repeat gets ``#k``).
"""

from __future__ import annotations

import os
from typing import Any

from vsil.dataset._dataset import Dataset, OnError
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

NAME = "jailbreakv-28k"
HF_ID = "JailbreakV-28K/JailBreakV-28k"
VARIANTS = ("jailbreak_query", "redteam_query")
SUBSETS = {"full": "JailBreakV_28K.csv", "mini": "mini_JailBreakV_28K.csv"}
COLUMNS = ("id", "jailbreak_query", "redteam_query", "format", "policy", "image_path", "from",
           "selected_mini", "transfer_from_llm")
LAYOUT = ("the JailBreakV-28K hub layout: ROOT/JailBreakV_28K/{JailBreakV_28K.csv,"
          "mini_JailBreakV_28K.csv} with image_path relative to that folder")


@register_loader(
    NAME,
    description="JailBreakV-28K: 28,000 image jailbreaks (subset='full', default) or the "
    "280-row mini set (subset='mini').",
    variants=VARIANTS,
    default_variant="jailbreak_query",
    where=f"HF {HF_ID} (root=the dataset repo)",
    license="MIT",
    hf_id=HF_ID,
    aliases=("jailbreakv", "jailbreakv_28k"),
)
def load_jailbreakv(
    root: str | os.PathLike[str] | None = None,
    *,
    variant: str | None = None,
    subset: str | None = None,
    hf: bool = False,
    on_error: OnError = "raise",
    check_images: bool = True,
) -> Dataset:
    """Load JailBreakV-28K (full or mini) from a local copy or the hub."""
    v = check_choice(NAME, "variant", variant, VARIANTS, "jailbreak_query")
    sub = check_choice(NAME, "subset", subset, tuple(SUBSETS), "full")
    fname = SUBSETS[sub]
    base, _hub = resolve_root(NAME, root, hf, HF_ID,
                              [f"JailBreakV_28K/{fname}", fname], LAYOUT)
    path = locate(NAME, base, [f"JailBreakV_28K/{fname}", fname], LAYOUT)
    folder = path.parent
    rows = read_rows(path)
    require_fields(NAME, path, rows, ("id", "image_path", *VARIANTS), COLUMNS)
    other = "redteam_query" if v == "jailbreak_query" else "jailbreak_query"
    ids, composed = unique_ids([str(r.get("id")) for r in rows])
    records: list[dict[str, Any]] = []
    for sid, r in zip(ids, rows, strict=True):
        rec: dict[str, Any] = {
            "id": sid,
            "text": r.get(v),
            "image": r.get("image_path"),
            "category": r.get("policy"),
            "source": r.get("from"),
        }
        meta = {k: val for k, val in r.items()
                if k not in ("id", v, "image_path", "policy", "from")}
        meta.setdefault(other, r.get(other))
        records.append({**meta, "source_id": r.get("id"), **rec})
    images = any_image_present(folder, [r["image"] for r in records])
    return finish(records, name=NAME if sub == "full" else f"{NAME}-mini", image_root=folder,
                  images=images, on_error=on_error, check_images=check_images,
                  info={"loader": NAME, "variant": v, "subset": sub, "path": str(path),
                        "ids_composed": composed})
