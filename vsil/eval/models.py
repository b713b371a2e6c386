"""Models under test: any OpenAI-compatible chat endpoint, or transformers locally.

A backend turns `ModelInput`s into answer records and hands each one to ``on_result`` as soon
as it is finished, so the caller can save it before anything else happens. A record has
``answer`` (str) or ``error`` (str, with ``kind``); an API error is never turned into an
answer. Defaults follow the official code: greedy decoding, 128 new tokens, and no system
prompt (Llama-3.2-Vision rejects a system message next to an image: vllm-project/vllm#11158).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from vsil.dataset import ImageRef
from vsil.eval.images import MAX_SIDE, image_data_url
from vsil.eval.lazy_runtime import LazyRuntime, fingerprint_of
from vsil.runtime.endpoint import Endpoint

if TYPE_CHECKING:
    from vsil.runtime.http import ChatResult, ChatRuntime

OnResult = Callable[["ModelInput", dict[str, Any]], None]


@dataclass(frozen=True)
class ModelInput:
    """One prompt for the model under test: the text and, in image mode, the image."""

    id: str
    text: str
    image: ImageRef | None = None


@runtime_checkable
class ModelBackend(Protocol):
    """What `vsil.evaluate` needs from a model under test."""

    name: str

    @property
    def fingerprint(self) -> str: ...

    def info(self) -> dict[str, Any]: ...

    def run(self, inputs: Sequence[ModelInput], on_result: OnResult) -> None: ...


class OpenAIModel(LazyRuntime):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        model: the served model name (``gpt-4o``, ``Qwen/Qwen2-VL-7B-Instruct`` on vLLM ...).
        base_url, api_key: default to ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``.
        system_prompt: None (the default) sends no system message.
        max_new_tokens, temperature, top_p: decoding (greedy, 128 tokens by default).
        image_first: put the image before the text in the user turn (as the local loaders do).
        max_image_side: larger images are downscaled and re-encoded as JPEG.
        concurrency, max_retries, timeout: passed to the shared `ChatRuntime`.
        extra_body: extra request fields (e.g. ``{"seed": 0}``), recorded.
    """

    run_keys = ("concurrency",)

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 system_prompt: str | None = None, max_new_tokens: int = 128,
                 temperature: float = 0.0, top_p: float = 1.0, image_first: bool = True,
                 max_image_side: int = MAX_SIDE, concurrency: int = 16, max_retries: int = 5,
                 timeout: float = 120.0, extra_body: dict[str, Any] | None = None,
                 runtime: ChatRuntime | None = None) -> None:
        self.model = model
        self.name = f"openai:{model}"
        self.endpoint = Endpoint.resolve(base_url, api_key, concurrency=concurrency,
                                         max_retries=max_retries, timeout=timeout)
        self.system_prompt = system_prompt
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.image_first = image_first
        self.max_image_side = max_image_side
        self.extra_body = dict(extra_body or {})
        self._runtime = runtime

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model!r}, host={self.endpoint.host!r})"

    def info(self) -> dict[str, Any]:
        return {
            "backend": "openai", "model": self.model, "host": self.endpoint.host,
            "system_prompt": self.system_prompt, "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature, "top_p": self.top_p,
            "image_first": self.image_first, "max_image_side": self.max_image_side,
            "extra_body": self.extra_body, "concurrency": self.concurrency,
        }

    def body(self, inp: ModelInput, image_url: str | None) -> dict[str, Any]:
        """The request body for one input."""
        text_part = {"type": "text", "text": inp.text}
        if image_url is None:
            content: Any = inp.text
        else:
            img_part = {"type": "image_url", "image_url": {"url": image_url}}
            content = [img_part, text_part] if self.image_first else [text_part, img_part]
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": content})
        return {"model": self.model, "messages": messages, "max_tokens": self.max_new_tokens,
                "temperature": self.temperature, "top_p": self.top_p, **self.extra_body}

    def run(self, inputs: Sequence[ModelInput], on_result: OnResult) -> None:
        bodies: list[dict[str, Any]] = []
        sent: list[ModelInput] = []
        for inp in inputs:
            try:
                url = None if inp.image is None else image_data_url(
                    inp.image, max_side=self.max_image_side)
            except Exception as e:  # an unreadable image is this item's error, not the run's
                on_result(inp, {"error": f"image: {e}", "kind": "input", "failure": "input"})
                continue
            bodies.append(self.body(inp, url))
            sent.append(inp)

        def done(i: int, r: ChatResult) -> None:
            on_result(sent[i], self._record(r))

        from vsil.eval.client import stream_chat

        stream_chat(self.runtime, bodies, done, desc=f"answers {self.model}")

    @staticmethod
    def _record(r: ChatResult) -> dict[str, Any]:
        """The answer record of one result; never raises (a reply of any shape ends as an
        answer or as this item's error)."""
        from vsil.eval.judge import retryable
        from vsil.runtime.replies import failure_of, reply_of

        if r.response is None:
            failure = failure_of(r)
            return {"error": r.error or "request failed", "kind": r.kind, "status": r.status,
                    "failure": failure, "retryable": retryable(failure),
                    "attempts": r.attempts}
        try:
            rep = reply_of(r.response)
        except Exception as e:  # reply_of does not raise; this is the last line of defence
            return {"error": f"unreadable reply: {type(e).__name__}", "kind": "bad_response",
                    "failure": "transient", "retryable": True}
        if rep.problem is not None:
            return {"error": f"malformed reply: {rep.problem}", "kind": "bad_response",
                    "failure": "transient", "retryable": True, "attempts": r.attempts}
        answer = rep.text if rep.text else (rep.refusal or "")
        return {"answer": answer, "refusal_field": rep.refusal is not None and not rep.text,
                "finish_reason": rep.finish_reason, "usage": rep.usage,
                "served_model": rep.model, "latency_s": round(r.latency_s, 3)}


