"""The audit on Ray Data: detectors run as actor pools over ``map_batches``; rows go to Parquet.

The per-sample work of `vsil.audit` (describe, J(T, I), J(T), overlap scores) runs in Ray
actors; the summary is then built by the same code as the single-process audit, from the rows
read back from the Parquet files. See docs/scale.md.

* Each pool is a callable class: its ``__init__`` builds its detectors once per actor from
  their spec strings (``create(kind, spec, **options)``), or unpickles detector objects the
  user passed in, and loads their models (``warmup()``) before the first batch arrives;
  ``num_gpus``/``num_cpus``/``concurrency`` are set per pool.
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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vsil.audit.describe import Described, _resolve, describe_rows
from vsil.audit.outputs import AuditOutputs
from vsil.dataset import Dataset, ImageRef, load
from vsil.detectors import JudgeInput, Overlap, OverlapInput, Verdict, create
from vsil.detectors._base import warm_up
from vsil.runtime.batched import RunStats
from vsil.runtime.cache import Cache, NullCache, default_cache_dir, open_cache
from vsil.runtime.failures import (
    DetectorUnavailable,
    EndpointUnavailable,
    Unavailable,
    describe_exception,
)

RAY_EXTRA = "the Ray engine needs Ray Data: pip install 'vsil[ray]'"
FUSED = "audit"
_STAT_COLS = ("_total", "_hits", "_computed")


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


RayOutputs = AuditOutputs  # the Ray engine returns the same outputs as the local one


@dataclass(frozen=True)
class DetectorSpec:
    """A detector that each actor can rebuild: a spec string + options, or a detector object."""

    kind: str
    spec: Any
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        if isinstance(self.spec, str):
            return create(self.kind, self.spec, **dict(self.options))  # type: ignore[arg-type]
        return self.spec


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


# --- workers ------------------------------------------------------------------------------------
def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _image(blob: Any) -> ImageRef | None:
    if _missing(blob):
        return None
    ref: ImageRef = pickle.loads(blob)
    return ref


def _opt_str(v: Any) -> str | None:
    return None if _missing(v) else str(v)


class _Worker:
    """One actor of a pool: builds its detectors once, then runs them on every batch.

    ``roles`` is a list of ``(role, payload)``: ``("describe", (describers, force))`` with
    ``describers`` a list of ``(DetectorSpec | None, error | None)``; ``("pair", spec)``,
    ``("text", spec)``; ``("overlap", (name, spec))``.
    """

    def __init__(self, roles: list[tuple[str, Any]], cache_path: str | None,
                 torch_threads: int | None = None, sink: str | None = None,
                 retry_errors: bool = False) -> None:
        self.worker = f"{os.uname().nodename}:{os.getpid()}"
        self.sink: tuple[Any, str] | None = None  # (file system, directory) of the last pool
        if sink is not None:
            import pyarrow.fs as pafs

            self.sink = pafs.FileSystem.from_uri(sink)
        self.batches = 0
        self.retry_errors = retry_errors
        self.warmup_errors: list[str] = []
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)
        self.store: Cache = open_cache(cache_path if cache_path else False)
        self.roles: list[tuple[str, Any]] = []
        built: dict[int, Any] = {}  # one instance per spec object (pair + text share a judge)

        def build(spec: DetectorSpec) -> Any:
            if id(spec) not in built:
                built[id(spec)] = spec.build()
            return built[id(spec)]

        for role, payload in roles:
            if role == "describe":
                dets, force = payload
                self.roles.append((role, ([(build(d) if d else None, e) for d, e in dets],
                                          force)))
            elif role in ("pair", "text"):
                self.roles.append((role, build(payload)))
            else:
                name, spec = payload
                self.roles.append((role, (name, build(spec))))
        for det in built.values():
            # a warmup that fails is reported (on the first row of every batch, and by the
            # driver); the detector still gets its first use, which fails as in one process
            # (never cached) or raises `DetectorUnavailable`
            try:
                warm_up(det)
            except Exception as e:
                self.warmup_errors.append(
                    f"warmup of {getattr(det, 'name', type(det).__name__)} failed on "
                    f"{self.worker}: {describe_exception(e)}")

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from vsil.audit.audit import _run_judge, _run_overlap

        started = time.time()
        out = batch.copy()
        texts = [str(t) for t in out["text"]]
        images = [_image(b) for b in out["_image"]]
        image_text = [_opt_str(t) for t in out["image_text"]]
        for role, payload in self.roles:
            stats: list[RunStats] = []
            if role == "describe":
                dets, force = payload
                image_text, source, extra = describe_rows(images, image_text, dets, force,
                                                           self.store, stats,
                                                           retry_errors=self.retry_errors)
                out["image_text"] = image_text
                out["image_text_source"] = source
                out["_describe"] = [_dumps(x) for x in extra]
                col = "describe"
            elif role in ("pair", "text"):
                ins = ([JudgeInput(t, im, it) for t, im, it in zip(texts, images, image_text,
                                                                  strict=True)]
                       if role == "pair" else [JudgeInput(t) for t in texts])
                label = "J(T,I)" if role == "pair" else "J(T)"
                before = _usage_of(payload)
                vs = _run_judge(payload, ins, self.store, stats, label, False,
                                self.retry_errors)
                usage = {k: v - before.get(k, 0) for k, v in _usage_of(payload).items()}
                out[f"_usage:{role}"] = [_dumps(usage)] + ["{}"] * (len(out) - 1)
                out[f"{role}_unsafe"] = [v.unsafe for v in vs]
                out[f"p_{role}_unsafe"] = [v.p_unsafe for v in vs]
                out[f"_{role}"] = [_dumps(v.to_json()) for v in vs]
                col = role
            else:
                name, scorer = payload
                oins = [OverlapInput(t, im, it) for t, im, it in zip(texts, images, image_text,
                                                                    strict=True)]
                ovs = _run_overlap(scorer, oins, self.store, stats, False, self.retry_errors)
                out[f"overlap_{name}"] = [o.score for o in ovs]
                out[f"_overlap_{name}"] = [_dumps(o.to_json()) for o in ovs]
                col = f"overlap_{name}"
            # batch statistics ride on the batch's first row
            for stat, attr in zip(_STAT_COLS, ("total", "cache_hits", "computed"), strict=True):
                vals = [0] * len(out)
                if len(out):
                    vals[0] = sum(getattr(s, attr) for s in stats)
                out[f"{stat}:{col}"] = vals
        warn = out["_warnings"] if "_warnings" in out else pd.Series([""] * len(out),
                                                                      index=out.index)
        if len(out) and self.warmup_errors:
            first = [w for w in str(warn.iat[0]).split("\n") if w]
            warn.iat[0] = "\n".join(dict.fromkeys(first + self.warmup_errors))
        out["_warnings"] = warn
        if "_batch_start" not in out:
            out["_batch_start"] = started
        out["_batch_end"] = time.time()
        out["_worker"] = self.worker
        if self.sink is None:  # the next pool takes the rows on
            passed: pd.DataFrame = out
            return passed
        return self._write(out.drop(columns=["_image"]))

    def _write(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Write the finished rows to one Parquet file under the sink; return their count."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.sink is not None
        fs, root = self.sink
        self.batches += 1
        name = f"{root}/part-{self.worker.replace(':', '-')}-{self.batches:06d}.parquet"
        pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), name, filesystem=fs)
        count: pd.DataFrame = pd.DataFrame({"rows": [len(rows)]})
        return count


def _usage_of(judge: Any) -> dict[str, float]:
    """The numeric counters of an HTTP judge's ``usage`` (requests, tokens, cost...)."""
    usage = getattr(judge, "usage", None)
    if not isinstance(usage, dict):
        return {}
    return {k: v for k, v in usage.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


# --- driver ---------------------------------------------------------------------------------
def _cache_path(cache: Cache | str | os.PathLike[str] | bool | None) -> str | None:
    """The SQLite file every actor opens (resolved on the driver), or None for no cache."""
    if isinstance(cache, NullCache) or cache is False:
        return None
    if isinstance(cache, Cache):
        return str(cache.path)
    if cache is None or cache is True:
        return str((default_cache_dir() / "cache.sqlite").resolve())
    p = Path(cache)
    return str((p / "cache.sqlite" if p.is_dir() or not p.suffix else p).resolve())


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


def audit_ray(
    ds: Dataset,
    judge: Any = "embedded",
    text_judge: Any = None,
    overlap: Sequence[Any] | str | None = ("embedding", "lexical"),
    describe: bool | str | Sequence[Any] | None = "auto",
    cache: Cache | str | os.PathLike[str] | bool | None = True,
    *,
    judge_options: Mapping[str, Any] | None = None,
    options: RayOptions | None = None,
    retry_errors: bool = False,
) -> RayOutputs:
    """Compute the per-sample outputs of `vsil.audit` on Ray Data.

    Arguments mean what they mean in `vsil.audit`; detectors given by name are rebuilt in
    every actor (``create(kind, spec, **judge_options)``), detector objects are pickled to
    the actors. The rows are written to Parquet (``options.parquet_dir``) and read back.
    """
    opt = options or RayOptions()
    if opt.batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    jopts = {k: v for k, v in (judge_options or {}).items() if v is not None}
    pair_spec = DetectorSpec("judge", judge, jopts)
    text_spec = DetectorSpec("judge", text_judge, jopts) if text_judge is not None else None
    if isinstance(overlap, str):
        overlap = [overlap]
    ov_specs = [DetectorSpec("overlap", o) for o in (overlap or ())]
    # driver-side instances: names and provenance (detectors load their models lazily)
    pair_judge = pair_spec.build()
    txt_judge = text_spec.build() if text_spec is not None else pair_judge
    scorers = [s.build() for s in ov_specs]
    names = [sc.name for sc in scorers]
    if len(set(names)) != len(names):
        raise ValueError(f"overlap scorers need distinct names, got {names}")
    for spec, label in [(pair_spec, "judge"), (text_spec, "text judge"),
                        *[(s, "overlap scorer") for s in ov_specs]]:
        if spec is not None:
            _shippable(spec, label)

    texts = [s.image_text for s in ds]
    described = Described(list(texts), ["dataset" if t else None for t in texts],
                          [{} for _ in texts])
    ok = [s.load_error is None for s in ds]
    rows = [i for i in range(len(ds)) if ok[i]]
    specs, force = _resolve(describe)
    targets = [i for i in rows if ds[i].image is not None and (force or not texts[i])]
    describers: list[tuple[DetectorSpec | None, str | None]] = []
    if specs and targets:
        for spec in specs:
            try:
                det = create("describer", spec)
            except (ImportError, ValueError) as e:
                if describe != "auto":
                    raise
                describers.append((None, f"no describer available: {e}"))
                continue
            described.detectors.append(det)
            dspec = DetectorSpec("describer", spec)
            _shippable(dspec, "describer")
            describers.append((dspec, None))

    roles: list[tuple[str, str, Any]] = []  # (pool, role, payload)
    if describers:
        roles.append(("describe", "describe", (describers, force)))
    roles.append(("judge", "pair", pair_spec))
    roles.append(("text_judge" if text_spec else "judge", "text", text_spec or pair_spec))
    roles += [(f"overlap:{n}", "overlap", (n, s)) for n, s in zip(names, ov_specs, strict=True)]

    out_dir, temporary = _fresh_dir(opt.parquet_dir)
    try:
        try:
            frame = _run_pipeline(ds, rows, described.image_text, roles, _cache_path(cache),
                                  opt, out_dir, retry_errors)
        except Exception as e:
            cause = _unavailable(e)
            if cause is None:
                raise
            raise type(cause)(str(cause)) from e
        result = _collect(frame, rows, described, names, bool(describers))
    finally:
        if temporary:
            shutil.rmtree(out_dir, ignore_errors=True)
    result.pair_judge, result.text_judge, result.scorers = pair_judge, txt_judge, scorers
    result.parquet_dir = None if temporary else out_dir
    return result


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
                  roles: list[tuple[str, str, Any]], cache_path: str | None, opt: RayOptions,
                  out_dir: str, retry_errors: bool = False) -> pd.DataFrame:
    if not rows:
        empty: pd.DataFrame = pd.DataFrame()
        return empty
    ray = _connect(opt.address, opt.env)
    ctx = ray.data.DataContext.get_current()
    if os.environ.get("VSIL_PROGRESS", "1") == "0":
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
    pools: list[tuple[str, list[tuple[str, Any]]]] = []
    if opt.fuse:
        pools.append((FUSED, [(role, payload) for _, role, payload in roles]))
    else:
        for pool, role, payload in roles:
            if pools and pools[-1][0] == pool:
                pools[-1][1].append((role, payload))
            else:
                pools.append((pool, [(role, payload)]))
    resources = ray.cluster_resources()
    plans: list[tuple[str, list[tuple[str, Any]], int, float, float]] = []
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
            _Worker, batch_size=None, batch_format="pandas",
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


