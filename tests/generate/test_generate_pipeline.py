"""The generation pipeline end to end, against real servers on 127.0.0.1 and a tiny
random-weight diffusers pipeline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gen_helpers import ELEMENTS, build_tiny_pipeline, make_config
from gen_server import GenServer, png_for

import vsil
from vsil.generate import generate

KEY = "sk-generate-SECRET-42"


@pytest.fixture
def srv() -> Iterator[GenServer]:
    with GenServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSIL_TEST_KEY", KEY)


def _tree_has_no_key(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file() and p.suffix in (".json", ".jsonl", ".html"):
            assert KEY not in p.read_text(encoding="utf-8", errors="ignore"), p


@pytest.mark.slow
def test_pipeline_on_five_elements_with_diffusers(srv: GenServer, tmp_path: Path) -> None:
    pytest.importorskip("diffusers")
    pipe = build_tiny_pipeline(tmp_path / "tiny")
    seed_img = tmp_path / "seed.png"
    seed_img.write_bytes(png_for("existing"))
    cfg = make_config(
        srv.base_url,
        t2i={"backend": "diffusers", "model": str(pipe), "width": 32, "height": 32,
             "steps": 1, "device": "cpu", "dtype": "float32"},
        images=[{"path": str(seed_img), "source": "coco2017"}],
        audit={"enabled": True, "judge": "embedded", "overlap": ["lexical"],
               "cache": str(tmp_path / "cache.sqlite")})
    out = tmp_path / "bench"
    res = generate(cfg, out, quiet=True)

    s = res.steps
    assert s["queries"] == {"units": 6, "kept": 6, "dropped": 0, "items_out": 17,
                            "reasons": {}}
    assert s["mitigate"]["reasons"] == {"mitigate_filter: text still harmful alone (leak)": 3}
    assert s["images"]["kept"] == 5  # 4 drawn groups + 1 existing image
    assert s["filter"]["reasons"] == {"final_judge: image and query not matched": 3,
                                      "categorize: invalid taxonomy answer": 3}
    assert len(res) == 3 + 3 + 2  # knife, riot (kept after 3 rounds), the existing image
    # the riot group was rejected every round: 3 rounds, last image kept for step 4
    ck = [json.loads(x) for x in (out / "work" / "3_images.jsonl").read_text().splitlines()]
    riot = next(r for r in ck if "riot" in json.dumps(r))
    assert riot["detail"] == {"rounds": 3, "review_passed": False}
    assert len(riot["outputs"][0]["t2i_prompts"]) == 3
    assert srv.state.calls["reviewer"] == 4 + 2

    data = json.loads((out / "data.json").read_text())
    assert list(data[0]) == ["instruction_id", "instruction", "image_path", "category",
                             "sub_category", "source", "image_description", "safety_reason"]
    assert [d["instruction_id"] for d in data] == list(range(8))
    assert {d["source"] for d in data} == {"generation", "coco2017"}
    assert all(d["safety_reason"] for d in data)
    assert len({d["image_path"] for d in data}) == 3 == len(list((out / "imgs").iterdir()))
    ds = vsil.load("vlsbench", root=out)
    assert len(ds) == 8 and all(x.image is not None and x.image.open().size == (32, 32)
                                for x in ds)

    rep = json.loads((out / "report.json").read_text())
    assert rep["audit"]["enabled"] and "error" not in rep["audit"], rep["audit"]
    assert rep["audit"]["n"] == 8 and 0.0 <= rep["audit"]["r1"] <= 1.0
    assert (out / "report.html").is_file()
    assert rep["provenance"]["t2i"]["pipeline_class"] == "StableDiffusionPipeline"
    assert rep["provenance"]["prompts"]["mitigate"]["sha256"]
    assert rep["provenance"]["models"]["queries"]["usage"]["prompt_tokens"] > 0
    assert res.audit is not None
    _tree_has_no_key(out)


def test_images_endpoint_schema_mode_and_start_from(srv: GenServer, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    res = generate(make_config(srv.base_url), out, quiet=True)
    assert len(res) == 3 + 3 and srv.state.images == 4 + 2
    assert srv.state.formats == {"json_schema": sum(srv.state.calls.values())}
    first = dict(srv.state.calls)

    again = generate(make_config(srv.base_url), out, quiet=True)  # everything is done
    assert dict(srv.state.calls) == first and again.entries == res.entries

    generate(make_config(srv.base_url), out, start_from="filter", quiet=True)
    redo = {k: v - first.get(k, 0) for k, v in srv.state.calls.items() if v - first.get(k, 0)}
    assert redo == {"final_judge": 12, "categorize": 9}
    _tree_has_no_key(out)


def test_schema_violations_are_drops_with_reasons(srv: GenServer, tmp_path: Path) -> None:
    els = [{"category": "Violent", "sub_category": "Weapon-Related Violence", "element": e}
           for e in ("a rifle {{bad-queries}}", "a knife {{bad-mitigate_filter}}",
                     "an axe {{bad-categorize}}", "a club {{bad-reviewer}}", "a bat")]
    res = generate(make_config(srv.base_url, elements=els, json_mode="none"), tmp_path / "o",
                   quiet=True)
    s = res.steps
    assert s["queries"]["reasons"] == {"queries: schema violation": 1}
    assert s["mitigate"]["reasons"] == {"mitigate_filter: schema violation": 3}
    assert s["images"]["reasons"] == {"reviewer: schema violation": 1}
    assert s["filter"]["reasons"] == {"categorize: schema violation": 3}
    assert len(res) == 3
    assert srv.state.formats == {"none": sum(srv.state.calls.values())}
    ck = (tmp_path / "o" / "work" / "1_queries.jsonl").read_text()
    assert "in prose rather than JSON" in ck  # the raw reply is kept for inspection


def test_server_without_json_schema_falls_back(tmp_path: Path) -> None:
    with GenServer(reject_schema=True) as srv:
        res = generate(make_config(srv.base_url, elements=ELEMENTS[:1]), tmp_path / "o",
                       quiet=True)
        assert len(res) == 3
        models = res.report["provenance"]["models"]
        assert {m["json_mode_used"] for m in models.values()} == {"object"}
        assert srv.state.formats["json_object"] > 0


def test_fault_server_failures_become_drops(tmp_path: Path) -> None:
    from fault_server import FaultServer

    els = [{"category": "Violent", "sub_category": "Weapon-Related Violence", "element": e}
           for e in ("a rifle [[500:inf]]", "a knife [[400]]", "a bat [[429:1]]")]
    with FaultServer() as fs:
        res = generate(make_config(fs.base_url, elements=els), tmp_path / "o", quiet=True)
        assert len(res) == 0
        reasons = res.steps["queries"]["reasons"]
        # the fault server answers prose labels: even a retried 429 ends as a schema drop
        assert reasons == {"queries: request failed (server_error)": 1,
                           "queries: request failed (client_error)": 1,
                           "queries: schema violation": 1}
        assert fs.state.statuses()[500] == 2  # first attempt + max_retries=1
    assert json.loads((tmp_path / "o" / "data.json").read_text()) == []
    assert res.report["audit"] == {"enabled": False}


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_resume_after_kill(srv: GenServer, tmp_path: Path) -> None:
    srv.state.latency = 0.05
    els = [{"category": "Violent", "sub_category": "Weapon-Related Violence",
            "element": f"weapon number {i}"} for i in range(6)]
    cfg = make_config(srv.base_url, elements=els, batch_size=1)
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(cfg))
    out = tmp_path / "o"
    ck2 = out / "work" / "2_mitigate.jsonl"
    script = ("import json, sys; from vsil.generate import generate; "
              "generate(json.load(open(sys.argv[1])), sys.argv[2], quiet=True)")
    env = {**os.environ, "VSIL_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script, str(cfg_path), str(out)], env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        if ck2.exists() and len(ck2.read_text().splitlines()) >= 6:  # header + 5 items
            break
        if proc.poll() is not None:
            pytest.fail("the pipeline finished before it could be killed")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # a request the killed process had in flight may still be counted by the server: let it
    # finish (latency is 50 ms) before taking the snapshot
    time.sleep(0.5)
    assert not (out / "data.json").exists()
    # a line the kill cut short is not a finished item: the resume discards and redoes it
    done = len([x for x in ck2.read_text().splitlines()[1:] if _is_json(x)])
    assert 5 <= done < 18
    before = dict(srv.state.calls)
    srv.state.latency = 0.0

    res = generate(cfg, out, quiet=True)
    new = {k: v - before.get(k, 0) for k, v in srv.state.calls.items()}
    assert new["queries"] == 0  # step 1 finished before the kill
    assert new["mitigate"] == 18 - done  # finished items are not redone
    assert len(res) == 18
    lines = [json.loads(x) for x in ck2.read_text().splitlines()[1:]]
    assert len({r["key"] for r in lines}) == len(lines) == 18
