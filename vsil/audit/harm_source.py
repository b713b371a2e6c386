"""Where the harm lives: the image-only verdict J(I) and each sample's ``harm_source``.

``harm_source`` is decided from the three verdicts, in this order (never guessed):

==========  ==================================================================================
unjudged    a verdict the decision needs is missing (J(T,I); J(T) when the pair is unsafe;
            J(I) when the pair is unsafe and the text alone is safe)
none        J(T,I) safe
text        J(T,I) unsafe and J(T) unsafe: the leak; its share is exactly R2
image       J(T,I) unsafe, J(T) safe, J(I) unsafe: the image alone carries the harm
joint       J(T,I) unsafe, J(T) safe, J(I) safe: harmful only together (the VLSBench ideal)
==========  ==================================================================================

J(I) asks an image judge about the image alone: on the pixels when it sees pixels and the
sample has an image, otherwise on the image's text (the dataset's description, OCR or a
caption): with the judge's own image head when it declares ``judges_image_text_alone`` (the
embedded judge does), else judged as a text. Each row records which (``image_verdict_source``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from vsil.audit.metrics import missing, wilson
from vsil.audit.runner import RunContext, run_judge
from vsil.dataset import ImageRef
from vsil.detectors import Judge, JudgeInput, Verdict

HARM_SOURCES = ("text", "image", "joint", "none", "unjudged")
#: why a row has no J(I) input
NO_IMAGE_VIEW = ("J(I): no image_text, and the image judge cannot see pixels (add a describer "
                 "or an image judge that sees pixels)")


def image_input(judge: Judge, image: ImageRef | None, image_text: str | None,
                image_text_source: str | None) -> tuple[JudgeInput | None, str]:
    """What J(I) asks ``judge`` for one sample, and where it looks (the row's
    ``image_verdict_source``); no input when the judge has nothing to look at."""
    if judge.uses_image_pixels and image is not None:
        return JudgeInput("", image=image), f"{judge.name}: pixels"
    if image_text and image_text.strip():
        where = f"{judge.name}: image_text ({image_text_source or '?'})"
        if getattr(judge, "judges_image_text_alone", False):
            return JudgeInput("", image_text=image_text, image_alone=True), where
        return JudgeInput(image_text), where
    return None, ""


def judge_images(judge: Judge, images: Sequence[ImageRef | None],
                 image_texts: Sequence[str | None], sources: Sequence[str | None],
                 ctx: RunContext) -> tuple[list[Verdict | None], list[str]]:
    """J(I) for each row through the cache (None where there is nothing to look at), and
    where each looked."""
    asks = [image_input(judge, im, it, src)
            for im, it, src in zip(images, image_texts, sources, strict=True)]
    todo = [k for k, (x, _) in enumerate(asks) if x is not None]
    got = run_judge(judge, [x for x, _ in asks if x is not None], ctx, "J(I)")
    verdicts: list[Verdict | None] = [None] * len(asks)
    for k, v in zip(todo, got, strict=True):
        verdicts[k] = v
    return verdicts, [where for _, where in asks]


def harm_source(pair_unsafe: Any, text_unsafe: Any, image_unsafe: Any) -> str:
    """One sample's class (table above); a missing verdict is None, NA or NaN."""
    pair, text, image = (_bool(v) for v in (pair_unsafe, text_unsafe, image_unsafe))
    if pair is None:
        return "unjudged"
    if not pair:
        return "none"
    if text is None:
        return "unjudged"
    if text:
        return "text"
    if image is None:
        return "unjudged"
    return "image" if image else "joint"


def _bool(v: Any) -> bool | None:
    return None if missing(v) else bool(v)


def harm_shares(classes: Sequence[str] | pd.Series) -> dict[str, dict[str, float]]:
    """Count, share of all rows and Wilson 95% interval per class (every class listed)."""
    values = list(classes)
    n = len(values)
    out: dict[str, dict[str, float]] = {}
    for c in HARM_SOURCES:
        k = sum(1 for v in values if v == c)
        lo, hi = wilson(k, n)
        out[c] = {"n": k, "share": k / n if n else float("nan"), "lo": lo, "hi": hi}
    return out


def harm_columns(classes: Sequence[str] | pd.Series) -> dict[str, float]:
    """The per-category table's columns: ``harm_<class>`` (share) with ``_lo`` / ``_hi``."""
    out: dict[str, float] = {}
    for c, v in harm_shares(classes).items():
        out[f"harm_{c}"], out[f"harm_{c}_lo"], out[f"harm_{c}_hi"] = v["share"], v["lo"], v["hi"]
    return out
