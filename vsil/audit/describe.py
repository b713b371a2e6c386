"""Filling ``image_text`` from the image when a dataset has none (describers: OCR, captioners).

``describe="auto"`` runs the default describers only for samples that have an image and no
``image_text``; ``describe=True`` or a list of names forces them for every sample with an image
(the description is appended to any existing image_text); ``describe=False`` turns them off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vsil.dataset import Dataset, ImageRef
from vsil.detectors import Description, create
from vsil.runtime.batched import RunStats, run_cached
from vsil.runtime.cache import Cache, content_key

DEFAULT_DESCRIBERS: tuple[str, ...] = ("ocr",)


@dataclass
class Described:
    image_text: list[str | None]
    source: list[str | None]
    extra: list[dict[str, Any]]
    detectors: list[Any] = field(default_factory=list)
    stats: list[RunStats] = field(default_factory=list)


def _sha(image: ImageRef | None) -> str | None:
    return image.sha256 if image is not None else None


def _resolve(describe: bool | str | Sequence[Any] | None) -> tuple[list[Any], bool]:
    """(describer specs, force) from the user's ``describe`` argument."""
    if describe is None or describe is False:
        return [], False
    if describe == "auto":
        return list(DEFAULT_DESCRIBERS), False
    if describe is True:
        return list(DEFAULT_DESCRIBERS), True
    if isinstance(describe, str):
        return [describe], True
    return list(describe), True


def _cacheable(out: dict[str, Any]) -> bool:
    """Failed descriptions (unreadable image, endpoint outage) are not cached: a re-run retries."""
    return not out.get("error")


def describe_images(ds: Dataset, describe: bool | str | Sequence[Any] | None, cache: Cache,
                    *, show_progress: bool | None = None) -> Described:
    texts = [s.image_text for s in ds]
    sources: list[str | None] = ["dataset" if t else None for t in texts]
    extra: list[dict[str, Any]] = [{} for _ in texts]
    specs, force = _resolve(describe)
    out = Described(texts, sources, extra)
    targets = [i for i, s in enumerate(ds)
               if s.image is not None and s.load_error is None and (force or not s.image_text)]
    if not specs or not targets:
        return out
    for spec in specs:
        try:
            det = create("describer", spec)
        except (ImportError, ValueError) as e:
            if describe == "auto":
                # the default describers are optional extras; without them, say so per sample
                for i in targets:
                    if not texts[i]:
                        extra[i]["describe_error"] = f"no describer available: {e}"
                continue
            raise
        ns = f"describer:{det.fingerprint}"
        keys = [content_key(_sha(ds[i].image)) for i in targets]

        def compute(idx: list[int], det: Any = det) -> list[dict[str, Any]]:
            imgs = [ds[targets[j]].image for j in idx]
            return [d.to_json() for d in det.describe(imgs)]

        outs, stats = run_cached(ns, keys, compute, cache,
                                 batch_size=getattr(det, "batch_size", 16),
                                 desc=f"describe ({det.name})", show_progress=show_progress,
                                 cacheable=_cacheable)
        out.detectors.append(det)
        out.stats.append(stats)
        for i, o in zip(targets, outs, strict=False):
            d = Description.from_json(o)
            extra[i].setdefault("descriptions", []).append(d.to_json())
            if d.text:
                if force and texts[i]:
                    texts[i] = f"{texts[i]}\n{d.text}"
                else:
                    texts[i] = texts[i] or d.text
                same = sources[i] in (None, d.source)
                sources[i] = d.source if same else f"{sources[i]}+{d.source}"
    return out
