"""Running one detector over many inputs through the cache, under the one failure policy.

Every engine runs its detectors through this module: the cache keys of judge and overlap
inputs (`judge_key`, `overlap_key`; describers': `vsil.audit.describe.describer_key`),
`run_detector` (the cache meets the failure policy here), and `run_outputs` with the typed
`run_judge` / `run_overlap` on top of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

from vsil.detectors import Judge, JudgeInput, Overlap, OverlapInput, OverlapScorer, Verdict
from vsil.runtime.batched import RunStats, run_cached
from vsil.runtime.cache import Cache, content_key
from vsil.runtime.failures import (
    FailureKind,
    Unavailable,
    cacheable,
    classify_exception,
    describe_exception,
    reusable,
)


class Record(Protocol):
    """A detector's output for one input (`Verdict`, `Overlap`, `Description`)."""

    def to_json(self) -> dict[str, Any]: ...


T = TypeVar("T")
Output = TypeVar("Output", bound=Record)


@dataclass
class RunContext:
    """Where and how detectors run: the cache, the failure policy's switch, progress bars.

    ``stats`` collects one `RunStats` per detector run, in order.
    """

    store: Cache
    show_progress: bool | None = None
    retry_errors: bool = False
    stats: list[RunStats] = field(default_factory=list)


# --- cache keys: never change them (tests/audit/test_cache_compat.py pins them) -------------
def judge_key(judge: Judge, x: JudgeInput) -> str:
    """The cache key of one judge input; the image hash only for judges that see pixels."""
    img = x.image.sha256 if (x.image is not None and judge.uses_image_pixels) else None
    if x.image is not None and img is None and not x.image_text:
        img = "image-without-text"  # J(T,I) must never share J(T)'s key
    if x.image_alone:  # J(I) must never share the key of a pair with an empty query
        return content_key("judge", x.text, img, x.image_text, "image-alone")
    return content_key("judge", x.text, img, x.image_text)


def overlap_key(scorer: OverlapScorer, x: OverlapInput) -> str:
    """The cache key of one overlap input; the image hash only for scorers that see pixels."""
    uses_px = getattr(scorer, "uses_image_pixels", False)
    return content_key("overlap", x.text, x.image.sha256 if (uses_px and x.image) else None,
                       x.image_text)


# --- running ------------------------------------------------------------------------------
def run_detector(ns: str, items: Sequence[T], key_of: Callable[[T], str],
                 call: Callable[[list[T]], list[dict[str, Any]]],
                 fail: Callable[[str, FailureKind], dict[str, Any]], ctx: RunContext, *,
                 desc: str, batch_size: int) -> list[dict[str, Any]]:
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
        got, st = run_cached(ns, keys, compute, ctx.store, batch_size=batch_size, desc=desc,
                             show_progress=ctx.show_progress, cacheable=cacheable,
                             reuse=partial(reusable, retry_errors=ctx.retry_errors))
        ctx.stats.append(st)
        for i, o in zip(where, got, strict=True):
            outs[i] = o
    return [o if o is not None else fail("internal: no output", "environment") for o in outs]


def _batch_size(detector: object, default: int) -> int:
    size = getattr(detector, "batch_size", None)
    return default if size is None else int(size)


def run_outputs(ns: str, detector: object, items: Sequence[T], key_of: Callable[[T], str],
                call: Callable[[list[T]], Sequence[Output]], failed: Callable[..., Output],
                decode: Callable[[dict[str, Any]], Output], ctx: RunContext, *, desc: str,
                batch_size: int) -> list[Output]:
    """`run_detector` for detectors whose outputs are records (`Verdict`, `Overlap`,
    `Description`): ``call`` returns records, ``failed(error=, failure=)`` builds a failed
    one, ``decode`` reads one back from the cache."""
    if not items:
        return []
    outs = run_detector(
        ns, items, key_of, lambda xs: [o.to_json() for o in call(xs)],
        lambda err, kind: failed(error=err, failure=kind).to_json(), ctx,
        desc=desc, batch_size=_batch_size(detector, batch_size))
    return [decode(o) for o in outs]


def run_judge(judge: Judge, inputs: list[JudgeInput], ctx: RunContext, label: str
              ) -> list[Verdict]:
    """``judge``'s verdicts on ``inputs`` (``label``: ``J(T,I)`` or ``J(T)``, for progress)."""
    return run_outputs(f"judge:{judge.fingerprint}", judge, inputs, partial(judge_key, judge),
                       judge.judge, lambda error, failure: Verdict.failed(error, failure),
                       Verdict.from_json, ctx, desc=f"{label} {judge.name}", batch_size=256)


def run_overlap(scorer: OverlapScorer, inputs: list[OverlapInput], ctx: RunContext
                ) -> list[Overlap]:
    """``scorer``'s overlap scores on ``inputs``."""
    return run_outputs(f"overlap:{scorer.fingerprint}", scorer, inputs,
                       partial(overlap_key, scorer), scorer.score, partial(Overlap, None),
                       Overlap.from_json, ctx, desc=f"overlap {scorer.name}", batch_size=256)


# --- usage of HTTP judges -------------------------------------------------------------------
def usage_counters(detector: object) -> dict[str, float]:
    """The numeric counters of an HTTP detector's ``usage`` (requests, tokens, cost...)."""
    usage = getattr(detector, "usage", None)
    if not isinstance(usage, Mapping):
        return {}
    return {str(k): v for k, v in usage.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def judge_usage(*judges: Judge) -> dict[str, float]:
    """The judges' usage counters, summed over distinct judges."""
    total: dict[str, float] = {}
    for j in {id(j): j for j in judges}.values():
        for k, v in usage_counters(j).items():
            total[k] = total.get(k, 0) + v
    return total
