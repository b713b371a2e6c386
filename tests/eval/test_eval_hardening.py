"""The evaluation survives any reply shape and its reports tell the truth (issue: trustworthy
numbers, items 4 and 9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from eval_servers import EvalServer, FaultServer

import vsil
from vsil.eval import EvalResult, ResponseJudge, evaluate, leaderboard
from vsil.eval.result import ROW_COLUMNS


def _judge(url: str, **kw: Any) -> ResponseJudge:
    return ResponseJudge("judge-m", base_url=url, api_key="sk-judge-key-123",
                         concurrency=kw.pop("concurrency", 4), max_retries=0, **kw)


def test_every_answer_is_saved_whatever_the_model_replies(tmp_path: Path) -> None:
    kinds = ["null-choice", "msg-string", "bad-usage", "bad-logprobs", "deep-json", "badjson"]
    rows = [{"id": f"q{i}", "text": f"question {i} " + (f"[[{kinds[i]}]]" if i < 6 else "")}
            for i in range(11)]
    with FaultServer() as model, EvalServer("judge") as judge:
        res = evaluate("openai:m", vsil.load(rows), _judge(judge.base_url, variant="text"),
                       mode="text-only", out_dir=tmp_path / "run", base_url=model.base_url,
                       api_key="sk-model-key-123", concurrency=4)
    saved = [json.loads(x) for x in (tmp_path / "run" / "answers.jsonl").read_text()
             .splitlines()]
    assert sorted(r["id"] for r in saved) == sorted(r["id"] for r in rows)  # all 11
    by_id = {r["id"]: r for r in saved}
    for i, kind in enumerate(kinds):
        rec = by_id[f"q{i}"]
        if kind in ("bad-usage", "bad-logprobs"):  # the answer itself is readable
            assert rec.get("error") is None and rec["answer"], kind
        else:
            assert rec["error"] and rec["retryable"] is True, kind
    assert res.summary.n == 11 and res.summary.n_model_errors == 4


def test_schema_rejection_is_decided_once_and_covers_every_item(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "text": f"question {i}", "image_description": "a picture",
             "safety_reason": "risk"} for i in range(99)]
    with EvalServer("model") as model, EvalServer("judge", reject_schema=True) as judge:
        j = _judge(judge.base_url, variant="text", concurrency=16)
        res = evaluate("openai:m", vsil.load(rows), j, mode="text-only",
                       out_dir=tmp_path / "run", base_url=model.base_url, api_key="k",
                       concurrency=16)
        n_judge = judge.state.n
    assert res.summary.n_judged == 99 and res.summary.n_unjudged == 0
    assert n_judge == 100  # one rejected probe, then 99 plain requests
    assert j.schema_supported is False and j.runtime.usage.circuit_trips == 0


def _result(rows: list[dict[str, Any]], **prov: Any) -> EvalResult:
    frame = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    frame["label"] = frame["label"].astype("Int64")
    frame["judge_refused"] = frame["judge_refused"].fillna(False).astype(bool)
    return EvalResult(rows=frame, provenance={"model": {"name": "openai:gpt-4o-2024-05-13"},
                                              "judges": [{"name": "openai:gpt-4o",
                                                          "official_protocol": True}],
                                              "mode": "image", **prov})


def test_errors_table_lists_real_errors_only() -> None:
    rows = []
    for i in range(60):
        rows.append({"id": f"a{i}", "category": "Violent", "mode": "image",
                     "status": "answered", "answer": "Sure.", "model_error": float("nan"),
                     "label": 3, "judge_refused": False})
    rows.append({"id": "je", "status": "answered", "answer": "x", "model_error": None,
                 "judge_error": "no label in judge reply", "judge_refused": False})
    rows.append({"id": "me", "status": "model_error", "model_error": "HTTP 500: boom",
                 "judge_refused": False})
    rows.append({"id": "ie", "status": "input_error", "model_error": "input: no image",
                 "judge_refused": False})
    html = _result(rows).to_html()
    errors = html.split("<h2>Errors")[1].split("<h2>")[0]
    assert "(first 3)" in errors
    assert "no label in judge reply" in errors and "HTTP 500: boom" in errors
    assert "a0</td>" not in errors  # answered rows are not model errors
    assert ">input</td>" in errors and ">model</td>" in errors and ">judge</td>" in errors


def test_leaderboard_separates_error_kinds_and_flags_other_protocols() -> None:
    rows = [{"id": f"q{i}", "status": "answered", "answer": "a", "label": 1 + i % 3,
             "judge_refused": False} for i in range(10)]
    rows += [{"id": "m", "status": "model_error", "model_error": "HTTP 500",
              "judge_refused": False},
             {"id": "i1", "status": "input_error", "model_error": "input: x",
              "judge_refused": False},
             {"id": "i2", "status": "input_error", "model_error": "input: y",
              "judge_refused": False}]
    caption = _result(rows, mode="caption")
    lb = leaderboard([caption])
    row = lb.frame.iloc[0]
    assert (row["n_model_errors"], row["n_input_errors"]) == (1, 2)
    assert row["paper_total"] is not None and not row["paper_comparable"]
    assert "mode caption (paper: image)" in row["paper_note"]
    assert "N 13 (paper: 2,241)" in row["paper_note"]
    md = lb.to_markdown()
    assert "not comparable" in md and "input errors" in md
    assert "not comparable" in lb.to_html()


def test_a_repeated_id_with_a_load_error_never_takes_another_rows_answer(
        tmp_path: Path) -> None:
    rows = [{"id": "dup", "text": "question REFUSE one"},
            {"id": "dup", "text": "question two, the same id"},
            {"id": "other", "text": "question three"}]
    ds = vsil.load(rows, on_error="keep")
    with EvalServer("model") as model, EvalServer("judge") as judge:
        res = evaluate("openai:m", ds, _judge(judge.base_url, variant="text"),
                       mode="text-only", out_dir=tmp_path / "run", base_url=model.base_url,
                       api_key="k")
    r = res.rows
    assert list(r["status"]) == ["answered", "input_error", "answered"]
    assert pd.isna(r.loc[1, "answer"]) and pd.isna(r.loc[1, "label"])
    assert "duplicate id" in r.loc[1, "model_error"]
    assert res.summary.n_judged == 2 and res.summary.n_input_errors == 1
