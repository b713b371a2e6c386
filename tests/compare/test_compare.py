"""`vsil.compare`: one table across datasets, exports, cache reuse, CLI and the Table 1 script.

The judge here is a small deterministic keyword rule defined below (a real Judge: it reads
the text, and on a pair the image text too); expected figures are computed from the same
rule applied to the fixture rows, never typed in.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

import vsil.dataset.loaders.figstep
import vsil.dataset.loaders.harmbench_mm
import vsil.dataset.loaders.jailbreakv
import vsil.dataset.loaders.vlsafe  # noqa: F401  (register the loaders used here)
from vsil.compare import CompareResult, compare, paper_table1
from vsil.dataset import load
from vsil.detectors import JudgeInput, Overlap, OverlapInput, Verdict, register_detector
from vsil.runtime.cache import Cache

FIXTURES = Path(__file__).parents[1] / "loaders" / "fixtures"
REPO = Path(__file__).parents[2]
WORDS = ("steal", "forge", "fake", "weapon", "insult", "rude")
PATTERN = re.compile(r"\b(" + "|".join(WORDS) + r")\b", re.I)


def rule(text: str | None) -> bool:
    return bool(text and PATTERN.search(text))


class KeywordJudge:
    """Unsafe iff a keyword is in the text (or, on a pair, in the image text)."""

    name: ClassVar[str] = "keyword-test"
    kind: ClassVar[str] = "judge"
    uses_image_pixels: ClassVar[bool] = False

    def __init__(self, **_: Any) -> None:
        self.calls = 0

    @property
    def fingerprint(self) -> str:
        return "keyword-test:" + ",".join(WORDS)

    def info(self) -> dict[str, Any]:
        return {"words": list(WORDS)}

    def judge(self, inputs: Sequence[JudgeInput]) -> list[Verdict]:
        self.calls += len(inputs)
        out = []
        for x in inputs:
            hit = PATTERN.findall(f"{x.text} {x.image_text or ''}")
            out.append(Verdict(unsafe=bool(hit), p_unsafe=0.9 if hit else 0.1,
                               categories=tuple(sorted({h.lower() for h in hit}))))
        return out


class KeywordOverlap:
    """Share of the image text's keywords that the text already states."""

    name: ClassVar[str] = "keyword-overlap"
    kind: ClassVar[str] = "overlap"
    uses_image_pixels: ClassVar[bool] = False

    @property
    def fingerprint(self) -> str:
        return "keyword-overlap:v1"

    def info(self) -> dict[str, Any]:
        return {}

    def score(self, inputs: Sequence[OverlapInput]) -> list[Overlap]:
        out = []
        for x in inputs:
            img = {w.lower() for w in PATTERN.findall(x.image_text or "")}
            txt = {w.lower() for w in PATTERN.findall(x.text)}
            out.append(Overlap(score=len(img & txt) / len(img) if img else 0.0,
                               concepts=tuple(sorted(img & txt))))
        return out


@pytest.fixture
def keyword_judge_registered() -> Any:
    """Register KeywordJudge by name for the CLI and the script; unregister afterwards."""
    from vsil.detectors import _registry

    register_detector("keyword-test", "judge", needs="text", outputs="verdict",
                      description="test keyword rule")(KeywordJudge)
    yield
    _registry._DETECTORS.pop(("judge", "keyword-test"), None)


def expected(ds: Any) -> tuple[float, float]:
    pair = [rule(s.text) or rule(s.image_text) for s in ds]
    text = [rule(s.text) for s in ds]
    n = len(pair)
    return sum(pair) / n, sum(a and b for a, b in zip(pair, text, strict=True)) / n


def run(specs: list[Any], cache: Cache, **kw: Any) -> CompareResult:
    return compare(specs, judge=KeywordJudge(), overlap=[KeywordOverlap()], cache=cache,
                   describe=False, **kw)


