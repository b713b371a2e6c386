"""A benchmark loader, declared: `LoaderSpec` says what a benchmark is (name, options, files,
columns, where it lives); `benchmark` turns a spec and a row mapping into a registered loader.

The shared code does the rest, in the same order for every benchmark: check the options
(variant, subset, split), find the root (local or a hub snapshot), locate the file, read it,
check its columns; then, after the loader's own mapping, see whether any image is present and
build the validated `Dataset`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsil.dataset._dataset import Dataset, OnError
from vsil.dataset._files import read_rows
from vsil.dataset._registry import LoaderFn, register_loader
from vsil.dataset.loaders._common import (
    any_image_present,
    check_choice,
    finish,
    locate,
    require_fields,
    resolve_root,
)

Chosen = Mapping[str, str | None]


@dataclass(frozen=True)
class Option:
    """A choice a loader offers (``variant``, ``subset``, ``split``).

    ``values`` empty: the argument is accepted and not checked (a benchmark with one variant).
    ``default`` None: not given means "all" (e.g. every VLGuard subset).
    """

    name: str
    values: tuple[str, ...] = ()
    default: str | None = None


@dataclass(frozen=True)
class LoaderSpec:
    """What a benchmark is, for `vsil datasets` and for the shared reading code.

    ``files(chosen)``: the candidate paths (relative to the root) of the file to read, the
    first that exists wins; None when the loader reads its files itself. ``required``: the
    columns every row set must have; ``columns``: the documented ones (for messages).
    ``hub_files(chosen)``: what to fetch from ``hf_id``. ``extra``: further keyword
    arguments of the loader (None by default). ``root_may_be_file``: ``root`` may name the
    file itself.
    """

    name: str
    description: str
    layout: str
    files: Callable[[Chosen], Sequence[str]] | None
    required: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    options: tuple[Option, ...] = (Option("variant"),)
    extra: tuple[str, ...] = ()
    hf_id: str | None = None
    hub_files: Callable[[Chosen], Sequence[str]] | None = None
    root_may_be_file: bool = False
    where: str = ""
    license: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def variant(self) -> Option | None:
        return next((o for o in self.options if o.name == "variant" and o.values), None)


@dataclass
class Source:
    """What one call of a loader reads: the chosen options, the root, the file and its rows.

    ``path`` is None and ``rows`` empty when the spec has no ``files`` (the loader reads).
    """

    spec: LoaderSpec
    chosen: dict[str, str | None]
    extra: dict[str, Any]
    base: Path
    path: Path | None
    rows: list[dict[str, Any]]
    on_error: OnError
    check_images: bool
    info: dict[str, Any] = field(default_factory=dict)

    def dataset(self, records: list[dict[str, Any]], *, name: str | None = None,
                image_root: Path | None, info: dict[str, Any],
                images: bool | None = None) -> Dataset:
        """The validated Dataset of mapped records; ``images`` (default: whether any
        referenced image exists under ``image_root``) says whether samples carry images."""
        if images is None:
            images = image_root is not None and any_image_present(
                image_root, [r.get("image") for r in records])
        return finish(records, name=name or self.spec.name, image_root=image_root,
                      images=images, on_error=self.on_error, check_images=self.check_images,
                      info=info)


def read_source(spec: LoaderSpec, root: str | os.PathLike[str] | None, hf: bool,
                chosen: dict[str, str | None], extra: dict[str, Any], on_error: OnError,
                check_images: bool) -> Source:
    """Find, read and check the file ``spec`` names for the ``chosen`` options."""
    hub = list(spec.hub_files(chosen)) if spec.hub_files else None
    base, _hub = resolve_root(spec.name, root, hf, spec.hf_id, hub, spec.layout)
    path: Path | None = None
    rows: list[dict[str, Any]] = []
    if spec.root_may_be_file and base.is_file():
        path, base = base, base.parent
    elif spec.files is not None:
        path = locate(spec.name, base, list(spec.files(chosen)), spec.layout)
    if path is not None:
        rows = read_rows(path)
        require_fields(spec.name, path, rows, spec.required, spec.columns)
    return Source(spec, chosen, extra, base, path, rows, on_error, check_images)


def benchmark(spec: LoaderSpec, *, on_error: OnError = "raise"
              ) -> Callable[[Callable[[Source], Dataset]], LoaderFn]:
    """Register the loader of ``spec`` whose mapping is the decorated ``build(source)``.

    The loader's signature is ``(root=None, *, <options>, <extra>, hf=False,
    on_error=..., check_images=True)``; `vsil.load` rejects any other argument by name.
    """
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                annotation="str | os.PathLike[str] | None")]
    params += [inspect.Parameter(o.name, kw, default=None, annotation="str | None")
               for o in spec.options]
    params += [inspect.Parameter(x, kw, default=None) for x in spec.extra]
    params += [inspect.Parameter("hf", kw, default=False, annotation="bool"),
               inspect.Parameter("on_error", kw, default=on_error, annotation="OnError"),
               inspect.Parameter("check_images", kw, default=True, annotation="bool")]
    sig = inspect.Signature(params, return_annotation="Dataset")

    def deco(build: Callable[[Source], Dataset]) -> LoaderFn:
        def load(*args: Any, **kwargs: Any) -> Dataset:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            a = bound.arguments
            chosen = {o.name: (check_choice(spec.name, o.name, a[o.name], o.values, o.default)
                               if o.values else a[o.name]) for o in spec.options}
            src = read_source(spec, a["root"], a["hf"], chosen, {x: a[x] for x in spec.extra},
                              a["on_error"], a["check_images"])
            return build(src)

        load.__signature__ = sig  # type: ignore[attr-defined]
        load.__name__ = load.__qualname__ = build.__name__
        load.__doc__ = build.__doc__
        load.__module__ = build.__module__
        v = spec.variant
        register_loader(spec.name, description=spec.description,
                        variants=v.values if v else (), default_variant=v.default if v else None,
                        where=spec.where, license=spec.license, hf_id=spec.hf_id,
                        aliases=spec.aliases)(load)
        return load

    return deco
