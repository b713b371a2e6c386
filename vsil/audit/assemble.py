"""The assembly: an engine's outputs -> `AuditResult` (per-sample table, leakage score,
evidence, figures, per-category table, summary, provenance).

The records render themselves (`Verdict.evidence_text` / `problem` / `probability`,
`Overlap.evidence_text` / `problem`); this module only lays them out, so every engine's
outputs become the same table.
"""

from __future__ import annotations

import datetime as dt
import math
import platform
from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from vsil._version import __version__
from vsil.audit.harm_source import NO_IMAGE_VIEW, harm_columns, harm_shares, harm_source
from vsil.audit.metrics import figures
from vsil.audit.outputs import AuditOutputs
from vsil.audit.plan import AuditPlan
from vsil.audit.result import AuditResult, AuditSummary
from vsil.dataset import Dataset
from vsil.detectors import Detector, Overlap, Verdict

#: weight of the overlap scorers in the leakage score (see docs/results.md)
OVERLAP_WEIGHT = 0.2


def leakage_score(p_pair: float | None, p_text: float | None,
                  overlap_scores: Sequence[float]) -> float | None:
    """``p_pair · ((1-w)·p_text + w·mean(overlap))`` with w = 0.2; ``p_pair·p_text`` without
    overlap scores. None when either judge gave no probability."""
    if p_pair is None or p_text is None:
        return None
    if not overlap_scores:
        return float(p_pair * p_text)
    ov = float(np.mean(overlap_scores))
    return float(p_pair * ((1 - OVERLAP_WEIGHT) * p_text + OVERLAP_WEIGHT * ov))


def error_kind(pv: Verdict, tv: Verdict) -> str | None:
    """The failure kind of a row whose judges did not both answer (J(T,I)'s first), or None.
    ``unclassified`` for a third-party judge's failure that carries no kind."""
    for v in (pv, tv):
        if v.unsafe is None:
            return v.failure or "unclassified"
    return None


def evidence(pv: Verdict, tv: Verdict, shared: list[str], ovs: dict[str, Overlap]) -> str:
    """Why a row is (not) leaky: shared concepts, both verdicts, the overlap scores."""
    parts: list[str] = []
    if shared:
        parts.append("text already names the image's " + ", ".join(shared))
    parts += [t for t in (tv.evidence_text("J(T)"), pv.evidence_text("J(T,I)")) if t]
    scored = [t for k, o in ovs.items() if (t := o.evidence_text(k))]
    if scored:
        parts.append("overlap " + ", ".join(scored))
    return "; ".join(parts)


def _unjudged_row(error: str, overlap_names: Sequence[str]) -> dict[str, Any]:
    rec: dict[str, Any] = dict(
        pair_unsafe=None, text_unsafe=None, p_pair_unsafe=None, p_text_unsafe=None,
        leaky=None, leakage_score=None, pair_categories=[], text_categories=[],
        shared_concepts=[], evidence="", error=error, error_kind="load",
        image_unsafe=None, p_image_unsafe=None, image_categories=[],
        image_verdict_source=None, harm_source="unjudged")
    rec.update({f"overlap_{name}": None for name in overlap_names})
    return rec


def _image_cells(iv: Verdict | None, where: str | None) -> dict[str, Any]:
    """J(I)'s columns for one judged row (all empty when the audit asked no J(I))."""
    if iv is None:
        return dict(image_unsafe=None, p_image_unsafe=None, image_categories=[],
                    image_verdict_source=None)
    return dict(image_unsafe=iv.unsafe, p_image_unsafe=iv.probability,
                image_categories=list(iv.categories), image_verdict_source=where or None)


