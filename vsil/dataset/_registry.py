"""Named dataset loaders: one small module per benchmark, registered by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vsil.dataset._dataset import Dataset

LoaderFn = Callable[..., "Dataset"]


@dataclass(frozen=True)
class LoaderInfo:
    """What `vsil datasets` shows for a loader."""

    name: str
    fn: LoaderFn
    description: str
    variants: tuple[str, ...] = ()
    default_variant: str | None = None
    where: str = ""
    license: str = ""
    hf_id: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)


_LOADERS: dict[str, LoaderInfo] = {}


def register_loader(
    name: str,
    *,
    description: str,
    variants: tuple[str, ...] = (),
    default_variant: str | None = None,
    where: str = "",
    license: str = "",
    hf_id: str | None = None,
    aliases: tuple[str, ...] = (),
) -> Callable[[LoaderFn], LoaderFn]:
    """Register ``fn(root=None, variant=None, **kwargs) -> Dataset`` under ``name``."""

    def deco(fn: LoaderFn) -> LoaderFn:
        info = LoaderInfo(name, fn, description, variants, default_variant, where, license,
                          hf_id, aliases)
        for key in (name, *aliases):
            _LOADERS[key.lower()] = info
        return fn

    return deco


def _ensure_builtin() -> None:
    import vsil.dataset.loaders  # noqa: F401  (registers the built-in loaders)


def get_loader(name: str) -> LoaderInfo | None:
    _ensure_builtin()
    return _LOADERS.get(name.lower())


def list_loaders() -> list[LoaderInfo]:
    _ensure_builtin()
    seen: dict[str, LoaderInfo] = {}
    for info in _LOADERS.values():
        seen.setdefault(info.name, info)
    return sorted(seen.values(), key=lambda i: i.name)


def loader_parameters(info: LoaderInfo) -> list[str]:
    """The keyword arguments a named loader accepts."""
    sig = inspect.signature(info.fn)
    return [p.name for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def call_loader(info: LoaderInfo, **kwargs: Any) -> Dataset:
    """Run a named loader; unknown arguments are rejected by name (never ignored)."""
    accepted = loader_parameters(info)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"load({info.name!r}) got unknown argument{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)}; it accepts "
            f"{', '.join(a for a in accepted if a != 'check_images')}")
    variant = kwargs.get("variant")
    if variant is not None and info.variants and variant not in info.variants:
        from vsil.dataset._errors import DataError

        raise DataError(
            f"loader {info.name!r} has no variant {variant!r}; choose one of {list(info.variants)}"
        )
    return info.fn(**kwargs)
