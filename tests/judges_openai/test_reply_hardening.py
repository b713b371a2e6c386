"""Whatever a judge endpoint replies ends as that item's label or error, never a crash, and a
refusal is never a label (issue: trustworthy numbers, items 3, 4, 6 and 8)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from fault_server import FaultServer
from typer.testing import CliRunner

import vsil
from vsil.cli import app
from vsil.detectors.judges.openai_judge import OpenAIJudge
from vsil.detectors.judges.prompts import SAFE_UNSAFE
from vsil.eval.prompts import parse_judgement
from vsil.runtime.replies import reply_of

KEY = "sk-test-abcdef123456"


def judge(srv: FaultServer, **kw: Any) -> OpenAIJudge:
    kw = {"base_url": srv.base_url, "api_key": KEY, "backoff_base": 0.001, "timeout": 2.0,
          "max_retries": 0, **kw}
    return OpenAIJudge(model="judge-m", **kw)


# --- 3. a refusal is never a label --------------------------------------------------------

@pytest.mark.parametrize("reply", [
    "I'm sorry, but I can't determine whether this is safe.",
    "I cannot say whether it is unsafe.",
    "As an AI, I can't judge this, but it seems unsafe.",
    "Sorry, I won't classify this as safe or unsafe.",
    "I am unable to assess if the content is safe.",
    "Unfortunately, I can't help evaluate whether this is unsafe.",
])
def test_refusal_prose_is_a_refusal(reply: str) -> None:
    read = SAFE_UNSAFE.read(reply)
    assert read.unsafe is None and read.refused


@pytest.mark.parametrize("reply", [
    "This is not unsafe.", "It is neither safe nor unsafe.", "safe or unsafe?",
    "It could be unsafe.", "I don't think it's unsafe", "Hard to say without context.",
])
def test_negated_or_hedged_labels_are_parse_failures(reply: str) -> None:
    read = SAFE_UNSAFE.read(reply)
    assert read.unsafe is None and not read.refused and read.error


@pytest.mark.parametrize(("reply", "unsafe"), [
    ("unsafe", True), ("Safe", False), ("**unsafe**", True), ("Answer: unsafe", True),
    ("Unsafe. I'm sorry, I can't elaborate.", True),
    ("The query is unsafe because it asks for a weapon.", True),
    ("No, it is safe.", False), ("It looks safe at first, but it is unsafe", True),
])
def test_clear_labels_still_read(reply: str, unsafe: bool) -> None:
    assert SAFE_UNSAFE.read(reply).unsafe is unsafe


def test_twenty_percent_refusal_prose_mislabels_nothing(tmp_path: Path) -> None:
    rows = []
    for i in range(200):
        tag = "[[hedge-refusal]]" if i % 5 == 0 else ("[[unsafe]]" if i % 2 else "")
        rows.append({"id": f"r{i}", "text": f"question {i} {tag}"})
    with FaultServer() as srv:
        res = vsil.audit(rows, judge=judge(srv, concurrency=8), overlap=(), cache=False,
                         quiet=True)
    s = res.samples.set_index("id")
    refused = [f"r{i}" for i in range(200) if i % 5 == 0]
    assert s.loc[refused, "pair_unsafe"].isna().all()
    assert s.loc[refused, "text_unsafe"].isna().all()
    assert set(s.loc[refused, "error_kind"]) == {"refusal"}
    judged = s.drop(index=refused)
    assert judged["error"].isna().all()
    expect = [bool(int(i[1:]) % 2) for i in judged.index]
    assert list(judged["pair_unsafe"].astype(bool)) == expect
    assert res.summary.figures.n_errors == 40
    assert res.summary.errors_by_kind == {"refusal": 40}


def test_eval_judge_refusal_is_never_a_label() -> None:
    quoted = '{"label": 1, "explanation": "The model said: I am sorry, I cannot help"}'
    assert parse_judgement(quoted).label == 1  # quoting the model's refusal is not refusing
    for reply in ['I am sorry, I cannot evaluate this. {"label": 3}',
                  "I'm sorry, but I can't help with evaluating this.",
                  "As an AI I cannot judge this response; label: 3"]:
        p = parse_judgement(reply)
        assert p.label is None and p.refused, reply


# --- 4. a malformed reply is that item's error ---------------------------------------------

MALFORMED = ("null-choice", "msg-string", "deep-json", "badjson")


def test_malformed_replies_are_item_errors_not_crashes() -> None:
    rows = []
    for i in range(200):
        kind = MALFORMED[i % len(MALFORMED)] if i % 25 == 0 else ""
        extra = "[[bad-usage]]" if i % 10 == 3 else ("[[bad-logprobs]]" if i % 10 == 7 else "")
        rows.append({"id": f"r{i}", "text": f"q{i} {'[[' + kind + ']]' if kind else ''} "
                                            f"{extra} {'[[unsafe]]' if i % 3 == 0 else ''}"})
    with FaultServer() as srv:
        j = judge(srv, concurrency=8)
        res = vsil.audit(rows, judge=j, overlap=(), cache=False, quiet=True)
        n_requests = srv.state.n
    s = res.samples.set_index("id")
    bad = [f"r{i}" for i in range(200) if i % 25 == 0]
    assert s.loc[bad, "pair_unsafe"].isna().all()
    assert s.loc[bad, "error"].str.contains("malformed reply|not JSON|no choices").all()
    assert set(s.loc[bad, "error_kind"]) == {"transient"}  # never cached: a re-run asks again
    good = s.drop(index=bad)
    assert good["error"].isna().all()
    # bad usage or logprobs do not spoil a readable label
    assert list(good["pair_unsafe"].astype(bool)) == [int(i[1:]) % 3 == 0 for i in good.index]
    assert n_requests == 400
    usage = res.summary.judge_usage
    assert usage["requests"] == 400 and usage["prompt_tokens"] >= 0


def test_reply_of_never_raises() -> None:
    shapes: list[Any] = [None, [], "x", {"choices": None}, {"choices": [None]},
                         {"choices": [{"message": "unsafe"}]},
                         {"choices": [{"message": {"content": 5}}]},
                         {"choices": [{"message": {"content": [1, 2]}}]},
                         {"choices": [{"message": {"content": "safe"}, "logprobs": 7}],
                          "usage": {"prompt_tokens": "x", "completion_tokens": -3}}]
    for shape in shapes:
        rep = reply_of(shape)
        assert rep.text is None or isinstance(rep.text, str)
    last = reply_of(shapes[-1])
    assert last.text == "safe" and last.problem is None and last.usage == {}
    assert last.logprobs is None and last.logprobs_problem


# --- 6. the CLI names an endpoint that is down ----------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_endpoint_down_is_one_line_and_exit_4(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "text": f"q{i}"}) + "\n"
                            for i in range(40)))
    port = _closed_port()
    res = CliRunner().invoke(app, [
        "audit", str(data), "--judge", "openai:m", "--base-url", f"http://127.0.0.1:{port}/v1",
        "--judge-max-retries", "0", "--overlap", "none", "--no-cache", "--out",
        str(tmp_path / "out")], env={"OPENAI_API_KEY": KEY})
    assert res.exit_code == 4, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.output
    assert f"127.0.0.1:{port}" in lines[0] and "connection" in lines[0].lower()
    assert KEY not in res.output


# --- 8. a key the server echoes is redacted everywhere --------------------------------------

def test_echoed_api_key_is_redacted_everywhere(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "[[echo-key]] q"}, {"id": "b", "text": "plain [[unsafe]]"},
            {"id": "c", "text": "[[echo-key-200]] q"}]
    cache = tmp_path / "cache.sqlite"
    with FaultServer() as srv:
        res = vsil.audit(rows, judge=judge(srv), overlap=(), cache=cache, quiet=True)
        assert any(KEY in (s.auth or "") for s in srv.state.seen)  # the key was sent
    out = tmp_path / "out"
    res.save(out)
    err = res.samples.set_index("id").loc["a", "error"]
    assert "[redacted]" in err and KEY not in err
    assert res.samples.set_index("id").loc["a", "error_kind"] == "environment"  # HTTP 401
    assert res.samples.set_index("id").loc["c", "pair_unsafe"]  # read, and its raw cached
    files = [*out.iterdir(), *tmp_path.glob("cache.sqlite*")]
    assert len(files) >= 4
    for f in files:
        assert KEY.encode() not in f.read_bytes(), f
