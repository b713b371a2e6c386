"""Streaming on top of the shared HTTP runtime (`vsil.runtime.http.ChatRuntime`).

The runtime returns a batch's results at the end, in input order. The evaluation must write
each result to disk as it arrives, so this module feeds the runtime in chunks (of a few times
its concurrency) and hands every finished result to a callback. When the runtime accepts an
``on_result`` callback itself, the whole batch goes in one call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vsil.runtime.http import RETRYABLE, ChatResult, ChatRuntime, run_sync
from vsil.runtime.progress import progress

#: error kinds worth retrying on a resumed run (the runtime's retryable kinds + circuit_open)
TRANSIENT = frozenset(RETRYABLE | {"circuit_open"})


def stream_chat(runtime: ChatRuntime, bodies: Sequence[Mapping[str, Any]],
                on_result: Callable[[int, ChatResult], None], *, desc: str = "",
                show_progress: bool | None = None, chunk: int | None = None) -> None:
    """Send every body; call ``on_result(i, result)`` as each one (or each chunk) finishes."""
    if not bodies:
        return
    if "on_result" in inspect.signature(runtime.achat).parameters:
        def cb(r: ChatResult) -> None:
            on_result(r.index, r)

        runtime.chat(bodies, desc=desc, show_progress=show_progress,
                     on_result=cb)  # type: ignore[call-arg]
        return
    size = chunk or max(4 * runtime.concurrency, 16)
    bar = progress(len(bodies), desc or "requests", show_progress)

    async def main() -> None:
        for start in range(0, len(bodies), size):
            part = bodies[start:start + size]
            results = await runtime.achat(part, show_progress=False)
            for r in results:
                on_result(start + r.index, r)
            bar.update(len(part))

    try:
        run_sync(main)
    finally:
        bar.close()


@dataclass(frozen=True)
class Reply:
    """The useful parts of one chat completion."""

    text: str | None
    refusal: str | None
    finish_reason: str | None
    usage: dict[str, int]
    model: str | None


def reply_of(response: Mapping[str, Any]) -> Reply:
    """Pull text, refusal, finish reason and token usage out of a completion's JSON."""
    choice = (response.get("choices") or [{}])[0] or {}
    msg = choice.get("message") or {}
    content = msg.get("content")
    if isinstance(content, list):  # some servers return content parts
        content = "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    usage_in = response.get("usage") or {}
    usage = {k: int(usage_in.get(k) or 0) for k in ("prompt_tokens", "completion_tokens")
             } if isinstance(usage_in, Mapping) else {}
    refusal = msg.get("refusal")
    return Reply(text=content if isinstance(content, str) else None,
                 refusal=str(refusal) if refusal else None,
                 finish_reason=choice.get("finish_reason"), usage=usage,
                 model=response.get("model"))

