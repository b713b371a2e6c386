"""Filling ``image_text`` from the image when a dataset has none (describers: OCR, captioners).

``describe="auto"`` runs the default describers only for samples that have an image and no
``image_text``; ``describe=True`` or a list of names forces them for every sample with an image
(the description is appended to any existing image_text); ``describe=False`` turns them off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from vsil.audit.runner import RunContext, run_outputs
from vsil.dataset import ImageRef
from vsil.detectors import Describer, Description
from vsil.runtime.batched import RunStats
from vsil.runtime.cache import content_key

DEFAULT_DESCRIBERS: tuple[str, ...] = ("ocr",)

#: what ``describe=`` accepts
DescribeArg = bool | str | Sequence["str | Describer"] | None

#: a describer, or (None, why it is unavailable) for a default describer whose extra is missing
Usable = tuple[Describer | None, str | None]


@dataclass
class Described:
    """Every sample's image text, where it came from, and per-sample describe notes."""

    image_text: list[str | None]
    source: list[str | None]
    extra: list[dict[str, Any]]
    detectors: list[Describer] = field(default_factory=list)
    stats: list[RunStats] = field(default_factory=list)

    @classmethod
    def from_dataset(cls, texts: Sequence[str | None]) -> Described:
        """The dataset's own image texts, before any describer ran."""
        return cls(list(texts), ["dataset" if t else None for t in texts],
                   [{} for _ in texts])


def describer_specs(describe: DescribeArg) -> tuple[list[str | Describer], bool]:
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


def needs_describing(image: ImageRef | None, text: str | None, force: bool) -> bool:
    """Whether a describer runs on this row."""
    return image is not None and (force or not text)


def describer_key(image: ImageRef) -> str:
    """The cache key of one image to describe (never change it: tests/audit pin it)."""
    return content_key(image.sha256)


def run_describer(describer: Describer, images: list[ImageRef], ctx: RunContext
                  ) -> list[Description]:
    """``describer``'s descriptions of ``images``, through the cache."""
    return run_outputs(f"describer:{describer.fingerprint}", describer, images, describer_key,
                       describer.describe, partial(Description, None, describer.name),
                       Description.from_json, ctx, desc=f"describe ({describer.name})",
                       batch_size=16)


def describe_rows(images: list[ImageRef | None], texts: list[str | None],
                  describers: Sequence[Usable], force: bool, ctx: RunContext
                  ) -> tuple[list[str | None], list[str | None], list[dict[str, Any]]]:
    """Image texts, their sources and per-row extras for one list of rows.

    ``describers`` are (describer, None) or (None, reason it is unavailable); each
    describer's outputs go through the cache, keyed by the image's sha256. Shared by every
    engine.
    """
    d = Described.from_dataset(texts)
    texts, sources, extra = d.image_text, d.source, d.extra
    targets = [i for i, im in enumerate(images) if needs_describing(im, texts[i], force)]
    if not targets:
        return texts, sources, extra
    for det, err in describers:
        if det is None:
            for i in targets:
                if not texts[i]:
                    extra[i]["describe_error"] = err
            continue
        outs = run_describer(det, [im for i in targets if (im := images[i]) is not None], ctx)
        for i, desc in zip(targets, outs, strict=True):
            extra[i].setdefault("descriptions", []).append(desc.to_json())
            if desc.text:
                if force and texts[i]:
                    texts[i] = f"{texts[i]}\n{desc.text}"
                else:
                    texts[i] = texts[i] or desc.text
                same = sources[i] in (None, desc.source)
                sources[i] = desc.source if same else f"{sources[i]}+{desc.source}"
    return texts, sources, extra
