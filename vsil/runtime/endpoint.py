"""`Endpoint`: where an OpenAI-compatible client sends its requests, and how.

Every OpenAI-compatible client (the audit's OpenAI judge and captioner, the evaluation's
model and judge, the generation pipeline's steps) resolves its base URL and API key here and
builds its `ChatRuntime` from one `Endpoint`. Importing this module does not import the HTTP
stack (httpx, tenacity); `Endpoint.runtime` does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from vsil.runtime.http import ChatRuntime, PriceTable

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def safe_host(base_url: str) -> str:
    """``host[:port]`` of a URL, without any user:password part."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def first_env(names: Sequence[str]) -> str | None:
    """The first of the environment variables ``names`` that is set and not empty; the last
    one's value (maybe empty) when none is."""
    values = [os.environ.get(n) for n in names]
    for v in values[:-1]:
        if v:
            return v
    return values[-1] if values else None


def require_http() -> None:
    """ImportError now, rather than at the first request, when the ``[openai]`` extra
    (httpx, tenacity) is missing."""
    import vsil.runtime.http  # noqa: F401


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible endpoint and the client settings of the runtime that talks to it.

    ``api_key`` is never shown (``repr``), logged, cached or written to provenance; use
    ``host`` there.
    """

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    #: requests in flight; None: adaptive (`vsil.runtime.concurrency`), up to
    #: ``max_concurrency``
    concurrency: int | None = 16
    max_concurrency: int | None = None
    max_retries: int = 5
    timeout: float = 60.0
    max_identical_failures: int = 20
    backoff_base: float = 0.5

    @classmethod
    def resolve(cls, base_url: str | None = None, api_key: str | None = None, *,
                url_env: Sequence[str] = ("OPENAI_BASE_URL",),
                key_env: Sequence[str] = ("OPENAI_API_KEY",), **settings: Any) -> Endpoint:
        """``base_url`` or the first of ``url_env`` or OpenAI's URL; ``api_key`` (even
        empty) or the first of ``key_env``; ``settings`` are the other fields."""
        url = base_url or first_env(url_env) or DEFAULT_BASE_URL
        key = api_key if api_key is not None else first_env(key_env)
        return cls(url, key, **settings)

    @property
    def host(self) -> str:
        """``host[:port]``: what provenance and messages show of the endpoint."""
        return safe_host(self.base_url)

    def runtime(self, *, prices: PriceTable | None = None, path: str = "chat/completions",
                reply_key: str = "choices") -> ChatRuntime:
        """A new HTTP runtime for this endpoint (needs the ``[openai]`` extra); ``path`` and
        ``reply_key``: the API it posts to (``moderations`` / ``results`` for moderation)."""
        from vsil.runtime.http import ChatRuntime

        return ChatRuntime(self.base_url, self.api_key, concurrency=self.concurrency,
                           max_concurrency=self.max_concurrency, max_retries=self.max_retries,
                           timeout=self.timeout,
                           max_identical_failures=self.max_identical_failures,
                           backoff_base=self.backoff_base, prices=prices, endpoint=path,
                           reply_key=reply_key)
