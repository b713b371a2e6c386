"""A harm judge behind any OpenAI-compatible ``/chat/completions`` endpoint.

OpenAI (GPT-4o with the paper's prompts), vLLM or SGLang (e.g. Llama Guard 3 Vision), a
llama.cpp server... See docs/http-judges.md. Requests go through the shared
`vsil.runtime.http.ChatRuntime` (bounded concurrency, capped retries, circuit breaker, token
accounting); the audit caches each verdict.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from vsil.detectors._base import JudgeInput, Verdict
from vsil.detectors._registry import register_detector
from vsil.detectors.judges.llamaguard_format import parse_llamaguard
from vsil.detectors.judges.prompts import (
    PRESETS,
    LabelRead,
    ParseRule,
    Preset,
    custom_preset,
    looks_like_refusal,
)
from vsil.runtime.endpoint import DEFAULT_BASE_URL, Endpoint, require_http
from vsil.runtime.failures import EndpointUnavailable, classify_exception
from vsil.runtime.replies import failure_of, reply_of

__all__ = ["DEFAULT_BASE_URL", "DESCRIPTION_EVIDENCE", "EndpointUnavailable", "OpenAIJudge",
           "p_unsafe_from_logprobs"]

if TYPE_CHECKING:
    from vsil.dataset import ImageRef
    from vsil.runtime.http import ChatResult, ChatRuntime, PriceTable

DESCRIPTION_EVIDENCE = "image judged from its description (no pixels sent)"


@register_detector(
    "openai",
    "judge",
    needs="an OpenAI-compatible endpoint (base_url, api_key, model)",
    outputs="unsafe, p_unsafe (from logprobs when given), raw reply",
    extra="openai",
    description="GPT-4o with the paper's prompts, Llama Guard on vLLM, or your own template",
)
class OpenAIJudge:
    """Judge J(T) and J(T, I) with a model behind an OpenAI-compatible endpoint.

    Args:
        model: the served model name (``judge="openai:gpt-4o"`` passes ``model="gpt-4o"``).
        base_url: endpoint; default ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``.
        api_key: default ``$OPENAI_API_KEY``; never logged, cached or shown.
        preset: ``"paper-gpt4o"`` (default), ``"llamaguard"``, or a `Preset`.
        template, text_template, parse, labels: a custom prompt and parse rule instead of a
            preset (see `vsil.detectors.judges.prompts.custom_preset`).
        logprobs: ask for ``logprobs``/``top_logprobs=5`` (default: the preset's choice) and
            compute ``p_unsafe`` from them.
        temperature, max_tokens: decoding parameters (default 0.0 and the preset's).
        image_max_side: longest image side in pixels (larger images are downscaled).
        image_format: ``"jpeg"`` (quality 90) or ``"png"``.
        include_image_text: also add ``Image description: ...`` when pixels are sent.
        concurrency, max_retries, timeout, max_identical_failures, prices: see
            `vsil.runtime.http.ChatRuntime`.
        on_outage: ``"raise"`` (default) raises `EndpointUnavailable` when the circuit
            breaker opens, so the audit stops and a re-run resumes from the cache;
            ``"fail"`` returns error verdicts for the rest instead.
        extra_body: more fields for every request body (e.g. ``{"seed": 0}``).
    """

    name: ClassVar[str] = "openai"
    kind: ClassVar[Literal["judge"]] = "judge"
    uses_image_pixels: ClassVar[bool] = True

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        preset: str | Preset = "paper-gpt4o",
        template: str | None = None,
        text_template: str | None = None,
        parse: str | Mapping[str, bool] | ParseRule | None = None,
        labels: Mapping[str, bool] | None = None,
        logprobs: bool | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        image_max_side: int = 1024,
        image_format: Literal["jpeg", "png"] = "jpeg",
        include_image_text: bool = False,
        concurrency: int = 16,
        max_retries: int = 5,
        timeout: float = 60.0,
        max_identical_failures: int = 20,
        backoff_base: float = 0.5,
        prices: PriceTable | None = None,
        on_outage: Literal["raise", "fail"] = "raise",
        extra_body: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        require_http()
        model = model or os.environ.get("OPENAI_MODEL")
        if not model:
            raise ValueError("OpenAIJudge needs a model: judge='openai:MODEL' or model=...")
        self.model = model
        self.endpoint = Endpoint.resolve(
            base_url, api_key, concurrency=concurrency, max_retries=max_retries,
            timeout=timeout, max_identical_failures=max_identical_failures,
            backoff_base=backoff_base)
        self.base_url = self.endpoint.base_url
        if template is not None:
            self.preset = custom_preset(template, text_template=text_template, parse=parse,
                                        labels=labels)
        elif isinstance(preset, Preset):
            self.preset = preset
        elif preset in PRESETS:
            self.preset = PRESETS[preset]
        else:
            raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)} "
                             "(or pass template=...)")
        self.logprobs = self.preset.logprobs if logprobs is None else logprobs
        self.temperature = temperature
        self.max_tokens = max_tokens or self.preset.max_tokens
        if image_format not in ("jpeg", "png"):
            raise ValueError("image_format must be 'jpeg' or 'png'")
        self.image_max_side = image_max_side
        self.image_format = image_format
        self.include_image_text = include_image_text
        self.on_outage = on_outage
        self.extra_body = dict(extra_body or {})
        self.batch_size = batch_size or 4 * concurrency
        self._runtime: ChatRuntime = self.endpoint.runtime(prices=prices)
        self.refused = 0
        self.parse_errors = 0

    # --- identity ------------------------------------------------------------------------

    def _decoding(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens,
                "logprobs": self.logprobs, **self.extra_body}

    def _image_params(self) -> dict[str, Any]:
        return {"max_side": self.image_max_side, "format": self.image_format,
                "include_image_text": self.include_image_text}

    @property
    def fingerprint(self) -> str:
        blob = json.dumps({"backend": "openai-compatible", "host": self.endpoint.host,
                           "model": self.model, "preset": self.preset.name,
                           "prompt": self.preset.prompt_sha256(), "decoding": self._decoding(),
                           "image": self._image_params(), "max_tokens": self.max_tokens},
                          sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
        return f"openai:{self.model}:{self.preset.name}:{digest}"

    def info(self) -> dict[str, Any]:
        """Provenance (no key). ``usage`` is run state, not part of the fingerprint."""
        return {
            "backend": "openai-compatible",
            "base_url_host": self.endpoint.host,
            "model": self.model,
            "preset": self.preset.name,
            "prompt_sha256": self.preset.prompt_sha256(),
            "decoding": self._decoding(),
            "image": self._image_params(),
            "concurrency": self._runtime.concurrency,
            "max_retries": self._runtime.max_retries,
            "timeout_s": self._runtime.timeout,
            "usage": self.usage,
        }

    @property
    def usage(self) -> dict[str, Any]:
        """Requests, retries, failures by kind, refusals, parse errors, tokens, cost."""
        return {**self._runtime.usage.to_json(), "refused": self.refused,
                "parse_errors": self.parse_errors}

    def __repr__(self) -> str:
        return (f"OpenAIJudge(model={self.model!r}, host={self.endpoint.host!r}, "
                f"preset={self.preset.name!r}, concurrency={self._runtime.concurrency})")

    # --- judging -------------------------------------------------------------------------

    def judge(self, inputs: Sequence[JudgeInput]) -> list[Verdict]:
        """One verdict per input, in order; failures and refusals are never labels."""
        bodies: list[dict[str, Any] | None] = []
        early: dict[int, Verdict] = {}
        notes: list[tuple[str, ...]] = []
        for i, x in enumerate(inputs):
            try:
                body, note = self.request_body(x)
            except Exception as e:  # unreadable image: that input fails, the batch goes on
                early[i] = Verdict.failed(f"image: {type(e).__name__}: {e}",
                                          classify_exception(e))
                body, note = None, ()
            bodies.append(body)
            notes.append(note)
        send = [i for i, b in enumerate(bodies) if b is not None]
        results = self._runtime.chat([b for b in bodies if b is not None], show_progress=False)
        out: list[Verdict] = [early.get(i, Verdict.failed("not sent", "transient")) for i in
                              range(len(inputs))]
        for i, r in zip(send, results, strict=True):
            try:
                out[i] = self._verdict(r, notes[i])
            except Exception as e:  # a reply we could not read is this input's error
                out[i] = Verdict.failed(f"unreadable reply: {type(e).__name__}: {e}",
                                        "transient", evidence=notes[i])
        if self._runtime.circuit_open and self.on_outage == "raise":
            err = self._runtime.open_error
            self._runtime.reset_circuit()
            raise EndpointUnavailable(
                f"judge endpoint {self.endpoint.host} (model {self.model!r}) is "
                f"unavailable: {err} ({self._runtime.max_identical_failures} identical "
                "failures in a row); verdicts judged so far are cached, fix the "
                "endpoint and run again to resume")
        return out

    def request_body(self, x: JudgeInput) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The chat-completions body for one input, and evidence notes about it."""
        pair = x.has_image
        notes: tuple[str, ...] = ()
        text = x.text
        pixels = x.image is not None
        if pair and x.image_text and (not pixels or self.include_image_text) \
                and not self.preset.uses_image_text(pair):
            text = f"{text}\n\nImage description: {x.image_text}"
        if pair and not pixels:
            notes = (DESCRIPTION_EVIDENCE,)
        prompt = self.preset.render(pair, text, x.image_text)
        content: str | list[dict[str, Any]]
        if pixels:
            assert x.image is not None
            img = {"type": "image_url", "image_url": {"url": self.data_url(x.image)}}
            txt = {"type": "text", "text": prompt}
            content = [img, txt] if self.preset.image_first else [txt, img]
        else:
            content = prompt
        body: dict[str, Any] = {
            "model": self.model,
            # a single user turn, never a system message (Llama-3.2-Vision rejects one)
            "messages": [{"role": "user", "content": content}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **self.extra_body,
        }
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = 5
        return body, notes

    def data_url(self, ref: ImageRef) -> str:
        """The image re-encoded (JPEG or PNG), longest side capped, as a data URL."""
        im = ref.open()
        if max(im.size) > self.image_max_side:
            im = im.copy()
            im.thumbnail((self.image_max_side, self.image_max_side))
        buf = io.BytesIO()
        if self.image_format == "png":
            im.save(buf, format="PNG")
            mime = "image/png"
        else:
            im.convert("RGB").save(buf, format="JPEG", quality=90)
            mime = "image/jpeg"
        return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"

    # --- reading replies -----------------------------------------------------------------

    def _verdict(self, r: ChatResult, notes: tuple[str, ...]) -> Verdict:
        """The verdict of one request's result: refusals first, then the label."""
        if not r.ok:
            kind = failure_of(r)
            if kind == "refusal":
                self.refused += 1
                return Verdict.failed("content filter (HTTP 400)", "refusal", raw=r.body,
                                      evidence=notes)
            return Verdict.failed(f"{r.kind}: {r.error}", kind, raw=r.body, evidence=notes)
        rep = reply_of(r.response)
        if rep.problem is not None:
            return Verdict.failed(f"malformed reply: {rep.problem}", "transient",
                                  raw=_raw(r.response), evidence=notes)
        content = rep.text or ""
        if rep.refusal:
            self.refused += 1
            return Verdict.failed("refusal", "refusal", raw=rep.refusal, evidence=notes)
        if rep.finish_reason == "content_filter":
            self.refused += 1
            return Verdict.failed("content filter (finish_reason)", "refusal", raw=content,
                                  evidence=notes)
        read, cats = self._parse(content)
        if read.unsafe is None:
            if read.refused:
                self.refused += 1
                return Verdict.failed("refusal (reply text)", "refusal", raw=content,
                                      evidence=notes)
            self.parse_errors += 1
            err = read.error or "unparseable reply"
            if rep.finish_reason == "length":
                err = f"{err} (reply cut at max_tokens={self.max_tokens})"
            return Verdict.failed(err, "parse", raw=content, evidence=notes)
        p = p_unsafe_from_logprobs({"content": rep.logprobs} if rep.logprobs else None,
                                   content, read.offset)
        return Verdict(unsafe=read.unsafe, p_unsafe=p if p is not None else float(read.unsafe),
                       categories=cats, raw=content, evidence=notes)

    def _parse(self, content: str) -> tuple[LabelRead, tuple[str, ...]]:
        if self.preset.parser == "llamaguard":
            v = parse_llamaguard(content)
            if v.unsafe is None:
                refused = looks_like_refusal(content)
                return LabelRead(None, error=v.error, refused=refused), ()
            offset = len(content) - len(content.lstrip())
            return LabelRead(v.unsafe, offset), v.categories
        return self.preset.rule.read(content), ()


def _raw(response: Any) -> str:
    try:
        return json.dumps(response, ensure_ascii=False, default=str)[:2000]
    except (TypeError, ValueError, RecursionError):
        return repr(response)[:2000]


def _label_of(token: str) -> bool | None:
    """True/False when a token begins the label unsafe/safe ("un", "Unsafe", " safe"...)."""
    t = token.strip().lower().lstrip("*_\"'`")
    if not t:
        return None
    if "unsafe".startswith(t) or t.startswith("unsafe"):
        return True
    if "safe".startswith(t) or t.startswith("safe"):
        return False
    return None


def p_unsafe_from_logprobs(logprobs: Any, content: str, offset: int) -> float | None:
    """P(unsafe) / (P(unsafe) + P(safe)) at the token where the parsed label starts.

    The token is found by the character ``offset`` of the label when the tokens spell the
    reply; otherwise the first token that begins a label is used. None without logprobs, or
    when they are malformed (entries that are not token objects, logprobs that are not finite
    numbers <= 0 are ignored).
    """
    if not isinstance(logprobs, Mapping):
        return None
    raw = logprobs.get("content")
    if not isinstance(raw, list):
        return None
    toks = [t for t in raw if isinstance(t, Mapping) and isinstance(t.get("token"), str)]
    if not toks:
        return None
    pos: int | None = None
    if "".join(t["token"] for t in toks) == content:
        at = 0
        for k, t in enumerate(toks):
            end = at + len(t["token"])
            if end > offset and _label_of(t["token"]) is not None:
                pos = k
                break
            at = end
    if pos is None:
        pos = next((k for k, t in enumerate(toks) if _label_of(t["token"]) is not None), None)
    if pos is None:
        return None
    entry = toks[pos]
    alts = entry.get("top_logprobs")
    if not isinstance(alts, list) or not alts:
        alts = [{"token": entry.get("token"), "logprob": entry.get("logprob")}]
    p_u = p_s = 0.0
    for a in alts:
        if not isinstance(a, Mapping):
            continue
        try:
            lp = float(a.get("logprob"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if not math.isfinite(lp) or lp > 0.0:
            continue
        label = _label_of(str(a.get("token", "")))
        if label is True:
            p_u += math.exp(lp)
        elif label is False:
            p_s += math.exp(lp)
    if p_u + p_s <= 0.0:
        return None
    return min(1.0, max(0.0, p_u / (p_u + p_s)))
