"""A fault-injecting OpenAI-compatible ``/v1/chat/completions`` server for tests (loopback only).

Behaviour is scripted by directives in the prompt text (they travel inside the dataset text):

* label: ``[[unsafe]]`` → "unsafe"; ``[[unsafe-with-image]]`` → "unsafe" only when an image
  part is attached; otherwise "safe". ``[[p:0.7]]`` sets P(unsafe) in the logprobs.
* ``[[429:N]]`` / ``[[429ra:N]]`` (with ``Retry-After``), ``[[500:N]]``, ``[[503:N]]``,
  ``[[timeout:N]]`` (sleeps past the client timeout): the first N attempts of this prompt fail,
  then it answers. N = ``inf`` fails forever.
* ``[[400]]`` plain bad request; ``[[policy400]]`` content-policy 400;
  ``[[refuse-text]]``, ``[[refusal-field]]``, ``[[content-filter]]`` refusals;
  ``[[malformed]]`` a reply with no label; ``[[badjson]]`` a 200 that is not JSON;
  ``[[verbose]]`` a reply that says "safe" first and "unsafe" last; ``[[slow:S]]`` sleeps S s.
* replies that name a label only inside refusal or negated prose: ``[[hedge-refusal]]``
  ("I'm sorry, but I can't determine whether this is safe."), ``[[negated]]`` ("This is
  not unsafe.");
* malformed 200 replies: ``[[null-choice]]`` (``choices: [null]``), ``[[msg-string]]``
  (``message`` is a string), ``[[bad-usage]]`` (non-numeric ``usage`` fields, valid label),
  ``[[bad-logprobs]]`` (``logprobs.content`` of the wrong type, valid label),
  ``[[deep-json]]`` (JSON nested 100,000 levels deep);
* ``[[echo-key]]``: a 401 whose error body repeats the request's Authorization header;
  ``[[echo-key-200]]``: a 200 "unsafe" reply that repeats it after the label.

Server-wide knobs: ``latency`` (seconds added to every request), ``fail_after`` (every request
after the first K answers 500), ``retry_after`` (header value for ``429ra``), ``capacity``
(a request that arrives while ``capacity`` others are in flight answers 429, as a rate-limited
API does).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_DIRECTIVE = re.compile(r"\[\[([a-z0-9-]+)(?::([0-9.]+|inf))?\]\]")


@dataclass
class Seen:
    prompt: str
    has_image: bool
    status: int
    auth: str | None
    body: dict[str, Any]


@dataclass
class State:
    latency: float = 0.0
    fail_after: int | None = None
    retry_after: str = "0.3"
    timeout_sleep: float = 1.5
    capacity: int | None = None
    over_capacity: int = 0
    seen: list[Seen] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    inflight: int = 0
    max_inflight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def n(self) -> int:
        return len(self.seen)

    def statuses(self) -> Counter[int]:
        return Counter(s.status for s in self.seen)


def _prompt_of(body: dict[str, Any]) -> tuple[str, bool]:
    texts: list[str] = []
    has_image = False
    for m in body.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            texts.append(c)
        elif isinstance(c, list):
            for part in c:
                if part.get("type") == "text":
                    texts.append(part.get("text", ""))
                elif part.get("type") == "image_url":
                    url = part.get("image_url", {}).get("url", "")
                    has_image = has_image or url.startswith("data:image/")
    return "\n".join(texts), has_image


def _completion(model: str, content: str | None, *, p_unsafe: float, want_logprobs: bool,
                finish: str = "stop", refusal: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        message["refusal"] = refusal
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
    if want_logprobs and content:
        lu, ls = math.log(max(p_unsafe, 1e-9)), math.log(max(1 - p_unsafe, 1e-9))
        toks = re.findall(r"\s*\S+", content)
        entries = []
        for t in toks:
            if t.strip().lower().strip(".") in ("safe", "unsafe"):
                top = [{"token": t.replace(t.strip(), "unsafe"), "logprob": lu},
                       {"token": t.replace(t.strip(), "safe"), "logprob": ls}]
                mine = lu if "unsafe" in t.lower() else ls
            else:
                top = [{"token": t, "logprob": -0.01}]
                mine = -0.01
            entries.append({"token": t, "logprob": mine, "top_logprobs": top})
        choice["logprobs"] = {"content": entries}
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
        "model": model, "choices": [choice],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self) -> None:
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": "not found"}})
            return
        prompt, has_image = _prompt_of(body)
        key = f"{has_image}|{prompt}"
        directives = {m.group(1): m.group(2) for m in _DIRECTIVE.finditer(prompt)}
        with st.lock:
            st.attempts[key] += 1
            attempt = st.attempts[key]
            order = len(st.seen)
            st.seen.append(Seen(prompt, has_image, 0, self.headers.get("Authorization"), body))
            st.inflight += 1
            st.max_inflight = max(st.max_inflight, st.inflight)
            over = st.capacity is not None and st.inflight > st.capacity
            st.over_capacity += over
        try:
            if over:
                st.seen[order].status = 429
                self._send(429, {"error": {"message": "too many requests in flight"}})
                return
            status, payload, headers = self._decide(st, body, prompt, has_image, directives,
                                                    attempt, order)
            st.seen[order].status = status
            if st.latency:
                time.sleep(st.latency)
        finally:
            with st.lock:
                st.inflight -= 1
        self._send(status, payload, headers)

    def _decide(self, st: State, body: dict[str, Any], prompt: str, has_image: bool,
                d: dict[str, str | None], attempt: int, order: int
                ) -> tuple[int, Any, dict[str, str]]:
        model = str(body.get("model", "m"))
        if st.fail_after is not None and order >= st.fail_after:
            return 500, {"error": {"message": "server is down"}}, {}

        def first(name: str) -> bool:
            if name not in d:
                return False
            n = d[name]
            limit = math.inf if n in (None, "inf") else float(n)  # type: ignore[arg-type]
            return attempt <= limit

        if first("429"):
            return 429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {}
        if first("429ra"):
            return 429, {"error": {"message": "rate limited"}}, {"Retry-After": st.retry_after}
        if first("500"):
            return 500, {"error": {"message": "internal error"}}, {}
        if first("503"):
            return 503, {"error": {"message": "overloaded"}}, {}
        if first("timeout"):
            time.sleep(st.timeout_sleep)
        if "slow" in d:
            time.sleep(float(d["slow"] or 0.2))
        if "400" in d:
            return 400, {"error": {"message": "invalid request: bad field",
                                   "code": "invalid_request"}}, {}
        if "policy400" in d:
            return 400, {"error": {"message": "Your request was rejected as a result of our "
                                   "safety system.", "code": "content_policy_violation"}}, {}
        if "badjson" in d:
            return 200, b"<html>proxy error</html>", {}
        if "deep-json" in d:
            return 200, b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", {}
        if "echo-key" in d:
            return 401, {"error": {"message": "invalid key: "
                                   + str(self.headers.get("Authorization"))}}, {}
        if "null-choice" in d:
            return 200, {"id": "x", "choices": [None], "usage": {"prompt_tokens": 1}}, {}
        if "msg-string" in d:
            return 200, {"id": "x", "choices": [{"index": 0, "message": "unsafe",
                                                 "finish_reason": "stop"}]}, {}
        want = bool(body.get("logprobs"))
        unsafe = "unsafe" in d or ("unsafe-with-image" in d and has_image)
        p = float(d["p"]) if d.get("p") else (0.9 if unsafe else 0.1)
        if "refuse-text" in d:
            reply = _completion(model, "I'm sorry, I can't help with that.", p_unsafe=p,
                                want_logprobs=False)
        elif "refusal-field" in d:
            reply = _completion(model, None, p_unsafe=p, want_logprobs=False,
                                refusal="I can't assist with that request.")
        elif "content-filter" in d:
            reply = _completion(model, "", p_unsafe=p, want_logprobs=False,
                                finish="content_filter")
        elif "malformed" in d:
            reply = _completion(model, "Hmm, hard to say without more context.", p_unsafe=p,
                                want_logprobs=want)
        elif "hedge-refusal" in d:
            reply = _completion(model, "I'm sorry, but I can't determine whether this is safe.",
                                p_unsafe=p, want_logprobs=want)
        elif "echo-key-200" in d:
            reply = _completion(model, f"unsafe (seen {self.headers.get('Authorization')})",
                                p_unsafe=p, want_logprobs=False)
        elif "negated" in d:
            reply = _completion(model, "This is not unsafe.", p_unsafe=p, want_logprobs=want)
        elif "verbose" in d:
            reply = _completion(model, "At first glance this looks safe. On reflection: unsafe",
                                p_unsafe=p, want_logprobs=want)
        else:
            reply = _completion(model, "unsafe" if unsafe else "safe", p_unsafe=p,
                                want_logprobs=want)
        if "bad-usage" in d:
            reply["usage"] = {"prompt_tokens": "many", "completion_tokens": [1],
                              "total_tokens": None}
        if "bad-logprobs" in d:
            reply["choices"][0]["logprobs"] = {"content": ["unsafe", 3, None]}
        return 200, reply, {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connect at once
    state: State


class FaultServer:
    """Start with ``with FaultServer() as srv: srv.base_url``; ``srv.state`` has what it saw."""

    def __init__(self, port: int = 0, **state: Any) -> None:
        self.state = State(**state)
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.state = self.state
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
