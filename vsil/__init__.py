"""vsil: audit multimodal safety datasets for visual safety information leakage (VSIL).

Public surface::

    vsil.load(data, ...)    -> Dataset
    vsil.audit(data, ...)   -> AuditResult
    vsil.filter(data, ...)  -> the input's own type, without leaky rows
    vsil.compare([...])     -> CompareResult, one leakage row per dataset
    vsil.agree(r1, r2)      -> AgreementResult, Cohen's kappa between judges
    vsil.evaluate(model)    -> EvalResult, VLSBench safety rates of an MLLM
    vsil.generate(config)   -> the VLSBench construction pipeline
    vsil.rewrite(data)      -> leaky queries rewritten and re-audited
"""

from vsil._version import __version__
from vsil.agreement import AgreementResult, agree
from vsil.audit import AuditResult, AuditSummary, LeakageFigures, audit, filter
from vsil.compare import CompareResult, compare
from vsil.dataset import DataError, Dataset, ImageRef, RowError, Sample, load
from vsil.detectors import Overlap, Verdict
from vsil.eval import EvalResult, evaluate
from vsil.generate import generate, rewrite

__all__ = [
    "AgreementResult",
    "AuditResult",
    "AuditSummary",
    "CompareResult",
    "DataError",
    "Dataset",
    "EvalResult",
    "ImageRef",
    "LeakageFigures",
    "Overlap",
    "RowError",
    "Sample",
    "Verdict",
    "__version__",
    "agree",
    "audit",
    "compare",
    "evaluate",
    "filter",
    "generate",
    "load",
    "rewrite",
]