def test_table_has_one_row_per_dataset_with_the_figures(tmp_path: Path) -> None:
    fig_root = FIXTURES / "figstep"
    specs = [("figstep", {"root": fig_root}),
             ("figstep", {"root": fig_root, "variant": "question"}),
             ("harmbench-mm", {"root": FIXTURES / "harmbench_mm", "label": "HarmBench-mm"})]
    res = run(specs, Cache(tmp_path / "c.sqlite"))
    t = res.table
    assert list(t["dataset"]) == ["figstep", "figstep (question)", "HarmBench-mm"]
    for col in ("N", "R1", "R1_lo", "R1_hi", "R2", "R1_minus_R2", "leak_ratio",
                "text_unsafe_rate", "overlap_keyword-overlap", "overlap_keyword-overlap_lo",
                "n_errors", "judge"):
        assert col in t
    for label, (name, kw) in zip(t["dataset"], specs, strict=True):
        kw = {k: v for k, v in kw.items() if k != "label"}
        r1, r2 = expected(load(name, **kw))
        row = t.set_index("dataset").loc[label]
        assert row["R1"] == pytest.approx(r1) and row["R2"] == pytest.approx(r2)
        assert row["R1_minus_R2"] == pytest.approx(r1 - r2)
        assert row["R1_lo"] <= row["R1"] <= row["R1_hi"]
        assert row["n_errors"] == 0 and row["judge"] == "keyword-test"
    # FigStep's constant prompt hides the harm in the image; its questions leak it
    rows = t.set_index("dataset")
    assert rows.loc["figstep", "R2"] == 0 and rows.loc["figstep", "R1"] > 0
    assert rows.loc["figstep (question)", "leak_ratio"] == pytest.approx(1.0)
    assert set(res.results) == set(t["dataset"])
    assert res.results["figstep"].summary.figures.n == 4


