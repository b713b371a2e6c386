"""`vsil.audit`: judge every pair twice, J(T, I) and J(T); score overlaps; summarise."""

from __future__ import annotations

import datetime as _dt
import math
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from vsil._version import __version__
from vsil.audit.describe import describe_images
from vsil.audit.metrics import figures
from vsil.audit.outputs import AuditOutputs
from vsil.audit.result import AuditResult, AuditSummary
from vsil.audit.runner import run_detector
from vsil.dataset import Dataset, load
from vsil.detectors import JudgeInput, Overlap, OverlapInput, Verdict, create
from vsil.runtime.batched import RunStats
from vsil.runtime.cache import Cache, content_key, open_cache

#: weight of the overlap scorers in the leakage score (see docs/results.md)
OVERLAP_WEIGHT = 0.2


def audit(
    data: Any,
    judge: Any = "embedded",
    overlap: Sequence[Any] | str | None = ("embedding", "lexical"),
    *,
    text_judge: Any = None,
    judge_options: dict[str, Any] | None = None,
    describe: bool | str | Sequence[Any] | None = "auto",
    cache: Cache | str | bool | None = True,
    show_progress: bool | None = None,
    quiet: bool = False,
    seed: int = 0,
    engine: Literal["local", "ray"] = "local",
    ray_options: Any = None,
    retry_errors: bool = False,
    **load_kwargs: Any,
) -> AuditResult:
    """Audit a multimodal safety dataset for visual safety information leakage.

    For every sample the judge runs on the pair, J(T, I), and on the text alone, J(T). A
    sample is leaky when both are unsafe. R1, R2, R1-R2 and the leak ratio R2/R1 follow the
    VLSBench paper (all N samples in the denominator).

    Args:
        data: anything `vsil.load` accepts (list of dicts, DataFrame, HF Dataset, file,
            imagefolder, dataset name such as ``"vlsbench"``, or a Dataset).
        judge: a judge name (``"embedded"``, ``"llamaguard3-vision"``, ``"openai:MODEL"``...)
            or a judge object; see ``vsil detectors``.
        overlap: overlap scorer names or objects (``"embedding"``, ``"lexical"``, ``"clip"``).
        text_judge: a different judge for J(T) (e.g. ``"llamaguard3-8b"``); default: ``judge``.
        judge_options: keyword arguments for judges given by name (``base_url``, ``api_key``,
            ``concurrency``, ``device`` ...); see each judge's docs.
        describe: fill missing ``image_text`` from the images (``"auto"``), force describers
            (``True`` or names), or never (``False``).
        cache: True for the default disk cache, False for none, or a path/Cache.
        show_progress: force progress bars on or off (default: on for long work).
        quiet: do not print the final summary line.
        seed: seed of the bootstrap interval.
        engine: ``"local"`` (one process; batched models, bounded HTTP concurrency) or
            ``"ray"`` (detectors as Ray Data actor pools; see docs/scale.md). A
            ``ray.data.Dataset`` input always runs on Ray.
        ray_options: a `vsil.audit.ray_engine.RayOptions` or a dict of its fields
            (``address``, ``concurrency``, ``num_gpus``, ``parquet_dir`` ...).
        retry_errors: ask again for every failure found in the cache. Transient and
            environment failures are never cached; input, parse and refusal failures are
            (a deterministic judge would repeat them), and this re-asks them. See
            `vsil.runtime.failures`.
        **load_kwargs: passed to `vsil.load` (``image_root=``, ``text=``, ``root=``...).

    Returns:
        AuditResult with ``samples`` (one row per sample), ``summary``, ``per_category`` and
        ``provenance``.
    """
    from vsil.audit.ray_engine import is_ray_dataset  # light: does not import ray

    started = time.perf_counter()
    if is_ray_dataset(data):
        from vsil.audit.ray_engine import from_ray

        ds, engine = from_ray(data, **load_kwargs), "ray"
    else:
        ds = load(data, **load_kwargs)
    opts = {k: v for k, v in (judge_options or {}).items() if v is not None}
    if isinstance(overlap, str):
        overlap = [overlap]
    if engine == "ray":
        from vsil.audit.ray_engine import RayOptions, audit_ray

        ro = ray_options if isinstance(ray_options, RayOptions) else RayOptions(
            **(ray_options or {}))
        out = audit_ray(ds, judge, text_judge, overlap, describe, cache, judge_options=opts,
                        options=ro, retry_errors=retry_errors)
    elif engine == "local":
        out = _compute_local(ds, judge, text_judge, overlap, describe, cache, opts,
                             show_progress, retry_errors)
    else:
        raise ValueError(f"engine must be 'local' or 'ray', not {engine!r}")
    described, rows, overlaps, stats = out.described, out.rows, out.overlaps, out.stats
    pair_judge, txt_judge, scorers = out.pair_judge, out.text_judge, out.scorers
    image_text = described.image_text
    ok = [s.load_error is None for s in ds]

    samples = _sample_frame(ds, rows, image_text, described.source, described.extra, out.pair,
                            out.text, overlaps)
    fig = figures(samples["pair_unsafe"], samples["text_unsafe"],
                  samples["error"].notna(), seed=seed)
    overlap_means = {name: _nanmean(samples[f"overlap_{name}"]) for name in overlaps}
    summary = AuditSummary(
        dataset=ds.name,
        figures=fig,
        overlap_means=overlap_means,
        image_text_sources=dict(Counter(s or "none" for s in described.source)),
        n_load_errors=sum(not o for o in ok),
        n_skipped_at_load=len(ds.skipped),
        cache_hits=sum(s.cache_hits for s in stats),
        computed=sum(s.computed for s in stats),
        judge=pair_judge.name,
        text_judge=txt_judge.name,
        judge_usage=out.judge_usage,
        errors_by_kind={str(k): int(v) for k, v in
                        samples["error_kind"].dropna().value_counts().sort_index().items()},
        warnings=list(out.warnings),
    )
    per_cat = per_category(samples, list(overlaps), seed=seed)
    provenance = _provenance(ds, pair_judge, txt_judge, scorers, described.detectors, describe)
    provenance["engine"] = engine
    if out.warnings:
        provenance["warnings"] = list(out.warnings)
    provenance["elapsed_s"] = round(time.perf_counter() - started, 3)
    result = AuditResult(samples=samples, summary=summary, per_category=per_cat,
                         provenance=provenance, dataset=ds)
    if not quiet:
        for w in out.warnings:
            print(f"vsil: warning: {w}", file=sys.stderr)
        print(
            f"vsil: audited {fig.n} samples of {ds.name!r}: {fig.n_errors} errors"
            f"{_kinds(summary.errors_by_kind)}, "
            f"{summary.cache_hits} cache hits, {summary.computed} computed, "
            f"{len(ds.skipped)} skipped at load; R1={fig.r1:.4f} R2={fig.r2:.4f} "
            f"leak_ratio={_fmt(fig.leak_ratio)}{_usage_line(summary.judge_usage)} "
            f"({provenance['elapsed_s']:.1f}s)",
            file=sys.stderr,
        )
    return result


