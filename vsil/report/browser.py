"""The data of a report's sample browser: every row of a frame, as compact columnar JSON.

A `BrowserSpec` names the columns the page shows and how: ``text`` (shown as text),
``num`` (a number, sortable), ``cat`` (a small set of values, filterable; sent as codes into
a value list) and ``image`` (a ``data:image/jpeg`` thumbnail). `build_browser` turns a frame
and a spec into a `Browser`: the JSON for the page's data block, escaped by
`vsil.report.inline.script_json`, and what the page says about its size.

The page embeds at most ``max_rows`` rows and about ``max_bytes`` of data; beyond that it
embeds the first rows, says so, and points to the file that holds them all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
from markupsafe import Markup

from vsil.report._common import cell
from vsil.report.inline import script_json

Kind = Literal["text", "num", "cat", "image"]
#: the page holds at most this many rows / about this many bytes of row data
MAX_ROWS = 50_000
MAX_BYTES = 50_000_000
#: one text cell is cut to this many characters (the full text is in the data files)
TEXT_LIMIT = 20_000
#: a column with more distinct values than this is shown as text, not offered as a filter
MAX_CATEGORIES = 2_000
#: decimals a number keeps in the page (sorting sees these rounded values too)
DIGITS = 4
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Column:
    """One column of the browser.

    Attributes:
        key: the frame's column.
        label: its heading.
        kind: ``text``, ``num``, ``cat`` or ``image``.
        table: shown in the list (every column is shown in a sample's detail).
        clip: characters of a text cell shown in the list (0: all).
        hot: values of a ``cat`` column drawn as alarming (``unsafe``, ``leaky``).
        digits: decimals of a ``num`` column (the page keeps 4 at most; the list shows 3).
    """

    key: str
    label: str
    kind: Kind = "text"
    table: bool = False
    clip: int = 0
    hot: tuple[str, ...] = ()
    digits: int = 4


#: the columns every sample browser starts with (after an image thumbnail, if any)
SAMPLE_KEY_COLUMNS: tuple[Column, ...] = (
    Column("id", "id", table=True, clip=40),
    Column("category", "category", "cat", table=True),
    Column("sub_category", "sub-category", "cat", table=True),
    Column("harm_source", "harm source", "cat", table=True),
)

@dataclass(frozen=True)
class BrowserSpec:
    """What the browser shows of a frame.

    Attributes:
        columns: in detail order; those with ``table`` make the list.
        filters: ``cat`` columns offered as filters, in this order.
        sorts: ``num`` columns the rows can be sorted by.
        search: columns full-text search looks in.
        default_sort: the sort the page opens with (descending); None for frame order.
        noun: what a row is ("samples", "answers").
        all_rows: the file holding every row, named when the page cannot hold them all.
    """

    columns: tuple[Column, ...]
    filters: tuple[str, ...] = ()
    sorts: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    default_sort: str | None = None
    noun: str = "samples"
    all_rows: str = "samples.parquet"

    def column(self, key: str) -> Column:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(key)


@dataclass(frozen=True)
class Browser:
    """A browser ready for a page: its JSON block and what the page says about it."""

    json: Markup
    n_total: int
    n_rows: int
    data_bytes: int
    image_bytes: int
    n_images: int
    max_rows: int
    max_bytes: int
    all_rows: str
    noun: str
    notes: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.n_rows < self.n_total


def build_browser(frame: pd.DataFrame, spec: BrowserSpec, *,
                  images: Sequence[str | None] | None = None, max_rows: int = MAX_ROWS,
                  max_bytes: int = MAX_BYTES, notes: Sequence[str] = ()) -> Browser:
    """The browser over ``frame``'s rows (the first ones when they exceed the caps).

    Args:
        frame: one row per sample, holding every column of ``spec`` (missing ones are
            left out of the page).
        spec: what to show.
        images: a thumbnail ``data:`` URL (or None) per row of ``frame``; their column is
            the spec's ``image`` column.
        max_rows, max_bytes: the caps; rows beyond them are left out and the page says so.
        notes: extra lines the page shows above the browser (e.g. about thumbnails).
    """
    cols = [c for c in spec.columns
            if c.key in frame.columns or (c.kind == "image" and images is not None)]
    n_total = len(frame)
    data: dict[str, list[Any]] = {}
    values: dict[str, list[str]] = {}
    sizes = pd.Series(0, index=range(n_total), dtype="int64")
    kinds: dict[str, Kind] = {}
    for c in cols:
        kind = c.kind
        if kind == "image":
            urls = list(images or [])[:n_total]
            urls += [None] * (n_total - len(urls))
            data[c.key] = [u if isinstance(u, str) and u.startswith("data:image/") else None
                           for u in urls]
            sizes += pd.Series([len(u) + 4 if u else 5 for u in data[c.key]], dtype="int64")
        elif kind == "num":
            data[c.key] = [_number(v) for v in frame[c.key].tolist()]
            sizes += 8
        else:
            texts = [_text(v) for v in frame[c.key].tolist()]
            distinct = dict.fromkeys(texts)
            if kind == "cat" and len(distinct) <= MAX_CATEGORIES:
                values[c.key] = sorted(distinct, key=_cat_order)
                code = {v: i for i, v in enumerate(values[c.key])}
                data[c.key] = [code[t] for t in texts]
                sizes += 4
            else:
                kind = "text"
                data[c.key] = texts
                sizes += pd.Series([len(t) + 4 for t in texts], dtype="int64")
        kinds[c.key] = kind
    n_rows = _rows_that_fit(sizes, max_rows, max_bytes)
    for k in data:
        data[k] = data[k][:n_rows]
    keys = set(kinds)
    payload = {
        "v": FORMAT_VERSION,
        "noun": spec.noun,
        "n_total": n_total,
        "columns": [{"key": c.key, "label": c.label, "kind": kinds[c.key], "table": c.table,
                     "clip": c.clip, "hot": list(c.hot), "digits": min(c.digits, DIGITS)}
                    for c in cols],
        "values": values,
        "data": data,
        "filters": [k for k in spec.filters if k in values],
        "sorts": [k for k in spec.sorts if kinds.get(k) == "num"],
        "search": [k for k in spec.search if kinds.get(k) in ("text", "cat")],
        "default_sort": spec.default_sort if spec.default_sort in keys else None,
    }
    json = script_json(payload)
    image_keys = [k for k, kind in kinds.items() if kind == "image"]
    image_bytes = sum(len(u) for k in image_keys for u in data[k] if u)
    n_images = sum(1 for k in image_keys for u in data[k] if u)
    return Browser(json=json, n_total=n_total, n_rows=n_rows,
                   data_bytes=len(json.encode("utf-8")), image_bytes=image_bytes,
                   n_images=n_images, max_rows=max_rows, max_bytes=max_bytes,
                   all_rows=spec.all_rows, noun=spec.noun, notes=list(notes))


def _rows_that_fit(sizes: pd.Series, max_rows: int, max_bytes: int) -> int:
    """How many leading rows stay within both caps (at least one when there are rows)."""
    n = min(len(sizes), max(0, max_rows))
    if n == 0:
        return 0
    cum = sizes.iloc[:n].cumsum()
    fit = int((cum <= max_bytes).sum())
    return max(1, min(n, fit))


def _text(v: Any) -> str:
    s = cell(v)
    if len(s) > TEXT_LIMIT:
        s = s[:TEXT_LIMIT] + f"…[cut: {len(s)} characters]"
    return s


def _number(v: Any) -> float | None:
    if v is None or v is pd.NA or isinstance(v, bool | str):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return round(f, DIGITS)


def _cat_order(v: str) -> tuple[int, str]:
    # real values first, in order; the empty value (missing) last
    return (1, "") if v == "" else (0, v.lower())


def size_text(n_bytes: int) -> str:
    """``1234567`` -> ``"1.2 MB"``; kB below one megabyte."""
    if n_bytes >= 1_000_000:
        return f"{n_bytes / 1_000_000:.1f} MB"
    return f"{max(1, round(n_bytes / 1000))} kB"
