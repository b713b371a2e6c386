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

from collections.abc import Mapping
from typing import Any

from vsil.dataset._dataset import Dataset
from vsil.dataset.loaders._common import unique_ids
from vsil.dataset.loaders._spec import LoaderSpec, Option, Source, benchmark

NAME = "jailbreakv-28k"
HF_ID = "JailbreakV-28K/JailBreakV-28k"
VARIANTS = ("jailbreak_query", "redteam_query")
SUBSETS = {"full": "JailBreakV_28K.csv", "mini": "mini_JailBreakV_28K.csv"}
COLUMNS = ("id", "jailbreak_query", "redteam_query", "format", "policy", "image_path", "from",
           "selected_mini", "transfer_from_llm")
LAYOUT = ("the JailBreakV-28K hub layout: ROOT/JailBreakV_28K/{JailBreakV_28K.csv,"
          "mini_JailBreakV_28K.csv} with image_path relative to that folder")


def _files(c: Mapping[str, str | None]) -> list[str]:
    fname = SUBSETS[str(c["subset"])]
    return [f"JailBreakV_28K/{fname}", fname]


SPEC = LoaderSpec(
    NAME,
    description="JailBreakV-28K: 28,000 image jailbreaks (subset='full', default) or the "
    "280-row mini set (subset='mini').",
    layout=LAYOUT,
    files=_files,
    required=("id", "image_path", *VARIANTS),
    columns=COLUMNS,
    options=(Option("variant", VARIANTS, "jailbreak_query"),
             Option("subset", tuple(SUBSETS), "full")),
    hf_id=HF_ID,
    hub_files=_files,
    where=f"HF {HF_ID} (root=the dataset repo)",
    license="MIT",
    aliases=("jailbreakv", "jailbreakv_28k"),
)


@benchmark(SPEC)
def load_jailbreakv(src: Source) -> Dataset:
    """Load JailBreakV-28K (full or mini) from a local copy or the hub."""
    v, sub = str(src.chosen["variant"]), src.chosen["subset"]
    assert src.path is not None
    other = "redteam_query" if v == "jailbreak_query" else "jailbreak_query"
    ids, composed = unique_ids([str(r.get("id")) for r in src.rows])
    records: list[dict[str, Any]] = []
    for sid, r in zip(ids, src.rows, strict=True):
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
    return src.dataset(records, name=NAME if sub == "full" else f"{NAME}-mini",
                       image_root=src.path.parent,
                       info={"loader": NAME, "variant": v, "subset": sub,
                             "path": str(src.path), "ids_composed": composed})
