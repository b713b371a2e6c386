"""The shared async HTTP runtime for OpenAI-compatible chat completions.

One `ChatRuntime` sends a batch of ``/chat/completions`` request bodies (or bodies for another
JSON endpoint, e.g. ``/moderations``) with a bounded number in flight and returns one
`ChatResult` per body, in input order: a response (the server's JSON) or an error record. It
never raises for a per-item failure.

Policy (see docs/http-judges.md):

* concurrency is adaptive unless a number is given: it starts at 16 requests in flight,
  grows while latency stays flat and no 429/5xx comes back, and halves on 429, 408, 5xx and
  timeouts (`vsil.runtime.concurrency.AdaptiveLimit`); ``concurrency=N`` fixes it at N;
* retries are ours (tenacity), capped (``max_retries``, default 5), with exponential backoff
  and jitter, on 429, 408, 5xx, timeouts and connection errors; never on other 4xx;
  ``Retry-After`` / ``retry-after-ms`` are honoured, capped at ``retry_after_cap`` seconds;
* a circuit breaker: after ``max_identical_failures`` requests in a row fail with the same
  error (kind and status), nothing more is sent; the rest of the batch fails fast with that
  error. The next batch sends one probe request first and closes the circuit if it succeeds;
* an HTTP 400 whose body names a content policy / content filter is its own kind,
  ``content_filter`` (a refusal by the provider, not an outage);
* token usage is summed over the runtime's life, with an optional price table → cost.

The API key is only ever put in the ``Authorization`` header: never in a repr, an error
message, a log line or a result. A server that echoes the key back (in an error body or a
reply) has it replaced by ``[redacted]`` before anything else sees the text (`redact`).

Whatever a server sends, each request ends as a response or an error record of its own: a
reply that is not JSON, nested too deeply, or without choices is a ``bad_response`` error,
and nothing a server sends raises out of `ChatRuntime.chat`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import json
import random
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from vsil.runtime.concurrency import Limit, make_limit
from vsil.runtime.endpoint import safe_host
from vsil.runtime.progress import progress
from vsil.runtime.replies import usage_of

T = TypeVar("T")

#: error kinds that are retried
RETRYABLE = frozenset({"rate_limit", "server_error", "timeout", "connection"})
#: error kinds that tell the adaptive concurrency limit to back off
OVERLOAD = frozenset({"rate_limit", "server_error", "timeout"})
_CONTENT_FILTER_MARKERS = ("content_policy", "content policy", "content_filter",
                           "content management policy", "responsibleaipolicyviolation",
                           "safety system")
_BODY_KEEP = 2000
#: keys shorter than this are not searched for in server text (they would match by chance)
MIN_REDACTED_KEY = 6
REDACTED = "[redacted]"


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``[redacted]``."""
    if not secret or len(secret) < MIN_REDACTED_KEY or secret not in text:
        return text
    return text.replace(secret, REDACTED)


