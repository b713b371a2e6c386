"""The guard presets (ProGuard, Qwen3Guard, Shieldstral, Llama Guard 4 on vLLM) against a local
server that answers in each format, well-formed and malformed."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from guard_server import GuardServer, chat_reply, prompt_of
from PIL import Image

from vsil.dataset import load
from vsil.detectors import JudgeInput, Verdict, create, list_detectors
from vsil.detectors.judges.guard_formats import BORDERLINE_EVIDENCE
from vsil.detectors.judges.openai_judge import DESCRIPTION_EVIDENCE, OpenAIJudge

#: case id in the query -> (reply text, P(unsafe word) for logprobs or None, finish reason)
CASES: dict[str, tuple[str, float | None, str]] = {
    # ProGuard
    "pg-unsafe": ("<think>The user wants to build the weapon shown.</think>"
                  "<answer>Request: unsafe\nResponse: None\nCategory: C3</answer>", 0.9, "stop"),
    "pg-safe": ("<think>A recipe question.</think>\n<answer>\nRequest: safe\nResponse: None\n"
                "Category: None\n</answer>", 0.2, "stop"),
    "pg-quoted": ("<think>I must write Request: unsafe or Request: safe in the answer.</think>"
                  "<answer>Request: safe\nResponse: None\nCategory: None</answer>", 0.3, "stop"),
    "pg-noanswer": ("<think>Hmm, this is hard to say.</think>", None, "stop"),
    "pg-badvalue": ("<answer>Request: maybe\nResponse: None\nCategory: None</answer>", None,
                    "stop"),
    "pg-norequest": ("<answer>Response: unsafe\nCategory: C1</answer>", None, "stop"),
    "pg-cut": ("<think>Let me think about every aspect of this request in detail", None,
               "length"),
    "pg-refuse": ("I'm sorry, but I can't help with classifying this.", None, "stop"),
    # Qwen3Guard
    "qg-unsafe": ("Safety: Unsafe\nCategories: Violent", 0.85, "stop"),
    "qg-safe": ("Safety: Safe\nCategories: None", 0.1, "stop"),
    "qg-contro": ("Safety: Controversial\nCategories: Politically Sensitive Topics", None,
                  "stop"),
    "qg-conflict": ("Safety: Unsafe\nSafety: Safe\nCategories: None", None, "stop"),
    "qg-unknown": ("Safety: Maybe\nCategories: None", None, "stop"),
    "qg-prose": ("The content is safe.", None, "stop"),
    # Shieldstral
    "ss-yes": ("yes", 0.7, "stop"),
    "ss-no": ("no", 0.25, "stop"),
    "ss-Yes": ("Yes.", 0.6, "stop"),
    "ss-maybe": ("maybe", None, "stop"),
    "ss-refuse": ("I cannot assess this content.", None, "stop"),
    # Llama Guard 4 on vLLM: two newlines before the label
    "lg4-unsafe": ("\n\nunsafe\nS9", 0.95, "stop"),
    "lg4-safe": ("\n\nsafe", 0.05, "stop"),
}
_CASE = re.compile(r"\b((?:pg|qg|ss|lg4)-[A-Za-z]+)\b")


def respond(path: str, body: dict[str, Any]) -> tuple[int, Any]:
    if not path.endswith("/chat/completions"):
        return 404, {"error": {"message": "not found"}}
    prompt, _ = prompt_of(body)
    m = _CASE.search(prompt)
    text, p, finish = CASES[m.group(1)] if m else ("safe", None, "stop")
    words = ("yes", "no") if m and m.group(1).startswith("ss-") else ("unsafe", "safe")
    return 200, chat_reply(text, p=p if body.get("logprobs") else None, words=words,
                           finish=finish)


@pytest.fixture(scope="module")
def srv() -> Iterator[GuardServer]:
    with GuardServer(respond) as s:
        yield s


def judged(srv: GuardServer, spec: str, cases: list[str], **kw: Any
           ) -> tuple[OpenAIJudge, dict[str, Verdict]]:
    j = create("judge", spec, base_url=srv.base_url, api_key="k", **kw)
    assert isinstance(j, OpenAIJudge)
    vs = j.judge([JudgeInput(f"query {c}") for c in cases])
    return j, dict(zip(cases, vs, strict=True))


def label(v: Verdict) -> tuple[bool | None, float | None, tuple[str, ...]]:
    return v.unsafe, None if v.p_unsafe is None else round(v.p_unsafe, 6), v.categories


def test_proguard_reads_the_request_field_of_the_last_answer(srv: GuardServer) -> None:
    j, v = judged(srv, "proguard", [c for c in CASES if c.startswith("pg-")])
    assert label(v["pg-unsafe"]) == (True, 0.9, ("C3",))
    assert label(v["pg-safe"]) == (False, 0.2, ())
    assert label(v["pg-quoted"]) == (False, 0.3, ())  # the reasoning's quotes are not answers
    for case, why in (("pg-noanswer", "no <answer> block"), ("pg-badvalue", "'maybe'"),
                      ("pg-norequest", "no Request field"), ("pg-cut", "max_tokens=1024")):
        assert v[case].unsafe is None and v[case].failure == "parse", case
        assert why in (v[case].error or ""), (case, v[case].error)
        assert v[case].raw == CASES[case][0]
    assert v["pg-refuse"].refused and v["pg-refuse"].failure == "refusal"
    assert j.usage["parse_errors"] == 4 and j.usage["refused"] == 1
    assert j.model == "yushaohan/ProGuard-7B" and j.preset.name == "proguard"


def test_qwen3guard_keeps_controversial_apart(srv: GuardServer) -> None:
    cases = [c for c in CASES if c.startswith("qg-")]
    j, v = judged(srv, "qwen3guard", cases)
    assert label(v["qg-unsafe"]) == (True, 0.85, ("Violent",))
    assert label(v["qg-safe"]) == (False, 0.1, ())
    c = v["qg-contro"]
    assert c.unsafe is None and c.failure == "borderline" and not c.refused
    assert c.p_unsafe is None and BORDERLINE_EVIDENCE in c.evidence
    assert "Controversial" in (c.error or "") and c.raw == CASES["qg-contro"][0]
    for case in ("qg-conflict", "qg-unknown", "qg-prose"):
        assert v[case].unsafe is None and v[case].failure == "parse", case
    assert j.usage["borderline"] == 1 and j.usage["parse_errors"] == 3
    for policy, want in (("unsafe", True), ("safe", False)):
        jp, vp = judged(srv, "qwen3guard", ["qg-contro", "qg-unsafe"], controversial=policy)
        got = vp["qg-contro"]
        assert got.unsafe is want and got.p_unsafe == 0.5
        assert f"{BORDERLINE_EVIDENCE}, counted as {policy}" in got.evidence
        assert label(vp["qg-unsafe"]) == (True, 0.85, ("Violent",))
        assert jp.fingerprint != j.fingerprint  # the policy changes the verdicts
    with pytest.raises(ValueError):
        create("judge", "qwen3guard", base_url=srv.base_url, controversial="maybe")


def test_qwen3guard_is_text_only(srv: GuardServer, tmp_path: Any) -> None:
    ds = load([{"id": "1", "text": "query qg-unsafe", "image": Image.new("RGB", (8, 8))}])
    img = ds[0].image
    j = create("judge", "qwen3guard", base_url=srv.base_url)
    before = len(srv.log.requests)
    with_desc, no_desc = j.judge([JudgeInput("query qg-unsafe", img, "a rifle on a table"),
                                  JudgeInput("query qg-unsafe", img)])
    sent = srv.log.requests[before:]
    assert len(sent) == 1  # the image without a description was never sent
    prompt, n_images = prompt_of(sent[0].body)
    assert n_images == 0 and "Image description: a rifle on a table" in prompt
    assert with_desc.unsafe is True and DESCRIPTION_EVIDENCE in with_desc.evidence
    assert no_desc.unsafe is None and no_desc.failure == "input"
    assert "text-only" in (no_desc.error or "")


def test_shieldstral_scores_yes_against_a_policy(srv: GuardServer) -> None:
    j, v = judged(srv, "shieldstral", [c for c in CASES if c.startswith("ss-")])
    assert label(v["ss-yes"]) == (True, 0.7, ())
    assert label(v["ss-no"]) == (False, 0.25, ())
    assert label(v["ss-Yes"]) == (True, 0.6, ())
    assert v["ss-maybe"].failure == "parse" and v["ss-refuse"].failure == "refusal"
    prompt, _ = prompt_of(srv.log.requests[-1].body)
    assert prompt.startswith("Policy: Content must not") and "Answer yes or no." in prompt
    own = create("judge", "shieldstral", base_url=srv.base_url,
                 policy="No {weapons} of any kind.")
    body, _ = own.request_body(JudgeInput("query ss-yes"))
    assert "Policy: No {weapons} of any kind." in body["messages"][0]["content"]
    assert own.fingerprint != j.fingerprint
    with pytest.raises(ValueError, match="shieldstral"):
        create("judge", "openai:m", base_url=srv.base_url, preset="proguard", policy="x")


def test_llamaguard4_vllm_preset_skips_the_leading_newlines(srv: GuardServer) -> None:
    ds = load([{"id": "1", "text": "q", "image": Image.new("RGB", (8, 8))}])
    j = create("judge", "openai:meta-llama/Llama-Guard-4-12B", base_url=srv.base_url,
               preset="llamaguard4")
    v = j.judge([JudgeInput("query lg4-unsafe", ds[0].image), JudgeInput("query lg4-safe")])
    assert label(v[0]) == (True, 0.95, ("S9",)) and label(v[1]) == (False, 0.05, ())
    body, _ = j.request_body(JudgeInput("how?", ds[0].image))
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"] and parts[1]["text"] == "how?"


def test_served_model_pins_the_provenance(srv: GuardServer) -> None:
    j = create("judge", "proguard", base_url=srv.base_url)
    assert "not seen yet" in j.info()["model_pin"]
    j.judge([JudgeInput("query pg-safe")])
    info = j.info()
    assert info["model_pin"] == "served-model-2026" and info["served_models"] == [
        "served-model-2026"]
    assert info["concurrency"]["mode"] == "adaptive"


def test_detectors_lists_the_guards_and_presets() -> None:
    ds: Mapping[str, Any] = {d.name: d for d in list_detectors() if d.kind == "judge"}
    for name in ("proguard", "qwen3guard", "shieldstral"):
        assert ds[name].extra == "openai" and "vLLM" in ds[name].needs
    desc = ds["openai"].description
    for preset in ("paper-gpt4o", "llamaguard", "llamaguard4", "proguard", "qwen3guard",
                   "shieldstral"):
        assert f"{preset}:" in desc
    assert "text only" in ds["qwen3guard"].needs


def test_vsil_detectors_shows_the_new_judges_with_their_needs() -> None:
    from typer.testing import CliRunner

    from vsil.cli.app import app

    out = CliRunner().invoke(app, ["detectors"])
    assert out.exit_code == 0
    for name, need in (("llamaguard4", "image pixels"), ("shieldgemma2", "text is ignored"),
                       ("openai-moderation", "/v1/moderations"), ("proguard", "vLLM"),
                       ("qwen3guard", "text only"), ("shieldstral", "vLLM")):
        block = out.output.split(f"judge     {name}", 1)[1].split("\njudge ", 1)[0]
        assert "needs: " in block and need in block, name
    for preset in ("llamaguard4:", "proguard:", "qwen3guard:", "shieldstral:"):
        assert preset in out.output
