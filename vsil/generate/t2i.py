"""Text-to-image backends: a diffusers pipeline (any model id or local path) or an
OpenAI-compatible ``/images/generations`` endpoint (``b64_json`` answers).

Both return one `Drawn` per prompt, in order, and never raise for a per-prompt failure.
"""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vsil.generate.config import T2IConfig


@dataclass
class Drawn:
    """A generated image, or why there is none."""

    image: Any = None  # PIL.Image.Image
    error: str | None = None


class TextToImage(Protocol):
    def draw(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[Drawn]:
        """One image per prompt, in order."""
        ...

    def info(self) -> dict[str, Any]: ...


class DiffusersT2I:
    """A diffusers text-to-image pipeline, loaded on first use.

    ``cfg.model`` is a hub id (``stabilityai/stable-diffusion-3.5-large``, as in the paper) or
    a local directory with a ``model_index.json``. Safety checkers of SD 1.x pipelines are
    switched off: they blank exactly the risky images a safety benchmark needs, and step 3's
    reviewer and step 4's judge check every image anyway.
    """

    def __init__(self, cfg: T2IConfig) -> None:
        self.cfg = cfg
        self._pipe: Any = None

    def _load(self) -> Any:
        if self._pipe is not None:
            return self._pipe
        try:
            import torch
            from diffusers import AutoPipelineForText2Image, DiffusionPipeline
        except ImportError as e:
            raise ImportError("text-to-image with diffusers needs the [generate] extra "
                              "(pip install 'vsil[generate]')") from e
        device = self.cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = getattr(torch, self.cfg.dtype) if self.cfg.dtype else (
            torch.bfloat16 if device.startswith("cuda") else torch.float32)
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(  # type: ignore[no-untyped-call]
                self.cfg.model, torch_dtype=dtype)
        except (ValueError, KeyError):  # a pipeline class AutoPipeline does not map
            pipe = DiffusionPipeline.from_pretrained(  # type: ignore[no-untyped-call]
                self.cfg.model, torch_dtype=dtype)
        if getattr(pipe, "safety_checker", None) is not None:
            pipe.safety_checker = None
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe.to(device)
        self._device = device
        return self._pipe

    def draw(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[Drawn]:
        import torch

        pipe = self._load()
        out: list[Drawn] = []
        for prompt, seed in zip(prompts, seeds, strict=True):
            try:
                gen = torch.Generator(device="cpu").manual_seed(int(seed))
                kw: dict[str, Any] = {
                    "prompt": prompt, "num_inference_steps": self.cfg.steps,
                    "guidance_scale": self.cfg.guidance_scale, "width": self.cfg.width,
                    "height": self.cfg.height, "generator": gen}
                if self.cfg.negative_prompt:
                    kw["negative_prompt"] = self.cfg.negative_prompt
                with torch.inference_mode():
                    img = pipe(**kw).images[0]
                out.append(Drawn(img.convert("RGB")))
            except Exception as e:  # one bad prompt must not stop the run
                out.append(Drawn(error=f"{type(e).__name__}: {str(e)[:300]}"))
        return out

    def info(self) -> dict[str, Any]:
        import diffusers

        d = self.cfg.public()
        d["diffusers_version"] = diffusers.__version__
        if self._pipe is not None:
            d["pipeline_class"] = type(self._pipe).__name__
        return d


class OpenAIImagesT2I:
    """An OpenAI-compatible ``POST {base_url}/images/generations`` endpoint.

    Retries 429, 408 and 5xx with backoff (honouring ``Retry-After``); other 4xx fail at once.
    """

    def __init__(self, cfg: T2IConfig) -> None:
        if not cfg.base_url:
            raise ValueError("t2i backend 'openai' needs base_url")
        self.cfg = cfg

    def _body(self, prompt: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.cfg.model, "prompt": prompt, "n": 1,
                                "size": f"{self.cfg.width}x{self.cfg.height}"}
        if not self.cfg.model.startswith("gpt-image"):  # those always answer b64_json
            body["response_format"] = "b64_json"
        return body

    async def _one(self, client: Any, sem: asyncio.Semaphore, prompt: str,
                   key: str | None = None) -> Drawn:
        from PIL import Image

        from vsil.runtime.http import parse_retry_after, redact

        url = f"{str(self.cfg.base_url).rstrip('/')}/images/generations"
        last = "no attempt"
        async with sem:
            for attempt in range(self.cfg.max_retries + 1):
                try:
                    r = await client.post(url, json=self._body(prompt))
                except Exception as e:  # connection errors and timeouts retry
                    last = f"connection error: {type(e).__name__}"
                    await asyncio.sleep(min(30.0, 0.5 * 2 ** attempt))
                    continue
                if r.status_code == 429 or r.status_code == 408 or r.status_code >= 500:
                    last = f"HTTP {r.status_code}"
                    wait = parse_retry_after(r.headers)
                    await asyncio.sleep(min(60.0, wait if wait is not None
                                            else 0.5 * 2 ** attempt))
                    continue
                if r.status_code >= 400:
                    return Drawn(error=f"HTTP {r.status_code}: {redact(r.text, key)[:300]}")
                try:
                    b64 = r.json()["data"][0]["b64_json"]
                    img = Image.open(io.BytesIO(base64.b64decode(b64)))
                    img.load()
                    return Drawn(img.convert("RGB"))
                except Exception as e:
                    return Drawn(error=f"bad images reply: {type(e).__name__}: "
                                       f"{redact(str(e), key)[:200]}")
        return Drawn(error=f"gave up after {self.cfg.max_retries + 1} attempts: {last}")

    def draw(self, prompts: Sequence[str], seeds: Sequence[int]) -> list[Drawn]:
        import httpx

        from vsil.generate.config import Endpoint
        from vsil.runtime.http import run_sync

        key = Endpoint(api_key_env=self.cfg.api_key_env).api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}

        async def main() -> list[Drawn]:
            sem = asyncio.Semaphore(self.cfg.concurrency)
            async with httpx.AsyncClient(timeout=self.cfg.timeout, headers=headers) as client:
                return list(await asyncio.gather(*(self._one(client, sem, p, key)
                                                   for p in prompts)))

        return run_sync(main)

    def info(self) -> dict[str, Any]:
        from vsil.runtime.endpoint import safe_host

        return self.cfg.public() | {"host": safe_host(str(self.cfg.base_url))}


def create_t2i(cfg: T2IConfig) -> TextToImage:
    """The backend ``cfg.backend`` names."""
    if cfg.backend == "openai":
        return OpenAIImagesT2I(cfg)
    return DiffusersT2I(cfg)
