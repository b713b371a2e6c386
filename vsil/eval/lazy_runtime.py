"""`LazyRuntime`: the one HTTP runtime of an OpenAI-compatible client, built on first use.

Importing this module does not import the HTTP stack (httpx, tenacity); building the runtime
does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vsil.runtime.http import ChatRuntime


class LazyRuntime:
    """Mixin for the model-under-test and judge clients.

    Subclasses set ``base_url``, ``_runtime`` (a runtime given by the caller, or None) and
    ``_runtime_args = (api_key, concurrency, max_retries, timeout)``.
    """

    base_url: str
    _runtime: ChatRuntime | None
    _runtime_args: tuple[str | None, int, int, float]

    @property
    def runtime(self) -> ChatRuntime:
        """The shared HTTP runtime (built on first use)."""
        if self._runtime is None:
            from vsil.runtime.http import ChatRuntime

            key, conc, retries, timeout = self._runtime_args
            self._runtime = ChatRuntime(self.base_url, key, concurrency=conc,
                                        max_retries=retries, timeout=timeout)
        return self._runtime

    @property
    def concurrency(self) -> int:
        """Requests in flight (the runtime's, or the one it will be built with)."""
        return self._runtime.concurrency if self._runtime is not None else int(
            self._runtime_args[1])

    def raise_if_unavailable(self, what: str, saved: str) -> None:
        """`EndpointUnavailable` when the circuit breaker opened during the last run: the
        endpoint failed the same way too many times in a row (``saved`` says where the work
        finished so far is)."""
        rt = self._runtime
        if rt is None or not rt.circuit_open:
            return
        from vsil.runtime.failures import EndpointUnavailable
        from vsil.runtime.http import safe_host

        err = rt.open_error
        rt.reset_circuit()
        raise EndpointUnavailable(
            f"{what} endpoint {safe_host(self.base_url)} is unavailable: {err} "
            f"({rt.max_identical_failures} identical failures in a row); {saved}, "
            "fix the endpoint and run again to resume")
