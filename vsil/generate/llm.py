"""Structured-output calls to an OpenAI-compatible chat endpoint, through the shared runtime.

One `StructuredLLM` per model role. It sends each request with the role's JSON schema as
``response_format`` where the server supports it (``json_mode="schema"``; a server that
rejects the schema with HTTP 400 is retried once with ``json_object``, then with no
``response_format``), parses the answer robustly (code fences, leading reasoning, trailing
text) and validates it with the role's pydantic model. Every failure comes back as an
`Answer` with an error: a request failure, or a schema violation; the pipeline turns either
into a drop with that reason.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from vsil.generate.config import Endpoint
from vsil.generate.schemas import SCHEMAS, json_schema

if TYPE_CHECKING:  # httpx/tenacity are imported only when a call is made
    from vsil.runtime.http import ChatResult, ChatRuntime

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_SCHEMA_REJECTED = ("response_format", "json_schema", "guided", "structured output",
                    "grammar")


@dataclass(frozen=True)
class Request:
    """One call: the rendered prompt and, for multimodal roles, an image (PIL, bytes or
    a path)."""

    prompt: str
    image: Any = None


@dataclass
class Answer:
    """A validated answer (``value``) or why there is none (``error``; ``kind`` is
    ``"request"`` or ``"schema"``)."""

    value: BaseModel | None
    error: str | None = None
    kind: str | None = None
    raw: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


def image_data_url(image: Any) -> str:
    """A ``data:image/png;base64,...`` URL of a PIL image, PNG/JPEG bytes, or a file path."""
    from PIL import Image

    if isinstance(image, bytes | bytearray):
        pil = Image.open(io.BytesIO(image))
    elif hasattr(image, "save") and hasattr(image, "size"):
        pil = image
    else:
        pil = Image.open(str(image))
    buf = io.BytesIO()
    pil.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def extract_json(text: str) -> Any:
    """The first JSON object in a model's reply. Raises ValueError when there is none."""
    text = _THINK.sub("", text).strip()
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for cand in candidates:
        cand = cand.strip()
        for m in re.finditer(r"\{", cand):
            try:
                obj, _ = decoder.raw_decode(cand[m.start():])
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    raise ValueError("no JSON object in the reply")


def parse_answer(role: str, content: str | None) -> Answer:
    """Validate a reply's content against the role's schema."""
    if content is None or not content.strip():
        return Answer(None, "schema violation: empty reply", "schema", content)
    try:
        obj = extract_json(content)
    except ValueError as e:
        return Answer(None, f"schema violation: {e}", "schema", content)
    try:
        return Answer(SCHEMAS[role].model_validate(obj), raw=content)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ())) or "(root)"
        return Answer(None, f"schema violation: {loc}: {first.get('msg', 'invalid')}",
                      "schema", content)


class StructuredLLM:
    """Calls of one model role (``"queries"``, ``"mitigate"``, ...) on one endpoint."""

    def __init__(self, role: str, endpoint: Endpoint, *, runtime: ChatRuntime | None = None,
                 show_progress: bool | None = None) -> None:
        if role not in SCHEMAS:
            raise KeyError(f"unknown role {role!r}")
        if not endpoint.base_url or not endpoint.model:
            raise ValueError(f"role {role!r}: endpoint needs base_url and model")
        self.role = role
        self.endpoint = endpoint
        self.json_mode = endpoint.json_mode
        self.show_progress = show_progress
        self.runtime = runtime or endpoint.connection().runtime()

    def __repr__(self) -> str:
        return f"StructuredLLM(role={self.role!r}, model={self.endpoint.model!r})"

    def body(self, req: Request) -> dict[str, Any]:
        """The ``/chat/completions`` request body of one call."""
        content: Any = req.prompt
        if req.image is not None:
            content = [{"type": "text", "text": req.prompt},
                       {"type": "image_url", "image_url": {"url": image_data_url(req.image)}}]
        body: dict[str, Any] = {
            **self.endpoint.extra_body,
            "model": self.endpoint.model,
            "messages": [{"role": "user", "content": content}],
            "temperature": self.endpoint.temperature,
            "max_tokens": self.endpoint.max_tokens,
        }
        if self.json_mode == "schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": self.role, "strict": True, "schema": json_schema(self.role)}}
        elif self.json_mode == "object":
            body["response_format"] = {"type": "json_object"}
        return body

    def ask(self, requests: Sequence[Request], desc: str = "") -> list[Answer]:
        """One answer per request, in order; never raises for a per-request failure."""
        if not requests:
            return []
        results = self.runtime.chat([self.body(r) for r in requests],
                                    desc=desc or self.role, show_progress=self.show_progress)
        while self._schema_rejected(results) and self.json_mode != "none":
            self.json_mode = "object" if self.json_mode == "schema" else "none"
            redo = [i for i, r in enumerate(results) if not r.ok]
            again = self.runtime.chat([self.body(requests[i]) for i in redo],
                                      desc=desc or self.role, show_progress=self.show_progress)
            for i, r in zip(redo, again, strict=True):
                results[i] = r
        return [self._answer(r) for r in results]

    @staticmethod
    def _schema_rejected(results: list[ChatResult]) -> bool:
        bad = [r for r in results if not r.ok]
        return bool(bad) and all(
            r.status == 400 and any(m in (r.body or r.error or "").lower()
                                    for m in _SCHEMA_REJECTED) for r in bad)

    def _answer(self, r: ChatResult) -> Answer:
        if not r.ok:
            return Answer(None, f"request failed ({r.kind}): {r.error}", "request")
        from vsil.runtime.replies import reply_of

        rep = reply_of(r.response)
        if rep.problem is not None:
            return Answer(None, f"schema violation: {rep.problem}", "schema")
        if rep.refusal:
            return Answer(None, f"model refused: {rep.refusal[:200]}", "request")
        return parse_answer(self.role, rep.text)

    def info(self) -> dict[str, Any]:
        """Provenance: endpoint (no key), the json mode actually used, usage so far."""
        return {"role": self.role, "endpoint": self.endpoint.public(),
                "json_mode_used": self.json_mode, "usage": self.runtime.usage.to_json()}
