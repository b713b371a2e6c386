"""Streaming on top of the shared HTTP runtime (`vsil.runtime.http.ChatRuntime`).

The runtime returns a batch's results at the end, in input order. The evaluation must write
each result to disk as it arrives, so this module feeds the runtime in chunks (of a few times
its concurrency) and hands every finished result to a callback. When the runtime accepts an
``on_result`` callback itself, the whole batch goes in one call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vsil.runtime.http import RETRYABLE, ChatResult, ChatRuntime, run_sync
from vsil.runtime.replies import Reply, reply_of

__all__ = ["TRANSIENT", "Reply", "reply_of", "stream_chat"]
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
