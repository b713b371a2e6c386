"""Reading an OpenAI-compatible chat completion, whatever shape the server sent.

Every client of the shared HTTP runtime (the judges, the captioner, the evaluated model, the
generation pipeline) reads replies through `reply_of`, which never raises: a reply that does
not have the expected shape (``choices: [null]``, ``message`` as a string, non-numeric
``usage``, ``logprobs`` of the wrong type...) comes back with ``problem`` set, and the caller
turns it into that item's error. `failure_of` gives the failure kind of a request that got no
reply (see `vsil.runtime.failures`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vsil.runtime.failures import FailureKind

if TYPE_CHECKING:
    from vsil.runtime.http import ChatResult

#: HTTP statuses that mean the endpoint, key or model is wrong, not this input
_SETUP_STATUSES = frozenset({401, 402, 403, 404, 405, 407})


@dataclass(frozen=True)
class Reply:
    """The useful parts of one chat completion.

    Attributes:
        text: the message content (content parts joined), or None.
        refusal: the message's ``refusal`` field, when set.
        finish_reason: why generation stopped, when the server says.
        usage: ``prompt_tokens`` / ``completion_tokens`` (only well-formed numbers).
        model: the served model name, when the server says.
        logprobs: the token entries of ``logprobs.content``, each a dict with a string
            ``token``; None when absent or malformed.
        problem: why the reply does not have the expected shape (None when it does).
        logprobs_problem: why ``logprobs`` was ignored (the text is still read).
    """

    text: str | None = None
    refusal: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    model: str | None = None
    logprobs: list[dict[str, Any]] | None = None
    problem: str | None = None
    logprobs_problem: str | None = None


def _count(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if v >= 0 else None
    if isinstance(v, float) and math.isfinite(v) and v >= 0 and v == int(v):
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def usage_of(response: Any) -> dict[str, int]:
    """``prompt_tokens`` and ``completion_tokens`` of a reply; malformed fields are left out."""
    usage = response.get("usage") if isinstance(response, Mapping) else None
    if not isinstance(usage, Mapping):
        return {}
    out: dict[str, int] = {}
    for k in ("prompt_tokens", "completion_tokens"):
        n = _count(usage.get(k))
        if n is not None:
            out[k] = n
    return out


def _content_text(content: Any) -> tuple[str | None, str | None]:
    """(text, problem) of a message's ``content``: a string, None, or a list of parts."""
    if content is None or isinstance(content, str):
        return content, None
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, Mapping)]
        if all(isinstance(t, str) or t is None for t in texts) and len(texts) == len(content):
            return "".join(t for t in texts if t), None
        return None, "message content parts are not text parts"
    return None, f"message content is a {type(content).__name__}, not text"


def _logprobs(lp: Any) -> tuple[list[dict[str, Any]] | None, str | None]:
    if lp is None:
        return None, None
    if not isinstance(lp, Mapping):
        return None, f"logprobs is a {type(lp).__name__}"
    toks = lp.get("content")
    if toks is None:
        return None, None
    if not isinstance(toks, list) or not all(
            isinstance(t, Mapping) and isinstance(t.get("token"), str) for t in toks):
        return None, "logprobs.content is not a list of token entries"
    return [dict(t) for t in toks], None


def reply_of(response: Any) -> Reply:
    """The parts of a chat completion; never raises (see `Reply.problem`)."""
    if not isinstance(response, Mapping):
        return Reply(problem=f"reply is a {type(response).__name__}, not a JSON object")
    model = response.get("model")
    model = model if isinstance(model, str) else None
    usage = usage_of(response)
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices:
        return Reply(usage=usage, model=model, problem="reply has no choices")
    choice = choices[0]
    if not isinstance(choice, Mapping):
        return Reply(usage=usage, model=model,
                     problem=f"choices[0] is {type(choice).__name__}, not an object")
    finish = choice.get("finish_reason")
    finish = finish if isinstance(finish, str) else None
    msg = choice.get("message")
    if msg is None and isinstance(choice.get("text"), str):  # a completions-style choice
        msg = {"content": choice["text"]}
    if not isinstance(msg, Mapping):
        return Reply(finish_reason=finish, usage=usage, model=model,
                     problem=f"choices[0].message is {type(msg).__name__}, not an object")
    text, problem = _content_text(msg.get("content"))
    refusal = msg.get("refusal")
    refusal_s = str(refusal) if refusal not in (None, "", False) else None
    logprobs, lp_problem = _logprobs(choice.get("logprobs"))
    return Reply(text=text, refusal=refusal_s, finish_reason=finish, usage=usage, model=model,
                 logprobs=logprobs, problem=problem, logprobs_problem=lp_problem)


def failure_of(result: ChatResult) -> FailureKind:
    """The failure kind of a request that got no usable reply.

    A content-policy rejection is a ``refusal``; a request the endpoint rejects for the
    setup (401/403/404...: key, permissions, model name, URL) is ``environment``; any other
    4xx is ``input`` (this request is invalid, e.g. too long); everything else (429, 5xx,
    timeouts, connection errors, an open circuit, a malformed reply) is ``transient``.
    """
    if result.kind == "content_filter":
        return "refusal"
    if result.kind == "client_error":
        return "environment" if result.status in _SETUP_STATUSES else "input"
    return "transient"
