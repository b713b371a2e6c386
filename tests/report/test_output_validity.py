"""What vsil writes is valid and clean (issue: trustworthy numbers, item 8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rule_judge_impl import RuleJudge

import vsil
from vsil.report._common import flatten


def _strict(text: str) -> Any:
    def reject(token: str) -> Any:
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=reject)


def test_result_json_has_no_nan(tmp_path: Path) -> None:
    # no unsafe pair at all: the leak ratio and its interval are undefined (NaN in Python)
    rows = [{"id": "a", "text": "what breed is this", "category": "x"},
            {"id": "b", "text": "FAILME", "category": "y"}]
    res = vsil.audit(rows, judge=RuleJudge(), overlap=("lexical",), cache=False, quiet=True)
    assert res.summary.figures.leak_ratio != res.summary.figures.leak_ratio  # NaN
    paths = res.save(tmp_path)
    d = _strict(paths["json"].read_text())
    assert d["summary"]["figures"]["leak_ratio"] is None
    assert d["summary"]["figures"]["leak_ratio_ci"] == [None, None]
    back = vsil.AuditResult.from_json(paths["json"])
    assert back.summary.figures.n == 2 and repr(back)
    out = tmp_path / "clean.jsonl"
    import pandas as pd
    from typer.testing import CliRunner

    from vsil.cli import app

    data = tmp_path / "d.parquet"  # a float column with a missing value (NaN in pandas)
    pd.DataFrame({"id": ["a", "b"], "text": ["what breed", "a cat"],
                  "score": [float("nan"), 0.5]}).to_parquet(data)
    r = CliRunner().invoke(app, ["filter", str(data), "--out", str(out), "--no-cache",
                                 "--overlap", "none"])
    assert r.exit_code == 0, r.output
    lines = [_strict(line) for line in out.read_text().splitlines()]
    assert lines[0]["score"] is None and lines[1]["score"] == 0.5
    cmp = vsil.compare([vsil.load(rows)], judge=RuleJudge(), overlap=(), cache=False)
    _strict(cmp.to_json())


def test_report_redacts_secrets_but_shows_token_counts() -> None:
    prov = {"judge": {"api_key": "sk-live-1", "hf_token": "hf_abc", "token": "t",
                      "max_tokens": 16, "usage": {"prompt_tokens": 120,
                                                  "completion_tokens": 7},
                      "headers": {"Authorization": "Bearer x"}, "password": "p"}}
    shown = dict(flatten(prov))
    assert shown["judge.max_tokens"] == "16"
    assert shown["judge.usage.prompt_tokens"] == "120"
    assert shown["judge.usage.completion_tokens"] == "7"
    for k in ("judge.api_key", "judge.hf_token", "judge.token",
              "judge.headers.Authorization", "judge.password"):
        assert shown[k] == "[redacted]", k
