"""Keep rules, parsing, prompts, config and checkpoints of the generation pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vsil.generate.checkpoint import Checkpoint, CheckpointMismatch, Record
from vsil.generate.config import GenerateConfig, load_config, step_name
from vsil.generate.llm import extract_json, parse_answer
from vsil.generate.prompts import VERSIONS, all_prompts, get_prompt
from vsil.generate.rules import (
    check_taxonomy,
    keep_after_final,
    keep_after_mitigation,
    taxonomy_text,
)
from vsil.generate.schemas import Categorized, FinalVerdict, LeakFilter, json_schema

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "generate.toml"


@pytest.mark.parametrize(("text", "pair", "kept", "reason"), [
    (False, True, True, None),
    (True, True, False, "text still harmful alone (leak)"),
    (False, False, False, "pair no longer harmful"),
    (True, False, False, "text still harmful alone and pair not harmful"),
])
def test_keep_rule_after_mitigation(text: bool, pair: bool, kept: bool, reason: str | None
                                    ) -> None:
    for image in (True, False):  # image_harmful never decides
        f = LeakFilter(text_harmful=text, image_harmful=image, pair_harmful=pair)
        assert keep_after_mitigation(f) == (kept, reason)


@pytest.mark.parametrize(("meaningful", "harmful", "kept"), [
    (True, True, True), (True, False, False), (False, True, False), (False, False, False)])
def test_keep_rule_final(meaningful: bool, harmful: bool, kept: bool) -> None:
    ok, reason = keep_after_final(FinalVerdict(meaningful=meaningful, harmful=harmful))
    assert ok is kept
    assert (reason is None) is kept


def test_taxonomy_check_normalises_and_rejects() -> None:
    pair, why = check_taxonomy(Categorized(category="self-harm",
                                           sub_category="physical_self-injury"))
    assert pair == ("Self-Harm", "Physical Self-Injury") and why is None
    pair, why = check_taxonomy(Categorized(category="Violent", sub_category="Cybercrime"))
    assert pair is None and "not a sub-category of 'Violent'" in str(why)
    pair, why = check_taxonomy(Categorized(category="Spam", sub_category="Cybercrime"))
    assert pair is None and "unknown category" in str(why)
    text = taxonomy_text()
    assert "Weapon-Related Violence" in text and text.count("\n  - ") == 19  # the paper's 19 pairs


@pytest.mark.parametrize("reply", [
    '{"revised_query": "Use this here?", "explanation": "e"}',
    'Sure.\n```json\n{"revised_query": "Use this here?"}\n```\nDone.',
    '<think>{"no": 1} hmm</think>{"revised_query": "Use this here?"} trailing',
])
def test_robust_parsing(reply: str) -> None:
    a = parse_answer("mitigate", reply)
    assert a.ok and a.value is not None
    assert a.value.model_dump()["revised_query"] == "Use this here?"


@pytest.mark.parametrize(("reply", "fragment"), [
    ("I cannot help with that.", "no JSON object"),
    ('{"explanation": "missing the query"}', "revised_query"),
    ('{"revised_query": "   "}', "revised_query"),
    ("", "empty reply"),
])
def test_schema_violations_are_errors(reply: str, fragment: str) -> None:
    a = parse_answer("mitigate", reply)
    assert not a.ok and a.kind == "schema"
    assert a.error is not None and a.error.startswith("schema violation") and fragment in a.error


def test_extract_json_raises_without_object() -> None:
    with pytest.raises(ValueError):
        extract_json("[1, 2, 3]")


def test_prompts_are_versioned_and_hashed() -> None:
    info = all_prompts()
    assert set(info) == set(VERSIONS)
    for role, d in info.items():
        p = get_prompt(role)
        assert d["id"] == f"{role}.v{VERSIONS[role]}" and len(d["sha256"]) == 64
        assert "JSON" in p.text
    with pytest.raises(KeyError):
        get_prompt("mitigate").render(image_description="x")  # harmful_query missing
    # values are inserted verbatim, never interpreted
    out = get_prompt("mitigate").render(image_description="$harmful_query {x}",
                                        harmful_query="q")
    assert "$harmful_query {x}" in out


def test_json_schemas_are_strict() -> None:
    for role in VERSIONS:
        s = json_schema(role)
        assert s["additionalProperties"] is False
        assert set(s["required"]) == set(s["properties"])
        assert "default" not in json.dumps(s)


def test_example_config_and_role_fallback(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.endpoint("queries").model == "gpt-4o"
    assert cfg.endpoint("t2i_prompt").model == "gpt-4o-mini"
    assert cfg.endpoint("reviewer").model and "Qwen2-VL-72B" in cfg.endpoint("reviewer").model
    assert cfg.t2i.model == "stabilityai/stable-diffusion-3.5-large"
    assert len(cfg.all_elements()) >= 3
    yml = tmp_path / "c.yaml"
    yml.write_text("llm: {base_url: 'http://127.0.0.1:1/v1', model: m}\n"
                   "mllm: {base_url: 'http://127.0.0.1:1/v1', model: v}\n"
                   "models: {reviewer: {model: r, temperature: 0.0}}\n"
                   "elements: [{category: Violent, sub_category: x, element: y}]\n")
    c = load_config(yml)
    assert c.endpoint("reviewer").model == "r" and c.endpoint("reviewer").temperature == 0.0
    assert c.endpoint("reviewer").base_url == "http://127.0.0.1:1/v1"
    assert c.endpoint("mitigate").model == "m"
    with pytest.raises(ValueError, match="unknown model roles"):
        GenerateConfig(models={"nope": {}})
    with pytest.raises(ValueError):
        step_name("step9")
    assert step_name(3) == "images"


def test_endpoint_public_has_no_credentials() -> None:
    c = GenerateConfig(llm={"base_url": "https://user:pw@h.example:8443/v1?key=s",
                            "model": "m"})
    pub = c.endpoint("mitigate").public()
    assert pub["base_url"] == "https://h.example:8443/v1"
    assert "pw" not in json.dumps(pub)


def test_checkpoint_resume_torn_line_and_mismatch(tmp_path: Path) -> None:
    p = tmp_path / "c.jsonl"
    ck = Checkpoint(p, "mitigate", "fp1")
    ck.append([Record("a", True, outputs=[{"x": 1}]),
               Record("b", False, "mitigate: schema violation: revised_query: missing")])
    with p.open("a") as f:
        f.write('{"key": "c", "kept": tr')  # killed mid-write
    ck2 = Checkpoint(p, "mitigate", "fp1")
    assert ck2.done("a") and ck2.done("b") and not ck2.done("c")
    assert p.read_text().endswith("\n")  # the torn line was cut off
    ck2.append([Record("c", True, outputs=[{"x": 3}])])
    ck3 = Checkpoint(p, "mitigate", "fp1")
    assert ck3.outputs(["c", "b", "a"]) == [{"x": 3}, {"x": 1}]
    assert ck3.counts() == {"units": 3, "kept": 2, "dropped": 1, "items_out": 2,
                            "reasons": {"mitigate: schema violation": 1}}
    with pytest.raises(CheckpointMismatch, match="start_from"):
        Checkpoint(p, "mitigate", "fp2")
    assert Checkpoint(p, "mitigate", "fp2", verify=False).done("a")
