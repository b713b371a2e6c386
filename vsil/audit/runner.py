"""Running one detector over many inputs through the cache, under the one failure policy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from vsil.runtime.batched import RunStats, run_cached
from vsil.runtime.cache import Cache
from vsil.runtime.failures import (
    FailureKind,
    Unavailable,
    cacheable,
    classify_exception,
    describe_exception,
    reusable,
)


def run_detector(ns: str, items: Sequence[Any], key_of: Callable[[Any], str],
                 call: Callable[[list[Any]], list[dict[str, Any]]],
                 fail: Callable[[str, FailureKind], dict[str, Any]], store: Cache,
                 stats: list[RunStats], *, desc: str, batch_size: int,
                 show_progress: bool | None, retry_errors: bool = False
                 ) -> list[dict[str, Any]]:
    """Outputs of one detector for every item, in order, through the cache.

    The one place where the failure policy (`vsil.runtime.failures`) meets the cache: an
    item whose cache key cannot be computed (an image that cannot be read to hash it) fails
    alone with an ``input`` failure; a detector that raises fails its batch with the
    exception's kind instead of the run (only `Unavailable` stops the run); the cache keeps
    and reuses outputs by `cacheable` / `reusable`.
    """
    outs: list[dict[str, Any] | None] = [None] * len(items)
    keys: list[str] = []
    where: list[int] = []
    for i, x in enumerate(items):
        try:
            keys.append(key_of(x))
            where.append(i)
        except Exception as e:
            outs[i] = fail(f"image: {describe_exception(e)}", classify_exception(e))

    def compute(idx: list[int]) -> list[dict[str, Any]]:
        batch = [items[where[j]] for j in idx]
        try:
            return call(batch)
        except Unavailable:
            raise
        except Exception as e:  # a detector that breaks its contract fails its batch only
            kind = classify_exception(e)
            return [fail(f"{desc} failed: {describe_exception(e)}", kind) for _ in batch]

    if where:
        got, st = run_cached(ns, keys, compute, store, batch_size=batch_size, desc=desc,
                             show_progress=show_progress, cacheable=cacheable,
                             reuse=partial(reusable, retry_errors=retry_errors))
        stats.append(st)
        for i, o in zip(where, got, strict=True):
            outs[i] = o
    return [o if o is not None else fail("internal: no output", "environment") for o in outs]
