"""The audit: R1/R2 leakage figures, per-sample verdicts with evidence, filtering."""

from vsil.audit.assemble import leakage_score, per_category
from vsil.audit.audit import audit
from vsil.audit.engines import Engine
from vsil.audit.filtering import filter
from vsil.audit.metrics import LeakageFigures, bootstrap_ratio, figures, judged_rows, wilson
from vsil.audit.plan import AuditPlan, plan_audit
from vsil.audit.result import AuditResult, AuditSummary, FilterCounts, UnjudgedRowsError

__all__ = [
    "AuditPlan",
    "AuditResult",
    "AuditSummary",
    "Engine",
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
    "plan_audit",
    "wilson",
]
