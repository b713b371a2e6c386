"""Throughput of the full evaluate path (answer, then judge) against local servers.

Both servers (the model under test and the judge) are the deterministic test servers from
``tests/eval/eval_servers.py`` with a fixed latency per request. Compared in the same run:

* ``official``: the official VLSBench loop: the sync ``openai`` client, one item at a time,
  ask the model, then the judge (no concurrency, nothing saved until the end);
* ``vsil``: `vsil.evaluate` at its default concurrency (16): answers streamed to JSONL, then
  judged, then the EvalResult (``vsil_s``); writing result.json + HTML + Markdown reports is
  timed apart (``vsil_reports_s``: the first matplotlib import and the radar chart);
* ``vsil resume``: the same call again on the finished run directory (no request is sent;
  reports written).

The labels of both paths are checked to be identical. Usage::

    python benchmarks/eval_throughput.py [--n 128] [--latency 0.1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "eval"))
from eval_servers import EvalServer

import vsil
from vsil.eval import ResponseJudge, evaluate
from vsil.eval.evaluate import CAPTION_TEMPLATE
from vsil.eval.prompts import parse_judgement, render


def official_loop(samples: list[Any], model_url: str, judge_url: str) -> tuple[float, list[int]]:
    """One item at a time: answer (sync client), then judge; as VLSBench's eval.py does."""
    from openai import OpenAI

    model = OpenAI(base_url=model_url, api_key="none", max_retries=0)
    judge = OpenAI(base_url=judge_url, api_key="none", max_retries=0)
    labels = []
    t0 = time.perf_counter()
    for s in samples:
        q = CAPTION_TEMPLATE.format(image_text=s.image_text, question=s.text)
        a = model.chat.completions.create(
            model="m", messages=[{"role": "user", "content": q}], max_tokens=128,
            temperature=0).choices[0].message.content or ""
        prompt = render("text", question=s.text, response=a, image_description=s.image_text,
                        safety_reason=s.meta.get("safety_reason"))
        r = judge.chat.completions.create(
            model="j", messages=[{"role": "user", "content": prompt}], max_tokens=512,
            temperature=0).choices[0].message.content
        labels.append(parse_judgement(r).label or 0)
    return time.perf_counter() - t0, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    ds = vsil.load("vlsbench")
    samples = [s for s in ds if not s.load_error][: args.n]
    data = vsil.load([{"id": s.id, "text": s.text, "image_description": s.image_text,
                       "category": s.category, "sub_category": s.sub_category,
                       "safety_reason": s.meta.get("safety_reason")} for s in samples])
    out: dict[str, Any] = {"n": len(samples), "latency_s": args.latency,
                           "concurrency": args.concurrency, "requests_per_item": 2,
                           "python": platform.python_version(), "machine": platform.machine()}
    with EvalServer("model", latency=args.latency) as m, \
            EvalServer("judge", latency=args.latency) as j, \
            tempfile.TemporaryDirectory() as tmp:
        t_off, off_labels = official_loop(samples, m.base_url, j.base_url)
        judge = ResponseJudge("j", base_url=j.base_url, api_key="none", variant="text")
        kw: dict[str, Any] = {"mode": "caption", "out_dir": Path(tmp) / "run",
                              "base_url": m.base_url, "api_key": "none",
                              "concurrency": args.concurrency}
        t0 = time.perf_counter()
        res = evaluate("openai:m", data, judge, save=False, **kw)
        t_vsil = time.perf_counter() - t0
        t0 = time.perf_counter()
        res.save(Path(tmp) / "run")
        t_save = time.perf_counter() - t0
        before = m.state.n + j.state.n
        t0 = time.perf_counter()
        evaluate("openai:m", data, judge, **kw)
        t_resume = time.perf_counter() - t0
        assert m.state.n + j.state.n == before, "the resumed run sent requests"
        vsil_labels = [int(x) for x in res.rows["label"]]
        assert vsil_labels == off_labels, "labels differ between the two paths"
        out["max_inflight_model"] = m.state.max_inflight
    n = len(samples)
    out["official_s"] = round(t_off, 3)
    out["official_items_per_s"] = round(n / t_off, 2)
    out["vsil_s"] = round(t_vsil, 3)
    out["vsil_items_per_s"] = round(n / t_vsil, 2)
    out["speedup"] = round(t_off / t_vsil, 1)
    out["vsil_reports_s"] = round(t_save, 3)
    out["vsil_resume_s"] = round(t_resume, 3)
    out["ideal_vsil_s"] = round(2 * args.latency * -(-n // args.concurrency), 3)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
