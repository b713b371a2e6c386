"""`Endpoint`: one place where every OpenAI-compatible client finds its URL and key."""

from __future__ import annotations

import pytest

from vsil.runtime.endpoint import DEFAULT_BASE_URL, Endpoint


def test_arguments_then_environment_then_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "VSIL_JUDGE_BASE_URL",
                "VSIL_JUDGE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert Endpoint.resolve() == Endpoint(DEFAULT_BASE_URL, None)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env:1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert Endpoint.resolve() == Endpoint("http://env:1/v1", "sk-env")
    got = Endpoint.resolve("http://arg/v1", "", concurrency=2)
    assert (got.base_url, got.api_key, got.concurrency) == ("http://arg/v1", "", 2)
    judge = dict(url_env=("VSIL_JUDGE_BASE_URL", "OPENAI_BASE_URL"),
                 key_env=("VSIL_JUDGE_API_KEY", "OPENAI_API_KEY"))
    assert Endpoint.resolve(**judge).api_key == "sk-env"  # falls through to OPENAI_*
    monkeypatch.setenv("VSIL_JUDGE_API_KEY", "")  # empty: falls through too
    assert Endpoint.resolve(**judge).api_key == "sk-env"
    monkeypatch.setenv("VSIL_JUDGE_API_KEY", "sk-judge")
    monkeypatch.setenv("VSIL_JUDGE_BASE_URL", "http://judge/v1")
    assert Endpoint.resolve(**judge) == Endpoint("http://judge/v1", "sk-judge")


def test_the_key_is_never_shown() -> None:
    ep = Endpoint("https://user:pw@host.example:8443/v1", "sk-secret-key")
    assert "sk-secret" not in repr(ep) and ep.host == "host.example:8443"


def test_every_openai_compatible_client_uses_one() -> None:
    pytest.importorskip("httpx")
    from vsil.detectors.describers.caption_openai import OpenAICaptioner
    from vsil.detectors.judges.openai_judge import OpenAIJudge
    from vsil.eval import OpenAIModel, ResponseJudge
    from vsil.generate.config import Endpoint as ConfiguredEndpoint

    url = "http://127.0.0.1:9/v1"
    clients = [OpenAIJudge("m", base_url=url, api_key="k", concurrency=3),
               OpenAICaptioner("m", base_url=url, api_key="k", concurrency=3),
               OpenAIModel("m", base_url=url, api_key="k", concurrency=3),
               ResponseJudge("m", base_url=url, api_key="k", concurrency=3)]
    for c in clients:
        assert c.endpoint == Endpoint(url, "k", concurrency=3, timeout=c.endpoint.timeout)
    conf = ConfiguredEndpoint(base_url=url, model="m", api_key_env=None, concurrency=3)
    assert conf.connection() == Endpoint(url, None, concurrency=3, timeout=120.0)
