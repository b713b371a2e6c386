"""`Dataset`: validated samples plus a handle on the object they came from."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from vsil.dataset._columns import ColumnMap
from vsil.dataset._errors import DataError, RowError
from vsil.dataset._images import ImageError, ImageRef, resolve_inside, resolve_path
from vsil.dataset._sample import Sample

OnError = Literal["raise", "skip", "keep"]
OriginKind = Literal["list", "dataframe", "hf", "records", "dataset"]


@dataclass
class Dataset:
    """Samples that passed validation, in input order.

    Attributes:
        samples: the validated samples.
        name: a short name for reports (file name, loader name, or "data").
        origin: the object the user passed in (list, DataFrame, HF Dataset), or None.
        origin_kind: what ``filter`` returns: the same kind as ``origin``.
        positions: for each sample, its row index in ``origin``.
        skipped: rows left out under ``on_error="skip"``, with their reasons.
        root: the dataset root images are confined to, if any.
        info: provenance of the load (path, loader, variant, column map).
    """

    samples: list[Sample]
    name: str = "data"
    origin: Any = None
    origin_kind: OriginKind = "dataset"
    positions: list[int] = field(default_factory=list)
    skipped: list[RowError] = field(default_factory=list)
    root: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.positions:
            self.positions = list(range(len(self.samples)))

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]

    def __repr__(self) -> str:
        extra = f", skipped={len(self.skipped)}" if self.skipped else ""
        return f"Dataset(name={self.name!r}, n={len(self)}{extra})"

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]

    @property
    def content_hash(self) -> str:
        """sha256 over every sample's fields (images by reference label)."""
        h = hashlib.sha256()
        for s in self.samples:
            row = [s.id, s.text, str(s.image) if s.image else None, s.image_text,
                   s.category, s.sub_category]
            h.update(json.dumps(row, ensure_ascii=False).encode())
            h.update(b"\n")
        return h.hexdigest()

    def to_frame(self) -> pd.DataFrame:
        """One row per sample with vsil's fields (images as their reference label)."""
        frame: pd.DataFrame = pd.DataFrame(
            {
                "id": [s.id for s in self.samples],
                "text": [s.text for s in self.samples],
                "image": [str(s.image) if s.image else None for s in self.samples],
                "image_text": [s.image_text for s in self.samples],
                "category": [s.category for s in self.samples],
                "sub_category": [s.sub_category for s in self.samples],
                "source": [s.source for s in self.samples],
            }
        )
        return frame

    def _positions(self, keep: Sequence[bool], include_skipped: bool) -> list[int]:
        if len(keep) != len(self.samples):
            raise ValueError(f"mask has {len(keep)} entries for {len(self.samples)} samples")
        rows = [p for p, k in zip(self.positions, keep, strict=True) if k]
        if include_skipped and self.skipped:
            if self.origin_kind == "dataset" or self.origin is None:
                raise ValueError(
                    f"{len(self.skipped)} rows of {self.name!r} were skipped at load and this "
                    "dataset does not hold them; load it with on_error='keep' instead")
            rows = sorted({*rows, *(e.position for e in self.skipped
                                    if e.position is not None)})
        return rows

    def rows(self, keep: Sequence[bool] | None = None, *, include_skipped: bool = False
             ) -> list[dict[str, Any]]:
        """The input rows (original columns where vsil has them) of the samples where
        ``keep`` is True (all by default), in input order; with ``include_skipped``, also the
        rows skipped at load."""
        if keep is None:
            keep = [True] * len(self.samples)
        pos = self._positions(keep, include_skipped)
        if self.origin_kind in ("list", "records", "hf"):
            return [dict(self.origin[p]) for p in pos]
        if self.origin_kind == "dataframe":
            return self.origin.iloc[pos].to_dict(orient="records")  # type: ignore[no-any-return]
        records: list[dict[str, Any]] = self.to_frame().to_dict(  # type: ignore[assignment]
            orient="records")
        return [r for r, k in zip(records, keep, strict=True) if k]

    def select(self, keep: Sequence[bool], *, include_skipped: bool = False) -> Any:
        """The input's own kind of object, restricted to samples where ``keep`` is True.

        Rows skipped at load are left out unless ``include_skipped`` (they were not audited).
        """
        rows = self._positions(keep, include_skipped)
        if self.origin_kind == "list":
            return [self.origin[p] for p in rows]
        if self.origin_kind == "dataframe":
            return self.origin.iloc[rows]
        if self.origin_kind == "hf":
            return self.origin.select(rows)
        if self.origin_kind == "records":
            by_pos = dict(zip(self.positions, self.samples, strict=True))
            kept = [by_pos[p] for p in rows if p in by_pos]
            origin = [self.origin[p] for p in rows]
            return Dataset(samples=kept, origin=origin, origin_kind="records",
                           positions=[i for i, p in enumerate(rows) if p in by_pos],
                           name=self.name, root=self.root, info=dict(self.info))
        return Dataset(
            samples=[s for s, k in zip(self.samples, keep, strict=True) if k],
            origin=None, origin_kind="dataset", name=self.name, root=self.root,
            info=dict(self.info),
        )


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _as_str(v: Any) -> str | None:
    return None if _is_missing(v) else str(v)


