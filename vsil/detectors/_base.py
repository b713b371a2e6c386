"""The three detector protocols (judges, overlap scorers, describers) and their records.

Every detector works on batches and is pure with respect to its inputs: the audit runtime
caches each output under ``(detector.fingerprint, hash of the inputs the detector uses)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from vsil.dataset import ImageRef

Field = Literal["text", "image", "image_text"]


@dataclass(frozen=True)
class JudgeInput:
    """What a judge is asked about: a text, optionally with an image and/or its text.

    ``image`` and ``image_text`` are both None for a text-only call J(T). A judge that cannot
    see pixels uses ``image_text`` as its view of the image.
    """

    text: str
    image: ImageRef | None = None
    image_text: str | None = None

    @property
    def has_image(self) -> bool:
        return self.image is not None or self.image_text is not None


@dataclass(frozen=True)
class Verdict:
    """A judge's answer for one input.

    ``unsafe`` is None exactly when the call failed (``error`` says why) or the judge refused
    (``refused`` is True). Failures are never turned into safe or unsafe. ``transient`` marks a
    failure that may not recur (an HTTP error, a timeout, an outage): such verdicts are not
    cached, so a re-run asks again.
    """

    unsafe: bool | None
    p_unsafe: float | None = None
    categories: tuple[str, ...] = ()
    raw: str | None = None
    error: str | None = None
    refused: bool = False
    evidence: tuple[str, ...] = ()
    transient: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "unsafe": self.unsafe,
            "p_unsafe": self.p_unsafe,
            "categories": list(self.categories),
            "raw": self.raw,
            "error": self.error,
            "refused": self.refused,
            "evidence": list(self.evidence),
            "transient": self.transient,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Verdict:
        return cls(
            unsafe=d.get("unsafe"),
            p_unsafe=d.get("p_unsafe"),
            categories=tuple(d.get("categories") or ()),
            raw=d.get("raw"),
            error=d.get("error"),
            refused=bool(d.get("refused", False)),
            evidence=tuple(d.get("evidence") or ()),
            transient=bool(d.get("transient", False)),
        )

    @classmethod
    def failed(cls, error: str, raw: str | None = None, transient: bool = False) -> Verdict:
        return cls(unsafe=None, error=error, raw=raw, transient=transient)


@dataclass(frozen=True)
class OverlapInput:
    text: str
    image: ImageRef | None = None
    image_text: str | None = None


@dataclass(frozen=True)
class Overlap:
    """How much of the image's risky content the text already states, in [0, 1]."""

    score: float | None
    concepts: tuple[str, ...] = ()
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "concepts": list(self.concepts), "error": self.error,
                "extra": self.extra}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Overlap:
        return cls(
            score=d.get("score"), concepts=tuple(d.get("concepts") or ()), error=d.get("error"),
            extra=dict(d.get("extra") or {}),
        )


@dataclass(frozen=True)
class Description:
    """Text a describer produced for an image (OCR or a caption)."""

    text: str | None
    source: str
    confidence: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "source": self.source,
            "confidence": self.confidence,
            "error": self.error,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Description:
        return cls(
            text=d.get("text"),
            source=str(d.get("source", "")),
            confidence=d.get("confidence"),
            error=d.get("error"),
            extra=dict(d.get("extra") or {}),
        )


@runtime_checkable
class Detector(Protocol):
    """Common surface of every detector.

    A detector that loads a model lazily may also define ``warmup() -> None`` to load it now;
    the Ray engine calls it in each actor's constructor (see `warm_up`), so that model loads
    happen while the pool starts rather than inside the first batch.
    """

    name: ClassVar[str]
    kind: ClassVar[Literal["judge", "overlap", "describer"]]

    @property
    def fingerprint(self) -> str:
        """Stable id of everything that changes the outputs: backend, model, prompt, params."""
        ...

    def info(self) -> dict[str, Any]:
        """Provenance: model ids, revisions, prompt hashes, parameters. No secrets."""
        ...


@runtime_checkable
class Judge(Detector, Protocol):
    uses_image_pixels: ClassVar[bool]

    def judge(self, inputs: Sequence[JudgeInput]) -> list[Verdict]:
        """One verdict per input, in order. Must not raise for a per-input failure."""
        ...


@runtime_checkable
class OverlapScorer(Detector, Protocol):
    def score(self, inputs: Sequence[OverlapInput]) -> list[Overlap]: ...


@runtime_checkable
class Describer(Detector, Protocol):
    def describe(self, images: Sequence[ImageRef]) -> list[Description]: ...


def warm_up(detector: Any) -> None:
    """Load ``detector``'s model now if it has a ``warmup()`` hook (a no-op otherwise)."""
    hook = getattr(detector, "warmup", None)
    if callable(hook):
        hook()
