"""Run a detector over many inputs through the cache, in batches, with a progress bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vsil.runtime.cache import Cache
from vsil.runtime.progress import progress


@dataclass
class RunStats:
    total: int = 0
    unique: int = 0
    cache_hits: int = 0
    computed: int = 0


def run_cached(
    ns: str,
    keys: Sequence[str],
    compute: Callable[[list[int]], list[dict[str, Any]]],
    cache: Cache,
    *,
    batch_size: int = 256,
    desc: str = "",
    show_progress: bool | None = None,
    cacheable: Callable[[dict[str, Any]], bool] | None = None,
    reuse: Callable[[dict[str, Any]], bool] | None = None,
) -> tuple[list[dict[str, Any]], RunStats]:
    """Outputs for every key, in order: cached ones read back, the rest computed.

    ``compute(indices)`` gets indices into ``keys`` (one per distinct missing key) and returns
    one JSON-able dict per index. Each computed batch is written to the cache before the next
    starts, so an interruption loses at most one batch. Outputs for which ``cacheable``
    returns False (e.g. transient failures) are returned but not stored, so a re-run retries
    them. A cached output is used only when ``reuse`` accepts it (default: ``cacheable``);
    the others are computed again.
    """
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    accept = reuse or cacheable
    found = cache.get_many(ns, first)
    if accept is not None:
        found = {k: v for k, v in found.items() if accept(v)}
    missing = [i for k, i in first.items() if k not in found]
    stats = RunStats(total=len(keys), unique=len(first), cache_hits=len(found),
                     computed=len(missing))
    if missing:
        bar = progress(len(missing), desc, show_progress)
        try:
            for start in range(0, len(missing), batch_size):
                idx = missing[start : start + batch_size]
                outs = compute(idx)
                if len(outs) != len(idx):
                    raise RuntimeError(
                        f"{desc}: detector returned {len(outs)} results for {len(idx)} inputs"
                    )
                batch = {keys[i]: o for i, o in zip(idx, outs, strict=True)}
                cache.put_many(ns, {k: o for k, o in batch.items()
                                    if cacheable is None or cacheable(o)})
                found.update(batch)
                bar.update(len(idx))
        finally:
            bar.close()
    return [found[k] for k in keys], stats
