"""Adaptive concurrency: the AIMD controller on its own, then the runtime against a server."""

from __future__ import annotations

from typing import Any

import pytest
from fault_server import FaultServer

from vsil.runtime.concurrency import AdaptiveLimit, FixedLimit, make_limit
from vsil.runtime.http import ChatRuntime


def saturated(lim: AdaptiveLimit, n: int, latency: float = 0.1) -> None:
    """``n`` successes, each while the runtime had the whole limit in flight."""
    for _ in range(n):
        lim.on_success(latency, lim.ticket(), lim.current)


def test_slow_start_doubles_per_round_trip_then_grows_by_one() -> None:
    lim = AdaptiveLimit(start=4, max=100)
    saturated(lim, 4)  # one round trip at 4 in flight
    assert lim.current == 8 and lim.slow_start
    saturated(lim, 8)
    assert lim.current == 16
    lim.on_overload(lim.ticket())  # leaves slow start at 8
    assert lim.current == 8 and not lim.slow_start
    saturated(lim, 8)  # one round trip: about +1 (1/limit per success)
    assert lim.limit == pytest.approx(9, abs=0.1)
    saturated(lim, 9)
    assert lim.limit == pytest.approx(10, abs=0.1) and lim.current >= 9


def test_no_growth_without_a_full_window_and_never_past_max() -> None:
    lim = AdaptiveLimit(start=4, max=6)
    for _ in range(50):
        lim.on_success(0.1, lim.ticket(), in_flight=2)  # the batch is smaller than the limit
    assert lim.current == 4
    saturated(lim, 50)
    assert lim.current == 6 and lim.peak == 6


def test_halves_on_overload_once_per_window_down_to_min() -> None:
    lim = AdaptiveLimit(start=16, min=2, max=64)
    old = lim.ticket()  # a burst of failures from requests sent before the first cut
    for _ in range(10):
        lim.on_overload(old)
    assert lim.current == 8 and lim.backoffs == 1
    lim.on_overload(lim.ticket())  # a request sent after the cut: cut again
    assert lim.current == 4 and lim.backoffs == 2
    for _ in range(5):
        lim.on_overload(lim.ticket())
    assert lim.current == 2  # the floor


def test_rising_latency_stops_growth() -> None:
    lim = AdaptiveLimit(start=4, max=100)
    saturated(lim, 4, latency=0.1)
    assert lim.current == 8
    saturated(lim, 40, latency=1.0)  # the server queues: 10x the lowest latency
    assert not lim.latency_flat() and not lim.slow_start
    grown = lim.current
    assert grown < 12  # growth stopped soon after the smoothed latency passed 2x
    saturated(lim, 40, latency=1.0)
    assert lim.current == grown


def test_settings_are_checked_and_modes_chosen() -> None:
    assert isinstance(make_limit(None), AdaptiveLimit)
    assert make_limit(None).to_json()["start"] == 16 and make_limit(None).current == 16
    assert make_limit(None, max_concurrency=8).current == 8
    fixed = make_limit(32)
    assert isinstance(fixed, FixedLimit) and fixed.current == 32
    fixed.on_overload(fixed.ticket())
    assert fixed.current == 32 and fixed.to_json() == {"mode": "fixed", "concurrency": 32}
    for bad in ({"start": 0}, {"start": 10, "max": 5}, {"decrease": 1.0},
                {"latency_tolerance": 1.0}):
        with pytest.raises(ValueError):
            AdaptiveLimit(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FixedLimit(0)


def body(i: int) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": f"item {i}"}],
            "max_tokens": 4}


def test_rate_limited_server_backs_off_and_every_item_is_judged() -> None:
    """The server answers 429 whenever more than 6 requests are in flight."""
    with FaultServer(capacity=6, latency=0.02) as srv:
        rt = ChatRuntime(srv.base_url, max_retries=20, backoff_base=0.005, backoff_max=0.05,
                         timeout=5.0)
        assert rt.concurrency_setting == "adaptive" and rt.concurrency == 16
        res = rt.chat([body(i) for i in range(120)])
    assert [r.index for r in res] == list(range(120))
    assert all(r.ok for r in res), [r.error for r in res if not r.ok]
    assert srv.state.over_capacity > 0 and rt.usage.attempt_errors["rate_limit"] > 0
    state = rt.limit.to_json()
    assert state["backoffs"] >= 1 and state["current"] < 16
    assert rt.usage.succeeded == 120 and not rt.usage.failures


def test_adaptive_in_flight_never_exceeds_its_ceiling() -> None:
    with FaultServer(latency=0.01) as srv:
        rt = ChatRuntime(srv.base_url, max_concurrency=5, timeout=5.0)
        res = rt.chat([body(i) for i in range(60)])
    assert all(r.ok for r in res)
    assert srv.state.max_inflight <= 5