def _compute_local(ds: Dataset, judge: Any, text_judge: Any, overlap: Sequence[Any] | None,
                   describe: Any, cache: Cache | str | bool | None, opts: dict[str, Any],
                   show_progress: bool | None, retry_errors: bool = False) -> AuditOutputs:
    """Every per-sample output of the audit, in this process."""
    store = open_cache(cache)
    pair_judge = create("judge", judge, **opts)
    txt_judge = create("judge", text_judge, **opts) if text_judge is not None else pair_judge
    scorers = [create("overlap", o) for o in (overlap or ())]

    described = describe_images(ds, describe, store, show_progress=show_progress,
                                retry_errors=retry_errors)
    image_text = described.image_text
    rows = [i for i, s in enumerate(ds) if s.load_error is None]
    stats: list[RunStats] = list(described.stats)

    pair_in = [JudgeInput(ds[i].text, ds[i].image, image_text[i]) for i in rows]
    text_in = [JudgeInput(ds[i].text) for i in rows]
    pair_v = _run_judge(pair_judge, pair_in, store, stats, "J(T,I)", show_progress,
                        retry_errors)
    text_v = _run_judge(txt_judge, text_in, store, stats, "J(T)", show_progress, retry_errors)
    ov_in = [OverlapInput(ds[i].text, ds[i].image, image_text[i]) for i in rows]
    overlaps = {sc.name: _run_overlap(sc, ov_in, store, stats, show_progress, retry_errors)
                for sc in scorers}
    return AuditOutputs(described=described, rows=rows, pair=pair_v, text=text_v,
                        overlaps=overlaps, stats=stats, pair_judge=pair_judge,
                        text_judge=txt_judge, scorers=scorers,
                        judge_usage=_usage(pair_judge, txt_judge))


