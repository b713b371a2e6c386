"""The three detector protocols (judges, overlap scorers, describers) and their records.

Every detector works on batches and is pure with respect to its inputs: the audit runtime
caches each output under ``(detector.fingerprint, hash of the inputs the detector uses)``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from vsil.dataset import ImageRef
from vsil.runtime.failures import FailureKind, check_kind

Field = Literal["text", "image", "image_text"]


@dataclass(frozen=True)
class JudgeInput:
    """What a judge is asked about: a text, optionally with an image and/or its text.

    ``image`` and ``image_text`` are both None for a text-only call J(T). A judge that cannot
    see pixels uses ``image_text`` as its view of the image.

    ``image_alone`` asks J(I) of a judge that declares ``judges_image_text_alone``: the image,
    seen through ``image_text``, judged on its own (``text`` is empty). It is never implied by
    an empty ``text``: a pair whose query is empty stays a failed pair, not an image verdict.
    """

    text: str
    image: ImageRef | None = None
    image_text: str | None = None
    image_alone: bool = False

    @property
    def has_image(self) -> bool:
        return self.image is not None or self.image_text is not None


@dataclass(frozen=True)
class Verdict:
    """A judge's answer for one input.

    ``unsafe`` is None exactly when the call failed (``error`` says why) or the judge refused
    (``refused`` is True). Failures are never turned into safe or unsafe. ``failure`` is the
    failure's kind (`vsil.runtime.failures`: transient, environment, input, parse, refusal,
    borderline); whether the cache keeps a failed verdict follows from it alone.
    ``transient`` is kept for older code: it is True exactly when ``failure == "transient"``.
    """

    unsafe: bool | None
    p_unsafe: float | None = None
    categories: tuple[str, ...] = ()
    raw: str | None = None
    error: str | None = None
    refused: bool = False
    evidence: tuple[str, ...] = ()
    transient: bool = False
    failure: FailureKind | None = None

    def __post_init__(self) -> None:
        kind = check_kind(self.failure)
        if kind is None and self.refused:
            kind = "refusal"
        elif kind is None and self.transient:
            kind = "transient"
        object.__setattr__(self, "failure", kind)
        object.__setattr__(self, "transient", kind == "transient")
        if self.unsafe is not None:
            if self.error or self.refused or kind is not None:
                raise ValueError("a Verdict with a label cannot also be a failure "
                                 f"(error={self.error!r}, refused={self.refused}, "
                                 f"failure={kind!r})")
        elif not self.error and not self.refused:
            raise ValueError("a Verdict without a label needs an error or refused=True")
        if self.p_unsafe is not None and not 0.0 <= float(self.p_unsafe) <= 1.0:
            raise ValueError(f"p_unsafe must be in [0, 1], got {self.p_unsafe!r}")

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
            "failure": self.failure,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Verdict:
        unsafe = d.get("unsafe")
        error = d.get("error")
        refused = bool(d.get("refused", False))
        if unsafe is None and not error and not refused:
            error = "no verdict"
        return cls(
            unsafe=unsafe,
            p_unsafe=d.get("p_unsafe") if unsafe is not None else None,
            categories=tuple(d.get("categories") or ()),
            raw=d.get("raw"),
            error=error if unsafe is None else None,
            refused=refused if unsafe is None else False,
            evidence=tuple(d.get("evidence") or ()),
            transient=bool(d.get("transient", False)) if unsafe is None else False,
            failure=d.get("failure") if unsafe is None else None,
        )

    @property
    def probability(self) -> float | None:
        """P(unsafe): ``p_unsafe``, else 1.0 / 0.0 from the label; None for a failed or
        refused verdict, whatever it carries."""
        if self.unsafe is None:
            return None
        if self.p_unsafe is not None:
            return float(self.p_unsafe)
        return 1.0 if self.unsafe else 0.0

    def raw_object(self) -> dict[str, Any]:
        """``raw`` read as a JSON object, for judges that keep their structured reply there;
        {} for a failed verdict or a ``raw`` that is not a JSON object."""
        if self.unsafe is None or not self.raw:
            return {}
        try:
            data = json.loads(self.raw)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def problem(self, label: str) -> str | None:
        """Why there is no label (``label``: which call, e.g. ``J(T)``), or None."""
        if self.refused:
            return f"{label}: judge refused" + (f" ({self.error})" if self.error else "")
        if self.unsafe is None:
            return f"{label}: {self.error or 'no verdict'}"
        return None

    def evidence_text(self, label: str) -> str | None:
        """``J(T) unsafe p=0.93 [S1] (bomb)``: the verdict in the evidence column, or None."""
        if self.unsafe is None:
            return None
        p = f" p={self.p_unsafe:.2f}" if self.p_unsafe is not None else ""
        cats = f" [{', '.join(self.categories)}]" if self.categories else ""
        ev = f" ({', '.join(self.evidence)})" if self.evidence else ""
        return f"{label} {'unsafe' if self.unsafe else 'safe'}{p}{cats}{ev}"

    @classmethod
    def failed(cls, error: str, kind: FailureKind | None = None, raw: str | None = None,
               evidence: tuple[str, ...] = (), *, transient: bool = False) -> Verdict:
        """A failed verdict of a given kind (see `vsil.runtime.failures`).

        A failure without a kind is never cached (its cause is unknown); ``transient=True``
        is the older spelling of ``kind="transient"``.
        """
        kind = kind or ("transient" if transient else None)
        return cls(unsafe=None, error=error, raw=raw, failure=kind, evidence=evidence,
                   refused=kind == "refusal")


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
    #: the kind of failure when ``error`` is set (`vsil.runtime.failures`)
    failure: FailureKind | None = None

    def __post_init__(self) -> None:
        check_kind(self.failure)

    def evidence_text(self, name: str) -> str | None:
        """``embedding=0.42``: the score in the evidence column, or None when unscored."""
        return None if self.score is None else f"{name}={self.score:.2f}"

    def problem(self, name: str) -> str | None:
        """``overlap NAME not scored: why``, or None."""
        return f"overlap {name} not scored: {self.error}" if (
            self.error and self.score is None) else None

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "concepts": list(self.concepts), "error": self.error,
                "extra": self.extra, "failure": self.failure}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Overlap:
        return cls(
            score=d.get("score"), concepts=tuple(d.get("concepts") or ()), error=d.get("error"),
            extra=dict(d.get("extra") or {}), failure=d.get("failure"),
        )


@dataclass(frozen=True)
class Description:
    """Text a describer produced for an image (OCR or a caption)."""

    text: str | None
    source: str
    confidence: float | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the kind of failure when ``error`` is set (`vsil.runtime.failures`)
    failure: FailureKind | None = None

    def __post_init__(self) -> None:
        check_kind(self.failure)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "source": self.source,
            "confidence": self.confidence,
            "error": self.error,
            "extra": self.extra,
            "failure": self.failure,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Description:
        return cls(
            text=d.get("text"),
            source=str(d.get("source", "")),
            confidence=d.get("confidence"),
            error=d.get("error"),
            extra=dict(d.get("extra") or {}),
            failure=d.get("failure"),
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
    """A safety judge. Optional capability (read with ``getattr``, default False):
    ``judges_image_text_alone``, the judge has its own head for an image seen through its text
    alone (`JudgeInput.image_alone`), which J(I) then uses instead of judging the image text
    as if it were a query."""

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
