"""Small JPEG thumbnails of a result's images, as ``data:`` URLs for the sample browser.

Images are read through `vsil.dataset.ImageRef`, so a thumbnail never follows a path outside
the dataset root. Each thumbnail fits a ``side`` × ``side`` square and at most ``max_bytes``
of JPEG; all of a page's thumbnails together stay within ``budget`` bytes (the rows after
that get none, and the page says so). An image that cannot be read simply has no thumbnail.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from vsil.dataset import ImageError, ImageRef

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from vsil.audit.result import AuditResult

SIDE = 128
QUALITY = 60
#: JPEG bytes of one thumbnail (a larger one is re-encoded smaller, then dropped)
MAX_BYTES = 12_000
#: bytes of all the data URLs of one page
BUDGET = 30_000_000
PREFIX = "data:image/jpeg;base64,"
_CHUNK = 256


@dataclass
class Thumbnails:
    """One URL (or None) per row, and what happened on the way."""

    urls: list[str | None]
    n_made: int = 0
    n_unreadable: int = 0
    n_over_budget: int = 0
    n_bytes: int = 0
    notes: list[str] = field(default_factory=list)


def thumbnail_url(im: PILImage, side: int = SIDE, quality: int = QUALITY,
                  max_bytes: int = MAX_BYTES) -> str | None:
    """A JPEG ``data:`` URL of ``im`` fitting ``side`` × ``side`` and ``max_bytes``, or None."""
    im = im.convert("RGB")
    im.thumbnail((side, side))
    for q, s in ((quality, side), (max(30, quality - 25), side), (40, max(48, side // 2))):
        if max(im.size) > s:
            im.thumbnail((s, s))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=q, optimize=True)
        if buf.tell() <= max_bytes:
            return PREFIX + base64.b64encode(buf.getvalue()).decode("ascii")
    return None


def image_refs(result: AuditResult, image_root: str | os.PathLike[str] | None = None
               ) -> list[ImageRef | None]:
    """The image of each row of ``result.samples``: from the audited dataset when the result
    still holds it, else the ``image`` column resolved under ``image_root`` (none without
    one)."""
    samples = result.samples
    n = len(samples)
    ds = result.dataset
    ids = [str(v) for v in samples["id"]] if "id" in samples else []
    if ds is not None and len(ds) == n and ids == [str(s.id) for s in ds]:
        return [s.image for s in ds]
    if image_root is None or "image" not in samples:
        return [None] * n
    root = Path(image_root)
    refs: list[ImageRef | None] = []
    for label in samples["image"].tolist():
        if label is None or label is pd.NA or not isinstance(label, str) or not label:
            refs.append(None)
            continue
        try:
            refs.append(ImageRef.from_path(root, label))
        except ImageError:
            refs.append(None)
    return refs


def _one(ref: ImageRef | None, side: int) -> str | None:
    if ref is None:
        return None
    try:
        return thumbnail_url(ref.open(max_side=2 * side), side)
    except (ImageError, OSError, ValueError):
        return None


def make_thumbnails(refs: Sequence[ImageRef | None], *, side: int = SIDE,
                    budget: int = BUDGET, workers: int | None = None) -> Thumbnails:
    """Thumbnails of ``refs`` in row order until ``budget`` bytes are spent."""
    out = Thumbnails(urls=[None] * len(refs))
    todo = [i for i, r in enumerate(refs) if r is not None]
    if not todo:
        return out
    workers = workers or min(8, os.cpu_count() or 1)
    spent = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(todo), _CHUNK):
            chunk = todo[start:start + _CHUNK]
            if spent >= budget:
                out.n_over_budget += len(chunk)
                continue
            for i, url in zip(chunk, pool.map(lambda i: _one(refs[i], side), chunk),
                              strict=True):
                if url is None:
                    out.n_unreadable += 1
                elif spent + len(url) > budget:
                    out.n_over_budget += 1
                    spent = budget
                else:
                    out.urls[i] = url
                    spent += len(url)
                    out.n_made += 1
    out.n_bytes = sum(len(u) for u in out.urls if u)
    if out.n_over_budget:
        out.notes.append(f"{out.n_over_budget} images have no thumbnail: the page's "
                         f"thumbnails stop at {budget // 1_000_000} MB.")
    if out.n_unreadable:
        out.notes.append(f"{out.n_unreadable} images could not be read and have no "
                         "thumbnail.")
    return out


def result_thumbnails(result: AuditResult, image_root: str | os.PathLike[str] | None = None,
                      **kwargs: Any) -> Thumbnails:
    """`make_thumbnails` of `image_refs`."""
    return make_thumbnails(image_refs(result, image_root), **kwargs)