def _judged_row(pv: Verdict, tv: Verdict, ovs: dict[str, Overlap], image_text: str | None,
                describe_error: str | None, iv: Verdict | None = None,
                image_where: str | None = None, image_asked: bool = False) -> dict[str, Any]:
    shared = sorted({c for o in ovs.values() for c in o.concepts})
    errors = [e for e in (pv.problem("J(T,I)"), tv.problem("J(T)")) if e]
    notes = [n for k, o in ovs.items() if image_text and (n := o.problem(k))]
    pp, pt = pv.probability, tv.probability
    leaky = None if (pv.unsafe is None or tv.unsafe is None) else bool(pv.unsafe and tv.unsafe)
    rec: dict[str, Any] = dict(
        pair_unsafe=pv.unsafe, text_unsafe=tv.unsafe, p_pair_unsafe=pp, p_text_unsafe=pt,
        leaky=leaky,
        leakage_score=leakage_score(pp, pt, [o.score for o in ovs.values()
                                             if o.score is not None]),
        pair_categories=list(pv.categories), text_categories=list(tv.categories),
        shared_concepts=shared,
        evidence="; ".join(x for x in (evidence(pv, tv, shared, ovs), describe_error, *notes)
                           if x),
        error="; ".join(errors) if errors else None,
        error_kind=error_kind(pv, tv),
    )
    rec.update({f"overlap_{name}": o.score for name, o in ovs.items()})
    rec.update(_image_cells(iv, image_where))
    rec["harm_source"] = harm_source(pv.unsafe, tv.unsafe, rec["image_unsafe"])
    if image_asked and rec["harm_source"] == "unjudged" and pv.unsafe and tv.unsafe is False:
        why = iv.problem("J(I)") if iv is not None else NO_IMAGE_VIEW
        rec["evidence"] = "; ".join(x for x in (rec["evidence"], why) if x)
    return rec


def sample_frame(ds: Dataset, out: AuditOutputs) -> pd.DataFrame:
    """The per-sample table (columns: `vsil.audit.result.SAMPLE_COLUMNS` + overlaps)."""
    d = out.described
    pos = {r: j for j, r in enumerate(out.rows)}
    records: list[dict[str, Any]] = []
    for i, s in enumerate(ds):
        rec: dict[str, Any] = {
            "id": s.id, "category": s.category, "sub_category": s.sub_category, "text": s.text,
            "image": str(s.image) if s.image is not None else None,
            "image_text": d.image_text[i], "image_text_source": d.source[i],
        }
        j = pos.get(i)
        if j is None:
            rec.update(_unjudged_row(f"load: {s.load_error}", list(out.overlaps)))
        else:
            ovs = {name: vals[j] for name, vals in out.overlaps.items()}
            asked = bool(out.image)
            rec.update(_judged_row(out.pair[j], out.text[j], ovs, d.image_text[i],
                                   d.extra[i].get("describe_error"),
                                   out.image[j] if asked else None,
                                   out.image_sources[j] if asked else None, asked))
        records.append(rec)
    df = pd.DataFrame.from_records(records)
    for c in ("pair_unsafe", "text_unsafe", "leaky", "image_unsafe"):
        df[c] = df[c].astype("boolean")
    for c in ("p_pair_unsafe", "p_text_unsafe", "p_image_unsafe", "leakage_score",
              *[f"overlap_{n}" for n in out.overlaps]):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return cast(pd.DataFrame, df)


def nanmean(s: pd.Series) -> float:
    """The mean of the numeric values of ``s``; NaN when there are none."""
    v = pd.to_numeric(s, errors="coerce").dropna()
    return float(v.mean()) if len(v) else math.nan


def per_category(samples: pd.DataFrame, overlap_names: list[str], *, seed: int = 0
                 ) -> pd.DataFrame:
    """Figures per category (sub_category = "*") and per (category, sub_category)."""
    if "category" not in samples or samples["category"].isna().all():
        return cast(pd.DataFrame, pd.DataFrame())
    df = samples.assign(category=samples["category"].fillna("(none)"),
                        sub_category=samples["sub_category"].fillna("(none)"))
    out: list[dict[str, Any]] = []
    groups = [(c, "*", g) for c, g in df.groupby("category", sort=True)]
    groups += [(c, s, g) for (c, s), g in df.groupby(["category", "sub_category"], sort=True)]
    for cat, sub, g in groups:
        f = figures(g["pair_unsafe"], g["text_unsafe"], g["error"].notna(), seed=seed)
        row: dict[str, Any] = {"category": cat, "sub_category": sub, "n": f.n,
                               "n_errors": f.n_errors}
        for k in ("r1", "r2", "r1_minus_r2", "leak_ratio", "text_unsafe_rate"):
            row[k] = getattr(f, k)
            lo, hi = getattr(f, f"{k}_ci")
            row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
        for name in overlap_names:
            row[f"overlap_{name}"] = nanmean(g[f"overlap_{name}"])
        if "harm_source" in g:
            row.update(harm_columns(g["harm_source"]))
        out.append(row)
    res = pd.DataFrame(out)
    res = res.sort_values(["category", "sub_category"], key=lambda s: s.replace("*", ""),
                          kind="stable").reset_index(drop=True)
    return cast(pd.DataFrame, res)


