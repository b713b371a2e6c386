"""The VLSBench response judge over any OpenAI-compatible endpoint (GPT-4o in the paper).

Labels: 1 safe with refusal, 2 safe with warning, 3 unsafe, with an explanation. The judge
asks for a JSON schema (``response_format={"type": "json_schema"}``) and falls back to plain
text with robust parsing when the server rejects it. A failed call, an unparseable reply or
a refusal by the judge is recorded as *unjudged* (``error``; ``refused`` for refusals), never
as a label.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vsil.dataset import ImageRef
from vsil.eval.images import MAX_SIDE, image_data_url
from vsil.eval.lazy_runtime import LazyRuntime
from vsil.eval.prompts import (
    JUDGEMENT_SCHEMA,
    LABELS,
    VARIANTS,
    Variant,
    parse_judgement,
    render,
    template_sha256,
)

if TYPE_CHECKING:
    from vsil.runtime.http import ChatResult, ChatRuntime

_RAW_KEEP = 2000
_SCHEMA_HINTS = ("response_format", "json_schema", "structured output", "guided_json")


@dataclass(frozen=True)
class JudgeItem:
    """What the judge sees for one answer."""

    id: str
    question: str
    answer: str
    image: ImageRef | None = None
    image_description: str | None = None
    safety_reason: str | None = None


OnJudged = Callable[[JudgeItem, dict[str, Any]], None]


class ResponseJudge(LazyRuntime):
    """A three-label response judge behind an OpenAI-compatible endpoint.

    Args:
        model: judge model name (``gpt-4o`` in the paper; pin a dated version when you can).
        base_url, api_key: default to ``VSIL_JUDGE_BASE_URL``/``VSIL_JUDGE_API_KEY``, then
            ``OPENAI_BASE_URL``/``OPENAI_API_KEY``.
        variant: ``"official"`` (sees the image) or ``"text"`` (sees ``image_description`` and
            ``safety_reason`` instead; *not the official protocol*).
        structured: request the JSON schema; on a server that rejects it, plain text is used.
        max_tokens: room for the JSON; the official 128 can truncate explanations.
        system_prompt: None sends no system message (the official code sent
            "You are a helpful assistant.").
    """

    kind = "response_judge"

    def __init__(self, model: str = "gpt-4o", *, base_url: str | None = None,
                 api_key: str | None = None, variant: Variant = "official",
                 structured: bool = True, temperature: float = 0.0, max_tokens: int = 512,
                 system_prompt: str | None = None, max_image_side: int = MAX_SIDE,
                 concurrency: int = 16, max_retries: int = 5, timeout: float = 120.0,
                 runtime: ChatRuntime | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"judge variant must be one of {VARIANTS}, not {variant!r}")
        self.model = model
        self.variant: Variant = variant
        self.name = f"openai:{model}" + ("" if variant == "official" else " (text variant)")
        self.base_url = (base_url or os.environ.get("VSIL_JUDGE_BASE_URL")
                         or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1")
        key = api_key if api_key is not None else (
            os.environ.get("VSIL_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY"))
        self.structured = structured
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.system_prompt = system_prompt
        self.max_image_side = max_image_side
        self._runtime = runtime
        self._runtime_args = (key, concurrency, max_retries, timeout)
        self.schema_supported: bool | None = None

    def __repr__(self) -> str:
        return (f"ResponseJudge({self.model!r}, variant={self.variant!r}, "
                f"host={_host(self.base_url)!r})")

    @property
    def official(self) -> bool:
        return self.variant == "official"

    def info(self) -> dict[str, Any]:
        return {
            "backend": "openai", "model": self.model, "host": _host(self.base_url),
            "variant": self.variant, "official_protocol": self.official,
            "template_sha256": template_sha256(self.variant), "structured": self.structured,
            "schema_supported": self.schema_supported, "temperature": self.temperature,
            "max_tokens": self.max_tokens, "system_prompt": self.system_prompt,
        }

    @property
    def fingerprint(self) -> str:
        info = self.info()
        info.pop("schema_supported")
        info.pop("host")
        blob = json.dumps(info, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def body(self, item: JudgeItem, image_url: str | None, *, schema: bool) -> dict[str, Any]:
        """The request body for one answer."""
        text = render(self.variant, question=item.question, response=item.answer,
                      image_description=item.image_description,
                      safety_reason=item.safety_reason)
        content: Any = text if image_url is None else [
            {"type": "image_url", "image_url": {"url": image_url}},
            {"type": "text", "text": text}]
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": content})
        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "temperature": self.temperature, "max_tokens": self.max_tokens}
        if schema:
            body["response_format"] = {"type": "json_schema", "json_schema": JUDGEMENT_SCHEMA}
        return body

    def run(self, items: Sequence[JudgeItem], on_result: OnJudged) -> None:
        """Judge every item; ``on_result(item, record)`` as each finishes."""
        urls: list[str | None] = []
        ready: list[JudgeItem] = []
        for it in items:
            if self.official:
                if it.image is None:
                    on_result(it, {"error": "the official judge needs the image, and this "
                                   "sample has none (use variant='text')", "kind": "input"})
                    continue
                try:
                    urls.append(image_data_url(it.image, max_side=self.max_image_side))
                except Exception as e:
                    on_result(it, {"error": f"image: {e}", "kind": "input"})
                    continue
            else:
                urls.append(None)
            ready.append(it)
        schema = self.structured and self.schema_supported is not False
        redo: list[int] = []

        def done(i: int, r: ChatResult) -> None:
            if schema and self._schema_rejected(r):
                redo.append(i)
                return
            if schema and r.response is not None:
                self.schema_supported = True
            on_result(ready[i], self._record(r))

        from vsil.eval.client import stream_chat

        stream_chat(self.runtime, [self.body(it, u, schema=schema)
                                   for it, u in zip(ready, urls, strict=True)], done,
                    desc=f"judge {self.model}")
        if redo:
            self.schema_supported = False
            again = sorted(redo)
            stream_chat(self.runtime, [self.body(ready[i], urls[i], schema=False)
                                       for i in again],
                        lambda j, r: on_result(ready[again[j]], self._record(r)),
                        desc=f"judge {self.model}")

    @staticmethod
    def _schema_rejected(r: ChatResult) -> bool:
        if r.response is not None or r.kind != "client_error" or r.status not in (400, 422):
            return False
        body = (r.body or r.error or "").lower()
        return any(h in body for h in _SCHEMA_HINTS)

    @staticmethod
    def _record(r: ChatResult) -> dict[str, Any]:
        from vsil.eval.client import TRANSIENT, reply_of

        if r.response is None:
            refused = r.kind == "content_filter"
            return {"error": ("judge refused (content filter): " if refused else "")
                    + (r.error or "request failed"), "kind": r.kind, "status": r.status,
                    "refused": refused, "retryable": r.kind in TRANSIENT}
        rep = reply_of(r.response)
        base = {"usage": rep.usage, "finish_reason": rep.finish_reason,
                "raw": (rep.text or "")[:_RAW_KEEP]}
        if rep.refusal and not rep.text:
            return {**base, "error": f"judge refused: {rep.refusal[:300]}", "kind": "refusal",
                    "refused": True}
        p = parse_judgement(rep.text)
        if p.label is None:
            err = p.error or "no label"
            if rep.finish_reason == "length":
                err = f"judge reply truncated at max_tokens ({err})"
            return {**base, "error": err, "kind": "refusal" if p.refused else "parse",
                    "refused": p.refused}
        return {**base, "label": p.label, "label_str": LABELS[p.label],
                "explanation": p.explanation}


def make_judge(judge: str | ResponseJudge, *, base_url: str | None = None,
               api_key: str | None = None, variant: Variant = "official",
               concurrency: int = 16, **kwargs: Any) -> ResponseJudge:
    """A judge from ``"openai:NAME"`` (or a bare name), or as is."""
    if isinstance(judge, ResponseJudge):
        return judge
    if not isinstance(judge, str):
        raise TypeError("judge must be 'openai:NAME' or a ResponseJudge")
    backend, sep, name = judge.partition(":")
    if sep and backend != "openai":
        raise ValueError(f"unknown judge backend {backend!r}: use 'openai:NAME'")
    return ResponseJudge(name if sep else judge, base_url=base_url, api_key=api_key,
                         variant=variant, concurrency=concurrency, **kwargs)


def _host(url: str) -> str:
    from vsil.runtime.http import safe_host

    return safe_host(url)
