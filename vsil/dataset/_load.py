"""`vsil.load`: anything a user has -> a validated `Dataset`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from vsil.dataset._columns import map_columns
from vsil.dataset._dataset import Dataset, OnError, build_dataset
from vsil.dataset._errors import DataError
from vsil.dataset._files import imagefolder_metadata, read_rows_and_errors
from vsil.dataset._registry import call_loader, get_loader

_FIELD_ARGS = ("id", "text", "image", "image_text", "category", "sub_category", "source")


def _is_hf_dataset(obj: Any) -> bool:
    return type(obj).__module__.startswith("datasets.") and hasattr(obj, "features")


def _is_ray_dataset(obj: Any) -> bool:
    return type(obj).__module__.startswith("ray.data")


def load(
    data: Any,
    *,
    text: str | None = None,
    image: str | None = None,
    image_text: str | None = None,
    id: str | None = None,
    category: str | None = None,
    sub_category: str | None = None,
    source: str | None = None,
    image_root: str | os.PathLike[str] | None = None,
    on_error: OnError | None = None,
    check_images: bool = True,
    name: str | None = None,
    confine_images: bool = True,
    **loader_kwargs: Any,
) -> Dataset:
    """Load a dataset from anything vsil understands.

    Args:
        data: a list of dicts; a pandas DataFrame; a Hugging Face ``datasets.Dataset``
            (an ``Image`` feature included); a JSON, JSONL, CSV or Parquet file; an HF
            imagefolder directory (``metadata.jsonl`` beside the images); the name of a
            registered loader such as ``"vlsbench"`` (see ``vsil datasets``); or a Dataset.
        text, image, image_text, id, category, sub_category, source: explicit column names;
            they win over the common names vsil recognises.
        image_root: directory image paths are relative to, and the only place images are
            read from. Defaults to the data file's folder for files, and to the current
            working directory for in-memory data (lists, DataFrames, HF Datasets): a path
            with ``../``, an absolute path or a symlink that leads outside it is that row's
            load error, so a dataset cannot make vsil read (or send to an HTTP judge) any
            file it likes.
        confine_images: set False to follow image paths anywhere (only for data you
            trust).
        on_error: ``"raise"`` (the default, except where a named loader documents
            another) raises one DataError listing every bad row;
            ``"skip"`` leaves bad rows out and records them in ``Dataset.skipped``;
            ``"keep"`` keeps them, marked with ``Sample.load_error``, and the audit reports
            them as errors.
        check_images: open each image's header at load time to catch missing or corrupt files.
        name: a short name for reports.
        **loader_kwargs: passed to a named loader (``root=``, ``variant=``, ...).

    Raises:
        DataError: bad input; the message names every bad row or the bad file.
    """
    if isinstance(data, Dataset):
        return data
    overrides = {
        k: v
        for k, v in dict(id=id, text=text, image=image, image_text=image_text, category=category,
                         sub_category=sub_category, source=source).items()
        if v is not None
    }
    common: dict[str, Any] = dict(on_error=on_error or "raise", check_images=check_images,
                                  confine_images=confine_images)
    root = Path(image_root) if image_root is not None else None

    if isinstance(data, str) and not _exists(data) and get_loader(data) is not None:
        info = get_loader(data)
        assert info is not None
        if overrides or name is not None or not confine_images:
            given = [*(f"{k}=" for k in overrides), *(["name="] if name is not None else []),
                     *(["confine_images="] if not confine_images else [])]
            raise TypeError(f"load({data!r}): {', '.join(given)} do not apply to a named "
                            "dataset (its loader maps its own columns)")
        kw = dict(loader_kwargs)
        if image_root is not None and "root" not in kw:
            kw["root"] = image_root
        if on_error is not None:
            kw["on_error"] = on_error
        return call_loader(info, check_images=check_images, **kw)
    if loader_kwargs:
        raise TypeError(f"unexpected arguments {sorted(loader_kwargs)} for {type(data).__name__}")

    if isinstance(data, str | os.PathLike):
        path = Path(data)
        label = path.name if path.is_dir() else path.stem  # short: never the full path
        if not _exists(str(data)):
            raise DataError(f"no such file or dataset: {str(data)[:200]!r} (see `vsil datasets`)")
        if path.is_dir():
            meta = imagefolder_metadata(path)
            if meta is None:
                raise DataError(
                    f"{path} is a directory without metadata.jsonl/metadata.csv "
                    "(HF imagefolder layout) and is not a named dataset"
                )
            path, root = meta, root or path
        rows, bad_lines = read_rows_and_errors(path)
        if not rows:
            raise DataError(f"dataset {path.name!r} is empty")
        cols = map_columns(_all_keys(rows), overrides)
        return build_dataset(rows, cols, name=name or label, root=root or path.parent,
                             origin=rows, origin_kind="records", info={"path": str(path)},
                             row_errors=bad_lines, **common)

    if _is_ray_dataset(data):
        # a Ray Dataset is collected to pandas here; vsil.audit(ray_ds) streams it on Ray
        data = data.to_pandas()

    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise DataError("dataset 'data' is empty (DataFrame has no rows)")
        cols = map_columns([str(c) for c in data.columns], overrides)
        records = [{str(k): v for k, v in r.items()} for r in data.to_dict(orient="records")]
        return build_dataset(records, cols, name=name or "dataframe", root=root, origin=data,
                             origin_kind="dataframe", **common)

    if _is_hf_dataset(data):
        if len(data) == 0:
            raise DataError("dataset 'data' is empty (HF Dataset has no rows)")
        cols = map_columns(list(data.column_names), overrides)
        img_col = cols.get("image")
        view = data
        if img_col is not None and type(data.features[img_col]).__name__ == "Image":
            from datasets import Image as HFImage

            view = data.cast_column(img_col, HFImage(decode=False))
        return build_dataset(iter(view), cols, name=name or "hf_dataset", root=root,
                             origin=data, origin_kind="hf", **common)

    if isinstance(data, list):
        if not data:
            raise DataError("dataset 'data' is empty (empty list)")
        bad = [i for i, r in enumerate(data) if not isinstance(r, Mapping)]
        if bad:
            raise DataError(f"list items must be dicts; items {bad[:10]} are not")
        cols = map_columns(_all_keys(data), overrides)
        return build_dataset(data, cols, name=name or "records", root=root, origin=data,
                             origin_kind="list", **common)

    raise TypeError(
        f"cannot load {type(data).__name__}: pass a list of dicts, a DataFrame, an HF Dataset, "
        "a file path, an imagefolder directory or a dataset name"
    )


def _exists(data: str) -> bool:
    try:
        return Path(data).exists()
    except (OSError, ValueError):  # a NUL byte, a name too long: not a file
        return False


def _all_keys(rows: list[Any]) -> list[str]:
    keys: dict[str, None] = {}
    for r in rows:
        for k in r:
            keys.setdefault(str(k), None)
    return list(keys)
