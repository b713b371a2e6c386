"""`EvalResult`: the rates of one model on one benchmark, per category, with provenance."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vsil._jsonable import dumps
from vsil._output import save_files, written
from vsil.eval.rates import Rates, breakdown, compute_rates

#: the row columns every EvalResult has
ROW_COLUMNS = ("id", "category", "sub_category", "mode", "status", "answer", "model_error",
               "label", "label_str", "explanation", "judge_error", "judge_refused", "text")


@dataclass
class EvalResult:
    """One evaluation run.

    Attributes:
        rows: one row per sample (``ROW_COLUMNS``, ``text`` being the query the model was
            asked; plus ``label@<judge>`` for other judges).
        summary: `Rates` over the whole run (primary judge).
        per_category: rates per category; per_subcategory: per (category, sub_category) pair
            (VLSBench reuses two sub-category names under two categories, so the pair is key).
        agreement: one dict per other judge (Cohen's kappa, confusion matrix) vs the primary.
        provenance: model, judge(s), decoding, mode, prompt hashes, dataset hash, versions.
    """

    rows: pd.DataFrame
    provenance: dict[str, Any]
    agreement: list[dict[str, Any]] = field(default_factory=list)
    summary: Rates = field(init=False)
    per_category: pd.DataFrame = field(init=False)
    per_subcategory: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        r = self.rows
        self.summary = compute_rates(list(r["label"]), list(r["status"]),
                                     list(r["judge_refused"]))
        self.per_category = breakdown(r, ["category"])
        self.per_subcategory = breakdown(r, ["category", "sub_category"])

    # --- names -------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        return str(self.provenance.get("model", {}).get("name", "?"))

    @property
    def judge(self) -> str:
        judges = self.provenance.get("judges") or []
        return str(judges[0]["name"]) if judges else "(none)"

    @property
    def mode(self) -> str:
        return str(self.provenance.get("mode", "?"))

    @property
    def official_protocol(self) -> bool:
        judges = self.provenance.get("judges") or []
        return bool(judges and judges[0].get("official_protocol"))

    # --- serialisation -----------------------------------------------------------------------

    def to_dict(self, rows: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model": self.model, "judge": self.judge, "mode": self.mode,
            "summary": self.summary.to_dict(),
            "per_category": _records(self.per_category),
            "per_subcategory": _records(self.per_subcategory),
            "agreement": self.agreement, "provenance": self.provenance,
        }
        if rows:
            d["rows"] = _records(self.rows)
        return d

    def to_json(self, path: str | os.PathLike[str] | None = None, rows: bool = True) -> str:
        """JSON text (NaN as null); written to ``path`` when given."""
        text = dumps(self.to_dict(rows=rows), indent=1, ensure_ascii=False)
        return written(text, path)

    @classmethod
    def from_json(cls, path_or_text: str | os.PathLike[str]) -> EvalResult:
        """Read a result from `to_json` output, a file, or a run directory (its result.json)."""
        p = Path(path_or_text) if not str(path_or_text).lstrip().startswith("{") else None
        if p is not None and p.is_dir():
            p = p / "result.json"
        text = p.read_text(encoding="utf-8") if p is not None else str(path_or_text)
        d = json.loads(text)
        rows = pd.DataFrame(d.get("rows") or [], columns=None)
        for c in ROW_COLUMNS:
            if c not in rows.columns:
                rows[c] = None
        if "judge_refused" in rows:
            rows["judge_refused"] = rows["judge_refused"].fillna(False).astype(bool)
        return cls(rows=rows, provenance=d.get("provenance") or {},
                   agreement=d.get("agreement") or [])

    def save(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """Write result.json, report.html and report.md into ``out_dir``."""
        return save_files(out_dir, {"json": ("result.json", self.to_json),
                                    "html": ("report.html", self.to_html),
                                    "markdown": ("report.md",
                                                 lambda p: written(self.to_markdown(), p))})

    # --- reports -----------------------------------------------------------------------------

    def to_markdown(self) -> str:
        from vsil.eval.report import render_markdown

        return render_markdown(self)

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """One self-contained HTML page (plots inlined, all dataset and answer text escaped)."""
        from vsil.eval.report import render_html

        html = render_html(self)
        return written(html, path)

    def plot_radar(self) -> Any:
        """Radar chart of refusal, warning and safety rate over the categories (paper Fig. 14)."""
        from vsil.eval.report import radar_figure

        return radar_figure(self)

    def _repr_html_(self) -> str:
        from vsil.eval.report import render_html

        return render_html(self, full=False)

    def __repr__(self) -> str:
        s = self.summary
        return (f"EvalResult(model={self.model!r}, judge={self.judge!r}, mode={self.mode!r}, "
                f"N={s.n}, safety={_pct(s.safety_rate)}, refusal={_pct(s.refusal_rate)}, "
                f"warning={_pct(s.warning_rate)}, unjudged={s.n_unjudged}, "
                f"model_errors={s.n_model_errors})")


def _pct(x: float) -> str:
    return "nan" if x is None or math.isnan(x) else f"{100 * x:.2f}%"


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return _clean(v.item())
    return v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(r) for r in df.astype(object).where(df.notna(), None).to_dict("records")]