class RequestFailed(Exception):
    """One failed attempt: ``kind`` is one of rate_limit, server_error, timeout, connection,
    content_filter, client_error, bad_response, circuit_open."""

    def __init__(self, kind: str, message: str, *, status: int | None = None,
                 body: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.body = body
        self.retry_after = retry_after


@dataclass(frozen=True)
class Price:
    """US dollars per one million tokens."""

    prompt: float
    completion: float


PriceTable = Mapping[str, "Price | tuple[float, float]"]


@dataclass
class ChatResult:
    """The outcome of one request body: ``response`` (the server's JSON) or an error."""

    index: int
    response: dict[str, Any] | None = None
    error: str | None = None
    kind: str | None = None
    status: int | None = None
    body: str | None = None
    attempts: int = 0
    latency_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.response is not None


@dataclass
class Usage:
    """What a runtime has done so far (summed over every batch it ran)."""

    items: int = 0
    succeeded: int = 0
    requests: int = 0
    retries: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    attempt_errors: Counter[str] = field(default_factory=Counter)
    circuit_trips: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    unpriced_requests: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "succeeded": self.succeeded,
            "requests": self.requests,
            "retries": self.retries,
            "failures": dict(self.failures),
            "attempt_errors": dict(self.attempt_errors),
            "circuit_trips": self.circuit_trips,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "unpriced_requests": self.unpriced_requests,
        }


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _kind_for_status(status: int, body: str) -> str:
    if status == 429:
        return "rate_limit"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "server_error"
    low = body.lower()
    if status == 400 and any(m in low for m in _CONTENT_FILTER_MARKERS):
        return "content_filter"
    return "client_error"


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, also inside a running event loop
    (a notebook): then it runs on a fresh loop in a worker thread."""

    async def main() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vsil-http") as ex:
        return ex.submit(asyncio.run, main()).result()


class ChatRuntime:
    """Concurrent, retrying, rate-aware client for an OpenAI-compatible ``/chat/completions``.

    Args:
        base_url: e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8000/v1``.
        api_key: sent as ``Authorization: Bearer``; None sends no such header.
        concurrency: requests in flight at once; None (default) adapts it (see
            `vsil.runtime.concurrency.AdaptiveLimit`), a number fixes it.
        max_concurrency: the ceiling of the adaptive limit (default 128).
        endpoint: the path under ``base_url`` that bodies are posted to.
        reply_key: a reply must hold a non-empty list under this key (``choices`` for chat
            completions, ``results`` for moderations), or it is a ``bad_response``.
        max_retries: retries per request after the first attempt.
        timeout: seconds per attempt.
        backoff_base, backoff_max: exponential backoff ``base·2^(n-1)``, capped, with jitter.
        retry_after_cap: longest wait honoured from a ``Retry-After`` header.
        max_identical_failures: requests failing in a row with the same error before the
            circuit opens (0 disables the breaker).
        prices: model name → `Price` (or ``(prompt, completion)`` USD per 1M tokens).
        headers: extra request headers (never logged).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        concurrency: int | None = None,
        max_concurrency: int | None = None,
        endpoint: str = "chat/completions",
        reply_key: str = "choices",
        max_retries: int = 5,
        timeout: float = 60.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_cap: float = 60.0,
        max_identical_failures: int = 20,
        prices: PriceTable | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.limit: Limit = make_limit(concurrency, max_concurrency)
        self.endpoint = endpoint.strip("/")
        self.reply_key = reply_key
        self._in_flight = 0
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_cap = retry_after_cap
        self.max_identical_failures = max_identical_failures
        self.prices: dict[str, Price] = {
            k: v if isinstance(v, Price) else Price(float(v[0]), float(v[1]))
            for k, v in (prices or {}).items()
        }
        self._headers = dict(headers or {})
        self._api_key = api_key
        self.usage = Usage(cost_usd=0.0 if self.prices else None)
        self._streak_sig: tuple[str, int | None] | None = None
        self._streak = 0
        self._open_error: RequestFailed | None = None
        self._bar: Any = None
        self._ssl: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return (f"ChatRuntime(host={safe_host(self.base_url)!r}, "
                f"concurrency={self.concurrency_setting}, max_retries={self.max_retries})")

    @property
    def concurrency(self) -> int:
        """Requests that may be in flight now (the adaptive limit's current value)."""
        return self.limit.current

    @property
    def concurrency_setting(self) -> str | int:
        """``"adaptive"`` or the fixed number, as configured."""
        cfg = self.limit.to_json()
        return "adaptive" if cfg["mode"] == "adaptive" else int(cfg["concurrency"])

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (e.g. for Ray workers): the TLS context and progress bar are rebuilt."""
        state = dict(self.__dict__)
        state["_ssl"] = None
        state["_bar"] = None
        return state

    @property
    def circuit_open(self) -> bool:
        return self._open_error is not None

    @property
    def open_error(self) -> str | None:
        """The error that opened the circuit, when it is open."""
        return None if self._open_error is None else self._open_error.message

    def reset_circuit(self) -> None:
        self._open_error = None
        self._streak = 0
        self._streak_sig = None

    # --- public entry points -------------------------------------------------------------

    def chat(self, bodies: Sequence[Mapping[str, Any]], *, desc: str = "",
             show_progress: bool | None = None,
             on_result: Callable[[ChatResult], None] | None = None) -> list[ChatResult]:
        """Send every body concurrently; one result per body, in input order.

        ``on_result`` is called with each result as soon as it is final (in completion
        order), e.g. to write it to disk.
        """
        return run_sync(lambda: self.achat(bodies, desc=desc, show_progress=show_progress,
                                           on_result=on_result))

    async def achat(self, bodies: Sequence[Mapping[str, Any]], *, desc: str = "",
                    show_progress: bool | None = None,
                    on_result: Callable[[ChatResult], None] | None = None
                    ) -> list[ChatResult]:
        """Async `chat`."""
        n = len(bodies)
        results: list[ChatResult | None] = [None] * n
        if n == 0:
            return []
        self._bar = progress(n, desc or "requests", show_progress)

        def done(r: ChatResult) -> None:
            results[r.index] = r
            self._bar.update(1)
            if on_result is not None:
                on_result(r)

        idle: list[httpx.AsyncClient] = []
        opened: list[httpx.AsyncClient] = []
        room = asyncio.Condition()
        self._in_flight = 0

        async def run(i: int, *, probe: bool = False) -> None:
            # one connection per request in flight, reused: httpcore's shared pool costs
            # O(connections) per request, which dominates at high concurrency (see
            # docs/performance.md)
            if idle:
                client = idle.pop()
            else:
                client = self._client()
                opened.append(client)
            try:
                done(await self._one(client, i, bodies[i], probe=probe))
            finally:
                idle.append(client)
                async with room:
                    self._in_flight -= 1
                    room.notify_all()

        try:
            start = 0
            if self.circuit_open:  # half-open: one probe decides whether the rest is sent
                self._in_flight = 1
                await run(0, probe=True)
                start = 1
            tasks: list[asyncio.Task[None]] = []
            for i in range(start, n):
                async with room:
                    await room.wait_for(lambda: self._in_flight < self.limit.current)
                    self._in_flight += 1
                tasks.append(asyncio.create_task(run(i)))
            await asyncio.gather(*tasks)
        finally:
            for c in opened:
                await c.aclose()
            self._bar.close()
            self._bar = None
        return [r for r in results if r is not None]

    def _client(self) -> httpx.AsyncClient:
        headers = {"Content-Type": "application/json", **self._headers}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if self._ssl is None:  # loading the CA bundle is slow: once per runtime
            self._ssl = httpx.create_ssl_context()
        return httpx.AsyncClient(timeout=httpx.Timeout(self.timeout), headers=headers,
                                 limits=httpx.Limits(max_connections=1,
                                                     max_keepalive_connections=1),
                                 verify=self._ssl)

    # --- one request ---------------------------------------------------------------------

    async def _one(self, client: httpx.AsyncClient, index: int, body: Mapping[str, Any],
                   *, probe: bool = False) -> ChatResult:
        started = time.perf_counter()
        self.usage.items += 1
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(1 if probe else self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(self._retryable),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if self.circuit_open and not probe:
                        assert self._open_error is not None
                        e = self._open_error
                        raise RequestFailed(
                            "circuit_open",
                            f"not sent: {self.max_identical_failures} requests in a row "
                            f"failed with: {e.message}",
                            status=e.status, body=e.body)
                    attempts += 1
                    data = await self._send(client, body)
                    self._account(body, data)
        except RequestFailed as e:
            if e.kind != "circuit_open":
                self._record(e)
            self.usage.failures[e.kind] += 1
            return ChatResult(index, error=e.message, kind=e.kind, status=e.status,
                              body=e.body, attempts=attempts,
                              latency_s=time.perf_counter() - started)
        self._record(None)
        self.usage.succeeded += 1
        return ChatResult(index, response=data, attempts=attempts,
                          latency_s=time.perf_counter() - started)

    async def _send(self, client: httpx.AsyncClient, body: Mapping[str, Any]) -> dict[str, Any]:
        ticket = self.limit.ticket()
        started = time.perf_counter()
        try:
            data = await self._send_once(client, body)
        except RequestFailed as e:
            if e.kind in OVERLOAD:
                self.limit.on_overload(ticket)
            raise
        except Exception as e:  # whatever the server sent, this request fails alone
            raise self._attempt_failed(RequestFailed(
                "bad_response", redact(f"unreadable reply: {type(e).__name__}: {e}"[:300],
                                       self._api_key))) from None
        self.limit.on_success(time.perf_counter() - started, ticket, self._in_flight)
        return data

    async def _send_once(self, client: httpx.AsyncClient, body: Mapping[str, Any]
                         ) -> dict[str, Any]:
        self.usage.requests += 1
        try:
            r = await client.post(f"{self.base_url}/{self.endpoint}", json=dict(body))
        except httpx.TimeoutException as e:
            raise self._attempt_failed(RequestFailed(
                "timeout", f"timeout after {self.timeout:g}s ({type(e).__name__})")) from None
        except httpx.TransportError as e:
            raise self._attempt_failed(RequestFailed(
                "connection", f"connection error: {type(e).__name__}"
                f"{': ' + _reason(e) if _reason(e) else ''}")) from None
        text = redact(r.text, self._api_key)
        if r.status_code >= 400:
            kind = _kind_for_status(r.status_code, text)
            raise self._attempt_failed(RequestFailed(
                kind, f"HTTP {r.status_code}: {_short(text)}", status=r.status_code,
                body=text[:_BODY_KEEP], retry_after=parse_retry_after(r.headers)))
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise self._attempt_failed(RequestFailed(
                "bad_response", f"HTTP {r.status_code}: reply is not JSON: {_short(text)}",
                status=r.status_code, body=text[:_BODY_KEEP])) from None
        if not isinstance(data, dict) or not isinstance(data.get(self.reply_key), list) \
                or not data[self.reply_key]:
            raise self._attempt_failed(RequestFailed(
                "bad_response",
                f"HTTP {r.status_code}: no {self.reply_key} in reply: {_short(text)}",
                status=r.status_code, body=text[:_BODY_KEEP]))
        return data

    def _attempt_failed(self, e: RequestFailed) -> RequestFailed:
        self.usage.attempt_errors[e.kind] += 1
        return e

    # --- retry policy ----------------------------------------------------------------------

    def _retryable(self, e: BaseException) -> bool:
        return isinstance(e, RequestFailed) and e.kind in RETRYABLE and not self.circuit_open

    def _wait(self, rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome is not None else None
        if isinstance(exc, RequestFailed) and exc.retry_after is not None:
            return float(min(exc.retry_after, self.retry_after_cap))
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (rs.attempt_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _before_sleep(self, rs: RetryCallState) -> None:
        self.usage.retries += 1
        if self._bar is not None:
            self._bar.set_postfix(retries=self.usage.retries, refresh=False)

    def _record(self, e: RequestFailed | None) -> None:
        """Track identical consecutive failures; open the circuit at the cap."""
        if e is None or e.kind == "content_filter":
            self.reset_circuit()
            return
        sig = (e.kind, e.status)
        self._streak = self._streak + 1 if sig == self._streak_sig else 1
        self._streak_sig = sig
        cap = self.max_identical_failures
        if cap and self._streak >= cap and self._open_error is None:
            self._open_error = e
            self.usage.circuit_trips += 1

    def _account(self, body: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        usage = usage_of(data)  # malformed counts are skipped, never raised
        pt = usage.get("prompt_tokens", 0)
        ct = usage.get("completion_tokens", 0)
        self.usage.prompt_tokens += pt
        self.usage.completion_tokens += ct
        if not self.prices:
            return
        price = self.prices.get(str(body.get("model", "")))
        if price is None:
            self.usage.unpriced_requests += 1
            return
        self.usage.cost_usd = (self.usage.cost_usd or 0.0) + (
            pt * price.prompt + ct * price.completion) / 1e6


def _reason(e: BaseException) -> str:
    """The innermost cause of a transport error, e.g. ``Connection refused``."""
    inner: BaseException | None = e
    while inner is not None and inner.__cause__ is not None:
        inner = inner.__cause__
    text = str(inner or "")
    if isinstance(inner, OSError) and inner.strerror:
        text = inner.strerror
    return _short(text, 120)


def _short(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "…"