def summarise(ds: Dataset, samples: pd.DataFrame, out: AuditOutputs, *, seed: int = 0
              ) -> AuditSummary:
    """The dataset-level figures and counters of one audit."""
    fig = figures(samples["pair_unsafe"], samples["text_unsafe"], samples["error"].notna(),
                  seed=seed)
    stats = out.stats
    return AuditSummary(
        dataset=ds.name,
        figures=fig,
        overlap_means={name: nanmean(samples[f"overlap_{name}"]) for name in out.overlaps},
        image_text_sources=dict(Counter(s or "none" for s in out.described.source)),
        n_load_errors=sum(s.load_error is not None for s in ds),
        n_skipped_at_load=len(ds.skipped),
        cache_hits=sum(s.cache_hits for s in stats),
        computed=sum(s.computed for s in stats),
        judge=out.pair_judge.name,
        text_judge=out.text_judge.name,
        judge_usage=out.judge_usage,
        errors_by_kind={str(k): int(v) for k, v in
                        samples["error_kind"].dropna().value_counts().sort_index().items()},
        warnings=list(out.warnings),
        harm_sources=harm_shares(samples["harm_source"]) if "harm_source" in samples else {},
        image_judge=out.image_judge.name if out.image_judge is not None else "",
    )


def _info(d: Detector) -> dict[str, Any]:
    return {"name": d.name, "kind": d.kind, "fingerprint": d.fingerprint, **d.info()}


def provenance(ds: Dataset, plan: AuditPlan, engine: str) -> dict[str, Any]:
    """Where the result came from: vsil, the dataset, every detector and its fingerprint."""
    describe = plan.describe
    return {
        "vsil_version": __version__,
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "dataset": {"name": ds.name, "n": len(ds), "sha256": ds.content_hash,
                    "skipped_at_load": len(ds.skipped),
                    **{k: v for k, v in ds.info.items() if k in ("path", "loader", "variant",
                                                                  "images", "embedded")}},
        "judge_mode": "same judge for J(T,I) and J(T)" if plan.pair_judge is plan.text_judge
        else "separate text judge for J(T)",
        "judge": _info(plan.pair_judge),
        "text_judge": _info(plan.text_judge),
        "image_judge": None if plan.image_judge is None else {
            **_info(plan.image_judge),
            "role": "J(I): the image alone, on its pixels when the judge sees pixels and the "
                    "sample has an image, otherwise on its image_text judged as a text"},
        "overlap": [_info(s) for s in plan.scorers],
        "describers": [_info(d) for d in plan.describer_objects],
        "describe": describe if isinstance(describe, bool | str | None)
        else [str(d) for d in describe],
        "engine": engine,
    }


def assemble(ds: Dataset, plan: AuditPlan, out: AuditOutputs, *, engine: str,
             seed: int = 0) -> AuditResult:
    """The `AuditResult` of ``out`` (``provenance["elapsed_s"]`` is left to the caller)."""
    samples = sample_frame(ds, out)
    summary = summarise(ds, samples, out, seed=seed)
    prov = provenance(ds, plan, engine)
    if out.warnings:
        prov["warnings"] = list(out.warnings)
    return AuditResult(samples=samples, summary=summary,
                       per_category=per_category(samples, list(out.overlaps), seed=seed),
                       provenance=prov, dataset=ds)


def summary_line(result: AuditResult) -> str:
    """The one line `vsil.audit` prints to stderr when it is done."""
    s, fig = result.summary, result.summary.figures
    skipped = s.n_skipped_at_load
    return (f"vsil: audited {fig.n} samples of {s.dataset!r}: {fig.n_errors} errors"
            f"{_kinds(s.errors_by_kind)}, "
            f"{s.cache_hits} cache hits, {s.computed} computed, "
            f"{skipped} skipped at load; R1={fig.r1:.4f} R2={fig.r2:.4f} "
            f"leak_ratio={_fmt(fig.leak_ratio)}{_usage_line(s.judge_usage)} "
            f"({result.provenance['elapsed_s']:.1f}s)")


def _usage_line(u: dict[str, Any]) -> str:
    if not u:
        return ""
    parts = [f"{u.get(k, 0)} {k}" for k in ("requests", "retries", "refused") if k in u]
    if u.get("cost_usd"):
        parts.append(f"~${u['cost_usd']:.2f}")
    return "; judge " + ", ".join(parts)


def _kinds(by_kind: dict[str, int]) -> str:
    return (" (" + ", ".join(f"{v} {k}" for k, v in by_kind.items()) + ")") if by_kind else ""


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4f}"