class HFModel:
    """A vision-language model run locally with transformers, one item at a time.

    The generic path: ``AutoProcessor`` + ``AutoModelForImageTextToText`` (or ``model_class``),
    the processor's chat template with the image first, then the text; greedy decoding.
    Tested here on a tiny random-weight LLaVA (``LlavaForConditionalGeneration``); the same
    path serves llava-hf, llava-next, qwen2-vl and mllama checkpoints.

    Args:
        model: a path or hub id, or an already-built model (then pass ``processor``).
        processor: a processor to use instead of loading one.
        model_class: a transformers class to load with instead of the auto class.
        device, dtype: where and how to load (``dtype="auto"`` keeps the checkpoint's).
    """

    def __init__(self, model: Any, *, processor: Any = None, model_class: Any = None,
                 device: str = "cpu", dtype: Any = "auto", system_prompt: str | None = None,
                 max_new_tokens: int = 128, temperature: float = 0.0,
                 trust_remote_code: bool = False, name: str | None = None) -> None:
        self.model_id = model if isinstance(model, str) else type(model).__name__
        self.name = name or f"hf:{self.model_id}"
        self.device = device
        self.system_prompt = system_prompt
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self._spec = (model, processor, model_class, dtype, trust_remote_code)
        self._model: Any = None if isinstance(model, str) else model
        self._processor: Any = processor

    def __repr__(self) -> str:
        return f"HFModel({self.model_id!r}, device={self.device!r})"

    def info(self) -> dict[str, Any]:
        return {"backend": "transformers", "model": self.model_id,
                "model_class": type(self._model).__name__ if self._model is not None else None,
                "system_prompt": self.system_prompt, "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature, "do_sample": self.temperature > 0,
                "image_first": True}

    @property
    def fingerprint(self) -> str:
        info = self.info()
        info.pop("model_class")
        return fingerprint_of(info)

    def _load(self) -> tuple[Any, Any]:
        model, _, model_class, dtype, trc = self._spec
        if self._processor is None:
            from transformers import AutoProcessor

            self._processor = AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call]
                model, trust_remote_code=trc)
        if self._model is None:
            if model_class is None:
                from transformers import AutoModelForImageTextToText as model_class
            self._model = model_class.from_pretrained(model, dtype=dtype,
                                                      trust_remote_code=trc)
            self._model.to(self.device)
        self._model.eval()
        return self._model, self._processor

    def run(self, inputs: Sequence[ModelInput], on_result: OnResult) -> None:
        import torch

        from vsil.runtime.progress import progress

        model, proc = self._load()
        bar = progress(len(inputs), f"answers {self.model_id}")
        try:
            for inp in inputs:
                try:
                    rec = self._one(model, proc, inp, torch)
                except Exception as e:  # one item's failure is recorded, the run goes on
                    from vsil.eval.judge import retryable
                    from vsil.runtime.failures import classify_exception

                    failure = classify_exception(e)
                    rec = {"error": f"{type(e).__name__}: {e}", "kind": "model",
                           "failure": failure, "retryable": retryable(failure)}
                on_result(inp, rec)
                bar.update(1)
        finally:
            bar.close()

    def _one(self, model: Any, proc: Any, inp: ModelInput, torch: Any) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        images = None
        if inp.image is not None:
            try:
                images = [inp.image.open()]
            except Exception as e:
                return {"error": f"image: {e}", "kind": "input", "failure": "input"}
            content.append({"type": "image"})
        content.append({"type": "text", "text": inp.text})
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system",
                             "content": [{"type": "text", "text": self.system_prompt}]})
        messages.append({"role": "user", "content": content})
        prompt = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        batch = proc(text=prompt, images=images, return_tensors="pt").to(model.device)
        gen: dict[str, Any] = {"max_new_tokens": self.max_new_tokens}
        if self.temperature > 0:
            gen.update(do_sample=True, temperature=self.temperature)
        else:
            gen.update(do_sample=False)
        with torch.inference_mode():
            out = model.generate(**batch, **gen)
        n_in = batch["input_ids"].shape[1]
        new = out[:, n_in:]
        text = proc.batch_decode(new, skip_special_tokens=True)[0]
        return {"answer": text.strip(), "usage": {"prompt_tokens": int(n_in),
                                                  "completion_tokens": int(new.shape[1])}}


def make_model(model: str | ModelBackend, *, base_url: str | None = None,
               api_key: str | None = None, concurrency: int = 16, max_new_tokens: int = 128,
               temperature: float = 0.0, system_prompt: str | None = None,
               **kwargs: Any) -> ModelBackend:
    """A backend from ``"openai:NAME"``, ``"hf:PATH"`` (or ``"transformers:PATH"``), or as is."""
    if not isinstance(model, str):
        if not isinstance(model, ModelBackend):
            raise TypeError("model must be 'openai:NAME', 'hf:PATH' or a ModelBackend")
        return model
    backend, sep, name = model.partition(":")
    if not sep or not name:
        raise ValueError(f"model {model!r}: write 'openai:NAME' or 'hf:PATH_OR_ID'")
    if backend == "openai":
        return OpenAIModel(name, base_url=base_url, api_key=api_key, concurrency=concurrency,
                           max_new_tokens=max_new_tokens, temperature=temperature,
                           system_prompt=system_prompt, **kwargs)
    if backend in ("hf", "transformers"):
        return HFModel(name, max_new_tokens=max_new_tokens, temperature=temperature,
                       system_prompt=system_prompt, **kwargs)
    raise ValueError(f"unknown model backend {backend!r}: use 'openai:' or 'hf:'")
