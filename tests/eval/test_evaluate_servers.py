"""`vsil.evaluate` end to end against real OpenAI-compatible servers on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eval_servers import EvalServer, FaultServer
from PIL import Image

import vsil
from vsil.dataset import DataError
from vsil.eval import EvalResult, OpenAIModel, ResponseJudge, evaluate, leaderboard
from vsil.runtime.http import ChatRuntime

CATS = [("Violent", "Weapons"), ("Violent", "Terrorism"), ("Illegal Activity", "Cybercrime"),
        ("Self-Harm", "Suicide"), ("Hate", "Discrimination"), ("Erotic", "Porn"),
        ("Privacy", "Personal Info")]


def make_rows(tmp: Path, n: int = 14, markers: dict[int, str] | None = None,
              images: bool = True) -> list[dict[str, Any]]:
    (tmp / "imgs").mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        kind = ("REFUSE", "WARN", "")[i % 3]
        q = f"question {i} {kind} {(markers or {}).get(i, '')}".strip()
        cat, sub = CATS[i % len(CATS)]
        row: dict[str, Any] = {"id": f"q{i}", "text": q, "category": cat, "sub_category": sub,
                               "image_description": f"a picture number {i}",
                               "safety_reason": f"risk {i}"}
        if images:
            Image.new("RGB", (24, 16), (i * 10 % 255, 40, 90)).save(tmp / "imgs" / f"{i}.png")
            row["image"] = f"imgs/{i}.png"
        rows.append(row)
    return rows


@pytest.fixture
def model_srv() -> Iterator[EvalServer]:
    with EvalServer("model") as s:
        yield s


@pytest.fixture
def judge_srv() -> Iterator[EvalServer]:
    with EvalServer("judge") as s:
        yield s


def run(tmp: Path, model_url: str, judge: Any, *, rows: list[dict[str, Any]] | None = None,
        **kw: Any) -> EvalResult:
    data = vsil.load(rows if rows is not None else make_rows(tmp), image_root=tmp)
    return evaluate("openai:tiny-vlm", data, judge, out_dir=tmp / "run", base_url=model_url,
                    api_key="sk-secret-model", concurrency=4, **kw)


def oj(url: str, **kw: Any) -> ResponseJudge:
    return ResponseJudge("judge-m", base_url=url, api_key="sk-secret-judge", concurrency=4,
                         max_retries=1, **kw)


def test_whole_run_image_mode(tmp_path: Path, model_srv: EvalServer,
                              judge_srv: EvalServer) -> None:
    res = run(tmp_path, model_srv.base_url, oj(judge_srv.base_url))
    s = res.summary
    # 14 items: i%3==0 refuse (5), ==1 warn (5), ==2 comply (4)
    assert (s.n, s.n_refusal, s.n_warning, s.n_unsafe, s.n_unjudged) == (14, 5, 5, 4, 0)
    assert s.safety_rate == pytest.approx(10 / 14)
    assert s.safety_ci[0] < s.safety_rate < s.safety_ci[1]
    # the model saw every image, with no system prompt, greedy, 128 tokens
    for b in model_srv.state.bodies:
        assert [m["role"] for m in b["messages"]] == ["user"]
        parts = b["messages"][0]["content"]
        assert parts[0]["type"] == "image_url" and parts[1]["type"] == "text"
        assert b["max_tokens"] == 128 and b["temperature"] == 0
    assert all("[image seen]" in a for a in res.rows["answer"])
    # the official judge saw the image and asked for the schema
    jb = judge_srv.state.bodies[0]
    assert jb["response_format"]["type"] == "json_schema"
    assert jb["messages"][0]["content"][0]["type"] == "image_url"
    # breakdowns: 6 categories, sub-categories keyed by the pair
    assert set(res.per_category["category"]) == {c for c, _ in CATS}
    assert len(res.per_subcategory) == len(CATS)
    # files: answers before judgements, one line per item; reports; no secrets anywhere
    out = tmp_path / "run"
    lines = (out / "answers.jsonl").read_text().splitlines()
    assert len(lines) == 14 and {json.loads(x)["id"] for x in lines} == {f"q{i}" for i in range(14)}
    rec = json.loads(lines[0])
    assert {"id", "mode", "model", "answer", "usage", "ts"} <= set(rec)
    for f in out.rglob("*"):
        if f.is_file():
            assert "sk-secret" not in f.read_text(encoding="utf-8", errors="ignore")
    assert "sk-secret" not in repr(res) + res.to_markdown()
    assert res.provenance["model"]["system_prompt"] is None
    assert res.provenance["model"]["max_new_tokens"] == 128
    assert len(res.provenance["judges"][0]["template_sha256"]) == 64


def test_resume_and_rejudge_without_asking_the_model(tmp_path: Path, model_srv: EvalServer,
                                                      judge_srv: EvalServer) -> None:
    rows = make_rows(tmp_path)
    first = run(tmp_path, model_srv.base_url, oj(judge_srv.base_url), rows=rows)
    n_model, n_judge = model_srv.state.n, judge_srv.state.n
    again = run(tmp_path, model_srv.base_url, oj(judge_srv.base_url), rows=rows)
    assert (model_srv.state.n, judge_srv.state.n) == (n_model, n_judge)  # nothing re-asked
    assert again.summary == first.summary
    # a second judge (text variant, messy output without schema) over the saved answers
    with EvalServer("judge", messy=True, reject_schema=True) as j2:
        res = run(tmp_path, model_srv.base_url,
                  [oj(judge_srv.base_url), oj(j2.base_url, variant="text")], rows=rows)
        assert model_srv.state.n == n_model  # the model received 0 new requests
        assert judge_srv.state.n == n_judge  # the first judge reused its judgements
        # schema support is decided once per endpoint: one rejected probe, then 14 plain
        assert j2.state.n == 15
        text_prompt = j2.state.bodies[-1]["messages"][0]["content"]
        assert isinstance(text_prompt, str) and "<image_description>:" in text_prompt
    assert res.summary.n_judged == 14
    ag = res.agreement[0]
    assert ag["n_both"] == 14 and ag["kappa"] == pytest.approx(1.0)
    assert ag["confusion"] == [[5, 0, 0], [0, 5, 0], [0, 0, 4]]
    assert res.provenance["judges"][1]["official_protocol"] is False
    assert len(list((tmp_path / "run" / "judgements").glob("*.jsonl"))) == 2


def test_model_errors_are_errors_never_answers(tmp_path: Path, judge_srv: EvalServer) -> None:
    rows = make_rows(tmp_path, markers={3: "[[500:inf]]", 4: "[[400]]", 5: "[[429:1]]"})
    with FaultServer() as fs:
        model = OpenAIModel("tiny-vlm", runtime=ChatRuntime(fs.base_url, concurrency=4,
                                                             max_retries=2, backoff_base=0.01))
        res = evaluate(model, vsil.load(rows, image_root=tmp_path), oj(judge_srv.base_url),
                       out_dir=tmp_path / "run")
        assert fs.state.attempts  # the fault server did the answering
    s = res.summary
    assert s.n == 14 and s.n_model_errors == 2 and s.n_judged == 12
    bad = res.rows.set_index("id").loc[["q3", "q4"]]
    assert bad["answer"].isna().all() and bad["label"].isna().all()
    assert bad["model_error"].str.contains("HTTP 500|HTTP 400").all()
    # the 429 was retried and answered
    assert res.rows.set_index("id").loc["q5", "status"] == "answered"
    # errors were never sent to the judge
    assert judge_srv.state.n == 12
    # rates over N keep errors in the denominator
    assert s.safety_rate == pytest.approx((s.n_refusal + s.n_warning) / 14)


def test_judge_failures_are_unjudged_never_safe(tmp_path: Path, model_srv: EvalServer,
                                                judge_srv: EvalServer) -> None:
    rows = make_rows(tmp_path, markers={0: "JUDGE_MALFORMED", 3: "JUDGE_REFUSE",
                                        6: "JUDGE_FILTER", 9: "JUDGE_TRUNC"})
    res = run(tmp_path, model_srv.base_url, oj(judge_srv.base_url), rows=rows)
    s = res.summary
    assert s.n_unjudged == 4 and s.n_judge_refused == 2 and s.n_judged == 10
    # items 0, 3, 6, 9 are all refusals: none counted as safe
    assert s.n_refusal == 1
    r = res.rows.set_index("id")
    assert r.loc["q9", "judge_error"].startswith("judge reply truncated")
    assert r.loc["q6", "judge_refused"] and r.loc["q3", "judge_refused"]
    assert s.refusal_rate_judged == pytest.approx(1 / 10)
    md = res.to_markdown()
    assert "unjudged" in md and "4 (2)" in md


def test_caption_and_text_only_modes_and_missing_images(tmp_path: Path, model_srv: EvalServer,
                                                       judge_srv: EvalServer) -> None:
    rows = make_rows(tmp_path, images=False)
    data = vsil.load(rows)
    with pytest.raises(DataError, match="mode='caption'"):
        evaluate("openai:m", data, None, mode="image", out_dir=tmp_path / "a",
                 base_url=model_srv.base_url)
    with pytest.raises(DataError, match="official judge"):
        evaluate("openai:m", data, oj(judge_srv.base_url), mode="caption",
                 out_dir=tmp_path / "a", base_url=model_srv.base_url)
    res = evaluate("openai:m", data, oj(judge_srv.base_url, variant="text"), mode="caption",
                   out_dir=tmp_path / "cap", base_url=model_srv.base_url)
    sent = model_srv.state.bodies[0]["messages"][0]["content"]
    assert isinstance(sent, str) and sent.startswith("Image description: a picture number")
    assert res.summary.n_judged == 14 and not res.official_protocol
    assert "not the official" in res.to_html()
    res2 = evaluate("openai:m", data, oj(judge_srv.base_url, variant="text"), mode="text-only",
                    out_dir=tmp_path / "txt", base_url=model_srv.base_url)
    assert res2.summary.n_judged == 14


def test_embedded_vlsbench_image_mode_says_images_are_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="VLSBench images are not included"):
        evaluate("openai:m", "vlsbench", None, out_dir=tmp_path, base_url="http://127.0.0.1:9")


def test_embedded_vlsbench_caption_mode_limit(tmp_path: Path, model_srv: EvalServer,
                                              judge_srv: EvalServer) -> None:
    res = evaluate("openai:m", "vlsbench", oj(judge_srv.base_url, variant="text"),
                   mode="caption", limit=12, out_dir=tmp_path, base_url=model_srv.base_url)
    assert res.summary.n == 12 and res.summary.n_judged == 12
    # the text judge got the dataset's safety_reason
    assert "<potential_risk>: (not available)" not in judge_srv.state.bodies[0][
        "messages"][0]["content"]


def test_another_model_in_the_same_dir_is_refused(tmp_path: Path, model_srv: EvalServer) -> None:
    rows = make_rows(tmp_path, n=3)
    run(tmp_path, model_srv.base_url, None, rows=rows)
    with pytest.raises(ValueError, match="another model"):
        run(tmp_path, model_srv.base_url, None, rows=rows, max_new_tokens=64)


def test_result_roundtrip_reports_and_leaderboard(tmp_path: Path, model_srv: EvalServer,
                                                  judge_srv: EvalServer) -> None:
    rows = make_rows(tmp_path)
    rows[0]["category"] = "<script>alert(1)</script>"
    rows[1]["text"] = "WARN <img src=x onerror=alert(2)>"
    res = run(tmp_path, model_srv.base_url, oj(judge_srv.base_url), rows=rows)
    html = res.to_html()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "data:image/png;base64," in html
    assert "<html" not in res._repr_html_()
    back = EvalResult.from_json(tmp_path / "run")
    assert back.summary == res.summary
    assert back.per_category.equals(res.per_category)
    fig = res.plot_radar()
    assert len(fig.axes) == 1 and fig.axes[0].name == "polar"
    (tmp_path / "gpt").mkdir()
    res.provenance["model"]["name"] = "openai:gpt-4o-2024-08-06"
    res.save(tmp_path / "gpt")
    lb = leaderboard([tmp_path / "run", tmp_path / "gpt"])
    assert len(lb.frame) == 2
    row = lb.frame.set_index("model").loc["openai:gpt-4o-2024-08-06"]
    assert row["paper_total"] == pytest.approx(21.43)
    md = lb.to_markdown()
    assert "21.43" in md and "openai:tiny-vlm" in md
    assert "<b>" in lb.to_html() and "21.43" in lb.to_html()
