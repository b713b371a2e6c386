"""A scriptable OpenAI-compatible server on 127.0.0.1 for the guard presets and moderation tests.

The test gives a function ``respond(path, body) -> (status, payload)``; the server does the HTTP,
records every request (path, body, Authorization header) and serves requests concurrently.
`chat_reply` builds a chat completion whose ``logprobs`` spell the reply, with top
alternatives at the label token; `moderation_reply` builds a ``/moderations`` reply.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Respond = Callable[[str, dict[str, Any]], tuple[int, Any]]


@dataclass
class Request:
    path: str
    body: dict[str, Any]
    auth: str | None


@dataclass
class Log:
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def prompt_of(body: Mapping[str, Any]) -> tuple[str, int]:
    """The text of a chat request's user turn and its number of image parts."""
    texts: list[str] = []
    images = 0
    for m in body.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            texts.append(c)
        elif isinstance(c, list):
            for part in c:
                if part.get("type") == "text":
                    texts.append(part.get("text", ""))
                elif part.get("type") == "image_url":
                    images += 1
    return "\n".join(texts), images


_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def chat_reply(content: str, *, p: float | None = None,
               words: tuple[str, str] = ("unsafe", "safe"), model: str = "served-model-2026",
               finish: str = "stop") -> dict[str, Any]:
    """A chat completion; with ``p``, ``logprobs`` whose tokens spell ``content`` and whose
    label tokens (either of ``words``, any case) list P(words[0]) = p, P(words[1]) = 1 - p."""
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish,
                              "message": {"role": "assistant", "content": content}}
    if p is not None:
        toks = _TOKEN.findall(content)
        assert "".join(toks) == content
        entries = []
        for t in toks:
            word = t.strip()
            if word.lower() in words:
                lead = t[:len(t) - len(t.lstrip())]
                cap = (lambda w: w.capitalize()) if word[:1].isupper() else (lambda w: w)
                top = [{"token": lead + cap(words[0]), "logprob": math.log(max(p, 1e-12))},
                       {"token": lead + cap(words[1]), "logprob": math.log(max(1 - p, 1e-12))}]
                mine = top[0]["logprob"] if word.lower() == words[0] else top[1]["logprob"]
            else:
                top = [{"token": t, "logprob": -0.01}]
                mine = -0.01
            entries.append({"token": t, "logprob": mine, "top_logprobs": top})
        choice["logprobs"] = {"content": entries}
    return {"id": "chatcmpl-g", "object": "chat.completion", "created": 0, "model": model,
            "choices": [choice], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}


def moderation_reply(flagged: bool, scores: Mapping[str, float],
                     applied: Mapping[str, list[str]], *, threshold: float = 0.5,
                     model: str = "omni-moderation-2024-09-26") -> dict[str, Any]:
    """A ``/moderations`` reply: categories flagged where the score reaches ``threshold``."""
    return {"id": "modr-1", "model": model, "results": [{
        "flagged": flagged,
        "categories": {k: v >= threshold for k, v in scores.items()},
        "category_scores": dict(scores),
        "category_applied_input_types": {k: list(applied.get(k, [])) for k in scores},
    }]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        srv = self.server
        with srv.log.lock:
            srv.log.requests.append(Request(self.path, body, self.headers.get("Authorization")))
        status, payload = srv.respond(self.path, body)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    respond: Respond
    log: Log


class GuardServer:
    """``with GuardServer(respond) as srv: srv.base_url``; ``srv.log.requests`` has what came."""

    def __init__(self, respond: Respond) -> None:
        self.log = Log()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.respond = respond
        self._httpd.log = self.log
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> GuardServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
