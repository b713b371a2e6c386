"""Kill an evaluation mid-run (SIGKILL), re-run it: no answer lost, none duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from eval_servers import EvalServer

from vsil.eval import ResponseJudge, evaluate

N = 40
SCRIPT = """
import sys
from vsil.eval import evaluate
evaluate("openai:slow-vlm", sys.argv[1], None, mode="text-only", out_dir=sys.argv[2],
         base_url=sys.argv[3], api_key="k", concurrency=2)
"""


@pytest.mark.slow
def test_kill_mid_run_then_resume(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"id": f"x{i}", "text": f"q {i} WARN",
                                        "category": "Hate"}) + "\n" for i in range(N)))
    out = tmp_path / "run"
    answers = out / "answers.jsonl"
    with EvalServer("model", latency=0.05) as model, EvalServer("judge") as judge:
        env = {**os.environ, "VSIL_PROGRESS": "0"}
        proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(data), str(out),
                                 model.base_url], env=env)
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                if answers.is_file() and len(answers.read_text().splitlines()) >= 10:
                    break
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        written = len(answers.read_text().splitlines())
        assert 10 <= written < N, "the kill must land mid-run"
        asked_before = model.state.n

        res = evaluate("openai:slow-vlm", str(data), ResponseJudge(
            "j", base_url=judge.base_url, variant="text", api_key="k"), mode="text-only",
            out_dir=out, base_url=model.base_url, api_key="k", concurrency=2)
        # only the unanswered items were asked again
        assert model.state.n - asked_before == N - written
    lines = [json.loads(x) for x in answers.read_text().splitlines() if x.strip()]
    counts = Counter(r["id"] for r in lines if r.get("error") is None)
    assert set(counts) == {f"x{i}" for i in range(N)}
    assert max(counts.values()) == 1
    assert res.summary.n == N and res.summary.n_warning == N and res.summary.n_unjudged == 0
