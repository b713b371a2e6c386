"""vsil: audit multimodal safety datasets for visual safety information leakage (VSIL).

Public surface::

    vsil.load(data, ...)    -> Dataset
    vsil.audit(data, ...)   -> AuditResult
    vsil.filter(data, ...)  -> the input's own type, without leaky rows
"""

from vsil._version import __version__
from vsil.audit import AuditResult, AuditSummary, LeakageFigures, audit, filter
from vsil.compare import CompareResult, compare
from vsil.generate import generate, rewrite
from vsil.dataset import DataError, Dataset, ImageRef, RowError, Sample, load
from vsil.detectors import Overlap, Verdict

__all__ = [
    "AuditResult",
    "AuditSummary",
    "CompareResult",
    "DataError",
    "Dataset",
    "ImageRef",
    "LeakageFigures",
    "Overlap",
    "RowError",
    "Sample",
    "Verdict",
    "__version__",
    "audit",
    "compare",
    "filter",
    "generate",
    "load",
    "rewrite",
]
