"""Which input column feeds which Sample field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vsil.dataset._errors import DataError

CANDIDATES: dict[str, tuple[str, ...]] = {
    "id": ("id", "sample_id", "instruction_id", "question_id", "uid", "pid", "idx"),
    "text": ("instruction", "query", "question", "prompt", "text"),
    "image": ("image", "image_path", "img", "file_name", "image_file", "img_path"),
    "image_text": ("image_description", "caption", "description", "image_text"),
    "category": ("category", "harmful_category", "category_name"),
    "sub_category": ("sub_category", "subcategory", "harmful_subcategory"),
    "source": ("source",),
}
FIELDS = tuple(CANDIDATES)


@dataclass(frozen=True)
class ColumnMap:
    """field name -> input column name (None when the input has no such column)."""

    columns: dict[str, str | None]

    def get(self, field: str) -> str | None:
        return self.columns.get(field)

    @property
    def used(self) -> set[str]:
        return {c for c in self.columns.values() if c is not None}


def map_columns(available: Iterable[str], overrides: Mapping[str, str | None]) -> ColumnMap:
    """Map input columns onto fields by their common names; explicit overrides win.

    Raises DataError when an override names a missing column or no text column exists.
    """
    cols = list(available)
    present = set(cols)
    lower = {c.lower(): c for c in cols}
    out: dict[str, str | None] = {}
    for field, names in CANDIDATES.items():
        if field in overrides and overrides[field] is not None:
            name = overrides[field]
            assert name is not None
            if name not in present:
                raise DataError(
                    f"column {name!r} given for {field!r} is not in the data; "
                    f"columns are {sorted(present)}"
                )
            out[field] = name
            continue
        out[field] = next((lower[n] for n in names if n in lower), None)
    if out["text"] is None:
        raise DataError(
            f"no text column: expected one of {list(CANDIDATES['text'])} or text=...; "
            f"columns are {sorted(present)}"
        )
    return ColumnMap(out)
