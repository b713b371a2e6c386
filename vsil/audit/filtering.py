"""`vsil.filter`: drop leaky samples and hand back the input's own type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vsil.audit.audit import audit
from vsil.audit.result import UnjudgedChoice
from vsil.detectors import Judge, OverlapScorer


def filter(
    data: Any,
    judge: str | Judge = "embedded",
    overlap: Sequence[str | OverlapScorer] | str | None = ("embedding", "lexical"),
    *,
    threshold: float | None = None,
    unjudged: UnjudgedChoice | None = None,
    **audit_kwargs: Any,
) -> Any:
    """``data`` without its leaky samples, as the same kind of object.

    A sample is dropped when the audit flags it leaky (J(T,I) and J(T) both unsafe) or, with
    ``threshold``, when its ``leakage_score`` is at least ``threshold``. A list comes back as a
    list, a DataFrame as a DataFrame, an HF Dataset as an HF Dataset; files and named datasets
    come back as a `vsil.Dataset`.

    Rows that could not be judged (a load error, a judge failure or refusal, a row skipped at
    load with ``on_error="skip"``) are not known to be clean. When there are any, ``unjudged``
    says what happens to them: ``"keep"`` (in input order) or ``"drop"``; without it,
    `vsil.audit.UnjudgedRowsError` is raised before anything is returned.
    """
    if unjudged is not None and unjudged not in ("keep", "drop"):
        raise ValueError(f"unjudged must be 'keep' or 'drop', not {unjudged!r}")
    result = audit(data, judge, overlap, **audit_kwargs)
    return result.clean(threshold, unjudged=unjudged)
