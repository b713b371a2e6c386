"""The ``caption-openai`` describer: any OpenAI-compatible multimodal model writes a description.

GPT-4o, or a VLM served by vLLM / SGLang / llama.cpp. Each image goes as a data URL (re-encoded,
longest side capped) with a captioning prompt that asks for what is visible, including any
text written in the image. Requests go through the shared `vsil.runtime.http.ChatRuntime`
(bounded concurrency, capped retries with backoff, circuit breaker, token accounting); the
audit caches each description. The API key is never logged, cached or shown.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from vsil.dataset import ImageRef
from vsil.detectors._base import Description
from vsil.detectors._registry import register_detector
from vsil.runtime.endpoint import Endpoint, require_http
from vsil.runtime.replies import failure_of, reply_of

DEFAULT_PROMPT = (
    "Describe this image objectively in two to four sentences for a content-safety audit. "
    "Name the main objects, people, actions and setting, and anything dangerous, illegal, "
    "violent, sexual or hateful that is visible. If the image contains written text, quote it "
    "exactly. Do not speculate beyond what is visible."
)
VERSION = "1"


def image_data_url(ref: ImageRef, max_side: int = 1024,
                   image_format: Literal["jpeg", "png"] = "jpeg") -> str:
    """The image re-encoded (JPEG quality 90 or PNG), longest side capped, as a data URL."""
    im = ref.open()
    if max(im.size) > max_side:
        im = im.copy()
        im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    if image_format == "png":
        im.save(buf, format="PNG")
        mime = "image/png"
    else:
        im.convert("RGB").save(buf, format="JPEG", quality=90)
        mime = "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


@register_detector(
    "caption-openai",
    "describer",
    needs="an OpenAI-compatible multimodal endpoint (base_url, api_key, model)",
    outputs="image_text = a description of the image (text in it quoted)",
    extra="openai",
    description="GPT-4o or a VLM on vLLM/SGLang with a captioning prompt; bounded concurrency",
)
class OpenAICaptioner:
    """Describe images with a multimodal model behind an OpenAI-compatible endpoint.

    Args:
        model: served model name (``describe="caption-openai:gpt-4o"``); default
            ``$OPENAI_MODEL``.
        base_url: default ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``.
        api_key: default ``$OPENAI_API_KEY``; never logged, cached or shown.
        prompt: the captioning instruction.
        max_tokens, temperature: decoding (default 200 and 0.0).
        image_max_side: longest image side sent, in pixels (larger images are downscaled).
        image_format: ``"jpeg"`` or ``"png"``.
        concurrency, max_retries, timeout, max_identical_failures: see
            `vsil.runtime.http.ChatRuntime`.
        extra_body: more fields for every request body (e.g. ``{"seed": 0}``).
    """

    name: ClassVar[str] = "caption-openai"
    kind: ClassVar[Literal["describer"]] = "describer"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        prompt: str = DEFAULT_PROMPT,
        max_tokens: int = 200,
        temperature: float = 0.0,
        image_max_side: int = 1024,
        image_format: Literal["jpeg", "png"] = "jpeg",
        concurrency: int = 16,
        max_retries: int = 5,
        timeout: float = 60.0,
        max_identical_failures: int = 20,
        backoff_base: float = 0.5,
        extra_body: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        require_http()
        model = model or os.environ.get("OPENAI_MODEL")
        if not model:
            raise ValueError("caption-openai needs a model: 'caption-openai:MODEL' or model=...")
        if image_format not in ("jpeg", "png"):
            raise ValueError("image_format must be 'jpeg' or 'png'")
        self.model = model
        self.endpoint = Endpoint.resolve(
            base_url, api_key, concurrency=concurrency, max_retries=max_retries,
            timeout=timeout, max_identical_failures=max_identical_failures,
            backoff_base=backoff_base)
        self.base_url = self.endpoint.base_url
        self.prompt = prompt
        self.max_tokens = int(max_tokens)
        self.temperature = float(temperature)
        self.image_max_side = int(image_max_side)
        self.image_format: Literal["jpeg", "png"] = image_format
        self.extra_body = dict(extra_body or {})
        self.batch_size = batch_size or 4 * concurrency
        self._runtime = self.endpoint.runtime()

    # --- identity --------------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        return {"backend": "openai-compatible", "host": self.endpoint.host,
                "model": self.model,
                "prompt_sha256": hashlib.sha256(self.prompt.encode()).hexdigest(),
                "decoding": {"temperature": self.temperature, "max_tokens": self.max_tokens,
                             **self.extra_body},
                "image": {"max_side": self.image_max_side, "format": self.image_format}}

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(self._params(), sort_keys=True, default=str)
        return (f"caption-openai/v{VERSION}:{self.model}:"
                f"{hashlib.sha256(blob.encode()).hexdigest()[:16]}")

    def info(self) -> dict[str, Any]:
        return {**self._params(), "concurrency": self._runtime.concurrency,
                "usage": self._runtime.usage.to_json()}

    def __repr__(self) -> str:
        return f"OpenAICaptioner(model={self.model!r}, host={self.endpoint.host!r})"

    # --- describing ------------------------------------------------------------------------

    def request_body(self, ref: ImageRef) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": self.prompt},
                {"type": "image_url", "image_url": {
                    "url": image_data_url(ref, self.image_max_side, self.image_format)}},
            ]}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **self.extra_body,
        }

    def describe(self, images: Sequence[ImageRef]) -> list[Description]:
        out: list[Description | None] = [None] * len(images)
        bodies: list[dict[str, Any]] = []
        where: list[int] = []
        for i, ref in enumerate(images):
            try:
                bodies.append(self.request_body(ref))
                where.append(i)
            except Exception as e:
                out[i] = Description(text=None, source=self.name, error=f"image: {e}",
                                     failure="input")
        results = self._runtime.chat(bodies, desc=f"caption {self.model}") if bodies else []
        for i, r in zip(where, results, strict=True):
            if not r.ok:
                out[i] = Description(text=None, source=self.name,
                                     error=f"{r.kind}: {r.error}", failure=failure_of(r))
                continue
            rep = reply_of(r.response)
            if rep.problem is not None:
                out[i] = Description(text=None, source=self.name,
                                     error=f"malformed reply: {rep.problem}",
                                     failure="transient")
                continue
            if rep.refusal or rep.finish_reason == "content_filter":
                out[i] = Description(text=None, source=self.name,
                                     error="the captioning model refused", failure="refusal")
                continue
            if not rep.text or not rep.text.strip():
                out[i] = Description(text=None, source=self.name,
                                     error="empty reply from the captioning model",
                                     failure="parse")
                continue
            out[i] = Description(text=rep.text.strip(), source=self.name,
                                 extra={"model": self.model,
                                        "finish_reason": rep.finish_reason})
        return [d for d in out if d is not None]
