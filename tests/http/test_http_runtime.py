"""The shared HTTP runtime against a real fault-injecting server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fault_server import FaultServer

from vsil.runtime.http import ChatRuntime, parse_retry_after

KEY = "sk-test-SECRET-123"


@pytest.fixture
def srv() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


def body(text: str, model: str = "m") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 4}


def rt(srv: FaultServer, **kw: Any) -> ChatRuntime:
    kw = {"backoff_base": 0.001, "timeout": 0.5, "api_key": KEY, **kw}
    return ChatRuntime(srv.base_url, **kw)


def content(r: Any) -> str:
    return str(r.response["choices"][0]["message"]["content"])


def test_order_and_bounded_concurrency(srv: FaultServer) -> None:
    texts = [f"[[slow:0.05]]{'[[unsafe]]' if i % 3 == 0 else ''} item {i}" for i in range(40)]
    r = rt(srv, concurrency=4)
    res = r.chat([body(t) for t in texts])
    assert [x.index for x in res] == list(range(40))
    assert [content(x) for x in res] == ["unsafe" if i % 3 == 0 else "safe" for i in range(40)]
    assert srv.state.max_inflight <= 4
    assert srv.state.max_inflight >= 2  # requests really overlap
    assert r.usage.items == r.usage.succeeded == r.usage.requests == 40
    assert all(s.auth == f"Bearer {KEY}" for s in srv.state.seen)
    assert KEY not in repr(r)


def test_retries_on_429_5xx_timeout_are_counted(srv: FaultServer) -> None:
    texts = ["[[429:2]] a", "[[500:1]] b", "[[503:2]] c", "[[timeout:1]] d", "e"]
    r = rt(srv, timeout=0.3)
    res = r.chat([body(t) for t in texts])
    assert all(x.ok for x in res)
    assert [x.attempts for x in res] == [3, 2, 3, 2, 1]
    assert r.usage.retries == 2 + 1 + 2 + 1
    assert r.usage.attempt_errors == {"rate_limit": 2, "server_error": 3, "timeout": 1}
    assert r.usage.requests == srv.state.n == 11
    assert not r.usage.failures


def test_retry_after_is_honoured() -> None:
    with FaultServer(retry_after="0.4") as srv:
        r = rt(srv)
        t0 = time.perf_counter()
        (res,) = r.chat([body("[[429ra:1]] x")])
        assert res.ok and res.attempts == 2
        assert time.perf_counter() - t0 >= 0.4
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({}) is None


def test_retry_after_is_capped() -> None:
    with FaultServer(retry_after="30") as srv:
        r = rt(srv, retry_after_cap=0.05)
        t0 = time.perf_counter()
        (res,) = r.chat([body("[[429ra:1]] x")])
        assert res.ok and time.perf_counter() - t0 < 5


def test_no_retry_on_other_4xx_and_content_filter(srv: FaultServer) -> None:
    r = rt(srv)
    res = r.chat([body("[[400]] a"), body("[[policy400]] b")])
    assert [x.kind for x in res] == ["client_error", "content_filter"]
    assert [x.attempts for x in res] == [1, 1]
    assert [x.status for x in res] == [400, 400]
    assert "content_policy_violation" in (res[1].body or "")
    assert srv.state.n == 2 and r.usage.retries == 0
    assert r.usage.failures == {"client_error": 1, "content_filter": 1}


def test_exhausted_retries_give_an_error_record(srv: FaultServer) -> None:
    r = rt(srv, max_retries=2)
    res = r.chat([body("[[500:inf]] a"), body("b")])
    assert not res[0].ok and res[0].kind == "server_error" and res[0].attempts == 3
    assert res[1].ok
    assert srv.state.n == 4
    assert r.usage.failures == {"server_error": 1} and r.usage.retries == 2


def test_bad_json_is_an_error_with_body_kept(srv: FaultServer) -> None:
    r = rt(srv)
    (res,) = r.chat([body("[[badjson]]")])
    assert res.kind == "bad_response" and "proxy error" in (res.body or "")
    assert srv.state.n == 1


def test_connection_refused_is_retried_then_fails() -> None:
    with FaultServer() as srv:
        url = srv.base_url
    r = ChatRuntime(url, max_retries=2, backoff_base=0.001, timeout=0.5)
    (res,) = r.chat([body("a")])
    assert res.kind == "connection" and res.attempts == 3


def test_identical_failures_open_the_circuit_then_a_probe_closes_it(srv: FaultServer) -> None:
    r = rt(srv, max_retries=0, concurrency=1, max_identical_failures=5)
    res = r.chat([body(f"[[500:inf]] {i}") for i in range(20)])
    assert srv.state.n == 5  # stopped hammering after 5 identical failures
    assert [x.kind for x in res] == ["server_error"] * 5 + ["circuit_open"] * 15
    assert "internal error" in (res[-1].error or "")
    assert r.usage.circuit_trips == 1 and r.circuit_open
    assert r.usage.failures == {"server_error": 5, "circuit_open": 15}
    # next batch: one probe; it fails, the rest fail fast
    res = r.chat([body(f"[[500:inf]] again {i}") for i in range(3)])
    assert srv.state.n == 6 and [x.kind for x in res][1:] == ["circuit_open"] * 2
    # the endpoint recovers: the probe succeeds and closes the circuit
    res = r.chat([body(f"ok {i}") for i in range(4)])
    assert all(x.ok for x in res) and not r.circuit_open and srv.state.n == 10


def test_content_filter_does_not_open_the_circuit(srv: FaultServer) -> None:
    r = rt(srv, max_retries=0, concurrency=1, max_identical_failures=3)
    res = r.chat([body(f"[[policy400]] {i}") for i in range(6)])
    assert [x.kind for x in res] == ["content_filter"] * 6 and not r.circuit_open


def test_token_usage_and_cost(srv: FaultServer) -> None:
    r = rt(srv, prices={"m": (1.0, 2.0)})
    r.chat([body(f"x{i}") for i in range(5)] + [body("y", model="other")])
    assert r.usage.prompt_tokens == 60 and r.usage.completion_tokens == 12
    assert r.usage.cost_usd == pytest.approx(5 * (10 * 1.0 + 2 * 2.0) / 1e6)
    assert r.usage.unpriced_requests == 1
    assert rt(srv).usage.cost_usd is None


def test_sync_entry_point_inside_a_running_loop(srv: FaultServer) -> None:
    r = rt(srv)

    async def notebook_cell() -> list[str]:
        return [content(x) for x in r.chat([body("[[unsafe]] a"), body("b")])]

    assert asyncio.run(notebook_cell()) == ["unsafe", "safe"]


def test_on_result_streams_every_result(srv: FaultServer) -> None:
    seen: list[int] = []
    res = rt(srv, concurrency=3).chat([body(f"[[slow:0.0{i % 3}]] {i}") for i in range(9)],
                                      on_result=lambda r: seen.append(r.index))
    assert sorted(seen) == list(range(9)) and [r.index for r in res] == list(range(9))


def test_async_entry_point(srv: FaultServer) -> None:
    r = rt(srv)
    res = asyncio.run(r.achat([body("a"), body("[[unsafe]] b")]))
    assert [content(x) for x in res] == ["safe", "unsafe"]


def test_runtime_pickles_after_use(srv: FaultServer) -> None:
    import pickle

    r = rt(srv)
    r.chat([body("a")])
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.chat([body("[[unsafe]] b")])[0].ok and r2.usage.items == 2
