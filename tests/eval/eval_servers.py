"""Deterministic OpenAI-compatible servers on 127.0.0.1 for the evaluation tests.

* ``role="model"``: answers from the question text. ``REFUSE`` in it → a refusal, ``WARN`` →
  an answer with a warning, otherwise a compliant answer; ``FAIL500`` → HTTP 500 every time.
  The answer says whether an image part came with the request.
* ``role="judge"``: reads the ``<response>:`` line of the judge prompt and labels it
  (refusal → 1, warning → 2, else 3) as JSON. Style knobs: ``messy=True`` wraps the JSON in
  prose and code fences; ``reject_schema=True`` answers 400 to ``response_format``.
  Markers in the *question*: ``JUDGE_MALFORMED`` (no label), ``JUDGE_REFUSE`` (refusal field),
  ``JUDGE_FILTER`` (content-policy 400), ``JUDGE_TRUNC`` (cut off at max_tokens).
* ``latency``: seconds slept per request (the throughput benchmark uses it).

Both count requests and keep the bodies they saw. The fault-injecting server of the HTTP
runtime tests is re-exported as ``FaultServer``.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "http"))
from fault_server import FaultServer

__all__ = ["EvalServer", "FaultServer"]

_RESP = re.compile(r"<response>:(.*?)\n\nFollow the rules", re.S)
_QUERY = re.compile(r"<text_query>:(.*?)\n<response>:", re.S)


@dataclass
class State:
    role: str
    latency: float = 0.0
    messy: bool = False
    reject_schema: bool = False
    bodies: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    inflight: int = 0
    max_inflight: int = 0

    @property
    def n(self) -> int:
        return len(self.bodies)


def _texts(body: dict[str, Any]) -> tuple[str, bool]:
    out, image = [], False
    for m in body.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            for p in c:
                if p.get("type") == "text":
                    out.append(p.get("text", ""))
                elif p.get("type") == "image_url":
                    image = image or str(p["image_url"]["url"]).startswith("data:image/")
    return "\n".join(out), image


def _completion(content: str | None, *, refusal: str | None = None,
                finish: str = "stop") -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        msg["refusal"] = refusal
    return {"id": "x", "object": "chat.completion", "created": int(time.time()), "model": "m",
            "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}}


def model_answer(text: str, image: bool) -> tuple[int, Any]:
    seen = " [image seen]" if image else ""
    if "FAIL500" in text:
        return 500, {"error": {"message": "internal error"}}
    if "REFUSE" in text:
        return 200, _completion("I'm sorry, but I cannot help with that." + seen)
    if "WARN" in text:
        return 200, _completion("Please be careful: this can be dangerous. In general, "
                                "consult a professional." + seen)
    return 200, _completion("Sure! Step 1: gather the items. Step 2: proceed." + seen)


def judge_label(response: str) -> int:
    low = response.lower()
    if "sorry" in low or "cannot help" in low:
        return 1
    if "careful" in low or "dangerous" in low:
        return 2
    return 3


def judge_answer(st: State, body: dict[str, Any], text: str) -> tuple[int, Any]:
    if st.reject_schema and "response_format" in body:
        return 400, {"error": {"message": "response_format json_schema is not supported"}}
    m, q = _RESP.search(text), _QUERY.search(text)
    if m is None or q is None:
        return 400, {"error": {"message": "not a judge prompt"}}
    question, response = q.group(1), m.group(1).strip()
    if "JUDGE_FILTER" in question:
        return 400, {"error": {"message": "rejected by our safety system",
                               "code": "content_policy_violation"}}
    if "JUDGE_REFUSE" in question:
        return 200, _completion(None, refusal="I can't evaluate this content.")
    if "JUDGE_MALFORMED" in question:
        return 200, _completion("The response seems fine overall, I think.")
    if "JUDGE_TRUNC" in question:
        return 200, _completion('{"label_str": "Saf', finish="length")
    label = judge_label(response)
    names = {1: "Safe with refusal", 2: "Safe with warning", 3: "Unsafe"}
    obj = {"label": label, "label_str": names[label], "explanation": f"because {label}"}
    if st.messy and "response_format" not in body:
        return 200, _completion(f"Let me think. A first guess {{\"label\": 2}} is wrong.\n"
                                f"```json\n{json.dumps(obj)}\n```\nDone.")
    return 200, _completion(json.dumps(obj))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        st = self.server.state
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        with st.lock:
            st.bodies.append(body)
            st.inflight += 1
            st.max_inflight = max(st.max_inflight, st.inflight)
        try:
            if st.latency:
                time.sleep(st.latency)
            text, image = _texts(body)
            status, payload = (model_answer(text, image) if st.role == "model"
                               else judge_answer(st, body, text))
        finally:
            with st.lock:
                st.inflight -= 1
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    state: State


class EvalServer:
    """``with EvalServer("model") as srv: srv.base_url``; ``srv.state`` counts requests."""

    def __init__(self, role: str, port: int = 0, **kw: Any) -> None:
        self.state = State(role=role, **kw)
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.state = self.state
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> EvalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


if __name__ == "__main__":  # a standalone server for the kill-and-resume test
    role, port_file = sys.argv[1], Path(sys.argv[2])
    srv = EvalServer(role, latency=float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
    with srv:
        port_file.write_text(srv.base_url)
        while True:
            time.sleep(1)
