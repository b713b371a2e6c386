"""OpenAIJudge against a real fault-injecting OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_server import FaultServer
from PIL import Image

import vsil
from vsil.dataset import load
from vsil.detectors import JudgeInput, create
from vsil.detectors.judges.openai_judge import (
    DESCRIPTION_EVIDENCE,
    EndpointUnavailable,
    OpenAIJudge,
)

KEY = "sk-test-SECRET-456"


@pytest.fixture
def srv() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


def judge(srv: FaultServer, **kw: Any) -> OpenAIJudge:
    kw = {"base_url": srv.base_url, "api_key": KEY, "backoff_base": 0.001, "timeout": 0.5,
          **kw}
    return OpenAIJudge(model="judge-m", **kw)


def image(w: int = 2000, h: int = 1000) -> Image.Image:
    return Image.new("RGB", (w, h), (200, 30, 30))


def test_every_fault_is_an_outcome_and_counted() -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("[[unsafe]] a", {"unsafe": True, "p": 0.9}),
        ("b", {"unsafe": False, "p": 0.1}),
        ("[[429:2]][[unsafe]] c", {"unsafe": True}),
        ("[[500:1]] d", {"unsafe": False}),
        ("[[503:1]][[unsafe]] d2", {"unsafe": True}),
        ("[[timeout:1]][[unsafe]] e", {"unsafe": True}),
        ("[[refuse-text]] f", {"refused": True}),
        ("[[refusal-field]] g", {"refused": True}),
        ("[[content-filter]] h", {"refused": True}),
        ("[[policy400]] i", {"refused": True}),
        ("[[malformed]] j", {"error": "unparseable", "raw": "hard to say"}),
        ("[[badjson]] k", {"error": "bad_response"}),
        ("[[400]] l", {"error": "client_error"}),
        ("[[verbose]][[p:0.8]] m", {"unsafe": True, "p": 0.8}),
        ("[[slow:0.2]][[unsafe]] n", {"unsafe": True}),
        ("[[500:inf]] o", {"error": "server_error"}),
    ]
    with FaultServer(timeout_sleep=1.0) as srv:
        j = judge(srv, max_retries=2, timeout=0.4)
        out = j.judge([JudgeInput(t) for t, _ in cases])
        assert len(out) == len(cases)
        for (text, want), v in zip(cases, out, strict=True):
            if "unsafe" in want:
                assert v.unsafe is want["unsafe"], text
                assert not v.refused and v.error is None, text
                if "p" in want:
                    assert v.p_unsafe == pytest.approx(want["p"]), text
            elif want.get("refused"):
                assert v.unsafe is None and v.refused and v.p_unsafe is None, text
            else:
                assert v.unsafe is None and not v.refused, text
                assert want["error"] in (v.error or ""), text
                if "raw" in want:
                    assert want["raw"] in (v.raw or "")
        u = j.usage
        assert u["items"] == len(cases) and u["refused"] == 4 and u["parse_errors"] == 1
        assert u["retries"] == 2 + 1 + 1 + 1 + 2, u
        assert u["failures"] == {"content_filter": 1, "bad_response": 1, "client_error": 1,
                                 "server_error": 1}
        assert u["attempt_errors"] == {"rate_limit": 2, "server_error": 5, "timeout": 1,
                                       "content_filter": 1, "bad_response": 1,
                                       "client_error": 1}
        assert u["requests"] == srv.state.n
        # non-retryable 4xx were sent exactly once
        assert sum("[[400]]" in s.prompt for s in srv.state.seen) == 1
        assert sum("[[policy400]]" in s.prompt for s in srv.state.seen) == 1
        assert all(s.body.get("logprobs") is True for s in srv.state.seen)


def test_request_bodies_images_and_no_system_prompt(srv: FaultServer) -> None:
    ds = load([{"id": "1", "text": "[[unsafe-with-image]] look", "image": image()}])
    ref = ds[0].image
    j = judge(srv, image_max_side=512)
    body, notes = j.request_body(JudgeInput("q", ref, "a red square"))
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user"] and notes == ()
    img_part, txt_part = msgs[0]["content"]
    assert img_part["type"] == "image_url" and txt_part["type"] == "text"
    assert "multimodal safety judge" in txt_part["text"] and "a red square" not in txt_part["text"]
    url = img_part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    im = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert max(im.size) == 512 and im.size == (512, 256)
    # text-only J(T): the language-judge prompt, a plain string
    body, _ = j.request_body(JudgeInput("q"))
    assert "language safety judge" in body["messages"][0]["content"]
    # no pixels but a description: it goes in the text, and the verdict says so
    body, notes = j.request_body(JudgeInput("q", None, "a red square"))
    assert "Image description: a red square" in body["messages"][0]["content"]
    assert notes == (DESCRIPTION_EVIDENCE,)
    # llamaguard preset: the query itself as the user turn, text before image, png works
    lg = judge(srv, preset="llamaguard", image_format="png")
    body, _ = lg.request_body(JudgeInput("how to?", ref))
    parts = body["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "how to?"} and parts[1]["type"] == "image_url"
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    # the server really sees the image on J(T,I) and not on J(T)
    v_pair, v_text = j.judge([JudgeInput(ds[0].text, ref), JudgeInput(ds[0].text)])
    assert v_pair.unsafe is True and v_text.unsafe is False
    # two concurrent requests: one with the image, one without, in whatever order they came
    assert sorted(s.has_image for s in srv.state.seen) == [False, True]


def test_llamaguard_preset_parses_codes() -> None:
    with FaultServer() as srv:
        lg = judge(srv, preset="llamaguard")
        v = lg.judge([JudgeInput("[[unsafe]] x")])[0]
        assert v.unsafe is True and v.p_unsafe == pytest.approx(0.9)
        bad = lg.judge([JudgeInput("[[verbose]] y")])[0]
        assert bad.unsafe is None and "llamaguard" in (bad.error or "") and bad.raw


def test_custom_template_and_rule(srv: FaultServer) -> None:
    j = judge(srv, template="Classify: {text}\nDescription: {image_text}",
              parse={"unsafe": True, "safe": False})
    body, _ = j.request_body(JudgeInput("hello", None, "a dog"))
    assert body["messages"][0]["content"] == "Classify: hello\nDescription: a dog"
    assert "logprobs" not in body
    v = j.judge([JudgeInput("[[unsafe]] z", None, "x")])[0]
    assert v.unsafe is True and v.p_unsafe == 1.0


def test_key_never_shown_and_fingerprint(srv: FaultServer, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    j = judge(srv)
    for s in (repr(j), j.fingerprint, json.dumps(j.info())):
        assert KEY not in s
    assert j.fingerprint == judge(srv, api_key="other").fingerprint
    assert j.fingerprint != judge(srv, preset="llamaguard").fingerprint
    assert j.fingerprint != judge(srv, temperature=0.5).fingerprint
    assert j.fingerprint != judge(srv, base_url="http://other:1/v1").fingerprint
    assert j.fingerprint != judge(srv, template="{text}").fingerprint


def test_registry_spec_and_env_config(srv: FaultServer, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    # env config, args win; the registry spec passes the model
    monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    j2 = create("judge", "openai:gpt-4o")
    assert isinstance(j2, OpenAIJudge) and j2.model == "gpt-4o"
    assert j2.judge([JudgeInput("[[unsafe]] q")])[0].unsafe is True
    assert srv.state.seen[-1].auth == "Bearer env-key"
    j3 = create("judge", "openai:m", api_key="arg-key", concurrency=3)
    assert j3.batch_size == 12
    j3.judge([JudgeInput("q")])
    assert srv.state.seen[-1].auth == "Bearer arg-key"


def _rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        marker = ["[[unsafe]]", "[[unsafe-with-image]]", ""][i % 3]
        rows.append({"id": f"s{i}", "text": f"{marker} query {i}", "image": image(64, 48),
                     "category": ["A", "B"][i % 2]})
    return rows


def _cached_verdicts(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM entries WHERE ns LIKE 'judge:%'")
                   .fetchone()[0])


def test_audit_end_to_end_and_rerun_from_cache(srv: FaultServer, tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    rows = _rows(9)
    res = vsil.audit(rows, judge=judge(srv), overlap=(), describe=False, cache=cache,
                     quiet=True)
    df = res.samples.set_index("id")
    for i in range(9):
        kind = i % 3
        assert bool(df.loc[f"s{i}", "pair_unsafe"]) is (kind in (0, 1))
        assert bool(df.loc[f"s{i}", "text_unsafe"]) is (kind == 0)
        assert bool(df.loc[f"s{i}", "leaky"]) is (kind == 0)
    # J(T,I) and J(T) per row, + J(I) on the pixels: the 9 images are equal, asked once
    assert srv.state.n == 18 + 1
    assert set(df["image_verdict_source"]) == {"openai: pixels"}
    assert res.summary.figures.r1 == pytest.approx(6 / 9)
    assert res.summary.figures.r2 == pytest.approx(3 / 9)
    usage = res.provenance["judge"]["usage"]
    assert usage["requests"] == 19 and usage["prompt_tokens"] == 190
    assert KEY not in json.dumps(res.provenance, default=str)
    # a re-run is served from the cache: the server sees nothing new
    res2 = vsil.audit(rows, judge=judge(srv), overlap=(), describe=False, cache=cache,
                      quiet=True)
    assert srv.state.n == 18 + 1
    assert res2.samples["leaky"].tolist() == res.samples["leaky"].tolist()
    assert KEY.encode() not in cache.read_bytes()


def test_interrupted_run_resumes(tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    rows = _rows(30)
    # the server dies after 10 requests; batches are 4 x concurrency = 8
    with FaultServer(fail_after=10) as dying:
        j = judge(dying, concurrency=2, max_retries=0, max_identical_failures=3)
        with pytest.raises(EndpointUnavailable, match="identical"):
            vsil.audit(rows, judge=j, overlap=(), describe=False, cache=cache, quiet=True)
        # 8 answered in batch 1, 2 in batch 2, then 3 identical failures open the circuit
        # (plus at most `concurrency` more that were already in flight or being retried)
        assert 8 + 2 + 3 <= dying.state.n <= 8 + 2 + 3 + 2
        port = dying.port
    done = _cached_verdicts(cache)
    assert done == 8
    # the endpoint comes back (same host and port: the host is part of the fingerprint)
    with FaultServer(port=port) as healthy:
        res = vsil.audit(rows, judge=judge(healthy, concurrency=2), overlap=(),
                         describe=False, cache=cache, quiet=True)
        assert healthy.state.n == 2 * 30 - done + 1  # + J(I): the 30 images are equal
        assert res.samples["error"].isna().all()
        assert res.summary.figures.r1 == pytest.approx(20 / 30)


def test_failed_items_are_retried_on_rerun(tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    rows = [{"id": "a", "text": "[[500:2]] x"}, {"id": "b", "text": "y"}]
    with FaultServer() as srv:
        j = judge(srv, max_retries=0, on_outage="fail")
        res = vsil.audit(rows, judge=j, overlap=(), describe=False, cache=cache, quiet=True)
        assert res.samples["error"].notna().sum() == 1
        res = vsil.audit(rows, judge=judge(srv, max_retries=0), overlap=(), describe=False,
                         cache=cache, quiet=True)
        assert res.samples["error"].isna().all()
