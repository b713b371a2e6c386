"""Shared steps of the benchmark loaders: find the published files, check their columns,
fetch a hub snapshot, and turn mapped records into a validated `Dataset`.

Every loader maps its source rows onto *records*: dicts with vsil's field names (``id``,
``text``, ``image``, ``image_text``, ``category``, ``sub_category``, ``source``) plus every
other source field, which ends up in ``Sample.meta``. ``image`` is a path relative to the
dataset root the images are confined to.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vsil.dataset._columns import ColumnMap
from vsil.dataset._dataset import Dataset, OnError, build_dataset
from vsil.dataset._errors import DataError
from vsil.dataset._images import ImageError, resolve_inside

FIELDS = ("id", "text", "image", "image_text", "category", "sub_category", "source")


def hub_snapshot(name: str, hf_id: str, allow_patterns: Sequence[str] | None = None) -> Path:
    """A local snapshot of the hub dataset ``hf_id`` (from the HF cache when offline).

    Raises DataError naming the hub id and suggesting ``root=`` when it cannot be had.
    """
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:  # pragma: no cover - huggingface_hub comes with datasets
        raise DataError(
            f"{name}: loading {hf_id} from the Hugging Face hub needs `pip install datasets`; "
            "or download the data and pass root=DIR"
        ) from e
    try:
        path = snapshot_download(hf_id, repo_type="dataset",
                                 allow_patterns=list(allow_patterns) if allow_patterns else None)
    except Exception as e:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        why = "offline (HF_HUB_OFFLINE is set) and not in the local HF cache" if offline \
            else f"{type(e).__name__}: {e}"
        raise DataError(
            f"{name}: cannot load the Hugging Face dataset {hf_id!r}: {why}. Download it "
            f"(it may be gated: accept its terms and log in) and pass root=DIR instead"
        ) from e
    return Path(path)


def resolve_root(name: str, root: str | os.PathLike[str] | None, hf: bool, hf_id: str | None,
                 allow_patterns: Sequence[str] | None, expected: str) -> tuple[Path, bool]:
    """(local root, came from the hub). ``root=None`` means the hub when there is an id."""
    if root is not None and not hf:
        base = Path(root)
        if not base.exists():
            raise DataError(f"{name}: root {str(base)!r} does not exist; expected {expected}")
        return base, False
    if hf_id is None:
        raise DataError(f"{name}: this benchmark is not on the Hugging Face hub; download it and "
                        f"pass root=DIR ({expected})")
    return hub_snapshot(name, hf_id, allow_patterns), True


def locate(name: str, root: Path, candidates: Sequence[str], expected: str) -> Path:
    """The first of ``candidates`` (paths relative to root) that is a file."""
    for rel in candidates:
        p = root / rel
        if p.is_file():
            return p
    raise DataError(f"{name}: {candidates[0]} not found under {str(root)!r}; expected {expected}")


def require_fields(name: str, path: Path, rows: Sequence[Mapping[str, Any]],
                   needed: Iterable[str], expected: Sequence[str]) -> None:
    """DataError when the file's rows lack a needed column/key (checked on every row's keys)."""
    if not rows:
        raise DataError(f"{name}: {path.name} has no rows ({path})")
    present: set[str] = set()
    for r in rows:
        present.update(str(k) for k in r)
    for col in needed:
        if col not in present:
            raise DataError(
                f"{name}: {path.name} lacks column {col!r}; expected columns {list(expected)} "
                f"(found {sorted(present)}) in {path}"
            )


def unique_ids(ids: Sequence[str]) -> tuple[list[str], int]:
    """Ids made unique: a repeated id gets ``#k`` for its k-th repeat. Returns (ids, n changed)."""
    seen: dict[str, int] = {}
    out: list[str] = []
    changed = 0
    for i in ids:
        k = seen.get(i, 0)
        seen[i] = k + 1
        if k:
            changed += 1
            out.append(f"{i}#{k}")
        else:
            out.append(i)
    return out, changed


def any_image_present(base: Path, paths: Iterable[str | None]) -> bool:
    """Whether at least one referenced image exists under ``base`` (paths outside it ignored)."""
    for rel in paths:
        if not rel:
            continue
        try:
            if resolve_inside(base, rel).is_file():
                return True
        except ImageError:
            continue
    return False


def finish(records: list[dict[str, Any]], *, name: str, image_root: Path | None,
           images: bool, on_error: OnError, check_images: bool,
           info: dict[str, Any]) -> Dataset:
    """Build the Dataset from mapped records.

    With ``images=False`` (no image file of the benchmark is present) the samples carry no
    image; each record's image path stays in ``meta['image_path']`` and ``info`` says so.
    """
    if not images:
        for r in records:
            rel = r.pop("image", None)
            if rel is not None:
                r.setdefault("image_path", rel)
        if image_root is not None:
            info.setdefault(
                "images_note",
                f"no image file found under {str(image_root)!r}; loaded without images",
            )
    cols = ColumnMap({f: (f if (f != "image" or images) else None) for f in FIELDS})
    return build_dataset(
        records, cols, name=name, root=image_root, confine_images=True,
        check_images=check_images, on_error=on_error,
        info={**info, "images": images},
    )


def check_choice(name: str, what: str, value: str | None, choices: Sequence[str],
                 default: str | None) -> str | None:
    """``value`` or the default; DataError on an unknown choice."""
    if value is None:
        return default
    if value not in choices:
        raise DataError(f"{name}: unknown {what} {value!r}; choose one of {list(choices)}")
    return value
