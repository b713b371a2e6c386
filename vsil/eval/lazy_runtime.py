"""`LazyRuntime`: the one HTTP runtime of an OpenAI-compatible client, built on first use.

Importing this module does not import the HTTP stack (httpx, tenacity); building the runtime
does.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, ClassVar

from vsil.runtime.endpoint import Endpoint

if TYPE_CHECKING:
    from vsil.runtime.http import ChatRuntime


def fingerprint_of(parts: dict[str, Any]) -> str:
    """The first 16 hex digits of the sha256 of ``parts`` as sorted JSON."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class LazyRuntime:
    """Mixin for the model-under-test and judge clients.

    Subclasses set ``endpoint`` (an `Endpoint`) and ``_runtime`` (a runtime given by the
    caller, or None).
    """

    endpoint: Endpoint
    _runtime: ChatRuntime | None
    #: keys of ``info()`` that do not change the answers (besides ``host``: the same model
    #: served elsewhere is the same model)
    run_keys: ClassVar[tuple[str, ...]] = ()

    def info(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def fingerprint(self) -> str:
        """What the answers depend on: ``info()`` without the host and the ``run_keys``."""
        info = self.info()
        for key in ("host", *self.run_keys):
            info.pop(key)
        return fingerprint_of(info)

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
        if self._runtime is not None:
            return self._runtime.concurrency
        return int(self.endpoint.concurrency or 16)  # None (adaptive) starts at 16

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
