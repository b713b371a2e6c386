"""How many HTTP requests a runtime keeps in flight: a fixed number, or an adaptive limit.

`AdaptiveLimit` is an AIMD controller (additive increase, multiplicative decrease, as TCP
congestion control and inspect_ai's adaptive connections do). It holds no clock and does no
I/O: the runtime tells it when an attempt starts (`ticket`) and how it ended (`on_success`
with its latency, or `on_overload` for HTTP 429, 408, 5xx and timeouts), so its behaviour is
a pure function of that sequence of events and is tested without a server.

* **Start** at ``start`` (16) requests in flight.
* **Grow** while latency stays flat and no overload is seen: by one per success during slow
  start (the limit doubles every round trip), then by ``1/limit`` per success (one per round
  trip). It grows only while the runtime actually has ``limit`` requests in flight, never past
  ``max``.
* **Latency is flat** while the smoothed latency of successful attempts stays within
  ``latency_tolerance`` (3x) of the lowest smoothed latency seen. Past it, slow start ends and
  the limit holds: more requests in flight would only queue. (A batching server such as vLLM
  answers somewhat slower as its batches grow, and a busy client measures its own scheduling
  delay too, so the tolerance is wide; overload proper shows up as 429 or 5xx.)
* **Back off** on overload: the limit is multiplied by ``decrease`` (0.5), not below ``min``,
  and slow start ends. A burst of failures from requests that were already in flight when
  the limit was cut counts once: an overload only cuts the limit if its attempt started after
  the previous cut (the ticket's epoch is the current one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

#: default start, floor and ceiling of the adaptive limit
DEFAULT_START = 16
DEFAULT_MIN = 1
DEFAULT_MAX = 128


class Limit(Protocol):
    """What the runtime asks of a concurrency limit."""

    @property
    def current(self) -> int:
        """Requests that may be in flight now (>= 1)."""
        ...

    def ticket(self) -> int:
        """Called when an attempt starts; the value is handed back with its outcome."""
        ...

    def on_success(self, latency_s: float, ticket: int, in_flight: int) -> None:
        """An attempt succeeded after ``latency_s`` with ``in_flight`` requests in flight."""
        ...

    def on_overload(self, ticket: int) -> None:
        """An attempt failed with 429, 408, 5xx or a timeout."""
        ...

    def to_json(self) -> dict[str, Any]:
        """Settings and state for provenance."""
        ...


@dataclass
class FixedLimit:
    """A fixed number of requests in flight (``concurrency=N``)."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("concurrency must be >= 1")

    @property
    def current(self) -> int:
        return self.n

    def ticket(self) -> int:
        return 0

    def on_success(self, latency_s: float, ticket: int, in_flight: int) -> None:
        return None

    def on_overload(self, ticket: int) -> None:
        return None

    def to_json(self) -> dict[str, Any]:
        return {"mode": "fixed", "concurrency": self.n}


@dataclass
class AdaptiveLimit:
    """AIMD limit on requests in flight; see the module docstring for the rules."""

    start: int = DEFAULT_START
    min: int = DEFAULT_MIN
    max: int = DEFAULT_MAX
    latency_tolerance: float = 3.0
    decrease: float = 0.5
    smoothing: float = 0.2
    limit: float = field(init=False)
    slow_start: bool = field(init=False, default=True)
    epoch: int = field(init=False, default=0)
    backoffs: int = field(init=False, default=0)
    peak: int = field(init=False)
    recent_s: float | None = field(init=False, default=None)
    baseline_s: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.start <= self.max:
            raise ValueError(f"need 1 <= min <= start <= max, got min={self.min}, "
                             f"start={self.start}, max={self.max}")
        if not 0.0 < self.decrease < 1.0:
            raise ValueError("decrease must be in (0, 1)")
        if self.latency_tolerance <= 1.0:
            raise ValueError("latency_tolerance must be > 1")
        self.limit = float(self.start)
        self.peak = self.start

    @property
    def current(self) -> int:
        return max(self.min, min(self.max, int(self.limit)))

    def ticket(self) -> int:
        return self.epoch

    def latency_flat(self) -> bool:
        """Whether the smoothed latency is within tolerance of the lowest one seen."""
        if self.recent_s is None or self.baseline_s is None or self.baseline_s <= 0.0:
            return True
        return self.recent_s <= self.latency_tolerance * self.baseline_s

    def on_success(self, latency_s: float, ticket: int, in_flight: int) -> None:
        if latency_s >= 0.0:
            self.recent_s = (latency_s if self.recent_s is None else
                             (1 - self.smoothing) * self.recent_s + self.smoothing * latency_s)
            self.baseline_s = (self.recent_s if self.baseline_s is None
                               else min(self.baseline_s, self.recent_s))
        if not self.latency_flat():
            self.slow_start = False
            return
        if in_flight < self.current or self.limit >= self.max:
            return  # not limited by the limit: growing it would prove nothing
        self.limit = min(float(self.max),
                         self.limit + (1.0 if self.slow_start else 1.0 / self.limit))
        self.peak = max(self.peak, self.current)

    def on_overload(self, ticket: int) -> None:
        self.slow_start = False
        if ticket != self.epoch:
            return  # started before the last cut: that cut already answered it
        self.limit = max(float(self.min), self.limit * self.decrease)
        self.epoch += 1
        self.backoffs += 1

    def to_json(self) -> dict[str, Any]:
        return {"mode": "adaptive", "start": self.start, "min": self.min, "max": self.max,
                "current": self.current, "peak": self.peak, "backoffs": self.backoffs}


def make_limit(concurrency: int | None, max_concurrency: int | None = None) -> Limit:
    """`FixedLimit` for a number, `AdaptiveLimit` for None (``max_concurrency`` caps it)."""
    if concurrency is not None:
        return FixedLimit(int(concurrency))
    top = DEFAULT_MAX if max_concurrency is None else int(max_concurrency)
    return AdaptiveLimit(start=min(DEFAULT_START, top), min=DEFAULT_MIN, max=top)
