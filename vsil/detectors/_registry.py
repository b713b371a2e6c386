"""Detectors registered by name; `vsil detectors` lists them.

A spec string selects a detector and its model: ``"embedded"``, ``"openai:gpt-4o"``,
``"llamaguard3-vision"``, ``"llamaguard3:/path/to/model"``. The part after the first ``:`` is
passed to the factory as ``model=``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["judge", "overlap", "describer"]


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
    """Register a detector class or factory under ``(kind, name)``."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        _DETECTORS[(kind, name)] = DetectorInfo(name, kind, factory, needs, outputs, extra,
                                                description)
        return factory

    return deco


def _ensure_builtin() -> None:
    import vsil.detectors.builtin  # noqa: F401  (registers the built-in detectors)


def list_detectors() -> list[DetectorInfo]:
    _ensure_builtin()
    return sorted(_DETECTORS.values(), key=lambda d: (d.kind, d.name))


def create(kind: Kind, spec: Any, **kwargs: Any) -> Any:
    """A detector instance from a spec string, or ``spec`` itself when it is already one."""
    if not isinstance(spec, str):
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
        return info.factory(**kwargs)
    except ImportError as e:
        hint = f" (pip install 'vsil[{info.extra}]')" if info.extra else ""
        raise ImportError(f"{kind} {name!r} needs an optional dependency{hint}: {e}") from e
