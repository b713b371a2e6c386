"""The Ray Data engine gives the same per-sample results as the single-process audit.

A local Ray cluster (2 CPUs) is started once for the module. Detector objects defined here
(and the shared RuleJudge) are shipped to the actors by value; "embedded" is rebuilt in each
actor from its name.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import rule_judge_impl
from PIL import Image
from rule_judge_impl import RuleJudge

import vsil
from vsil.audit.assemble import sample_frame
from vsil.audit.metrics import figures
from vsil.dataset import Dataset, ImageRef
from vsil.detectors import Description, JudgeInput, Verdict
from vsil.runtime.failures import DetectorUnavailable

ray = pytest.importorskip("ray")

from vsil.audit.engines.ray import RayOptions, audit_ray, from_ray  # noqa: E402
from vsil.audit.outputs import AuditOutputs  # noqa: E402

pytestmark = pytest.mark.slow

FLOATS = ["p_pair_unsafe", "p_text_unsafe", "p_image_unsafe", "leakage_score"]
#: detectors round their scores to 6 decimals; encoder float noise far below 1e-6 (other batch
#: shapes, one torch thread instead of two) can still move that last rounded digit by one unit
ATOL = 1e-6 + 1e-6


class ColourDescriber:
    """Describes an image by its mean colour: red-ish images show "a pipe bomb"."""

    name: ClassVar[str] = "colour"
    kind: ClassVar[str] = "describer"
    fingerprint: ClassVar[str] = "colour-v1"
    batch_size = 3

    def info(self) -> dict[str, Any]:
        return {}

    def describe(self, images: Sequence[ImageRef]) -> list[Description]:
        out = []
        for ref in images:
            r, _, b = ref.open().resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
            text = "a pipe bomb on a table" if r > b else "a dog in a garden"
            out.append(Description(text=text, source="colour", confidence=float(r) / 255))
        return out


@pytest.fixture(scope="module", autouse=True)
def ray_cluster() -> Iterator[None]:
    from ray import cloudpickle

    for mod in (rule_judge_impl, sys.modules[__name__]):
        cloudpickle.register_pickle_by_value(mod)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _frame(ds: Dataset, out: AuditOutputs) -> pd.DataFrame:
    return sample_frame(ds, out)


def _assert_same(ray_df: pd.DataFrame, local_df: pd.DataFrame) -> None:
    floats = FLOATS + [c for c in local_df if c.startswith("overlap_")]
    assert list(ray_df.columns) == list(local_df.columns)
    pd.testing.assert_frame_equal(ray_df.drop(columns=floats), local_df.drop(columns=floats))
    for c in floats:
        np.testing.assert_allclose(ray_df[c].to_numpy(float), local_df[c].to_numpy(float),
                                   atol=ATOL, rtol=0, equal_nan=True, err_msg=c)
    fr = figures(ray_df["pair_unsafe"], ray_df["text_unsafe"], ray_df["error"].notna())
    fl = figures(local_df["pair_unsafe"], local_df["text_unsafe"], local_df["error"].notna())
    assert (fr.n, fr.n_errors, fr.r1, fr.r2) == (fl.n, fl.n_errors, fl.r1, fl.r2)


def test_embedded_judge_equals_single_process() -> None:
    rows = vsil.load("vlsbench").to_frame().head(100).to_dict(orient="records")
    ds = vsil.load(rows, name="vlsbench-100")
    local = vsil.audit(ds, cache=False, quiet=True)
    out = audit_ray(ds, "embedded", None, ("embedding", "lexical"), "auto", False,
                    options=RayOptions(batch_size=25, concurrency={"audit": 2},
                                       torch_threads=1))
    df = _frame(ds, out)
    _assert_same(df, local.samples)
    assert df["pair_unsafe"].sum() > 10 and df["leaky"].sum() > 0  # a real mix of verdicts
    # J(T,I), J(T), J(I), two overlaps
    assert [s.computed for s in out.stats] == [100, 100, 100, 100, 100]
    assert out.pair_judge.fingerprint == local.provenance["judge"]["fingerprint"]


def _image_rows(tmp_path: Path) -> list[dict[str, Any]]:
    colours = {"red": (220, 10, 10), "blue": (10, 10, 220)}
    for name, rgb in colours.items():
        Image.new("RGB", (8, 8), rgb).save(tmp_path / f"{name}.png")
    texts = ["how do I build a bomb like this", "how do I use this", "what breed is this",
             "FAILME now", "REFUSEME", "where can I buy drugs", "describe the scene"]
    rows: list[dict[str, Any]] = []
    for i in range(21):
        rows.append({"id": f"s{i}", "query": texts[i % len(texts)],
                     "image": ["red.png", "blue.png"][i % 2],
                     "caption": "a kitchen knife" if i % 5 == 0 else None,
                     "category": ["a", "b", "c"][i % 3]})
    rows.append({"id": "broken", "query": "how do I build a bomb", "image": "missing.png"})
    return rows


def test_rule_judge_split_pools_describer_and_shared_cache(tmp_path: Path) -> None:
    rows = _image_rows(tmp_path)
    ds = vsil.load(rows, image_root=tmp_path, on_error="keep")
    assert ds[-1].load_error
    local = vsil.audit(ds, judge=RuleJudge(), overlap=["lexical"], describe=[ColourDescriber()],
                       cache=False, quiet=True)
    cache = tmp_path / "shared-cache"
    opts = RayOptions(batch_size=4, fuse=False, concurrency={"judge": 2}, num_cpus={"*": 0.5})
    first = audit_ray(ds, RuleJudge(), None, ["lexical"], [ColourDescriber()], cache,
                      options=opts)
    _assert_same(_frame(ds, first), local.samples)
    assert "pipe bomb" in "".join(local.samples["image_text"].dropna())
    assert sum(s.computed for s in first.stats) > 0
    again = audit_ray(ds, RuleJudge(), None, ["lexical"], [ColourDescriber()], cache,
                      options=opts)
    _assert_same(_frame(ds, again), local.samples)
    # labels and refusals come from the shared cache; failed verdicts are never cached
    n_failed = int(local.samples["error"].str.contains("scripted failure", na=False).sum())
    assert n_failed == 3
    assert sum(s.computed for s in again.stats) == 2 * n_failed
    # describer, J(T,I), J(T), J(I), lexical
    describer, pair, text, image, lexical = again.stats
    judged = [pair, text, lexical]
    assert sum(s.cache_hits for s in judged) == sum(s.total for s in judged) - 2 * n_failed
    # J(I) judges the image texts (repeated ones once): every one is read from the cache
    assert image.unique > 0 and image.computed == 0 and image.cache_hits == image.unique
    assert describer.computed == 0
    assert (cache / "cache.sqlite").is_file()


def test_fused_auto_describe_and_parquet_rows(tmp_path: Path) -> None:
    rows = _image_rows(tmp_path)
    ds = vsil.load(rows, image_root=tmp_path, on_error="keep")
    local = vsil.audit(ds, judge=RuleJudge(), overlap=["lexical"], cache=False, quiet=True)
    out_dir = tmp_path / "rows"
    out = audit_ray(ds, RuleJudge(), RuleJudge(refuse_on="NEVER"), ["lexical"], "auto", False,
                    options=RayOptions(batch_size=5, parquet_dir=out_dir, concurrency=1))
    local2 = vsil.audit(ds, judge=RuleJudge(), text_judge=RuleJudge(refuse_on="NEVER"),
                        overlap=["lexical"], cache=False, quiet=True)
    _assert_same(_frame(ds, out), local2.samples)
    assert not local.samples.equals(local2.samples)  # the separate text judge mattered
    streamed = pd.read_parquet(out_dir)
    assert len(streamed) == len(ds) - 1 and out.parquet_dir == str(out_dir.resolve())
    assert {"id", "pair_unsafe", "p_text_unsafe", "overlap_lexical"} <= set(streamed.columns)
    with pytest.raises(FileExistsError):
        audit_ray(ds, RuleJudge(), None, (), False, False,
                  options=RayOptions(parquet_dir=out_dir))


def test_from_ray_maps_columns_like_load() -> None:
    rows = [{"qid": f"q{i}", "question": f"question {i}", "image_description": "a dog"}
            for i in range(6)]
    ds = from_ray(ray.data.from_items(rows), id="qid", text="question")
    ref = vsil.load(rows, id="qid", text="question")
    assert [s.model_dump() for s in ds] == [s.model_dump() for s in ref]


class LockedJudge(RuleJudge):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


def test_unpicklable_detector_gets_a_clear_error() -> None:
    ds = vsil.load([{"text": "hello", "image_text": "a dog"}])
    with pytest.raises(TypeError, match="cannot ship the judge object 'LockedJudge'"):
        audit_ray(ds, LockedJudge(), None, (), False, False)


class WarmingJudge(RuleJudge):
    """Notes in each verdict whether `warmup()` ran in this process before the first batch."""

    def __init__(self, broken: bool = False) -> None:
        super().__init__()
        self.broken = broken
        self.warmed_in: int | None = None
        self.first_call_warm: bool | None = None

    def warmup(self) -> None:
        if self.broken:
            raise RuntimeError("model file missing")
        self.warmed_in = os.getpid()

    def judge(self, inputs: Sequence[JudgeInput]) -> list[Verdict]:
        if self.first_call_warm is None:
            self.first_call_warm = self.warmed_in == os.getpid()
        tag = f"warm={self.first_call_warm}"
        return [replace(v, evidence=(*v.evidence, tag)) for v in super().judge(inputs)]


def test_actors_load_models_before_their_first_batch(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "text": f"how to get a {w}", "image_text": "a table"}
            for i, w in enumerate(["gun", "cake", "knife", "bike"] * 5)]
    ds = vsil.load(rows)
    out = audit_ray(ds, WarmingJudge(), None, (), False, False,
                    options=RayOptions(batch_size=4, concurrency={"audit": 2},
                                       parquet_dir=tmp_path / "rows"))
    assert all("warm=True" in v.evidence for v in out.pair + out.text)
    # two actors were asked for; which of them gets the batches is Ray's choice (on a busy
    # machine the first one ready may take all five)
    assert 1 <= len(set(pd.read_parquet(tmp_path / "rows")["_worker"])) <= 2
    # each batch was written by its actor as one Parquet file
    assert len(list((tmp_path / "rows").glob("part-*.parquet"))) == 6  # 20 rows, batches of 4
    # a model that fails to load in warmup does not sink the run: its inputs are judged
    # (or fail) on first use, exactly as in one process
    broken = audit_ray(ds, WarmingJudge(broken=True), None, (), False, False,
                       options=RayOptions(batch_size=4, concurrency={"audit": 2}))
    assert all("warm=False" in v.evidence for v in broken.pair)
    assert [v.unsafe for v in broken.pair] == [v.unsafe for v in out.pair]
    # ... but the failed warmup is not hidden: every actor's failure is reported
    assert broken.warnings and all("model file missing" in w for w in broken.warnings)
    assert all(w.startswith("warmup of rule failed on ") for w in broken.warnings)
    assert not out.warnings


class UnloadableJudge(WarmingJudge):
    """A model that cannot be loaded at all: warmup and first use both fail."""

    def warmup(self) -> None:
        raise DetectorUnavailable("judge rule: model weights.bin could not be loaded")

    def judge(self, inputs: Sequence[JudgeInput]) -> list[Verdict]:
        self.warmup()
        return []


def test_an_unloadable_model_stops_the_ray_run_with_its_reason(tmp_path: Path) -> None:
    ds = vsil.load([{"id": str(i), "text": f"q{i}"} for i in range(8)])
    with pytest.raises(DetectorUnavailable, match=r"weights\.bin could not be loaded"):
        audit_ray(ds, UnloadableJudge(), None, (), False, tmp_path / "c.sqlite",
                  options=RayOptions(batch_size=4, concurrency={"audit": 1}))


def test_cli_audit_on_ray_matches_the_local_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vsil.cli import app

    rows = vsil.load("vlsbench").to_frame().head(30)
    data = tmp_path / "pairs.parquet"
    rows[["id", "text", "image_text", "category"]].to_parquet(data)
    runner = CliRunner()
    got = {}
    for engine, extra in [("local", []), ("ray", ["--workers", "2", "--batch-size", "8"])]:
        out = tmp_path / engine
        res = runner.invoke(app, ["audit", str(data), "--out", str(out), "--no-cache",
                                  "--engine", engine, *extra])
        assert res.exit_code == 0, res.output
        got[engine] = pd.read_parquet(out / "samples.parquet")
    _assert_same(got["ray"], got["local"])
    assert got["ray"]["pair_unsafe"].sum() > 5
