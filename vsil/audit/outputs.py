"""The per-sample outputs of an audit, whichever engine computed them."""

from __future__ import annotations

from dataclasses import dataclass, field

from vsil.audit.describe import Described
from vsil.detectors import Judge, Overlap, OverlapScorer, Verdict
from vsil.runtime.batched import RunStats


@dataclass
class AuditOutputs:
    """What an engine hands to the assembly of `AuditResult`.

    ``rows`` are the positions in the dataset of the samples that were judged (no load
    error); ``pair``, ``text`` and each list in ``overlaps`` are aligned with ``rows``.
    ``pair_judge``, ``text_judge`` and ``scorers`` are the plan's driver-side instances.
    ``judge_usage``: the HTTP judges' counters (requests, retries, tokens, cost).
    ``span_s`` and ``parquet_dir`` are set by the Ray engine.
    ``image`` / ``image_sources``: J(I), see `vsil.audit.harm_source`.
    ``warnings``: what went wrong without failing a sample (e.g. a detector whose warmup
    failed in a Ray actor); shown in the summary line and kept in the provenance.
    """

    described: Described
    rows: list[int]
    pair: list[Verdict]
    text: list[Verdict]
    overlaps: dict[str, list[Overlap]]
    stats: list[RunStats]
    pair_judge: Judge
    text_judge: Judge
    scorers: list[OverlapScorer]
    parquet_dir: str | None = None
    span_s: float = 0.0
    judge_usage: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: J(I) per judged row (aligned with ``rows``; None where the image judge had nothing to
    #: look at) and where it looked; both empty when the audit asked no J(I)
    image: list[Verdict | None] = field(default_factory=list)
    image_sources: list[str] = field(default_factory=list)
    image_judge: Judge | None = None
