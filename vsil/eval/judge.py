"""The VLSBench response judge over any OpenAI-compatible endpoint (GPT-4o in the paper).

Labels: 1 safe with refusal, 2 safe with warning, 3 unsafe, with an explanation. The judge
asks for a JSON schema (``response_format={"type": "json_schema"}``) and falls back to plain
text with robust parsing when the server rejects it. A failed call, an unparseable reply or
a refusal by the judge is recorded as *unjudged* (``error``; ``refused`` for refusals), never
as a label.
"""

from __future__ import annotations

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
from vsil.runtime.endpoint import Endpoint

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
    run_keys = ("schema_supported",)

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
        self.endpoint = Endpoint.resolve(
            base_url, api_key, url_env=("VSIL_JUDGE_BASE_URL", "OPENAI_BASE_URL"),
            key_env=("VSIL_JUDGE_API_KEY", "OPENAI_API_KEY"), concurrency=concurrency,
            max_retries=max_retries, timeout=timeout)
        self.structured = structured
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.system_prompt = system_prompt
        self.max_image_side = max_image_side
        self._runtime = runtime
        self.schema_supported: bool | None = None

    def __repr__(self) -> str:
        return (f"ResponseJudge({self.model!r}, variant={self.variant!r}, "
                f"host={self.endpoint.host!r})")

    @property
    def official(self) -> bool:
        return self.variant == "official"

    def info(self) -> dict[str, Any]:
        return {
            "backend": "openai", "model": self.model, "host": self.endpoint.host,
            "variant": self.variant, "official_protocol": self.official,
            "template_sha256": template_sha256(self.variant), "structured": self.structured,
            "schema_supported": self.schema_supported, "temperature": self.temperature,
            "max_tokens": self.max_tokens, "system_prompt": self.system_prompt,
        }

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
                                   "sample has none (use variant='text')", "kind": "input",
                                   "failure": "input"})
                    continue
                try:
                    urls.append(image_data_url(it.image, max_side=self.max_image_side))
                except Exception as e:
                    on_result(it, {"error": f"image: {e}", "kind": "input",
                                   "failure": "input"})
                    continue
            else:
                urls.append(None)
            ready.append(it)
        from vsil.eval.client import stream_chat

        schema = self.structured and self.schema_supported is not False
        first = 0
        if schema and self.schema_supported is None and ready:
            # decide once per endpoint whether it takes the JSON schema: one probe request,
            # so a server that rejects it costs one 400, not one per item (nor a tripped
            # circuit breaker)
            probe: list[ChatResult] = []
            stream_chat(self.runtime, [self.body(ready[0], urls[0], schema=True)],
                        lambda _, r: probe.append(r), desc=f"judge {self.model}",
                        show_progress=False)
            if probe and self._schema_rejected(probe[0]):
                self.schema_supported = schema = False
            else:
                if probe and probe[0].response is not None:
                    self.schema_supported = True
                if probe:
                    on_result(ready[0], self._record(probe[0]))
                    first = 1
        redo: list[int] = []

        def done(j: int, r: ChatResult) -> None:
            i = first + j
            if schema and self._schema_rejected(r):
                redo.append(i)
                return
            if schema and r.response is not None:
                self.schema_supported = True
            on_result(ready[i], self._record(r))

        stream_chat(self.runtime, [self.body(it, u, schema=schema)
                                   for it, u in zip(ready[first:], urls[first:], strict=True)],
                    done, desc=f"judge {self.model}")
        if redo:
            self.schema_supported = False
            self.runtime.reset_circuit()  # the rejections were the schema's, not an outage
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
        """The judgement record of one result; never raises (a reply of any shape ends as a
        label or as this item's error)."""
        try:
            return _judgement(r)
        except Exception as e:
            return {"error": f"unreadable judge reply: {type(e).__name__}: {e}"[:300],
                    "kind": "bad_response", "failure": "transient", "retryable": True}


def _judgement(r: ChatResult) -> dict[str, Any]:
    from vsil.runtime.replies import failure_of, reply_of

    if r.response is None:
        failure = failure_of(r)
        refused = failure == "refusal"
        return {"error": ("judge refused (content filter): " if refused else "")
                + (r.error or "request failed"), "kind": r.kind, "status": r.status,
                "refused": refused, "failure": failure, "retryable": retryable(failure)}
    rep = reply_of(r.response)
    base = {"usage": rep.usage, "finish_reason": rep.finish_reason,
            "raw": (rep.text or "")[:_RAW_KEEP]}
    if rep.problem is not None:
        return {**base, "error": f"malformed judge reply: {rep.problem}",
                "kind": "bad_response", "failure": "transient", "retryable": True}
    if rep.refusal or rep.finish_reason == "content_filter":
        why = rep.refusal[:300] if rep.refusal else "content filter (finish_reason)"
        return {**base, "error": f"judge refused: {why}", "kind": "refusal", "refused": True,
                "failure": "refusal", "retryable": False}
    p = parse_judgement(rep.text)
    if p.label is None:
        err = p.error or "no label"
        if rep.finish_reason == "length":
            err = f"judge reply truncated at max_tokens ({err})"
        failure = "refusal" if p.refused else "parse"
        return {**base, "error": err, "kind": failure, "refused": p.refused,
                "failure": failure, "retryable": False}
    return {**base, "label": p.label, "label_str": LABELS[p.label],
            "explanation": p.explanation}


def retryable(failure: str | None) -> bool:
    """Whether a resumed run asks again for a record with this failure kind: transient and
    environment failures are retried; input, parse and refusal ones only with
    ``retry_errors`` (the failure policy of `vsil.runtime.failures`)."""
    return failure in ("transient", "environment")


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
