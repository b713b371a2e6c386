"""`vsil.audit`: judge every pair twice, J(T, I) and J(T); score overlaps; summarise.

The steps, each in its own module: load the data (`vsil.dataset`), build the plan once
(`plan.py`), compute the per-sample outputs with an engine (`engines/`), assemble the result
(`assemble.py`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from vsil.audit.assemble import assemble, summary_line
from vsil.audit.describe import DescribeArg
from vsil.audit.engines import Engine, get_engine
from vsil.audit.engines.ray import from_ray, is_ray_dataset
from vsil.audit.plan import CacheArg, ImageJudgeArg, plan_audit
from vsil.audit.result import AuditResult
from vsil.dataset import load
from vsil.detectors import Judge, OverlapScorer

if TYPE_CHECKING:
    from vsil.audit.engines.ray import RayOptions


def audit(
    data: Any,
    judge: str | Judge = "embedded",
    overlap: Sequence[str | OverlapScorer] | str | None = ("embedding", "lexical"),
    *,
    text_judge: str | Judge | None = None,
    image_judge: ImageJudgeArg = "auto",
    judge_options: Mapping[str, Any] | None = None,
    describe: DescribeArg = "auto",
    cache: CacheArg = True,
    show_progress: bool | None = None,
    quiet: bool = False,
    seed: int = 0,
    engine: Literal["local", "ray"] | Engine = "local",
    ray_options: RayOptions | Mapping[str, Any] | None = None,
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
        image_judge: the judge of J(I), the image alone, behind each sample's
            ``harm_source`` (text / image / joint / none / unjudged): ``"auto"`` (the J(T)
            judge on the image's text), a judge name or object (on pixels when it sees them,
            e.g. ``"shieldgemma2"``), or None for no J(I). See docs/results.md.
        judge_options: keyword arguments for judges given by name (``base_url``, ``api_key``,
            ``concurrency``, ``device`` ...); see each judge's docs.
        describe: fill missing ``image_text`` from the images (``"auto"``), force describers
            (``True`` or names), or never (``False``).
        cache: True for the default disk cache, False for none, or a path/Cache.
        show_progress: force progress bars on or off (default: on for long work).
        quiet: do not print the final summary line.
        seed: seed of the bootstrap interval.
        engine: ``"local"`` (one process; batched models, bounded HTTP concurrency),
            ``"ray"`` (detectors as Ray Data actor pools; see docs/scale.md), or any
            `vsil.audit.engines.Engine`. A ``ray.data.Dataset`` input always runs on Ray.
        ray_options: a `vsil.audit.engines.ray.RayOptions` or a dict of its fields
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
    started = time.perf_counter()
    if is_ray_dataset(data):
        ds, engine = from_ray(data, **load_kwargs), "ray"
    else:
        ds = load(data, **load_kwargs)
    runner = get_engine(engine, ray_options)
    plan = plan_audit(ds, judge, text_judge, overlap, describe, cache,
                      judge_options=judge_options, retry_errors=retry_errors,
                      show_progress=show_progress, image_judge=image_judge)
    out = runner.compute(ds, plan)
    result = assemble(ds, plan, out, engine=runner.name, seed=seed)
    result.provenance["elapsed_s"] = round(time.perf_counter() - started, 3)
    if not quiet:
        for w in out.warnings:
            print(f"vsil: warning: {w}", file=sys.stderr)
        print(summary_line(result), file=sys.stderr)
    return result
