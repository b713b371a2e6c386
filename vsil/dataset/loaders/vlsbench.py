"""VLSBench (Hu et al., arXiv 2411.19939): 2,241 leak-free image-text pairs.

Layout: ``data.json`` (a list of objects with ``instruction_id``, ``instruction``,
``image_path`` like ``imgs/0.png``, ``category``, ``sub_category``, ``source``,
``image_description``, ``safety_reason``) beside an ``imgs/`` folder.

The text is ``instruction``; ``image_description`` becomes ``image_text``; ``safety_reason``,
``instruction_id`` and ``image_path`` stay in ``meta``.

Known defect of the released file: item 1685 has an empty ``instruction`` (its query is
written inside the image). The loader therefore defaults to ``on_error="keep"``: the row stays
in the dataset, so N is the paper's 2,241, and the audit reports it as an error, never as a
verdict. Pass ``on_error="raise"`` or ``"skip"`` to change that.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from vsil.dataset._columns import ColumnMap
from vsil.dataset._dataset import Dataset, OnError, build_dataset
from vsil.dataset._errors import DataError
from vsil.dataset._files import read_rows
from vsil.dataset._registry import register_loader

HF_ID = "Foreshhh/vlsbench"
COLUMNS = ColumnMap(
    {
        "id": "instruction_id",
        "text": "instruction",
        "image": "image_path",
        "image_text": "image_description",
        "category": "category",
        "sub_category": "sub_category",
        "source": "source",
    }
)


def embedded_data_json() -> Path:
    """The copy of VLSBench's data.json shipped inside vsil (see PROVENANCE.md beside it)."""
    return Path(str(resources.files("vsil") / "data" / "vlsbench" / "data.json"))


@register_loader(
    "vlsbench",
    description="VLSBench: 2,241 image-text pairs whose harm needs the image (leak-free). "
    "With no root, the embedded data.json (no images) is used.",
    where=f"embedded data.json; root=DIR with data.json + imgs/; HF {HF_ID} (online)",
    license="Apache-2.0 (HF dataset card)",
    hf_id=HF_ID,
)
def load_vlsbench(
    root: str | Path | None = None,
    *,
    hf: bool = False,
    on_error: OnError = "keep",
    check_images: bool = True,
) -> Dataset:
    """Load VLSBench from a local root, the embedded copy (``root=None``), or the HF hub."""
    if hf:
        return _load_hf(on_error=on_error)
    if root is None:
        path, base, images = embedded_data_json(), None, False
    else:
        base = Path(root)
        path = base / "data.json" if base.is_dir() else base
        if not path.is_file():
            raise DataError(f"VLSBench: {path} not found; expected ROOT/data.json (+ ROOT/imgs/)")
        base = path.parent
        images = (base / "imgs").is_dir()
    rows = read_rows(path)
    if rows and "instruction" not in rows[0]:
        raise DataError(
            f"VLSBench: {path} has no 'instruction' field; is this VLSBench's data.json?"
        )
    cols = COLUMNS if images else ColumnMap({**COLUMNS.columns, "image": None})
    if not images:
        # keep the image path as metadata even though the pixels are not here
        rows = [dict(r) for r in rows]
    ds = build_dataset(
        rows, cols, name="vlsbench", root=base, confine_images=True, origin=rows,
        origin_kind="records",
        check_images=check_images, on_error=on_error,
        info={"loader": "vlsbench", "path": str(path), "images": images,
              "embedded": root is None},
    )
    return ds


def _load_hf(on_error: OnError) -> Dataset:
    try:
        from datasets import load_dataset
    except ImportError as e:
        raise DataError("loading from the hub needs `pip install datasets`") from e
    hf_ds = load_dataset(HF_ID, split="train")
    from vsil.dataset._load import load

    return load(hf_ds, id="instruction_id", on_error=on_error, name="vlsbench")