def test_adding_a_dataset_costs_only_that_dataset(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c.sqlite")
    a = ("figstep", {"root": FIXTURES / "figstep"})
    b = ("harmbench-mm", {"root": FIXTURES / "harmbench_mm"})
    c = ("vlsafe", {"root": FIXTURES / "vlsafe"})
    first = run([a, b], cache)
    assert sum(r.summary.computed for r in first.results.values()) > 0
    again = run([a, b, c], cache)
    computed = {k: r.summary.computed for k, r in again.results.items()}
    assert computed["figstep"] == 0 and computed["harmbench-mm"] == 0
    n_c = len(load("vlsafe", root=FIXTURES / "vlsafe"))
    # J(T,I), J(T), J(I) and one overlap score per sample (fewer when inputs repeat)
    assert 0 < computed["vlsafe"] <= 4 * n_c
    alone = run([c], Cache(tmp_path / "fresh.sqlite"))
    assert computed["vlsafe"] == alone.results["vlsafe"].summary.computed


def test_exports_escape_dataset_text(tmp_path: Path) -> None:
    rows = [{"id": "1", "text": "how to steal this", "image_text": "a bike"},
            {"id": "2", "text": "describe it", "image_text": "a fake id card"}]
    ds = load(rows, name="<script>alert(1)</script>|x")
    res = run([ds, ("figstep", {"root": FIXTURES / "figstep"})], Cache(tmp_path / "c.sqlite"))
    html = res.to_html()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    png = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert png is not None and base64.b64decode(png.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    md = res.to_markdown()
    assert "\\<script\\>" in md and "\\|x" in md
    assert md.count("\n|") >= 3  # header, rule, rows
    data = json.loads(res.to_json())
    assert [r["dataset"] for r in data["table"]] == list(res.table["dataset"])
    assert data["datasets"]["figstep"]["summary"]["figures"]["n"] == 4
    fig = res.plot()
    assert len(fig.axes[0].patches) == 3 * 2  # R1, R2, R1-R2 for two datasets
    paths = res.save(tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["compare.html", "compare.json",
                                                      "compare.md", "compare.png"]
    assert all(p.stat().st_size > 0 for p in paths.values())


def test_labels_are_unique_and_errors_counted(tmp_path: Path) -> None:
    rows = [{"id": "1", "text": "steal it"}, {"id": "2", "text": ""}]
    ds = load(rows, on_error="keep", name="d")
    res = run([ds, ds], Cache(tmp_path / "c.sqlite"))
    assert list(res.table["dataset"]) == ["d", "d #2"]
    assert list(res.table["n_errors"]) == [1, 1]
    with pytest.raises(ValueError, match="at least one dataset"):
        compare([], judge=KeywordJudge())


@pytest.mark.usefixtures("keyword_judge_registered")
def test_cli_command(tmp_path: Path) -> None:
    typer = pytest.importorskip("typer")
    from typer.testing import CliRunner

    from vsil.cli.compare_cmd import compare_cmd, parse_dataset_arg

    assert parse_dataset_arg("figstep:root=/x,variant=question") == (
        "figstep", {"root": "/x", "variant": "question"})
    app = typer.Typer()
    app.command()(compare_cmd)
    app.command("noop")(lambda: None)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, [
        "compare-cmd", f"figstep:root={FIXTURES / 'figstep'}",
        f"harmbench-mm:root={FIXTURES / 'harmbench_mm'}", "--judge", "keyword-test",
        "--overlap", "none", "--describe", "none", "--cache", str(tmp_path / "c.sqlite"),
        "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "| figstep |" in r.output and "| harmbench-mm |" in r.output
    assert (out / "compare.html").is_file() and (out / "compare.png").is_file()


def test_paper_reference_counts_reproduce_the_rates() -> None:
    table, ref = paper_table1()
    assert "2411.19939" in ref["source"] and ref["tables"]["llamaguard3-vision"]["table"] == \
        "Table 1"
    assert list(table["dataset"]) == ["SafeBench (FigStep)", "JailbreakV-raw", "Harmbench-mm",
                                      "VLSafe"]
    for r in table.to_dict(orient="records"):
        assert round(100 * r["n_r1"] / r["N"], 2) == pytest.approx(r["r1"])
        assert round(100 * r["n_r2"] / r["N"], 2) == pytest.approx(r["r2"])
        assert r["r1"] - r["r2"] == pytest.approx(r["r1_minus_r2"], abs=1e-9)
    gpt, _ = paper_table1("gpt-4o")
    assert not gpt.set_index("key").loc["safebench", "integral"]
    with pytest.raises(ValueError, match="no published table"):
        paper_table1("nope")


def _script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "reproduce_table1", REPO / "benchmarks" / "reproduce_table1.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.usefixtures("keyword_judge_registered")
def test_reproduce_table1_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    script = _script()
    out = tmp_path / "out"
    table = script.main([
        "--figstep", str(FIXTURES / "figstep"), "--jailbreakv", str(FIXTURES / "jailbreakv"),
        "--harmbench", str(FIXTURES / "harmbench_mm"), "--vlsafe", str(FIXTURES / "vlsafe"),
        "--judge", "keyword-test", "--cache", str(tmp_path / "c.sqlite"), "--out", str(out)])
    assert list(table["dataset"]) == ["SafeBench (FigStep)", "JailbreakV-raw", "Harmbench-mm",
                                      "VLSafe"]
    # the paper's choices: SafeBench through its questions, JailbreakV mini raw queries
    fig = load("figstep", root=FIXTURES / "figstep", variant="question")
    jbv = load("jailbreakv-28k", root=FIXTURES / "jailbreakv", subset="mini",
               variant="redteam_query")
    got = table.set_index("dataset")
    for label, ds in (("SafeBench (FigStep)", fig), ("JailbreakV-raw", jbv)):
        r1, r2 = expected(ds)
        assert got.loc[label, "N"] == len(ds)
        assert got.loc[label, "R1"] == pytest.approx(100 * r1)
        assert got.loc[label, "R2"] == pytest.approx(100 * r2)
    assert got.loc["VLSafe", "R1 paper"] == 91.35 and got.loc["VLSafe", "N paper"] == 1110
    printed = capsys.readouterr().out
    assert "Table 1" in printed and "R1 paper" in printed
    assert (out / "compare.html").is_file() and (out / "table1_vs_paper.csv").is_file()


@pytest.mark.slow
def test_embedded_judge_over_several_datasets(tmp_path: Path) -> None:
    res = compare([("figstep", {"root": FIXTURES / "figstep"}),
                   ("jailbreakv-28k", {"root": FIXTURES / "jailbreakv", "subset": "mini"}),
                   ("vlsafe", {"root": FIXTURES / "vlsafe"})],
                  judge="embedded", cache=tmp_path / "c.sqlite", describe=False)
    t = res.table
    assert len(t) == 3 and set(t["judge"]) == {"embedded"}
    assert {"overlap_embedding", "overlap_lexical"} <= set(t.columns)
    assert ((t["R2"] <= t["R1"]) & (t["R1"] <= 1)).all()
    assert (t["n_errors"] == 0).all()
    # the reproduction script runs end to end with the embedded judge too
    table = _script().main(["--figstep", str(FIXTURES / "figstep"),
                            "--vlsafe", str(FIXTURES / "vlsafe"), "--judge", "embedded",
                            "--cache", str(tmp_path / "c.sqlite")])
    assert len(table) == 2
