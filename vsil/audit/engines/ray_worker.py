"""One actor of a Ray pool: builds its detectors once, then runs them on every batch of rows.

A batch is a pandas frame of rows (``_row``, ``id``, ``text``, ``image_text``, ``_image``:
the pickled `ImageRef`); each role adds its columns (see `Worker.__call__`) and the rows go
on to the next pool, or, in the last pool, to one Parquet file per batch. Every detector runs
through `vsil.audit.runner`, like in the local engine.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from vsil.audit.describe import Usable, describe_rows
from vsil.audit.harm_source import judge_images
from vsil.audit.plan import DetectorSpec
from vsil.audit.runner import RunContext, run_judge, run_overlap, usage_counters
from vsil.dataset import ImageRef
from vsil.detectors import (
    Describer,
    Detector,
    Judge,
    JudgeInput,
    OverlapInput,
    OverlapScorer,
    warm_up,
)
from vsil.runtime.batched import RunStats
from vsil.runtime.cache import open_cache
from vsil.runtime.failures import describe_exception

#: per-batch statistics columns (summed by the driver), each suffixed by ``:ROLE-COLUMN``
STAT_COLS = ("_total", "_hits", "_computed")


@dataclass(frozen=True)
class Role:
    """One job of a pool: ``describe`` (describers + force), ``pair`` / ``text`` / ``image``
    (a judge spec; ``image`` asks J(I)) or ``overlap`` (a scorer's name + spec)."""

    role: str
    describers: tuple[DetectorSpec | None, ...] = ()
    describe_errors: tuple[str | None, ...] = ()
    force: bool = False
    spec: DetectorSpec | None = None
    name: str = ""


def dumps(obj: Any) -> str:
    """JSON of a per-row output, as stored in the rows' hidden columns."""
    return json.dumps(obj, ensure_ascii=False)


def missing(v: Any) -> bool:
    """Whether a cell read back from Arrow/pandas holds no value."""
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def opt_str(v: Any) -> str | None:
    """A cell as an optional string."""
    return None if missing(v) else str(v)


def image_of(blob: Any) -> ImageRef | None:
    """The `ImageRef` pickled into a row's ``_image`` cell."""
    if missing(blob):
        return None
    ref: ImageRef = pickle.loads(blob)
    return ref


class Worker:
    """One actor: builds the detectors of its roles once (warming them up), runs them."""

    def __init__(self, roles: list[Role], cache_path: str | None,
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
        self.store = open_cache(cache_path if cache_path else False)
        self.roles = roles
        self.built: dict[int, Detector] = {}  # one instance per spec (pair + text share one)
        for r in roles:
            for spec in (*r.describers, r.spec):
                if spec is not None and id(spec) not in self.built:
                    self.built[id(spec)] = spec.build()
        for det in self.built.values():
            # a warmup that fails is reported (on the first row of every batch, and by the
            # driver); the detector still gets its first use, which fails as in one process
            # (never cached) or raises `DetectorUnavailable`
            try:
                warm_up(det)
            except Exception as e:
                self.warmup_errors.append(
                    f"warmup of {getattr(det, 'name', type(det).__name__)} failed on "
                    f"{self.worker}: {describe_exception(e)}")

    def _judge(self, spec: DetectorSpec | None) -> Judge:
        det = self.built[id(spec)]
        assert isinstance(det, Judge)  # built by `create`, which checked the protocol
        return det

    def _scorer(self, spec: DetectorSpec | None) -> OverlapScorer:
        det = self.built[id(spec)]
        assert isinstance(det, OverlapScorer)
        return det

    def _describer(self, spec: DetectorSpec | None) -> Describer | None:
        det = None if spec is None else self.built[id(spec)]
        assert det is None or isinstance(det, Describer)
        return det

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        started = time.time()
        out = batch.copy()
        texts = [str(t) for t in out["text"]]
        images = [image_of(b) for b in out["_image"]]
        image_text = [opt_str(t) for t in out["image_text"]]
        for r in self.roles:
            ctx = RunContext(self.store, False, self.retry_errors)
            if r.role == "describe":
                usable: list[Usable] = [
                    (self._describer(d), e)
                    for d, e in zip(r.describers, r.describe_errors, strict=True)]
                image_text, source, extra = describe_rows(images, image_text, usable, r.force,
                                                          ctx)
                out["image_text"] = image_text
                out["image_text_source"] = source
                out["_describe"] = [dumps(x) for x in extra]
                col = "describe"
            elif r.role in ("pair", "text"):
                judge = self._judge(r.spec)
                ins = ([JudgeInput(t, im, it) for t, im, it in zip(texts, images, image_text,
                                                                  strict=True)]
                       if r.role == "pair" else [JudgeInput(t) for t in texts])
                before = usage_counters(judge)
                vs = run_judge(judge, ins, ctx, "J(T,I)" if r.role == "pair" else "J(T)")
                usage = {k: v - before.get(k, 0) for k, v in usage_counters(judge).items()}
                out[f"_usage:{r.role}"] = [dumps(usage)] + ["{}"] * (len(out) - 1)
                out[f"{r.role}_unsafe"] = [v.unsafe for v in vs]
                out[f"p_{r.role}_unsafe"] = [v.p_unsafe for v in vs]
                out[f"_{r.role}"] = [dumps(v.to_json()) for v in vs]
                col = r.role
            elif r.role == "image":
                judge = self._judge(r.spec)
                sources = ([opt_str(x) for x in out["image_text_source"]]
                           if "image_text_source" in out
                           else ["dataset" if t else None for t in image_text])
                before = usage_counters(judge)
                ivs, where = judge_images(judge, images, image_text, sources, ctx)
                usage = {k: v - before.get(k, 0) for k, v in usage_counters(judge).items()}
                out["_usage:image"] = [dumps(usage)] + ["{}"] * (len(out) - 1)
                out["_image_verdict"] = [dumps(None if v is None else v.to_json())
                                         for v in ivs]
                out["_image_where"] = where
                col = "image"
            else:
                scorer = self._scorer(r.spec)
                oins = [OverlapInput(t, im, it) for t, im, it in zip(texts, images, image_text,
                                                                    strict=True)]
                ovs = run_overlap(scorer, oins, ctx)
                out[f"overlap_{r.name}"] = [o.score for o in ovs]
                out[f"_overlap_{r.name}"] = [dumps(o.to_json()) for o in ovs]
                col = f"overlap_{r.name}"
            _stats_on_first_row(out, col, ctx.stats)
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


def _stats_on_first_row(out: pd.DataFrame, col: str, stats: list[RunStats]) -> None:
    """Batch statistics ride on the batch's first row."""
    for stat, attr in zip(STAT_COLS, ("total", "cache_hits", "computed"), strict=True):
        vals = [0] * len(out)
        if len(out):
            vals[0] = sum(getattr(s, attr) for s in stats)
        out[f"{stat}:{col}"] = vals