def _collect(frame: pd.DataFrame, rows: list[int], described: Described, names: list[str],
             has_describe: bool) -> RayOutputs:
    if not rows:
        return RayOutputs(described=described, rows=[], pair=[], text=[],
                          overlaps={n: [] for n in names}, stats=[], pair_judge=None,
                          text_judge=None, scorers=[])
    # a batch retried after its actor died may have been written twice: the rows are equal
    frame = (frame.drop_duplicates("_row", keep="last").sort_values("_row", kind="stable")
             .reset_index(drop=True))
    got = [int(r) for r in frame["_row"]]
    if got != rows:
        raise RuntimeError(f"the Ray pipeline returned {len(got)} rows for {len(rows)} inputs")
    stats: list[RunStats] = []
    cols = ["describe"] if has_describe else []
    for col in [*cols, "pair", "text", *[f"overlap_{n}" for n in names]]:
        total, hits, computed = (int(frame[f"{c}:{col}"].sum()) for c in _STAT_COLS)
        stats.append(RunStats(total=total, unique=hits + computed, cache_hits=hits,
                              computed=computed))
    span = float(frame["_batch_end"].max() - frame["_batch_start"].min())
    usage: dict[str, float] = {}
    for role in ("pair", "text"):
        for blob in frame[f"_usage:{role}"]:
            for k, v in json.loads(str(blob)).items():
                usage[k] = usage.get(k, 0) + v
    if has_describe:
        for j, i in enumerate(rows):
            described.image_text[i] = _opt_str(frame["image_text"].iat[j])
            described.source[i] = _opt_str(frame["image_text_source"].iat[j])
            described.extra[i] = json.loads(str(frame["_describe"].iat[j]))
        described.stats = stats[:1]
    warnings = list(dict.fromkeys(
        w for blob in frame["_warnings"] for w in str(blob).split("\n") if w))
    pair = [Verdict.from_json(json.loads(x)) for x in frame["_pair"]]
    text = [Verdict.from_json(json.loads(x)) for x in frame["_text"]]
    overlaps = {n: [Overlap.from_json(json.loads(x)) for x in frame[f"_overlap_{n}"]]
                for n in names}
    return RayOutputs(described=described, rows=rows, pair=pair, text=text, overlaps=overlaps,
                      stats=stats, pair_judge=None, text_judge=None, scorers=[], span_s=span,
                      judge_usage=usage, warnings=warnings)
