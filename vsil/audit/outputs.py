"""The per-sample outputs of an audit, whichever engine computed them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vsil.audit.describe import Described
from vsil.detectors import Overlap, Verdict
from vsil.runtime.batched import RunStats


@dataclass
class AuditOutputs:
    """What the engines hand to the assembly of `AuditResult`.

    ``rows`` are the positions in the dataset of the samples that were judged (no load
    error); ``pair``, ``text`` and each list in ``overlaps`` are aligned with ``rows``.
    ``pair_judge``, ``text_judge`` and ``scorers`` are driver-side instances, for provenance.
    ``judge_usage``: the HTTP judges' counters (requests, retries, tokens, cost).
    ``span_s`` and ``parquet_dir`` are set by the Ray engine.
    ``warnings``: what went wrong without failing a sample (e.g. a detector whose warmup
    failed in a Ray actor); shown in the summary line and kept in the provenance.
    """

    described: Described
    rows: list[int]
    pair: list[Verdict]
    text: list[Verdict]
    overlaps: dict[str, list[Overlap]]
    stats: list[RunStats]
    pair_judge: Any
    text_judge: Any
    scorers: list[Any]
    parquet_dir: str | None = None
    span_s: float = 0.0
    judge_usage: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
