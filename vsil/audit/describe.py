"""Filling ``image_text`` from the image when a dataset has none (describers: OCR, captioners).

``describe="auto"`` runs the default describers only for samples that have an image and no
``image_text``; ``describe=True`` or a list of names forces them for every sample with an image
(the description is appended to any existing image_text); ``describe=False`` turns them off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vsil.audit.runner import run_detector
from vsil.dataset import Dataset, ImageRef
from vsil.detectors import Description, create
from vsil.runtime.batched import RunStats
from vsil.runtime.cache import Cache, content_key
from vsil.runtime.failures import FailureKind

DEFAULT_DESCRIBERS: tuple[str, ...] = ("ocr",)


@dataclass
class Described:
    image_text: list[str | None]
    source: list[str | None]
    extra: list[dict[str, Any]]
    detectors: list[Any] = field(default_factory=list)
    stats: list[RunStats] = field(default_factory=list)


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


def describe_images(ds: Dataset, describe: bool | str | Sequence[Any] | None, cache: Cache,
                    *, show_progress: bool | None = None, retry_errors: bool = False
                    ) -> Described:
    """Fill ``image_text`` for the samples ``describe`` selects (see the module docstring)."""
    specs, force = _resolve(describe)
    images = [s.image if s.load_error is None else None for s in ds]
    texts = [s.image_text for s in ds]
    dets: list[tuple[Any, str | None]] = []
    if specs and any(im is not None and (force or not t) for im, t in zip(images, texts,
                                                                         strict=True)):
        dets = [_create(spec, describe) for spec in specs]
    stats: list[RunStats] = []
    texts, sources, extra = describe_rows(images, texts, dets, force, cache, stats,
                                          show_progress=show_progress,
                                          retry_errors=retry_errors)
    return Described(texts, sources, extra, detectors=[d for d, _ in dets if d is not None],
                     stats=stats)


def _create(spec: Any, describe: Any) -> tuple[Any, str | None]:
    """(describer, None), or (None, why) when a default describer's extra is missing."""
    try:
        return create("describer", spec), None
    except (ImportError, ValueError) as e:
        if describe == "auto":
            # the default describers are optional extras; without them, say so per sample
            return None, f"no describer available: {e}"
        raise


def describe_rows(images: list[ImageRef | None], texts: list[str | None],
                  dets: list[tuple[Any, str | None]], force: bool, cache: Cache,
                  stats: list[RunStats], *, show_progress: bool | None = False,
                  retry_errors: bool = False,
                  ) -> tuple[list[str | None], list[str | None], list[dict[str, Any]]]:
    """Image texts, their sources and per-row extras for one list of rows.

    ``dets`` are (describer, None) or (None, reason it is unavailable); each describer's
    outputs go through the cache, keyed by the image's sha256. Shared by the local and the
    Ray engine.
    """
    texts = list(texts)
    sources: list[str | None] = ["dataset" if t else None for t in texts]
    extra: list[dict[str, Any]] = [{} for _ in texts]
    targets = [i for i, im in enumerate(images) if im is not None and (force or not texts[i])]
    if not targets:
        return texts, sources, extra
    for det, err in dets:
        if det is None:
            for i in targets:
                if not texts[i]:
                    extra[i]["describe_error"] = err
            continue
        def fail(err: str, kind: FailureKind, det: Any = det) -> dict[str, Any]:
            return Description(text=None, source=det.name, error=err, failure=kind).to_json()

        def call(ims: list[Any], det: Any = det) -> list[dict[str, Any]]:
            return [d.to_json() for d in det.describe(ims)]

        outs = run_detector(
            f"describer:{det.fingerprint}", [images[i] for i in targets],
            lambda im: content_key(im.sha256), call, fail, cache, stats,
            desc=f"describe ({det.name})", batch_size=getattr(det, "batch_size", 16),
            show_progress=show_progress, retry_errors=retry_errors)
        for i, o in zip(targets, outs, strict=True):
            d = Description.from_json(o)
            extra[i].setdefault("descriptions", []).append(d.to_json())
            if d.text:
                if force and texts[i]:
                    texts[i] = f"{texts[i]}\n{d.text}"
                else:
                    texts[i] = texts[i] or d.text
                same = sources[i] in (None, d.source)
                sources[i] = d.source if same else f"{sources[i]}+{d.source}"
    return texts, sources, extra
