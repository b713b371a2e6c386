"""Audit reports: self-contained HTML, Markdown tables and matplotlib figures.

The cell formatting below is shared with the evaluation's reports (`vsil.eval.report`).
"""

from vsil.report._common import cell, clip, flatten, num, pct, pct_ci, to_float

__all__ = ["cell", "clip", "flatten", "num", "pct", "pct_ci", "to_float"]
