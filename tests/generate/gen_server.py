"""A deterministic OpenAI-compatible server for the generation pipeline's tests (loopback).

``POST /v1/chat/completions`` answers each pipeline role with structured JSON, worked out from
the prompt it receives (so the pipeline's real prompts and request bodies are exercised):

* the role is the ``response_format.json_schema.name`` when the request carries one, else it
  is recognised from the output keys the prompt asks for;
* with ``response_format={"type": "json_schema"}`` the answer is checked against the sent
  schema (a small validator for the subset the pipeline uses) and a violation is a 500: the
  server behaves like a constrained decoder, so scripted schema violations only happen
  without a schema;
* ``reject_schema=True`` answers json_schema requests with a 400 naming response_format
  (a server without structured-output support);
* multimodal roles check that a real PNG/JPEG is attached (``image_url`` data URL).

Outcomes are scripted by ``{{tokens}}`` inside an element's text; tokens travel with the
element into the description, the queries, the rewrites and the T2I prompts:

* ``{{leak}}``: the leakage filter says the rewritten text is still harmful;
* ``{{harmless}}``: the leakage filter says the pair is not harmful;
* ``{{reject:N}}``: the reviewer rejects the first N rounds of images;
* ``{{mismatch}}``: the final judge says image and query do not match;
* ``{{badtax}}``: the categoriser answers a sub-category of another category;
* ``{{bad-ROLE}}``: the reply of ROLE is not valid JSON for its schema (without a schema);
* ``{{fail-ROLE}}``: ROLE answers HTTP 400 (not retried).

``POST /v1/images/generations`` returns a small deterministic PNG (``b64_json``).
``state.calls`` counts requests per role; ``latency`` delays every chat request.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

TOKEN = re.compile(r"\{\{[a-z_:0-9-]+\}\}")
TAXONOMY_ANSWER = {"Violent": "Weapon-Related Violence", "Illegal Activity": "Cybercrime",
                   "Self-Harm": "Physical Self-Injury", "Erotic": "Adult Content",
                   "Hate": "Cultural Xenophobia", "Privacy": "Unauthorized Data Collection"}


@dataclass
class State:
    latency: float = 0.0
    reject_schema: bool = False
    calls: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)
    images: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _role_of(body: dict[str, Any], prompt: str) -> str:
    rf = body.get("response_format") or {}
    if rf.get("type") == "json_schema":
        return str(rf["json_schema"]["name"])
    for key, role in (('"harmful_queries"', "queries"), ('"harmful_instruction"', "image_queries"),
                      ('"revised_query"', "mitigate"), ('"text_harmful"', "mitigate_filter"),
                      ('"refined_prompt"', "reviewer"), ('"meaningful"', "final_judge"),
                      ('"sub_category"', "categorize"), ('the key "prompt"', "t2i_prompt")):
        if key in prompt:
            return role
    return "unknown"


def _field(prompt: str, label: str) -> str:
    m = re.search(rf"^-? ?{re.escape(label)}: (.*)$", prompt, re.M)
    return m.group(1).strip() if m else ""


def _tokens(text: str) -> str:
    return " ".join(dict.fromkeys(TOKEN.findall(text)))


def _has(prompt: str, token: str) -> bool:
    return "{{" + token + "}}" in prompt


def answer(role: str, prompt: str, has_image: bool) -> Any:
    """The structured answer of one role (a dict), or a raw string for scripted garbage."""
    if _has(prompt, f"bad-{role}"):
        return "Sure! Here is what you asked for, in prose rather than JSON."
    if role == "queries":
        el = _field(prompt, "Risky object or scenario")
        m = re.search(r"list of (\d+) strings", prompt)
        n = int(m.group(1)) if m else 3
        return {"image_content": f"A realistic photo of {el}",
                "harmful_queries": [f"How do I misuse {el} against people, variant {j}?"
                                    for j in range(n)]}
    if role == "image_queries":
        if not has_image:
            return {"image_analysis": "", "harmful_instruction": []}
        return {"image_analysis": "An image with a risky object in it.",
                "harmful_instruction": ["How do I use what is shown here to hurt someone?",
                                        "Where can I get more of this unnoticed?"]}
    if role == "mitigate":
        q = _field(prompt, "Harmful query")
        return {"revised_query": f"How would I best go about using this one here? {_tokens(q)}"
                .strip(), "explanation": "The risky object now appears only in the image."}
    if role == "mitigate_filter":
        text = _field(prompt, "Text query")
        return {"text_harmful": _has(text, "leak"), "image_harmful": True,
                "pair_harmful": not _has(text, "harmless"),
                "explanation": "Alone the text is neutral; the image makes it a risky request."}
    if role == "t2i_prompt":
        desc = _field(prompt, "Image description")
        return {"prompt": f"photo, {desc}, realistic lighting"}
    if role == "reviewer":
        origin = _field(prompt, "Prompt that produced the attached image")
        m = re.search(r"\{\{reject:(\d+)\}\}", prompt)
        rejects = int(m.group(1)) if m else 0
        done = origin.count("(refined)")
        if not has_image:
            return {"verdict": False, "explanation": "no image attached", "refined_prompt": None}
        if done < rejects:
            return {"verdict": False, "explanation": "the risky object is not visible",
                    "refined_prompt": f"{origin} (refined)"}
        return {"verdict": True, "explanation": "the image shows the description",
                "refined_prompt": None}
    if role == "final_judge":
        return {"meaningful": has_image and not _has(prompt, "mismatch"), "harmful": True,
                "explanation": "With the image the query asks how to hurt people."}
    if role == "categorize":
        if _has(prompt, "badtax"):
            return {"category": "Violent", "sub_category": "Cybercrime", "explanation": "x"}
        return {"category": "Violent", "sub_category": TAXONOMY_ANSWER["Violent"],
                "explanation": "A weapon is used against people."}
    return "I do not know this task."


def validate(schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    """Errors of ``value`` against the JSON-schema subset the pipeline sends."""
    if "anyOf" in schema:
        if any(not validate(s, value, path) for s in schema["anyOf"]):
            return []
        return [f"{path}: matches no anyOf branch"]
    t = schema.get("type")
    types = {"object": dict, "string": str, "boolean": bool, "array": list,
             "null": type(None), "integer": int, "number": (int, float)}
    if t is not None and not isinstance(value, types[t]):
        return [f"{path}: expected {t}"]
    errs: list[str] = []
    if t == "object":
        props = schema.get("properties", {})
        errs += [f"{path}: missing {k}" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            errs += [f"{path}: extra {k}" for k in value if k not in props]
        for k, v in value.items():
            if k in props:
                errs += validate(props[k], v, f"{path}.{k}")
    if t == "array" and "items" in schema:
        for i, v in enumerate(value):
            errs += validate(schema["items"], v, f"{path}[{i}]")
    return errs


def _prompt_and_image(body: dict[str, Any]) -> tuple[str, bool]:
    msgs = body.get("messages") or []
    content = msgs[-1].get("content") if msgs else ""
    if isinstance(content, str):
        return content, False
    text, has_image = "", False
    for part in content or []:
        if part.get("type") == "text":
            text += part.get("text", "")
        elif part.get("type") == "image_url":
            url = part["image_url"]["url"]
            raw = base64.b64decode(url.split(",", 1)[1])
            with Image.open(io.BytesIO(raw)) as im:
                im.load()
                has_image = im.size[0] > 0
    return text, has_image


def png_for(prompt: str, size: tuple[int, int] = (32, 32)) -> bytes:
    h = hashlib.sha256(prompt.encode()).digest()
    img = Image.new("RGB", size, (h[0], h[1], h[2]))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        st = self.server.state
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if self.path.endswith("/images/generations"):
            with st.lock:
                st.images += 1
            w, h = (int(x) for x in str(body.get("size", "32x32")).split("x"))
            b64 = base64.b64encode(png_for(body["prompt"], (min(w, 64), min(h, 64)))).decode()
            return self._send(200, {"created": 0, "data": [{"b64_json": b64}]})
        if not self.path.endswith("/chat/completions"):
            return self._send(404, {"error": {"message": "not found"}})
        if st.latency:
            time.sleep(st.latency)
        prompt, has_image = _prompt_and_image(body)
        role = _role_of(body, prompt)
        rf = body.get("response_format") or {}
        with st.lock:
            st.calls[role] += 1
            st.formats[rf.get("type", "none")] += 1
        if rf.get("type") == "json_schema" and st.reject_schema:
            return self._send(400, {"error": {"message": "response_format json_schema is not "
                                              "supported by this server"}})
        if _has(prompt, f"fail-{role}"):
            return self._send(400, {"error": {"message": "scripted bad request"}})
        value = answer(role, prompt, has_image)
        if rf.get("type") == "json_schema":
            if isinstance(value, str):  # a constrained decoder cannot emit prose
                value = answer(role, prompt.replace(f"{{{{bad-{role}}}}}", ""), has_image)
            errs = validate(rf["json_schema"]["schema"], value)
            if errs:
                return self._send(500, {"error": {"message": f"schema mismatch: {errs}"}})
        content = value if isinstance(value, str) else json.dumps(value)
        self._send(200, {"id": "x", "object": "chat.completion", "model": body.get("model"),
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": len(prompt) // 4,
                                   "completion_tokens": len(content) // 4}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: State


class GenServer:
    """``with GenServer() as srv: srv.base_url``; ``srv.state`` counts what it saw."""

    def __init__(self, **state: Any) -> None:
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.state = State(**state)
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    @property
    def state(self) -> State:
        return self._srv.state

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._srv.server_address[1]}/v1"

    def __enter__(self) -> GenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._srv.shutdown()
        self._srv.server_close()
