"""Agreement between judges on one dataset: Cohen's kappa per verdict and per category.

The judge changes the number: R-values on one benchmark vary by tens of points between judges.
`agree` puts two or more audits of the same samples side by side, matched by sample id:

* per verdict (J(T), J(I) when both audits have it, J(T,I)) and per category: the samples both
  judges judged, raw agreement, Cohen's kappa, each judge's unsafe rate;
* a 2 × 2 confusion matrix per verdict (rows: the first judge safe/unsafe; columns: the
  second);
* every disagreeing sample with both verdicts and probabilities.

A row one judge could not judge (error, refusal) is left out of that verdict's comparison and
counted in ``n_unjudged``; it is never read as safe.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from vsil._jsonable import dumps
from vsil.audit import AuditResult
from vsil.audit.metrics import missing

#: verdict label -> (samples column, probability column)
VERDICTS: dict[str, tuple[str, str]] = {
    "J(T)": ("text_unsafe", "p_text_unsafe"),
    "J(I)": ("image_unsafe", "p_image_unsafe"),
    "J(T,I)": ("pair_unsafe", "p_pair_unsafe"),
}
ALL = "*"


def cohen_kappa(a: Sequence[bool] | npt.NDArray[np.bool_], b: Sequence[bool] | npt.NDArray[np.bool_]
                ) -> float:
    """Cohen's kappa of two binary raters; 1.0 when both give one identical constant label,
    NaN for no items (or when chance agreement is 1 but they still disagree, which cannot
    happen with binary labels)."""
    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    n = len(x)
    if n == 0:
        return math.nan
    po = float(np.mean(x == y))
    pa, pb = float(x.mean()), float(y.mean())
    pe = pa * pb + (1 - pa) * (1 - pb)
    if pe >= 1.0:
        return 1.0 if po == 1.0 else math.nan
    return (po - pe) / (1 - pe)


def _verdicts(frame: pd.DataFrame, col: str) -> pd.Series:
    """True/False, or None for no verdict (NA, None, NaN), whatever dtype the column came in."""
    if col not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return frame[col].map(lambda v: None if missing(v) else bool(v))


def _load(r: AuditResult | str | os.PathLike[str]) -> AuditResult:
    if isinstance(r, AuditResult):
        return r
    p = Path(r)
    if p.is_dir():
        p = p / "result.json"
    if not p.is_file():
        raise FileNotFoundError(f"no audit result at {str(r)!r} (expected an audit --out "
                                "folder or its result.json)")
    return AuditResult.from_json(p)


def judge_name(r: AuditResult) -> str:
    """The judge an audit used, as its provenance records it (J(T)'s too, when different)."""
    prov = r.provenance or {}
    j = (prov.get("judge") or {}).get("name") or "judge"
    tj = (prov.get("text_judge") or {}).get("name")
    return f"{j}+{tj}" if tj and tj != j else str(j)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


@dataclass
class AgreementResult:
    """Judges side by side. ``table``: one row per (judge pair, verdict, category; ``*`` for
    all); ``confusion``: ``{"A vs B": {"J(T,I)": [[safe-safe, safe-unsafe], [unsafe-safe,
    unsafe-unsafe]]}}`` with the first judge on the rows; ``disagreements``: one row per
    (judge pair, verdict, sample) where both judged and they differ."""

    names: list[str]
    table: pd.DataFrame
    confusion: dict[str, dict[str, list[list[int]]]]
    disagreements: pd.DataFrame
    n_samples: dict[str, int]
    n_matched: int
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """The all-category rows: one per (judge pair, verdict)."""
        t = self.table
        out: pd.DataFrame = t[t["category"] == ALL].reset_index(drop=True)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "n_samples": self.n_samples, "n_matched": self.n_matched,
                "warnings": self.warnings,
                "table": json.loads(self.table.to_json(orient="records")),
                "confusion": self.confusion,
                "disagreements": json.loads(self.disagreements.to_json(orient="records"))}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        text = dumps(self.to_dict(), ensure_ascii=False, indent=1)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def save(self, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
        """agreement.json, agreement.csv (the table) and disagreements.csv in ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / "agreement.json", "table": out / "agreement.csv",
                 "disagreements": out / "disagreements.csv"}
        self.to_json(paths["json"])
        self.table.to_csv(paths["table"], index=False)
        self.disagreements.to_csv(paths["disagreements"], index=False)
        return paths

    def to_markdown(self) -> str:
        lines = [f"# Judge agreement ({_md(', '.join(self.names))}; {self.n_matched} samples "
                 "matched by id)", "",
                 "| judges | verdict | both judged | agreement | Cohen's kappa | unsafe A | "
                 "unsafe B |", "|---|---|---|---|---|---|---|"]
        for r in self.summary().itertuples():
            lines.append(f"| {_md(str(r.judges))} | {r.verdict} | {r.n_both} | "
                         f"{_pct(r.agreement)} | {_num(r.kappa)} | {_pct(r.unsafe_a)} | "
                         f"{_pct(r.unsafe_b)} |")
        for w in self.warnings:
            lines.append(f"\n> {_md(w)}")
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(str(r.judges))}</td><td>{html.escape(str(r.verdict))}</td>"
            f"<td>{r.n_both}</td><td>{_pct(r.agreement)}</td><td>{_num(r.kappa)}</td>"
            f"<td>{_pct(r.unsafe_a)}</td><td>{_pct(r.unsafe_b)}</td></tr>"
            for r in self.summary().itertuples())
        warn = "".join(f"<p>{html.escape(w)}</p>" for w in self.warnings)
        return ("<div><b>Judge agreement</b> "
                f"({self.n_matched} samples matched by id)<table><tr><th>judges</th>"
                "<th>verdict</th><th>both judged</th><th>agreement</th><th>kappa</th>"
                f"<th>unsafe A</th><th>unsafe B</th></tr>{rows}</table>{warn}</div>")

    def __repr__(self) -> str:
        s = self.summary()
        body = ", ".join(f"{r.judges} {r.verdict}: kappa {_num(r.kappa)} (n={r.n_both})"
                         for r in s.itertuples())
        return f"AgreementResult({body})"


def _md(s: str) -> str:
    return html.escape(s).replace("|", "\\|").replace("\n", " ")


def _pct(v: Any) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1%}"


def _num(v: Any) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def _compare(a: pd.DataFrame, b: pd.DataFrame, verdict: str
             ) -> tuple[list[dict[str, Any]], list[list[int]], list[dict[str, Any]]]:
    col, pcol = VERDICTS[verdict]
    va, vb = _verdicts(a, col), _verdicts(b, col)
    both = va.notna() & vb.notna()
    cats = a["category"] if "category" in a.columns else pd.Series([None] * len(a), a.index)
    cats = cats.map(lambda c: "(none)" if missing(c) else str(c))
    rows = []
    groups: list[tuple[str, pd.Series]] = [(ALL, pd.Series(True, index=a.index))]
    groups += [(str(c), cats == c) for c in sorted(cats.unique())]
    for cat, sel in groups:
        m = both & sel
        x, y = va[m].astype(bool).to_numpy(), vb[m].astype(bool).to_numpy()
        rows.append({"verdict": verdict, "category": cat, "n": int(sel.sum()),
                     "n_both": int(m.sum()), "n_unjudged": int((sel & ~both).sum()),
                     "agreement": float(np.mean(x == y)) if len(x) else math.nan,
                     "kappa": cohen_kappa(x, y),
                     "unsafe_a": float(x.mean()) if len(x) else math.nan,
                     "unsafe_b": float(y.mean()) if len(y) else math.nan})
    x, y = va[both].astype(bool).to_numpy(), vb[both].astype(bool).to_numpy()
    conf = [[int(np.sum(~x & ~y)), int(np.sum(~x & y))], [int(np.sum(x & ~y)), int(np.sum(x & y))]]
    pa = a[pcol] if pcol in a.columns else pd.Series(math.nan, index=a.index)
    pb = b[pcol] if pcol in b.columns else pd.Series(math.nan, index=b.index)
    diff = both & (va != vb)
    dis = [{"verdict": verdict, "id": i, "category": cats[i],
            "text": a.at[i, "text"] if "text" in a.columns else None,
            "unsafe_a": bool(va[i]), "unsafe_b": bool(vb[i]),
            "p_a": _float(pa[i]), "p_b": _float(pb[i])} for i in a.index[diff]]
    return rows, conf, dis


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def compare_judges(results: Sequence[AuditResult], names: Sequence[str] | None = None
                   ) -> AgreementResult:
    """Pairwise agreement of audits of the same samples (matched by ``id``)."""
    if len(results) < 2:
        raise ValueError("agreement needs at least two audits")
    labels = _unique(list(names) if names else [judge_name(r) for r in results])
    if len(labels) != len(results):
        raise ValueError(f"{len(labels)} names for {len(results)} audits")
    frames = []
    warnings: list[str] = []
    for name, r in zip(labels, results, strict=True):
        s = r.samples.copy()
        s["id"] = s["id"].astype(str)
        dup = int(s["id"].duplicated().sum())
        if dup:
            warnings.append(f"{name}: {dup} repeated sample ids; the first of each is compared")
            s = s.drop_duplicates("id")
        frames.append(s.set_index("id", drop=False))
    common = frames[0].index
    for f in frames[1:]:
        common = common.intersection(f.index, sort=False)
    for name, f in zip(labels, frames, strict=True):
        extra = len(f.index.difference(common))
        if extra:
            warnings.append(f"{name}: {extra} sample ids not in every audit; left out")
    if len(common) == 0:
        raise ValueError("the audits share no sample id: are they audits of the same dataset?")
    table: list[dict[str, Any]] = []
    confusion: dict[str, dict[str, list[list[int]]]] = {}
    disagreements: list[dict[str, Any]] = []
    for (na, fa), (nb, fb) in itertools.combinations(zip(labels, frames, strict=True), 2):
        a, b = fa.loc[common], fb.loc[common]
        key = f"{na} vs {nb}"
        confusion[key] = {}
        for verdict, (col, _) in VERDICTS.items():
            if col not in a.columns or col not in b.columns:
                continue
            rows, conf, dis = _compare(a, b, verdict)
            table += [{"judges": key, "judge_a": na, "judge_b": nb, **r} for r in rows]
            confusion[key][verdict] = conf
            disagreements += [{"judges": key, **d} for d in dis]
    return AgreementResult(
        names=labels, table=pd.DataFrame(table), confusion=confusion,
        disagreements=pd.DataFrame(disagreements, columns=[
            "judges", "verdict", "id", "category", "text", "unsafe_a", "unsafe_b", "p_a",
            "p_b"]),
        n_samples={n: len(f) for n, f in zip(labels, frames, strict=True)},
        n_matched=len(common), warnings=warnings)


def agree(*results: AuditResult | str | os.PathLike[str], data: Any = None,
          judge: Sequence[Any] | None = None, names: Sequence[str] | None = None,
          **audit_kwargs: Any) -> AgreementResult:
    """How far judges agree on one dataset.

    Either compare finished audits (`AuditResult` objects, ``--out`` folders or result.json
    files): ``vsil.agree(r1, r2)``; or audit ``data`` once per judge and compare:
    ``vsil.agree(data="vlsbench", judge=["embedded", "openai:MODEL"])``. The data is loaded
    (and its images read) once and every judge audits that same `Dataset`; a saved audit's
    `result.dataset` can be passed as ``data`` to re-judge it. ``audit_kwargs`` go to each
    `vsil.audit` call (``judge_options``, ``overlap``, ``cache`` ...).
    """
    import vsil  # the audit facade; imported here to keep `import vsil.agreement` light

    loaded = [_load(r) for r in results]
    if judge is not None:
        if data is None:
            raise ValueError("judge=[...] needs data= to audit")
        if isinstance(judge, str):
            raise TypeError("judge= takes a list of judges, e.g. judge=['embedded', 'openai:m']")
        ds = data if isinstance(data, vsil.Dataset) else vsil.load(data)
        audit_kwargs.setdefault("quiet", True)
        loaded += [vsil.audit(ds, judge=j, **audit_kwargs) for j in judge]
    elif data is not None:
        raise ValueError("data= is only used with judge=[...]")
    return compare_judges(loaded, names)
