"""Guard models served behind an OpenAI-compatible endpoint, by name.

``judge="proguard"``, ``"qwen3guard"`` and ``"shieldstral"`` (optionally ``NAME:SERVED_MODEL``)
are `OpenAIJudge` with the preset of that name (`vsil.detectors.judges.prompts`). The
endpoint defaults to ``$OPENAI_BASE_URL``, else a local vLLM server on
``http://127.0.0.1:8000/v1``; every `OpenAIJudge` option applies (``base_url=``,
``api_key=``, ``concurrency=``, ``controversial=`` for Qwen3Guard, ``policy=`` for
Shieldstral...).
"""

from __future__ import annotations

import os
from typing import Any

from vsil.detectors._registry import register_detector
from vsil.detectors.judges.openai_judge import OpenAIJudge
from vsil.detectors.judges.prompts import PRESETS

#: where a self-hosted guard is served by default (``vllm serve`` listens on port 8000)
LOCAL_VLLM = "http://127.0.0.1:8000/v1"
DEFAULT_MODELS = {
    "proguard": "yushaohan/ProGuard-7B",
    "qwen3guard": "Qwen/Qwen3Guard-Gen-0.6B",
    "shieldstral": "mistralai/Shieldstral-1.0-3B",
}


def guard_judge(preset: str, model: str | None = None, **kw: Any) -> OpenAIJudge:
    """`OpenAIJudge` with ``preset`` and its default served model and endpoint."""
    kw.setdefault("base_url", os.environ.get("OPENAI_BASE_URL") or LOCAL_VLLM)
    return OpenAIJudge(model or DEFAULT_MODELS[preset], preset=preset, **kw)


@register_detector(
    "proguard", "judge", extra="openai",
    needs=PRESETS["proguard"].needs + "; base_url (default http://127.0.0.1:8000/v1)",
    outputs="unsafe (the Request field), p_unsafe (logprobs at the label), category",
    description="ProGuard, the VLSBench authors' modality-balanced guard: reads "
                "<answer>Request:/Response:/Category:</answer>; 'proguard:SERVED_NAME'")
def proguard(model: str | None = None, **kw: Any) -> OpenAIJudge:
    return guard_judge("proguard", model, **kw)


@register_detector(
    "qwen3guard", "judge", extra="openai",
    needs=PRESETS["qwen3guard"].needs + "; base_url (default http://127.0.0.1:8000/v1)",
    outputs="unsafe, p_unsafe, category; Controversial is a third tier: unjudged (failure "
            "kind 'borderline') unless controversial='unsafe' or 'safe'",
    description="Qwen3Guard-Gen (Safety: Safe|Unsafe|Controversial), a cheap J(T); "
                "'qwen3guard:SERVED_NAME'")
def qwen3guard(model: str | None = None, **kw: Any) -> OpenAIJudge:
    return guard_judge("qwen3guard", model, **kw)


@register_detector(
    "shieldstral", "judge", extra="openai",
    needs=PRESETS["shieldstral"].needs + "; base_url (default http://127.0.0.1:8000/v1)",
    outputs="unsafe (yes = violates the policy), p_unsafe = P(yes) / (P(yes) + P(no))",
    description="Shieldstral 1.0: a yes/no score against a policy text (policy= for your "
                "own); 'shieldstral:SERVED_NAME'")
def shieldstral(model: str | None = None, **kw: Any) -> OpenAIJudge:
    return guard_judge("shieldstral", model, **kw)
