"""The OpenAI moderation judge against a local ``/v1/moderations`` server."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from guard_server import GuardServer, moderation_reply
from PIL import Image

from vsil.dataset import load
from vsil.detectors import JudgeInput, create, list_detectors
from vsil.detectors.judges.moderation import (
    ModerationJudge,
    details,
    flagged_input_types,
    harm_inputs,
)
from vsil.detectors.judges.openai_judge import DESCRIPTION_EVIDENCE, EndpointUnavailable
from vsil.taxonomy import CATEGORIES, MODERATION_TO_VLSBENCH

KEY = "sk-moderation-SECRET-789"
LOW = {k: 0.01 for k in MODERATION_TO_VLSBENCH}
attempts: Counter[str] = Counter()


def parts_of(body: dict[str, Any]) -> tuple[str, bool]:
    inp = body.get("input")
    if isinstance(inp, str):
        return inp, False
    text = " ".join(p.get("text", "") for p in inp if p.get("type") == "text")
    return text, any(p.get("type") == "image_url" for p in inp)


def respond(path: str, body: dict[str, Any]) -> tuple[int, Any]:
    if not path.endswith("/moderations"):
        return 404, {"error": {"message": "not found"}}
    text, image = parts_of(body)
    attempts[text] += 1
    if "mod-text-violence" in text:
        return 200, moderation_reply(True, {**LOW, "violence": 0.9}, {"violence": ["text"]})
    if "mod-image" in text or (not text and image):
        if not image:
            return 200, moderation_reply(False, LOW, {})
        return 200, moderation_reply(True, {**LOW, "sexual": 0.8}, {"sexual": ["image"]})
    if "mod-both" in text:
        return 200, moderation_reply(True, {**LOW, "illicit/violent": 0.7, "violence": 0.6},
                                     {"illicit/violent": ["text"],
                                      "violence": ["text", "image"]})
    if "mod-noflag" in text:
        reply = moderation_reply(True, LOW, {})
        del reply["results"][0]["flagged"]
        return 200, reply
    if "mod-badscore" in text:
        reply = moderation_reply(False, LOW, {})
        reply["results"][0]["category_scores"]["violence"] = "high"
        return 200, reply
    if "mod-noresults" in text:
        return 200, {"id": "x", "model": "m", "results": []}
    if "mod-nullresult" in text:
        return 200, {"id": "x", "model": "m", "results": [None]}
    if "mod-429" in text and attempts[text] <= 2:
        return 429, {"error": {"message": "slow down"}}
    if "mod-500" in text:
        return 500, {"error": {"message": "internal"}}
    if "mod-401" in text:
        return 401, {"error": {"message": f"bad key {KEY}"}}
    return 200, moderation_reply(False, LOW, {})


@pytest.fixture(scope="module")
def srv() -> Iterator[GuardServer]:
    with GuardServer(respond) as s:
        yield s


def judge(srv: GuardServer, **kw: Any) -> ModerationJudge:
    j = create("judge", "openai-moderation", base_url=srv.base_url, api_key=KEY,
               backoff_base=0.001, **kw)
    assert isinstance(j, ModerationJudge)
    return j


def picture() -> Any:
    return load([{"id": "1", "text": "x", "image": Image.new("RGB", (16, 16), (9, 9, 9))}])[0].image


def test_flagged_scores_categories_and_attribution(srv: GuardServer) -> None:
    img = picture()
    j = judge(srv)
    text_v, image_v, both_v, safe_v = j.judge([
        JudgeInput("mod-text-violence how to hurt"), JudgeInput("mod-image what is this", img),
        JudgeInput("mod-both use it on them", img), JudgeInput("a cake recipe")])
    assert (text_v.unsafe, text_v.p_unsafe, text_v.categories) == (True, 0.9, ("Violent",))
    assert flagged_input_types(text_v) == {"violence": ("text",)}
    assert harm_inputs(text_v) == {"text"}
    assert (image_v.unsafe, image_v.p_unsafe, image_v.categories) == (True, 0.8, ("Erotic",))
    assert harm_inputs(image_v) == {"image"} and "moderation flagged sexual (image)" in \
        image_v.evidence
    assert both_v.categories == ("Violent", "Illegal Activity")
    assert flagged_input_types(both_v) == {"illicit/violent": ("text",),
                                           "violence": ("text", "image")}
    assert harm_inputs(both_v) == {"text", "image"}
    assert (safe_v.unsafe, safe_v.categories, harm_inputs(safe_v)) == (False, (), frozenset())
    assert safe_v.p_unsafe == pytest.approx(0.01)
    d = details(both_v)
    assert d["model"] == "omni-moderation-2024-09-26" and d["flagged"] is True
    assert set(d["category_scores"]) == set(MODERATION_TO_VLSBENCH)
    assert j.info()["model_pin"] == "omni-moderation-2024-09-26"


def test_request_bodies_by_input_shape(srv: GuardServer) -> None:
    img = picture()
    j = judge(srv)
    body, notes = j.request_body(JudgeInput("just text"))
    assert body == {"model": "omni-moderation-latest", "input": "just text"} and notes == ()
    body, _ = j.request_body(JudgeInput("", img))  # J(I): the image alone
    assert [p["type"] for p in body["input"]] == ["image_url"]
    assert body["input"][0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    body, _ = j.request_body(JudgeInput("q", img))
    assert [p["type"] for p in body["input"]] == ["text", "image_url"]
    body, notes = j.request_body(JudgeInput("q", None, "a rifle"))
    assert body["input"] == "q\n\nImage description: a rifle" and notes == (DESCRIPTION_EVIDENCE,)
    before = len(srv.log.requests)
    v = j.judge([JudgeInput("   "), JudgeInput("mod-image", img)])
    assert v[0].failure == "input" and "nothing to moderate" in (v[0].error or "")
    assert v[1].unsafe is True
    sent = srv.log.requests[before:]
    assert len(sent) == 1 and sent[0].path == "/v1/moderations"
    assert sent[0].auth == f"Bearer {KEY}"


def test_failures_follow_the_failure_policy(srv: GuardServer) -> None:
    j = judge(srv, max_retries=3, on_outage="fail")
    cases = ["mod-noflag", "mod-badscore", "mod-noresults", "mod-nullresult", "mod-429 q",
             "mod-500", "mod-401"]
    out = dict(zip(cases, j.judge([JudgeInput(c) for c in cases]), strict=True))
    assert out["mod-noflag"].failure == "parse" and "flagged" in (out["mod-noflag"].error or "")
    assert out["mod-badscore"].failure == "parse"
    assert out["mod-noresults"].failure == "transient"
    assert "no results" in (out["mod-noresults"].error or "")
    assert out["mod-nullresult"].failure == "transient"
    assert out["mod-429 q"].unsafe is False  # retried after two 429s
    assert out["mod-500"].failure == "transient"
    assert out["mod-401"].failure == "environment"
    for v in out.values():
        assert KEY not in json.dumps(v.to_json())
    assert KEY not in repr(j) and KEY not in json.dumps(j.info(), default=str)
    assert j.usage["parse_errors"] == 2 and j.usage["retries"] >= 2


def test_an_endpoint_that_keeps_failing_stops_the_run(srv: GuardServer) -> None:
    j = judge(srv, max_retries=0, max_identical_failures=3, concurrency=1)
    with pytest.raises(EndpointUnavailable, match="unavailable"):
        j.judge([JudgeInput(f"mod-500 {i}") for i in range(6)])


def test_registered_and_mapped_to_the_vlsbench_taxonomy() -> None:
    d = {x.name: x for x in list_detectors()}["openai-moderation"]
    assert d.extra == "openai" and "image" in d.needs and "applied_input_types" in d.outputs
    assert {c for cs in MODERATION_TO_VLSBENCH.values() for c in cs} == set(CATEGORIES) - {
        "Privacy"}
