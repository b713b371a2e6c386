"""`vsil.filter`: drop leaky samples and hand back the input's own type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vsil.audit.audit import audit


def filter(
    data: Any,
    judge: Any = "embedded",
    overlap: Sequence[Any] | str | None = ("embedding", "lexical"),
    *,
    threshold: float | None = None,
    **audit_kwargs: Any,
) -> Any:
    """``data`` without its leaky samples, as the same kind of object.

    A sample is dropped when the audit flags it leaky (J(T,I) and J(T) both unsafe) or, with
    ``threshold``, when its ``leakage_score`` is at least ``threshold``. A list comes back as a
    list, a DataFrame as a DataFrame, an HF Dataset as an HF Dataset; files and named datasets
    come back as a `vsil.Dataset`. Rows that could not be judged are kept (they are not known
    to leak) and are listed in the audit's errors.
    """
    result = audit(data, judge, overlap, **audit_kwargs)
    return result.clean(threshold)
