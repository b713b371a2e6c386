"""The one failure policy: what kinds of failure there are, and which of them are cached.

Every detector output that is not a result carries a failure *kind*. Whether the cache keeps
it follows from the kind alone (`cacheable`):

===============  ===========================================================  ==========
kind             what failed                                                  cached
===============  ===========================================================  ==========
``transient``    the call, this time: HTTP 429/5xx, timeout, connection        no
                 error, open circuit breaker, a malformed reply envelope
``environment``  this machine or setup: a model that failed to load, out of    no
                 memory, an encoder or backend error, a missing dependency,
                 an endpoint that rejects the key or the model name
``input``        this input, whatever the run: empty text, an unreadable or    yes
                 missing image, a request the endpoint rejects as invalid
``parse``        the judge answered, but no label could be read from the      yes
                 reply (unparseable, ambiguous, or only negated/hedged labels)
``refusal``      the judge declined: a refusal field, a content-filter        yes
                 finish, a content-policy HTTP 400, or a reply that refuses
``borderline``   the judge answered with its borderline tier (Qwen3Guard's     yes
                 ``Controversial``) and was told to leave it unjudged
===============  ===========================================================  ==========

``parse``, ``refusal`` and ``borderline`` are cached on purpose: a deterministic judge would
give the same reply again. ``vsil audit --retry-errors`` (``audit(..., retry_errors=True)``)
asks again for every cached failure. An output whose failure has no kind (written by an older
vsil or by a third-party detector that did not classify it) is never reused from the cache.

A failure of the whole detector, rather than of one input, is not a per-sample failure: it
raises `DetectorUnavailable` (a model that cannot be loaded) or `EndpointUnavailable` (an
endpoint that keeps failing), which stop the run; everything finished so far is cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

FailureKind = Literal["transient", "environment", "input", "parse", "refusal", "borderline"]
FAILURE_KINDS: tuple[FailureKind, ...] = get_args(FailureKind)
#: the failure kinds the cache keeps (the only decision this module makes)
CACHED_FAILURES: frozenset[str] = frozenset({"input", "parse", "refusal", "borderline"})


class Unavailable(RuntimeError):
    """A detector or endpoint cannot work at all; the run stops (finished work is cached)."""


class DetectorUnavailable(Unavailable):
    """A detector's model or backend could not be loaded."""


class EndpointUnavailable(Unavailable):
    """An endpoint failed the same way too many times in a row; the run stops here.

    Everything judged before this batch is already in the cache: fix the endpoint and run
    again to resume.
    """


def check_kind(kind: str | None) -> FailureKind | None:
    """``kind`` itself when it is a failure kind (or None); ValueError otherwise."""
    if kind is not None and kind not in FAILURE_KINDS:
        raise ValueError(f"unknown failure kind {kind!r}; expected one of {FAILURE_KINDS}")
    return kind  # type: ignore[return-value]


def failed(output: Mapping[str, Any]) -> bool:
    """Whether a detector output (its JSON form) is a failure rather than a result."""
    return bool(output.get("error")) or bool(output.get("refused"))


def cacheable(output: Mapping[str, Any]) -> bool:
    """Whether the cache may keep (and later reuse) this output: every result, and the
    failures whose kind is in `CACHED_FAILURES`."""
    return not failed(output) or output.get("failure") in CACHED_FAILURES


def reusable(output: Mapping[str, Any], *, retry_errors: bool = False) -> bool:
    """Whether a cached output may be used as it is. With ``retry_errors`` no cached failure
    is reused, so every failure is asked again."""
    if retry_errors:
        return not failed(output)
    return cacheable(output)


def classify_exception(e: BaseException) -> FailureKind:
    """The failure kind of an exception raised while one input (or batch) was processed.

    Unreadable inputs are ``input``; everything else (out of memory, a backend error, an
    unknown exception) is ``environment``, which is never cached, so a re-run tries again.
    """
    from vsil.dataset import DataError, ImageError

    if isinstance(e, (ImageError, DataError)):
        return "input"
    name = type(e).__name__
    if name in ("UnidentifiedImageError", "DecompressionBombError"):
        return "input"
    return "environment"


def describe_exception(e: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters."""
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
