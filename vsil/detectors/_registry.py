"""Detectors registered by name; `vsil detectors` lists them.

A spec string selects a detector and its model: ``"embedded"``, ``"openai:gpt-4o"``,
``"llamaguard3-vision"``, ``"llamaguard3:/path/to/model"``. The part after the first ``:`` is
passed to the factory as ``model=``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

from vsil.detectors._base import Describer, Detector, Judge, OverlapScorer

Kind = Literal["judge", "overlap", "describer"]

#: the protocol a detector of each kind satisfies, and what it must have to satisfy it
PROTOCOLS: dict[Kind, tuple[type, str]] = {
    "judge": (Judge, "name, kind, uses_image_pixels, fingerprint, info() and judge(inputs)"),
    "overlap": (OverlapScorer, "name, kind, fingerprint, info() and score(inputs)"),
    "describer": (Describer, "name, kind, fingerprint, info() and describe(images)"),
}


@dataclass(frozen=True)
class DetectorInfo:
    """What `vsil detectors` shows."""

    name: str
    kind: Kind
    factory: Callable[..., Any]
    needs: str
    outputs: str
    extra: str | None = None
    description: str = ""


_DETECTORS: dict[tuple[Kind, str], DetectorInfo] = {}


def register_detector(
    name: str,
    kind: Kind,
    *,
    needs: str,
    outputs: str,
    extra: str | None = None,
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a detector class or factory under ``(kind, name)``.

    A class is checked against the kind's protocol now; what a factory function returns is
    checked by `create`.
    """
    if kind not in PROTOCOLS:
        raise ValueError(f"detector kind must be one of {sorted(PROTOCOLS)}, not {kind!r}")

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        if isinstance(factory, type):
            check_detector(kind, factory, what=f"class {factory.__name__}")
        _DETECTORS[(kind, name)] = DetectorInfo(name, kind, factory, needs, outputs, extra,
                                                description)
        return factory

    return deco


def _ensure_builtin() -> None:
    import vsil.detectors.builtin  # noqa: F401  (registers the built-in detectors)


def list_detectors() -> list[DetectorInfo]:
    _ensure_builtin()
    return sorted(_DETECTORS.values(), key=lambda d: (d.kind, d.name))


def check_detector(kind: Kind, obj: Any, *, what: str | None = None) -> None:
    """Raise TypeError unless ``obj`` satisfies the protocol of ``kind``."""
    proto, members = PROTOCOLS[kind]
    if not isinstance(obj, proto):
        raise TypeError(f"{what or type(obj).__name__ + ' object'} is not a {kind}: a {kind} "
                        f"has {members} (see vsil.detectors.{proto.__name__})")


@overload
def create(kind: Literal["judge"], spec: str | Judge, **kwargs: Any) -> Judge: ...
@overload
def create(kind: Literal["overlap"], spec: str | OverlapScorer, **kwargs: Any
           ) -> OverlapScorer: ...
@overload
def create(kind: Literal["describer"], spec: str | Describer, **kwargs: Any) -> Describer: ...
@overload
def create(kind: Kind, spec: str | Detector, **kwargs: Any) -> Detector: ...


def create(kind: Kind, spec: str | Detector, **kwargs: Any) -> Detector:
    """A detector instance from a spec string, or ``spec`` itself when it is already one.

    Either way the result is checked against the kind's protocol (TypeError otherwise).
    """
    if not isinstance(spec, str):
        check_detector(kind, spec)
        return spec
    _ensure_builtin()
    name, _, model = spec.partition(":")
    info = _DETECTORS.get((kind, name))
    if info is None:
        known = sorted(n for (k, n) in _DETECTORS if k == kind)
        raise ValueError(f"unknown {kind} {spec!r}; known: {known} (see `vsil detectors`)")
    if model:
        kwargs["model"] = model
    try:
        made: Detector = info.factory(**kwargs)
    except ImportError as e:
        hint = f" (pip install 'vsil[{info.extra}]')" if info.extra else ""
        raise ImportError(f"{kind} {name!r} needs an optional dependency{hint}: {e}") from e
    check_detector(kind, made, what=f"the factory of {kind} {name!r} returned a "
                   f"{type(made).__name__}, which")
    return made
