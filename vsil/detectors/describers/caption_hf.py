"""The ``caption-hf`` describer: a transformers image-to-text model writes a caption.

Any model that ``AutoModelForImageTextToText`` loads as a captioner: BLIP
(``Salesforce/blip-image-captioning-large``), GIT, VisionEncoderDecoder (ViT + GPT-2),
Florence-2 (with ``prompt="<MORE_DETAILED_CAPTION>"``). The model comes from a hub id (needs
the internet once; then the hub cache) or from a local folder. Chat-style MLLMs are better
served through ``caption-openai`` (vLLM/SGLang behind an OpenAI-compatible endpoint).

Images are captioned in batches with greedy decoding (deterministic), so a caption is a pure
function of (model, revision, prompt, decoding parameters, image) and is cached like every
detector output.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from vsil.dataset import ImageRef
from vsil.detectors._base import Description
from vsil.detectors._registry import register_detector
from vsil.runtime.failures import classify_exception, describe_exception

DEFAULT_MODEL = "Salesforce/blip-image-captioning-large"
VERSION = "1"


def _model_revision(model: str) -> str:
    """A stable id of the weights: the hub commit when known, else a hash of the local files."""
    if os.path.isdir(model):
        h = hashlib.sha256()
        for name in sorted(os.listdir(model)):
            if name.endswith((".json", ".safetensors", ".bin", ".txt", ".model")):
                p = os.path.join(model, name)
                h.update(name.encode())
                h.update(str(os.path.getsize(p)).encode())
                with open(p, "rb") as f:
                    h.update(f.read(1 << 20))  # size + first MiB: cheap and changes with weights
        return "local:" + h.hexdigest()[:16]
    return "hub"


@register_detector(
    "caption-hf",
    "describer",
    needs="image pixels; a transformers image-to-text model (hub id online, or a local path)",
    outputs="image_text = a caption",
    description="BLIP / GIT / ViT-GPT2 / Florence-2 captioner via transformers, batched",
)
class HFCaptioner:
    """Caption images with a transformers image-to-text model.

    Args:
        model: hub id or local folder (``describe=["caption-hf:/path/to/blip"]``).
        prompt: optional text prefix / task prompt (BLIP conditional captioning, Florence-2).
        max_new_tokens: caption length cap.
        device: ``"cuda"``, ``"cpu"``...; default CUDA when available.
        dtype: ``"float32"`` (default), ``"float16"`` or ``"bfloat16"``.
        batch_size: images per ``generate`` call.
        revision: hub revision (commit or tag) to pin.
    """

    name: ClassVar[str] = "caption-hf"
    kind: ClassVar[Literal["describer"]] = "describer"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        prompt: str | None = None,
        max_new_tokens: int = 40,
        device: str | None = None,
        dtype: str = "float32",
        batch_size: int = 8,
        revision: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.model_id = model
        self.prompt = prompt
        self.max_new_tokens = int(max_new_tokens)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = dtype
        self.batch_size = int(batch_size)
        self.revision = revision
        kw: dict[str, Any] = {"revision": revision} if revision else {}
        auto_proc: Any = AutoProcessor
        auto_model: Any = AutoModelForImageTextToText
        try:
            self.processor: Any = auto_proc.from_pretrained(model, **kw)
            self.model: Any = auto_model.from_pretrained(
                model, dtype=getattr(torch, dtype), **kw).to(self.device).eval()
        except OSError as e:
            raise OSError(
                f"cannot load captioning model {model!r}: {e}. A hub id needs the internet "
                "once (then the hub cache); or pass a local folder") from e
        self.tokenizer: Any = getattr(self.processor, "tokenizer", None)
        if self.tokenizer is None:  # e.g. VisionEncoderDecoder: image processor only
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(model, **kw)
        commit = getattr(self.model.config, "_commit_hash", None)
        self._weights = _model_revision(model) if os.path.isdir(model) else (
            revision or commit or "hub")

    @property
    def fingerprint(self) -> str:
        blob = json.dumps({"model": self.model_id, "weights": self._weights,
                           "prompt": self.prompt, "max_new_tokens": self.max_new_tokens,
                           "dtype": self.dtype, "decoding": "greedy"}, sort_keys=True)
        return (f"caption-hf/v{VERSION}:{os.path.basename(self.model_id.rstrip('/'))}:"
                f"{hashlib.sha256(blob.encode()).hexdigest()[:16]}")

    def info(self) -> dict[str, Any]:
        return {"backend": "transformers", "model": self.model_id, "weights": self._weights,
                "architecture": type(self.model).__name__, "prompt": self.prompt,
                "max_new_tokens": self.max_new_tokens, "dtype": self.dtype,
                "device": self.device, "decoding": "greedy"}

    def __repr__(self) -> str:
        return f"HFCaptioner(model={self.model_id!r}, device={self.device!r})"

    def _caption(self, images: list[Any]) -> list[str]:
        import torch

        kw: dict[str, Any] = {"images": images, "return_tensors": "pt"}
        if self.prompt:
            kw["text"] = [self.prompt] * len(images)
        inputs = self.processor(**kw).to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        with torch.inference_mode():
            ids = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens,
                                      do_sample=False, num_beams=1)
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [" ".join(str(t).split()) for t in texts]

    def describe(self, images: Sequence[ImageRef]) -> list[Description]:
        out: list[Description | None] = [None] * len(images)
        pils: list[Any] = []
        where: list[int] = []
        for i, ref in enumerate(images):
            try:
                pils.append(ref.open())
                where.append(i)
            except Exception as e:
                out[i] = Description(text=None, source=self.name, error=f"image: {e}",
                                     failure="input")
        for s in range(0, len(pils), self.batch_size):
            chunk = where[s:s + self.batch_size]
            try:
                caps = self._caption(pils[s:s + self.batch_size])
            except Exception as e:
                for i in chunk:
                    out[i] = Description(text=None, source=self.name,
                                         error=f"caption: {describe_exception(e)}",
                                         failure=classify_exception(e))
                continue
            for i, cap in zip(chunk, caps, strict=True):
                out[i] = Description(text=cap, source=self.name,
                                     extra={"model": self.model_id})
        return [d for d in out if d is not None]