def _usage(*judges: Any) -> dict[str, Any]:
    """HTTP judges' request/retry/refusal/token/cost counters, summed over distinct judges."""
    total: dict[str, Any] = {}
    for j in {id(j): j for j in judges}.values():
        usage = getattr(j, "usage", None)
        if not isinstance(usage, dict):
            continue
        for k, v in usage.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
    return total


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


def _judge_key(judge: Any, x: JudgeInput) -> str:
    img = x.image.sha256 if (x.image is not None and judge.uses_image_pixels) else None
    if x.image is not None and img is None and not x.image_text:
        img = "image-without-text"  # J(T,I) must never share J(T)'s key
    return content_key("judge", x.text, img, x.image_text)


def _overlap_key(scorer: Any, x: OverlapInput) -> str:
    uses_px = getattr(scorer, "uses_image_pixels", False)
    return content_key("overlap", x.text, x.image.sha256 if (uses_px and x.image) else None,
                       x.image_text)


def _run_judge(judge: Any, inputs: list[JudgeInput], store: Cache, stats: list[RunStats],
               label: str, show_progress: bool | None, retry_errors: bool = False
               ) -> list[Verdict]:
    if not inputs:
        return []
    outs = run_detector(
        f"judge:{judge.fingerprint}", inputs, lambda x: _judge_key(judge, x),
        lambda xs: [v.to_json() for v in judge.judge(xs)],
        lambda err, kind: Verdict.failed(err, kind).to_json(), store, stats,
        desc=f"{label} {judge.name}", batch_size=getattr(judge, "batch_size", 256),
        show_progress=show_progress, retry_errors=retry_errors)
    return [Verdict.from_json(o) for o in outs]


def _run_overlap(scorer: Any, inputs: list[OverlapInput], store: Cache, stats: list[RunStats],
                 show_progress: bool | None, retry_errors: bool = False) -> list[Overlap]:
    if not inputs:
        return []
    outs = run_detector(
        f"overlap:{scorer.fingerprint}", inputs, lambda x: _overlap_key(scorer, x),
        lambda xs: [o.to_json() for o in scorer.score(xs)],
        lambda err, kind: Overlap(score=None, error=err, failure=kind).to_json(), store,
        stats, desc=f"overlap {scorer.name}", batch_size=getattr(scorer, "batch_size", 256),
        show_progress=show_progress, retry_errors=retry_errors)
    return [Overlap.from_json(o) for o in outs]


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


def _prob(v: Verdict) -> float | None:
    """The verdict's probability; None for a failed or refused verdict, whatever it carries."""
    if v.unsafe is None:
        return None
    if v.p_unsafe is not None:
        return float(v.p_unsafe)
    return 1.0 if v.unsafe else 0.0


def _verdict_error(v: Verdict, label: str) -> str | None:
    if v.refused:
        return f"{label}: judge refused" + (f" ({v.error})" if v.error else "")
    if v.unsafe is None:
        return f"{label}: {v.error or 'no verdict'}"
    return None


def _error_kind(pv: Verdict, tv: Verdict) -> str | None:
    """The failure kind of a row whose judges did not both answer (J(T,I)'s first), or None.
    ``unclassified`` for a third-party judge's failure that carries no kind."""
    for v in (pv, tv):
        if v.unsafe is None:
            return v.failure or "unclassified"
    return None


def _evidence(pv: Verdict, tv: Verdict, shared: list[str], ovs: dict[str, Overlap]) -> str:
    parts: list[str] = []
    if shared:
        parts.append("text already names the image's " + ", ".join(shared))
    for label, v in (("J(T)", tv), ("J(T,I)", pv)):
        if v.unsafe is None:
            continue
        p = f" p={v.p_unsafe:.2f}" if v.p_unsafe is not None else ""
        cats = f" [{', '.join(v.categories)}]" if v.categories else ""
        ev = f" ({', '.join(v.evidence)})" if v.evidence else ""
        parts.append(f"{label} {'unsafe' if v.unsafe else 'safe'}{p}{cats}{ev}")
    scored = [f"{k}={o.score:.2f}" for k, o in ovs.items() if o.score is not None]
    if scored:
        parts.append("overlap " + ", ".join(scored))
    return "; ".join(parts)


