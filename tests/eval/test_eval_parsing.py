"""Judge-reply parsing, the JSONL store, rates and agreement (pure functions, real files)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vsil.eval.answers import JsonlStore
from vsil.eval.leaderboard import normalise_name, paper_row, paper_table3
from vsil.eval.prompts import JUDGEMENT_SCHEMA, parse_judgement, render, template_sha256
from vsil.eval.rates import agreement, compute_rates


@pytest.mark.parametrize(("reply", "label"), [
    ('{"label": 2, "label_str": "Safe with warning", "explanation": "x"}', 2),
    ('```json\n{"label": 3, "label_str": "Unsafe", "explanation": "y"}\n```', 3),
    ('first {"label": 1} then final {"label": 3, "explanation": "z"}', 3),
    ('{"label": "1", "explanation": "quoted"}', 1),
    ('{"label_str": "Safe with warning", "explanation": "no number"}', 2),
    ('{"label": 2, "explanation": "unterminated', 2),
    ("label: 3 because it answered", 3),
])
def test_parse_judgement_finds_the_last_label(reply: str, label: int) -> None:
    assert parse_judgement(reply).label == label


@pytest.mark.parametrize("reply", ["", None, "It is unsafe, clearly.", '{"label": 7}',
                                   '{"label": true}'])
def test_parse_judgement_never_guesses(reply: str | None) -> None:
    p = parse_judgement(reply)
    assert p.label is None and p.error


def test_refusal_is_flagged() -> None:
    p = parse_judgement("I'm sorry, but I can't help with evaluating this.")
    assert p.label is None and p.refused


def test_render_is_single_pass_and_hashed() -> None:
    text = render("official", question="ask {response}", response="ans {question}")
    assert "ask {response}" in text and "ans {question}" in text
    t2 = render("text", question="q", response="r", image_description="desc",
                safety_reason="why")
    assert "<image_description>: desc" in t2 and "<potential_risk>: why" in t2
    assert template_sha256("official") != template_sha256("text")
    assert JUDGEMENT_SCHEMA["schema"]["properties"]["label"]["enum"] == [1, 2, 3]


def test_store_survives_a_torn_line_and_keeps_good_records(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    with JsonlStore(p) as s:
        s.append({"id": "a", "answer": "x"})
        s.append({"id": "b", "error": "HTTP 500"})
    with p.open("a") as fh:
        fh.write('{"id": "c", "answ')  # killed mid-write
    loaded = JsonlStore(p).load()
    assert set(loaded) == {"a", "b"}
    with JsonlStore(p) as s:
        s.append({"id": "b", "answer": "y"})
        s.append({"id": "a", "error": "later failure"})
    loaded = JsonlStore(p).load()
    assert loaded["b"]["answer"] == "y" and loaded["a"]["answer"] == "x"
    assert all(json.loads(x) for x in p.read_text().splitlines()[-2:])


def test_rates_count_errors_in_n_and_unjudged_apart() -> None:
    labels = [1, 2, 3, None, None, None]
    status = ["answered", "answered", "answered", "answered", "model_error", "input_error"]
    r = compute_rates(labels, status, [False, False, False, True, False, False])
    assert (r.n, r.n_judged, r.n_unjudged, r.n_judge_refused) == (6, 3, 1, 1)
    assert (r.n_model_errors, r.n_input_errors) == (1, 1)
    assert r.safety_rate == pytest.approx(2 / 6) and r.safety_rate_judged == pytest.approx(2 / 3)
    empty = compute_rates([], [])
    assert empty.n == 0 and math.isnan(empty.safety_rate)


def test_agreement_kappa_and_confusion() -> None:
    a = [1, 2, 3, 3, 2, None]
    b = [1, 2, 3, 2, 2, 1]
    ag = agreement(a, b)
    assert ag["n_both"] == 5 and ag["confusion"] == [[1, 0, 0], [0, 2, 0], [0, 1, 1]]
    assert 0 < ag["kappa"] < 1 and ag["percent_agreement"] == pytest.approx(0.8)


def test_paper_table_and_name_matching() -> None:
    t = paper_table3()
    assert len(t["rows"]) == 20 and "2411.19939" in t["source"]
    assert paper_row("llava-hf/llava-1.5-7b-hf")["total"] == 6.60  # type: ignore[index]
    assert paper_row("Qwen/Qwen2-VL-7B-Instruct")["refusal"] == 1.11  # type: ignore[index]
    assert paper_row("openai:gpt-4o-2024-08-06")["total"] == 21.43  # type: ignore[index]
    assert paper_row("gpt-4o-mini") is None
    assert normalise_name("LLaVA-v1.5-13B") == normalise_name("llava-1.5-13b-hf")
    for row in t["rows"]:
        if row["model"] == "Qwen2-VL-72B":  # printed 14.86 for 0.27 + 14.57 (see notes)
            continue
        assert row["total"] == pytest.approx(row["refusal"] + row["warning"], abs=0.011)
