"""`LazyRuntime`: the one HTTP runtime of an OpenAI-compatible client, built on first use.

Importing this module does not import the HTTP stack (httpx, tenacity); building the runtime
does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsil.runtime.endpoint import Endpoint

if TYPE_CHECKING:
    from vsil.runtime.http import ChatRuntime


class LazyRuntime:
    """Mixin for the model-under-test and judge clients.

    Subclasses set ``endpoint`` (an `Endpoint`) and ``_runtime`` (a runtime given by the
    caller, or None).
    """

    endpoint: Endpoint
    _runtime: ChatRuntime | None

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    @property
    def runtime(self) -> ChatRuntime:
        """The shared HTTP runtime (built on first use)."""
        if self._runtime is None:
            self._runtime = self.endpoint.runtime()
        return self._runtime

    @property
    def concurrency(self) -> int:
        """Requests in flight (the runtime's, or the one it will be built with)."""
        return self._runtime.concurrency if self._runtime is not None else int(
            self.endpoint.concurrency)

    def raise_if_unavailable(self, what: str, saved: str) -> None:
        """`EndpointUnavailable` when the circuit breaker opened during the last run: the
        endpoint failed the same way too many times in a row (``saved`` says where the work
        finished so far is)."""
        rt = self._runtime
        if rt is None or not rt.circuit_open:
            return
        from vsil.runtime.failures import EndpointUnavailable

        err = rt.open_error
        rt.reset_circuit()
        raise EndpointUnavailable(
            f"{what} endpoint {self.endpoint.host} is unavailable: {err} "
            f"({rt.max_identical_failures} identical failures in a row); {saved}, "
            "fix the endpoint and run again to resume")