def _sample_frame(ds: Dataset, rows: list[int], image_text: list[str | None],
                  source: list[str | None], extra: list[dict[str, Any]], pair_v: list[Verdict],
                  text_v: list[Verdict], overlaps: dict[str, list[Overlap]]) -> pd.DataFrame:
    pos = {r: j for j, r in enumerate(rows)}
    records: list[dict[str, Any]] = []
    for i, s in enumerate(ds):
        rec: dict[str, Any] = {
            "id": s.id, "category": s.category, "sub_category": s.sub_category, "text": s.text,
            "image": str(s.image) if s.image is not None else None,
            "image_text": image_text[i], "image_text_source": source[i],
        }
        j = pos.get(i)
        if j is None:
            rec.update(pair_unsafe=None, text_unsafe=None, p_pair_unsafe=None,
                       p_text_unsafe=None, leaky=None, leakage_score=None, pair_categories=[],
                       text_categories=[], shared_concepts=[], evidence="",
                       error=f"load: {s.load_error}", error_kind="load")
            for name in overlaps:
                rec[f"overlap_{name}"] = None
            records.append(rec)
            continue
        pv, tv = pair_v[j], text_v[j]
        ovs = {name: vals[j] for name, vals in overlaps.items()}
        shared = sorted({c for o in ovs.values() for c in o.concepts})
        errors = [e for e in (_verdict_error(pv, "J(T,I)"), _verdict_error(tv, "J(T)")) if e]
        notes = [f"overlap {k} not scored: {o.error}" for k, o in ovs.items()
                 if o.error and o.score is None and image_text[i]]
        pp, pt = _prob(pv), _prob(tv)
        leaky = None if (pv.unsafe is None or tv.unsafe is None) else bool(pv.unsafe and tv.unsafe)
        rec.update(
            pair_unsafe=pv.unsafe, text_unsafe=tv.unsafe, p_pair_unsafe=pp, p_text_unsafe=pt,
            leaky=leaky,
            leakage_score=leakage_score(pp, pt, [o.score for o in ovs.values()
                                                 if o.score is not None]),
            pair_categories=list(pv.categories), text_categories=list(tv.categories),
            shared_concepts=shared,
            evidence="; ".join(x for x in (_evidence(pv, tv, shared, ovs),
                                           extra[i].get("describe_error"), *notes) if x),
            error="; ".join(errors) if errors else None,
            error_kind=_error_kind(pv, tv),
        )
        for name, o in ovs.items():
            rec[f"overlap_{name}"] = o.score
        records.append(rec)
    df = pd.DataFrame.from_records(records)
    for c in ("pair_unsafe", "text_unsafe", "leaky"):
        df[c] = df[c].astype("boolean")
    for c in ("p_pair_unsafe", "p_text_unsafe", "leakage_score",
              *[f"overlap_{n}" for n in overlaps]):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return cast(pd.DataFrame, df)


def _nanmean(s: pd.Series) -> float:
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
            row[f"overlap_{name}"] = _nanmean(g[f"overlap_{name}"])
        out.append(row)
    res = pd.DataFrame(out)
    res = res.sort_values(["category", "sub_category"], key=lambda s: s.replace("*", ""),
                          kind="stable").reset_index(drop=True)
    return cast(pd.DataFrame, res)


def _info(d: Any) -> dict[str, Any]:
    return {"name": d.name, "kind": d.kind, "fingerprint": d.fingerprint, **d.info()}


def _provenance(ds: Dataset, pair_judge: Any, text_judge: Any, scorers: list[Any],
                describers: list[Any], describe: Any) -> dict[str, Any]:
    return {
        "vsil_version": __version__,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "dataset": {"name": ds.name, "n": len(ds), "sha256": ds.content_hash,
                    "skipped_at_load": len(ds.skipped),
                    **{k: v for k, v in ds.info.items() if k in ("path", "loader", "variant",
                                                                  "images", "embedded")}},
        "judge_mode": "same judge for J(T,I) and J(T)" if pair_judge is text_judge
        else "separate text judge for J(T)",
        "judge": _info(pair_judge),
        "text_judge": _info(text_judge),
        "overlap": [_info(s) for s in scorers],
        "describers": [_info(d) for d in describers],
        "describe": describe if isinstance(describe, bool | str | None)
        else [str(d) for d in describe],
    }
