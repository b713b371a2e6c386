"""The audit: R1/R2 leakage figures, per-sample verdicts with evidence, filtering."""

from vsil.audit.audit import audit, leakage_score, per_category
from vsil.audit.filtering import filter
from vsil.audit.metrics import LeakageFigures, bootstrap_ratio, figures, judged_rows, wilson
from vsil.audit.result import AuditResult, AuditSummary, FilterCounts, UnjudgedRowsError

__all__ = [
    "AuditResult",
    "AuditSummary",
    "FilterCounts",
    "LeakageFigures",
    "UnjudgedRowsError",
    "audit",
    "bootstrap_ratio",
    "figures",
    "filter",
    "judged_rows",
    "leakage_score",
    "per_category",
    "wilson",
]
