"""A harm judge behind any OpenAI-compatible ``/chat/completions`` endpoint.

OpenAI (GPT-4o with the paper's prompts), vLLM or SGLang (e.g. Llama Guard 3 Vision), a
llama.cpp server... See docs/http-judges.md. Requests go through the shared
`vsil.runtime.http.ChatRuntime` (bounded concurrency, capped retries, circuit breaker, token
accounting); the audit caches each verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from vsil.detectors._base import JudgeInput, Verdict
from vsil.detectors._registry import register_detector
from vsil.detectors.judges.guard_formats import (
    YES_NO_WORDS,
    Controversial,
    GuardRead,
    parse_proguard,
    parse_qwen3guard,
    parse_shieldstral,
)
from vsil.detectors.judges.llamaguard_format import parse_llamaguard
from vsil.detectors.judges.logprob_score import SAFE_UNSAFE, p_unsafe_from_logprobs
from vsil.detectors.judges.prompts import (
    PRESETS,
    ParseRule,
    Preset,
    custom_preset,
    looks_like_refusal,
    shieldstral_preset,
)
from vsil.runtime.endpoint import DEFAULT_BASE_URL, Endpoint, require_http, safe_host
from vsil.runtime.failures import EndpointUnavailable, classify_exception
from vsil.runtime.replies import failure_of, reply_of

__all__ = ["DEFAULT_BASE_URL", "DESCRIPTION_EVIDENCE", "EndpointUnavailable", "OpenAIJudge",
           "p_unsafe_from_logprobs"]

if TYPE_CHECKING:
    from vsil.dataset import ImageRef
    from vsil.runtime.http import ChatResult, ChatRuntime, PriceTable

DESCRIPTION_EVIDENCE = "image judged from its description (no pixels sent)"
#: requests per `judge` call when concurrency is adaptive (4x the adaptive ceiling)
ADAPTIVE_BATCH = 512
#: the score of a Controversial answer counted as safe or unsafe
BORDERLINE_P = 0.5


@register_detector(
    "openai",
    "judge",
    needs="an OpenAI-compatible endpoint (base_url, api_key, model)",
    outputs="unsafe, p_unsafe (from logprobs when given), raw reply",
    extra="openai",
    description="GPT-4o with the paper's prompts, a guard model on vLLM, or your own "
                "template. Presets (preset=): " + "; ".join(
                    f"{k}: {v.needs}" for k, v in PRESETS.items()),
)
class OpenAIJudge:
    """Judge J(T) and J(T, I) with a model behind an OpenAI-compatible endpoint.

    Args:
        model: the served model name (``judge="openai:gpt-4o"`` passes ``model="gpt-4o"``).
        base_url: endpoint; default ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``.
        api_key: default ``$OPENAI_API_KEY``; never logged, cached or shown.
        preset: ``"paper-gpt4o"`` (default), ``"llamaguard"``, ``"llamaguard4"``,
            ``"proguard"``, ``"qwen3guard"``, ``"shieldstral"``, or a `Preset`.
        controversial: how a Qwen3Guard ``Controversial`` answer counts: ``"unjudged"``
            (default; an unjudged verdict of failure kind ``borderline``), ``"unsafe"`` or
            ``"safe"`` (the verdict's evidence says so, ``p_unsafe`` is 0.5).
        policy: the policy text of the ``shieldstral`` preset.
        template, text_template, parse, labels: a custom prompt and parse rule instead of a
            preset (see `vsil.detectors.judges.prompts.custom_preset`).
        logprobs: ask for ``logprobs``/``top_logprobs=5`` (default: the preset's choice) and
            compute ``p_unsafe`` from them.
        temperature, max_tokens: decoding parameters (default 0.0 and the preset's).
        image_max_side: longest image side in pixels (larger images are downscaled).
        image_format: ``"jpeg"`` (quality 90) or ``"png"``.
        include_image_text: also add ``Image description: ...`` when pixels are sent.
        concurrency: requests in flight; None (default) adapts it: 16 at first, growing
            while latency stays flat, halving on 429/5xx, at most ``max_concurrency`` (128).
        max_retries, timeout, max_identical_failures, prices: see
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
        controversial: Controversial = "unjudged",
        policy: str | None = None,
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
        concurrency: int | None = None,
        max_concurrency: int | None = None,
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
            base_url, api_key, concurrency=concurrency, max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout, max_identical_failures=max_identical_failures,
            backoff_base=backoff_base)
        self.base_url = self.endpoint.base_url
        if template is not None:
            self.preset = custom_preset(template, text_template=text_template, parse=parse,
                                        labels=labels)
        elif isinstance(preset, Preset):
            self.preset = preset
        elif preset == "shieldstral" and policy is not None:
            self.preset = shieldstral_preset(policy)
        elif preset in PRESETS:
            self.preset = PRESETS[preset]
        else:
            raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)} "
                             "(or pass template=...)")
        if policy is not None and self.preset.parser != "shieldstral":
            raise ValueError("policy= is for the shieldstral preset")
        if controversial not in ("unjudged", "unsafe", "safe"):
            raise ValueError("controversial must be 'unjudged', 'unsafe' or 'safe'")
        self.controversial: Controversial = controversial
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
        self.batch_size = batch_size or (4 * concurrency if concurrency else ADAPTIVE_BATCH)
        self._runtime: ChatRuntime = self.endpoint.runtime(prices=prices)
        self.refused = 0
        self.parse_errors = 0
        self.borderline = 0
        self.served_models: set[str] = set()

    # --- identity ------------------------------------------------------------------------

    def _decoding(self) -> dict[str, Any]:
        out = {"temperature": self.temperature, "max_tokens": self.max_tokens,
               "logprobs": self.logprobs, **self.extra_body}
        if self.preset.parser == "qwen3guard":  # only here, so other fingerprints stay
            out["controversial"] = self.controversial
        return out

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
            "model_pin": self.model_pin,
            "served_models": sorted(self.served_models),
            "concurrency": self._runtime.limit.to_json(),
            "max_retries": self._runtime.max_retries,
            "timeout_s": self._runtime.timeout,
            "usage": self.usage,
        }

    @property
    def model_pin(self) -> str:
        """The exact model the server reported (see `model_pin`)."""
        return model_pin(self.model, self.served_models)

    @property
    def usage(self) -> dict[str, Any]:
        """Requests, retries, failures by kind, refusals, parse errors, tokens, cost."""
        return {**self._runtime.usage.to_json(), "refused": self.refused,
                "parse_errors": self.parse_errors, "borderline": self.borderline}

    def __repr__(self) -> str:
        return (f"OpenAIJudge(model={self.model!r}, host={self.endpoint.host!r}, "
                f"preset={self.preset.name!r}, "
                f"concurrency={self._runtime.concurrency_setting!r})")

    # --- judging -------------------------------------------------------------------------

    def judge(self, inputs: Sequence[JudgeInput]) -> list[Verdict]:
        """One verdict per input, in order; failures and refusals are never labels."""
        bodies: list[dict[str, Any] | None] = []
        early: dict[int, Verdict] = {}
        notes: list[tuple[str, ...]] = []
        for i, x in enumerate(inputs):
            if x.image is not None and not self.preset.pixels and not x.image_text:
                early[i] = Verdict.failed(
                    f"preset {self.preset.name!r} is text-only: an image without image_text "
                    "(a description) cannot be judged", "input")
                bodies.append(None)
                notes.append(())
                continue
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
        if self.on_outage == "raise":
            raise_if_circuit_open(self._runtime, self.base_url, self.model)
        return out

    def request_body(self, x: JudgeInput) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The chat-completions body for one input, and evidence notes about it."""
        pair = x.has_image
        notes: tuple[str, ...] = ()
        text = x.text
        pixels = x.image is not None and self.preset.pixels
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
        from vsil.detectors.describers.caption_openai import image_data_url

        return image_data_url(ref, self.image_max_side, self.image_format)

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
        if rep.model:
            self.served_models.add(rep.model)
        if rep.refusal:
            self.refused += 1
            return Verdict.failed("refusal", "refusal", raw=rep.refusal, evidence=notes)
        if rep.finish_reason == "content_filter":
            self.refused += 1
            return Verdict.failed("content filter (finish_reason)", "refusal", raw=content,
                                  evidence=notes)
        read = self._parse(content)
        evidence = notes + read.evidence
        if read.unsafe is None:
            if read.refused:
                self.refused += 1
                return Verdict.failed("refusal (reply text)", "refusal", raw=content,
                                      evidence=evidence)
            if read.borderline:
                self.borderline += 1
                return Verdict.failed(read.error or "borderline", "borderline", raw=content,
                                      evidence=evidence)
            self.parse_errors += 1
            err = read.error or "unparseable reply"
            if rep.finish_reason == "length":
                err = f"{err} (reply cut at max_tokens={self.max_tokens})"
            return Verdict.failed(err, "parse", raw=content, evidence=evidence)
        if read.tier == "controversial":
            p: float | None = BORDERLINE_P
        else:
            guard = self.preset.parser not in ("labels", "llamaguard")
            words = YES_NO_WORDS if self.preset.parser == "shieldstral" else SAFE_UNSAFE
            p = p_unsafe_from_logprobs({"content": rep.logprobs} if rep.logprobs else None,
                                       content, read.offset, words, strict=guard)
        return Verdict(unsafe=read.unsafe, p_unsafe=p if p is not None else float(read.unsafe),
                       categories=read.categories, raw=content, evidence=evidence)

    def _parse(self, content: str) -> GuardRead:
        parser = self.preset.parser
        if parser == "llamaguard":
            v = parse_llamaguard(content)
            if v.unsafe is None:
                return GuardRead(None, error=v.error, refused=looks_like_refusal(content))
            offset = len(content) - len(content.lstrip())
            return GuardRead(v.unsafe, offset, categories=v.categories)
        if parser == "proguard":
            return parse_proguard(content)
        if parser == "qwen3guard":
            return parse_qwen3guard(content, self.controversial)
        if parser == "shieldstral":
            return parse_shieldstral(content)
        lr = self.preset.rule.read(content)
        return GuardRead(lr.unsafe, lr.offset, error=lr.error, refused=lr.refused)


def model_pin(requested: str, served: set[str]) -> str:
    """The exact model: the dated name the server reported (``gpt-4o-2024-08-06``) when it
    reported exactly one, else the requested name with what was served."""
    if len(served) == 1:
        return next(iter(served))
    if not served:
        return f"{requested} (served model not seen yet)"
    return f"{requested} (served as: {', '.join(sorted(served))})"


def raise_if_circuit_open(runtime: ChatRuntime, base_url: str, model: str) -> None:
    """Raise `EndpointUnavailable` when ``runtime``'s circuit breaker opened (and reset it,
    so that the next run probes the endpoint again)."""
    if not runtime.circuit_open:
        return
    err = runtime.open_error
    runtime.reset_circuit()
    raise EndpointUnavailable(
        f"judge endpoint {safe_host(base_url)} (model {model!r}) is unavailable: {err} "
        f"({runtime.max_identical_failures} identical failures in a row); verdicts judged so "
        "far are cached, fix the endpoint and run again to resume")


def _raw(response: Any) -> str:
    try:
        return json.dumps(response, ensure_ascii=False, default=str)[:2000]
    except (TypeError, ValueError, RecursionError):
        return repr(response)[:2000]
