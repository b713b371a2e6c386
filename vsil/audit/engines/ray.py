"""The audit on Ray Data: detectors run as actor pools over ``map_batches``; rows go to Parquet.

The per-sample work of `vsil.audit` (describe, J(T, I), J(T), overlap scores) runs in Ray
actors; the summary is then built by the same code as the single-process audit, from the rows
read back from the Parquet files. See docs/scale.md.

* Each pool is a callable class (`ray_worker.Worker`): its ``__init__`` builds its detectors
  once per actor from the plan's rebuild specs (``create(kind, spec, **options)``), or
  unpickles detector objects the user passed in, and loads their models (``warmup()``) before
  the first batch arrives; ``num_gpus``/``num_cpus``/``concurrency`` are set per pool.
* ``fuse=True`` (default): one pool whose actors hold every detector, so that detectors sharing
  a model (the embedded judge and the embedding overlap both use MiniLM) share it and its
  in-process memo, as in one process. ``fuse=False``: one pool per detector (``"describe"``,
  ``"judge"`` (J(T, I), and J(T) when no separate text judge), ``"text_judge"``,
  ``"overlap:NAME"``), e.g. a GPU pool for the judge and CPU pools for the rest.
* Every actor opens the SQLite cache at the same path (WAL mode serialises writers); the path
  must be on a file system every node can reach and that supports SQLite locking.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vsil.audit.describe import DescribeArg, Described
from vsil.audit.engines.ray_worker import STAT_COLS, Role, Worker, opt_str
from vsil.audit.outputs import AuditOutputs
from vsil.audit.plan import AuditPlan, CacheArg, DetectorSpec, plan_audit
from vsil.dataset import Dataset, load
from vsil.detectors import Judge, Overlap, OverlapScorer, Verdict
from vsil.runtime.batched import RunStats
from vsil.runtime.failures import DetectorUnavailable, EndpointUnavailable, Unavailable

RAY_EXTRA = "the Ray engine needs Ray Data: pip install 'vsil[ray]'"
FUSED = "audit"


# --- options and results -------------------------------------------------------------------
@dataclass
class RayOptions:
    """How the Ray engine runs (all optional).

    Attributes:
        address: Ray cluster to join (``"auto"``, ``"ray://host:10001"``); default: the running
            Ray instance, else a new local one.
        concurrency: actors per pool, by pool name (``"audit"`` when fused; ``"describe"``,
            ``"judge"``, ``"text_judge"``, ``"overlap:NAME"`` otherwise; ``"*"`` for all
            others). Default 1 per pool, or the cluster's CPUs (GPUs) when fused.
        num_gpus, num_cpus: resources per actor, by pool name (same keys). Default: 0 GPUs
            and 1 CPU (0.25 CPU for overlap pools when not fused).
        batch_size: at most this many rows per ``map_batches`` batch (default 512); the
            batches are made equal in size and their count a multiple of the first pool's
            actors.
        parquet_dir: where the per-sample rows are written (local path or URI every worker
            can write to); default: a temporary directory, removed after the run.
        fuse: one pool holding every detector (default) or one pool per detector.
        torch_threads: ``torch.set_num_threads`` in each actor (default: torch's own choice).
        env: extra environment variables for the actors (e.g. ``HF_HUB_OFFLINE``).
    """

    address: str | None = None
    concurrency: Mapping[str, int] | int | None = None
    num_gpus: Mapping[str, float] | float | None = None
    num_cpus: Mapping[str, float] | float | None = None
    batch_size: int = 512
    parquet_dir: str | os.PathLike[str] | None = None
    fuse: bool = True
    torch_threads: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)


# --- input conversion --------------------------------------------------------------------------
def is_ray_dataset(obj: Any) -> bool:
    """True for a ``ray.data.Dataset`` (checked without importing Ray)."""
    return type(obj).__module__.startswith("ray.data")


def from_ray(data: Any, *, name: str | None = None, **load_kwargs: Any) -> Dataset:
    """A vsil Dataset from a ``ray.data.Dataset`` (materialised on the driver; the usual
    column mapping of `vsil.load` applies, e.g. ``text="question"``)."""
    if not is_ray_dataset(data):
        raise TypeError(f"from_ray needs a ray.data.Dataset, got {type(data).__name__}")
    frame = data.to_pandas()
    return load(frame, name=name or "ray_dataset", **load_kwargs)


# --- driver ---------------------------------------------------------------------------------
def _shippable(spec: DetectorSpec, label: str) -> None:
    if isinstance(spec.spec, str):
        return
    from ray import cloudpickle

    try:
        cloudpickle.dumps(spec.spec)  # type: ignore[no-untyped-call]
    except Exception as e:
        raise TypeError(
            f"the Ray engine cannot ship the {label} object {type(spec.spec).__name__!r} to its "
            f"workers (it does not pickle: {type(e).__name__}: {e}); pass it by name "
            f"(e.g. judge='openai:MODEL' with judge_options) so each worker builds its own"
        ) from e


def _per_pool(value: Mapping[str, Any] | Any, pool: str, default: Any) -> Any:
    if isinstance(value, Mapping):
        if pool in value:
            return value[pool]
        if pool.startswith("overlap:") and "overlap" in value:
            return value["overlap"]
        return value.get("*", default)
    return default if value is None else value


def _connect(address: str | None, env: Mapping[str, str]) -> Any:
    try:
        import ray
    except ImportError as e:
        raise ImportError(RAY_EXTRA) from e
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": dict(env)} if env else None)
    return ray


def batch_sizes(n_rows: int, batch_size: int, actors: int) -> list[int]:
    """Rows per batch: each at most ``batch_size``, all within one row of each other, and
    their count a multiple of ``actors`` (when there are enough rows), so that no actor sits
    idle while another finishes a last, larger share."""
    if n_rows <= 0:
        return []
    count = math.ceil(n_rows / max(1, batch_size))
    count = min(n_rows, math.ceil(count / max(1, actors)) * max(1, actors))
    small, extra = divmod(n_rows, count)
    return [small + 1] * extra + [small] * (count - extra)


def _input_blocks(ds: Dataset, rows: list[int], image_text: list[str | None],
                  sizes: list[int]) -> list[Any]:
    """One Arrow block per batch (each pool's batch is one whole block)."""
    import pyarrow as pa

    blocks = []
    start = 0
    for size in sizes:
        chunk = rows[start:start + size]
        start += size
        blocks.append(pa.table({
            "_row": pa.array(chunk, pa.int64()),
            "id": pa.array([ds[i].id for i in chunk], pa.string()),
            "text": pa.array([ds[i].text for i in chunk], pa.string()),
            "image_text": pa.array([image_text[i] for i in chunk], pa.string()),
            "_image": pa.array([pickle.dumps(ds[i].image) if ds[i].image is not None else None
                                for i in chunk], pa.binary()),
        }))
    return blocks


def _fresh_dir(parquet_dir: str | os.PathLike[str] | None) -> tuple[str, bool]:
    if parquet_dir is None:
        return tempfile.mkdtemp(prefix="vsil-ray-"), True
    s = str(parquet_dir)
    if "://" not in s:
        p = Path(s)
        if p.exists() and any(p.iterdir()):
            raise FileExistsError(f"parquet_dir {s!r} is not empty; give a new directory")
        p.mkdir(parents=True, exist_ok=True)
        s = str(p.resolve())
    return s, False


class RayEngine:
    """Computes the audit's per-sample outputs on Ray Data actor pools."""

    name = "ray"

    def __init__(self, options: RayOptions | None = None) -> None:
        self.options = options or RayOptions()
        if self.options.batch_size < 1:
            raise ValueError("batch_size must be >= 1")

    def compute(self, dataset: Dataset, plan: AuditPlan) -> AuditOutputs:
        """Every per-sample output, from the rows the last pool wrote to Parquet."""
        opt = self.options
        names = plan.overlap_names
        if len(set(names)) != len(names):
            raise ValueError(f"overlap scorers need distinct names, got {names}")
        roles = _roles(plan)
        described = Described.from_dataset([s.image_text for s in dataset])
        described.detectors = plan.describer_objects
        rows = [i for i, s in enumerate(dataset) if s.load_error is None]
        out_dir, temporary = _fresh_dir(opt.parquet_dir)
        try:
            try:
                frame = _run_pipeline(dataset, rows, described.image_text, roles,
                                      plan.cache.path, opt, out_dir, plan.cache.retry_errors)
            except Exception as e:
                cause = _unavailable(e)
                if cause is None:
                    raise
                raise type(cause)(str(cause)) from e
            result = _collect(frame, rows, described, plan,
                              any(r.role == "describe" for _, r in roles))
        finally:
            if temporary:
                shutil.rmtree(out_dir, ignore_errors=True)
        result.parquet_dir = None if temporary else out_dir
        return result


def _spec(spec: DetectorSpec, label: str) -> DetectorSpec:
    _shippable(spec, label)
    return spec


def _roles(plan: AuditPlan) -> list[tuple[str, Role]]:
    """(pool, role) for every job, in the order the rows pass through them."""
    if plan.specs is None:
        raise ValueError("the Ray engine needs a plan from plan_audit (with rebuild specs)")
    pair = _spec(plan.specs.pair, "judge")
    text = _spec(plan.specs.text, "text judge") if plan.specs.text is not None else None
    overlaps = [_spec(s, "overlap scorer") for s in plan.specs.overlaps]
    roles: list[tuple[str, Role]] = []
    if plan.describers:
        specs = tuple(_spec(s, "describer") if s is not None else None
                      for s in plan.specs.describers)
        roles.append(("describe", Role("describe", describers=specs,
                                       describe_errors=tuple(e for _, e in plan.describers),
                                       force=plan.force_describe)))
    roles.append(("judge", Role("pair", spec=pair)))
    roles.append(("text_judge" if text else "judge", Role("text", spec=text or pair)))
    if plan.image_judge is not None:
        # J(I): on the text judge's actors when it is that judge, else in its own pool
        if plan.specs.image is not None:
            roles.append(("image_judge", Role("image", spec=_spec(plan.specs.image,
                                                                  "image judge"))))
        elif plan.image_judge is plan.pair_judge:
            roles.append(("text_judge" if text else "judge", Role("image", spec=pair)))
        else:
            roles.append(("text_judge" if text else "judge", Role("image", spec=text or pair)))
    roles += [(f"overlap:{n}", Role("overlap", spec=s, name=n))
              for n, s in zip(plan.overlap_names, overlaps, strict=True)]
    return roles


def audit_ray(
    ds: Dataset,
    judge: str | Judge = "embedded",
    text_judge: str | Judge | None = None,
    overlap: Sequence[str | OverlapScorer] | str | None = ("embedding", "lexical"),
    describe: DescribeArg = "auto",
    cache: CacheArg = True,
    *,
    judge_options: Mapping[str, Any] | None = None,
    options: RayOptions | None = None,
    retry_errors: bool = False,
) -> AuditOutputs:
    """Compute the per-sample outputs of `vsil.audit` on Ray Data.

    Arguments mean what they mean in `vsil.audit`; detectors given by name are rebuilt in
    every actor (``create(kind, spec, **judge_options)``), detector objects are pickled to
    the actors. The rows are written to Parquet (``options.parquet_dir``) and read back.
    """
    engine = RayEngine(options)
    plan = plan_audit(ds, judge, text_judge, overlap, describe, cache,
                      judge_options=judge_options, retry_errors=retry_errors)
    return engine.compute(ds, plan)


_UNAVAILABLE_LINE = re.compile(
    r"(?:^|[\s.])(DetectorUnavailable|EndpointUnavailable|ModelUnavailableError|"
    r"ClipWeightsUnavailable): (.+)$", re.MULTILINE)


def _unavailable(e: BaseException) -> Unavailable | None:
    """The `Unavailable` error behind a Ray failure. Ray Data passes an actor's exception on
    as text (its traceback inside a ``UserCodeException``), so the text is read too."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [e]
    texts: list[str] = []
    while todo:
        x = todo.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, Unavailable):
            return x
        texts.append(str(x))
        todo += [x.__cause__, x.__context__, getattr(x, "cause", None)]
    for text in texts:
        found = _UNAVAILABLE_LINE.findall(text)
        if found:
            kind, message = found[-1]
            cls = EndpointUnavailable if kind == "EndpointUnavailable" else DetectorUnavailable
            return cls(message.strip())
    return None


def _run_pipeline(ds: Dataset, rows: list[int], image_text: list[str | None],
                  roles: list[tuple[str, Role]], cache_path: str | None, opt: RayOptions,
                  out_dir: str, retry_errors: bool = False) -> pd.DataFrame:
    if not rows:
        empty: pd.DataFrame = pd.DataFrame()
        return empty
    ray = _connect(opt.address, opt.env)
    ctx = ray.data.DataContext.get_current()
    if os.environ.get("VSIL_PROGRESS", "1") == "0":
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
    pools: list[tuple[str, list[Role]]] = []
    if opt.fuse:
        pools.append((FUSED, [role for _, role in roles]))
    else:
        for pool, role in roles:
            if pools and pools[-1][0] == pool:
                pools[-1][1].append(role)
            else:
                pools.append((pool, [role]))
    resources = ray.cluster_resources()
    plans: list[tuple[str, list[Role], int, float, float]] = []
    for pool, pool_roles in pools:
        gpus = float(_per_pool(opt.num_gpus, pool, 0.0))
        cpus = float(_per_pool(opt.num_cpus, pool,
                               0.25 if pool.startswith("overlap:") else 1.0))
        if pool == FUSED:
            fit = (resources.get("GPU", 0) / gpus if gpus else resources.get("CPU", 1) / cpus)
            default_n = max(1, int(fit))
        else:
            default_n = 1
        n = max(1, int(_per_pool(opt.concurrency, pool, default_n)))
        plans.append((pool, pool_roles, n, cpus, gpus))
    sizes = batch_sizes(len(rows), opt.batch_size, plans[0][2])
    rds = ray.data.from_arrow(_input_blocks(ds, rows, image_text, sizes))
    for k, (_, pool_roles, n, cpus, gpus) in enumerate(plans):
        rds = rds.map_batches(
            Worker, batch_size=None, batch_format="pandas",
            fn_constructor_kwargs={"roles": pool_roles, "cache_path": cache_path,
                                   "torch_threads": opt.torch_threads,
                                   "sink": out_dir if k == len(plans) - 1 else None,
                                   "retry_errors": retry_errors},
            compute=ray.data.ActorPoolStrategy(size=n),
            num_cpus=cpus, num_gpus=gpus or None,
        )
    # the last pool writes its rows itself (no write tasks competing for the actors' CPUs);
    # the driver only drives the run, and `_collect` checks the rows read back
    for _ in rds.iter_batches(batch_size=None):
        pass
    import pyarrow.parquet as pq

    table: pd.DataFrame = pq.read_table(out_dir).to_pandas()
    return table


def _collect(frame: pd.DataFrame, rows: list[int], described: Described, plan: AuditPlan,
             has_describe: bool) -> AuditOutputs:
    """The outputs from the rows read back (checked: every row once, in order)."""
    names = plan.overlap_names
    if not rows:
        return AuditOutputs(described=described, rows=[], pair=[], text=[],
                            overlaps={n: [] for n in names}, stats=[],
                            pair_judge=plan.pair_judge, text_judge=plan.text_judge,
                            scorers=plan.scorers)
    # a batch retried after its actor died may have been written twice: the rows are equal
    frame = (frame.drop_duplicates("_row", keep="last").sort_values("_row", kind="stable")
             .reset_index(drop=True))
    got = [int(r) for r in frame["_row"]]
    if got != rows:
        raise RuntimeError(f"the Ray pipeline returned {len(got)} rows for {len(rows)} inputs")
    stats: list[RunStats] = []
    cols = ["describe"] if has_describe else []
    has_image = "_image_verdict" in frame
    for col in [*cols, "pair", "text", *(["image"] if has_image else []),
                *[f"overlap_{n}" for n in names]]:
        total, hits, computed = (int(frame[f"{c}:{col}"].sum()) for c in STAT_COLS)
        stats.append(RunStats(total=total, unique=hits + computed, cache_hits=hits,
                              computed=computed))
    span = float(frame["_batch_end"].max() - frame["_batch_start"].min())
    usage: dict[str, float] = {}
    for role in ("pair", "text", *(["image"] if has_image else [])):
        for blob in frame[f"_usage:{role}"]:
            for k, v in json.loads(str(blob)).items():
                usage[k] = usage.get(k, 0) + v
    if has_describe:
        for j, i in enumerate(rows):
            described.image_text[i] = opt_str(frame["image_text"].iat[j])
            described.source[i] = opt_str(frame["image_text_source"].iat[j])
            described.extra[i] = json.loads(str(frame["_describe"].iat[j]))
        described.stats = stats[:1]
    warnings = list(dict.fromkeys(
        w for blob in frame["_warnings"] for w in str(blob).split("\n") if w))
    pair = [Verdict.from_json(json.loads(x)) for x in frame["_pair"]]
    text = [Verdict.from_json(json.loads(x)) for x in frame["_text"]]
    overlaps = {n: [Overlap.from_json(json.loads(x)) for x in frame[f"_overlap_{n}"]]
                for n in names}
    image: list[Verdict | None] = []
    where: list[str] = []
    if has_image:
        image = [None if (d := json.loads(str(x))) is None else Verdict.from_json(d)
                 for x in frame["_image_verdict"]]
        where = [str(x) if isinstance(x, str) else "" for x in frame["_image_where"]]
    return AuditOutputs(described=described, rows=rows, pair=pair, text=text,
                        overlaps=overlaps, stats=stats, pair_judge=plan.pair_judge,
                        text_judge=plan.text_judge, scorers=plan.scorers, span_s=span,
                        judge_usage=usage, warnings=warnings, image=image,
                        image_sources=where, image_judge=plan.image_judge)