def _image_ref(v: Any, root: Path | None, confine: bool) -> ImageRef | None:
    if _is_missing(v):
        return None
    if isinstance(v, ImageRef):
        return v
    if isinstance(v, bytes | bytearray):
        return ImageRef(data=bytes(v), label="<bytes>")
    if isinstance(v, Mapping):
        if v.get("bytes"):
            return ImageRef(data=bytes(v["bytes"]), label=str(v.get("path") or "<bytes>"))
        if v.get("path"):
            return _image_ref(v["path"], root, confine)
        return None
    if hasattr(v, "convert") and hasattr(v, "size"):  # a PIL image
        return ImageRef(pil=v, label=str(getattr(v, "filename", "") or "<PIL image>"))
    if isinstance(v, str | Path):
        base = root if root is not None else Path.cwd()
        if confine:
            return ImageRef.from_path(base, str(v))
        return ImageRef(path=resolve_path(base, v), label=str(v))
    raise ImageError(f"unsupported image value of type {type(v).__name__}")


def build_dataset(
    rows: Iterable[Mapping[str, Any]],
    columns: ColumnMap,
    *,
    name: str,
    origin: Any = None,
    origin_kind: OriginKind = "dataset",
    root: Path | None = None,
    confine_images: bool = True,
    check_images: bool = True,
    on_error: OnError = "raise",
    info: dict[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    row_errors: Mapping[int, str] | None = None,
) -> Dataset:
    """Validate rows into samples; collect every bad row; apply ``on_error``.

    ``row_errors`` maps row positions to a reason found while reading the file (e.g. a JSONL
    line that is not JSON); such a row is a bad row with that reason.
    """
    if on_error not in ("raise", "skip", "keep"):
        raise ValueError(f"on_error must be 'raise', 'skip' or 'keep', not {on_error!r}")
    if root is not None:
        root = root.resolve()
    samples: list[Sample] = []
    positions: list[int] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    used = columns.used
    defaults = dict(defaults or {})
    row_errors = dict(row_errors or {})
    for pos, row in enumerate(rows):
        id_col = columns.get("id")
        raw_id = row.get(id_col) if id_col else None
        sid = _as_str(raw_id) or str(pos)
        if pos in row_errors:
            errors.append(RowError(id=sid, reason=row_errors[pos], position=pos))
            if on_error == "keep":
                samples.append(Sample(id=sid if sid not in seen else f"{sid}#row{pos}",
                                      text="", load_error=row_errors[pos]))
                positions.append(pos)
            continue
        problems: list[str] = []
        text_v = row.get(columns.get("text") or "")
        text = "" if _is_missing(text_v) else str(text_v)
        if not text:
            problems.append(f"missing text (column {columns.get('text')!r})")
        if sid in seen:
            problems.append(f"duplicate id {sid!r} (first at row {seen[sid]})")
        else:
            seen[sid] = pos
        image: ImageRef | None = None
        img_col = columns.get("image")
        if img_col is not None:
            try:
                image = _image_ref(row.get(img_col), root, confine_images)
                if image is not None and check_images:
                    image.check()
            except ImageError as e:
                problems.append(str(e))
                image = None
            except Exception as e:  # any other odd value is this row's problem, not the load's
                problems.append(f"image: {type(e).__name__}: {e}"[:300])
                image = None
        meta = {k: v for k, v in row.items() if k not in used}
        try:
            sample = Sample(
                id=sid,
                text=text,
                image=image,
                image_text=_as_str(row.get(columns.get("image_text") or "")),
                category=_as_str(row.get(columns.get("category") or ""))
                or defaults.get("category"),
                sub_category=_as_str(row.get(columns.get("sub_category") or "")),
                source=_as_str(row.get(columns.get("source") or "")) or defaults.get("source"),
                meta=meta,
                load_error="; ".join(problems) if problems else None,
            )
        except Exception as e:  # pydantic validation of odd values
            problems.append(f"invalid row: {e}")
            sample = None
        if problems:
            errors.append(RowError(id=sid, reason="; ".join(problems), position=pos))
            if on_error != "keep" or sample is None:
                continue
        assert sample is not None
        samples.append(sample)
        positions.append(pos)
    if not samples and not errors:
        raise DataError(f"dataset {name!r} is empty")
    if errors and on_error == "raise":
        raise DataError(f"bad input in {name!r}", errors)
    if not samples:
        raise DataError(f"every row of {name!r} is bad", errors)
    return Dataset(
        samples=samples,
        name=name,
        origin=origin,
        origin_kind=origin_kind,
        positions=positions,
        skipped=errors if on_error == "skip" else [],
        root=root,
        info={**(info or {}), "columns": columns.columns,
              "load_errors": len(errors), "on_error": on_error},
    )


def check_inside(root: Path, rel: str) -> Path:
    """Public helper for loaders: resolve a path under the root or raise ImageError."""
    return resolve_inside(root, rel)
