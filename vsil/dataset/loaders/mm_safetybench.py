"""MM-SafetyBench (Liu et al., arXiv 2311.17600): query-relevant images for 13 scenarios.

Layout (GitHub isXinLiu/MM-SafetyBench; data CC BY-NC 4.0)::

    ROOT/data/processed_questions/{NN-Scenario}.json   e.g. 01-Illegal_Activitiy.json (sic)
    ROOT/data/imgs/{NN-Scenario}/{SD,SD_TYPO,TYPO}/{id}.jpg   (ROOT/imgs/... also accepted)

Each questions file is a JSON object keyed by id ("0", "1", ...) whose values hold
``Question``, ``GPT-Pred``, ``Changed Question``, ``Key Phrase``, ``Phrase Type``,
``Rephrased Question`` and ``Rephrased Question(SD)``.

Variants (text and image of each sample):

* ``sd_typo`` (default) -- what the benchmark feeds the model in its main setting:
  ``Rephrased Question`` with the SD_TYPO image (Stable Diffusion picture + typeset phrase).
* ``sd`` -- ``Rephrased Question(SD)`` with the SD image.
* ``typo`` -- ``Rephrased Question`` with the TYPO image (typeset key phrase).
* ``text_only`` -- the original ``Question``, no image.

Mapping: ``image_text`` = ``Key Phrase`` for ``sd_typo`` and ``typo`` (it is typeset in the
image); ``category`` = the scenario without its number (``Illegal_Activitiy``); id =
``{NN-Scenario}/{key}``. Every other key, and the scenario file name, stays in ``meta``.
"""

from __future__ import annotations

import re
from typing import Any

from vsil.dataset._dataset import Dataset
from vsil.dataset._errors import DataError
from vsil.dataset._files import read_rows
from vsil.dataset.loaders._common import require_fields
from vsil.dataset.loaders._spec import LoaderSpec, Option, Source, benchmark

NAME = "mm-safetybench"
VARIANTS = ("sd_typo", "sd", "typo", "text_only")
TEXT_KEY = {"sd_typo": "Rephrased Question", "sd": "Rephrased Question(SD)",
            "typo": "Rephrased Question", "text_only": "Question"}
IMAGE_DIR = {"sd_typo": "SD_TYPO", "sd": "SD", "typo": "TYPO"}
KEYS = ("Question", "GPT-Pred", "Changed Question", "Key Phrase", "Phrase Type",
        "Rephrased Question", "Rephrased Question(SD)")
QUESTIONS_DIR = "data/processed_questions"
LAYOUT = ("the MM-SafetyBench repo layout: ROOT/data/processed_questions/NN-Scenario.json "
          "and ROOT/data/imgs/NN-Scenario/{SD,SD_TYPO,TYPO}/ID.jpg")


SPEC = LoaderSpec(
    NAME,
    description="MM-SafetyBench: 13 scenarios; rephrased questions with SD / typography / "
    "SD+typography images, or the original question alone.",
    layout=LAYOUT,
    files=None,  # one file per scenario, read below
    columns=KEYS,
    options=(Option("variant", VARIANTS, "sd_typo"),),
    where="GitHub isXinLiu/MM-SafetyBench (root=the repo: data/processed_questions/ + "
    "data/imgs/ from the authors' image download)",
    license="CC BY-NC 4.0",
    aliases=("mm_safetybench", "mmsafetybench"),
)


@benchmark(SPEC)
def load_mm_safetybench(src: Source) -> Dataset:
    """Load MM-SafetyBench from a local checkout with its images."""
    v, base = str(src.chosen["variant"]), src.base
    qdir = base / QUESTIONS_DIR
    files = sorted(qdir.glob("*.json")) if qdir.is_dir() else []
    if not files:
        raise DataError(f"{NAME}: no {QUESTIONS_DIR}/*.json found under {str(base)!r}; "
                        f"expected {LAYOUT}")
    img_top = next((d for d in ("data/imgs", "imgs") if (base / d).is_dir()), "data/imgs")
    records: list[dict[str, Any]] = []
    for path in files:
        rows = read_rows(path)
        require_fields(NAME, path, rows, ("Question", "Key Phrase", TEXT_KEY[v]), KEYS)
        scenario = path.stem
        category = re.sub(r"^\d+[-_]", "", scenario)
        for r in rows:
            key = str(r.pop("id"))
            rec: dict[str, Any] = {
                "id": f"{scenario}/{key}",
                "text": r.get(TEXT_KEY[v]),
                "category": category,
                "image_text": r.get("Key Phrase") if v in ("sd_typo", "typo") else None,
            }
            if v != "text_only":
                rec["image"] = f"{img_top}/{scenario}/{IMAGE_DIR[v]}/{key}.jpg"
            meta = {k: val for k, val in r.items() if k != TEXT_KEY[v]}
            records.append({**meta, "scenario": scenario, "question_id": key, **rec})
    info: dict[str, Any] = {"loader": NAME, "variant": v, "path": str(base / QUESTIONS_DIR)}
    if v == "text_only":
        info["images_note"] = "variant text_only: no images by design"
        return src.dataset(records, image_root=None, images=False, info=info)
    return src.dataset(records, image_root=base, info=info)
