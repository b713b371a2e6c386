"""ShieldGemma 2 (4B) as an image judge, J(I), through transformers (extra ``[guards]``).

- ``shieldgemma2``: google/shieldgemma-2-4b-it (``ShieldGemma2ForImageClassification`` +
  ``AutoProcessor``); ``shieldgemma2:PATH`` for a local folder or another hub id.

ShieldGemma 2 judges the **image alone** against each policy and ignores the text: each input
needs image pixels, and the verdict is J(I) whichever text comes with it. For every policy
the model gives P(Yes), the probability that the image violates it (the first of
``output.probabilities``' two columns, Yes then No). Built-in policies: ``dangerous``,
``sexual``, ``violence``; ``custom_policies={"weapons": "No Weapons: The image shall not
..."}`` adds more (they are judged too unless ``policies=`` says otherwise).

The verdict: ``unsafe`` when any policy's P(Yes) reaches ``threshold`` (0.5); ``p_unsafe`` is
the largest P(Yes); ``categories`` are the policies at or above the threshold; ``raw`` is
JSON ``{"p_yes": {policy: P(Yes)}, "threshold": t}`` (read it back with `policy_scores`).
`vsil.taxonomy.SHIELDGEMMA2_TO_VLSBENCH` maps the built-in policies to VLSBench categories.
Scores are memoised by image hash, so one image paired with many texts is judged once.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, cast

from vsil.detectors._base import JudgeInput, Verdict
from vsil.detectors._registry import register_detector
from vsil.detectors.judges.llamaguard import placement
from vsil.detectors.judges.llamaguard_source import ModelSource, resolve
from vsil.runtime.failures import DetectorUnavailable, classify_exception, describe_exception

HUB_ID = "google/shieldgemma-2-4b-it"
BUILTIN_POLICIES: tuple[str, ...] = ("dangerous", "sexual", "violence")
#: the evidence note on every verdict whose input came with text
TEXT_IGNORED = "ShieldGemma 2 judged the image alone (the text is ignored)"


def policy_scores(verdict: Verdict) -> dict[str, float]:
    """P(Yes) per policy from a ShieldGemma 2 verdict's ``raw`` ({} for a failed one)."""
    scores = verdict.raw_object().get("p_yes")
    if not isinstance(scores, dict):
        return {}
    return {str(k): float(v) for k, v in scores.items() if isinstance(v, int | float)}


class ShieldGemma2Judge:
    """Image-only judge: P(Yes) per policy; unsafe when any reaches ``threshold``.

    Args:
        model: hub id or local folder (default ``google/shieldgemma-2-4b-it``).
        policies: the policies to judge (default: the three built-in ones plus every custom
            one).
        custom_policies: name -> policy text, added to the checkpoint's built-in ones (a
            built-in name is overridden).
        threshold: P(Yes) from which a policy counts as violated.
        device, dtype: default CUDA + bfloat16 when available, else CPU + float32.
        batch_size: images per forward pass (each is run once per policy).
        revision: hub revision.
    """

    name: ClassVar[str] = "shieldgemma2"
    kind: ClassVar[Literal["judge"]] = "judge"
    uses_image_pixels: ClassVar[bool] = True

    def __init__(self, model: str = HUB_ID, *, policies: Sequence[str] | None = None,
                 custom_policies: Mapping[str, str] | None = None, threshold: float = 0.5,
                 device: str | None = None, dtype: str | None = None, batch_size: int = 4,
                 revision: str | None = None, memo_size: int = 10_000) -> None:
        if not 0.0 < float(threshold) <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.source: ModelSource = resolve(model, revision=revision, judge="shieldgemma2")
        self.custom_policies = {str(k): str(v) for k, v in (custom_policies or {}).items()}
        self.policies = tuple(policies) if policies is not None else tuple(
            dict.fromkeys([*BUILTIN_POLICIES, *self.custom_policies]))
        if not self.policies:
            raise ValueError("no policy to judge")
        self.threshold = float(threshold)
        self.requested_device = device
        self.requested_dtype = dtype
        self.batch_size = int(batch_size)
        self._memo: OrderedDict[str, list[float]] = OrderedDict()
        self._memo_size = int(memo_size)
        self._loaded: tuple[Any, Any, Any, Any] | None = None  # model, processor, device, dtype
        self._load_error: str | None = None

    # ---- identity -------------------------------------------------------------------------

    def _device_dtype(self) -> tuple[str, str]:
        import torch

        dev = self.requested_device or ("cuda" if torch.cuda.is_available() else "cpu")
        dt = self.requested_dtype or ("bfloat16" if dev.startswith("cuda") else "float32")
        return dev, str(dt).removeprefix("torch.")

    def _policy_spec(self) -> dict[str, Any]:
        return {"policies": list(self.policies), "custom": dict(sorted(
            self.custom_policies.items()))}

    @property
    def fingerprint(self) -> str:
        """Model + revision + policies + threshold + dtype; computed without loading."""
        blob = json.dumps({"backend": "transformers-shieldgemma2", "model": self.source.label,
                           "revision": self.source.revision, **self._policy_spec(),
                           "threshold": self.threshold, "dtype": self._device_dtype()[1],
                           "score": "p_yes"}, sort_keys=True)
        return f"shieldgemma2:{hashlib.sha256(blob.encode()).hexdigest()[:24]}"

    def info(self) -> dict[str, Any]:
        """Provenance: model, revision (``model_pin``), policies, threshold, device."""
        device, dtype = self._device_dtype()
        commit = None
        if self._loaded is not None:
            commit = getattr(self._loaded[0].config, "_commit_hash", None)
        revision = commit if isinstance(commit, str) and commit else self.source.revision
        return {
            "backend": "transformers",
            "model_id": self.source.label,
            "revision": revision,
            "model_pin": f"{self.source.label}@{revision}",
            "judges": "J(I): the image alone; the text is ignored",
            "policies": list(self.policies),
            "custom_policies_sha256": hashlib.sha256(json.dumps(
                self._policy_spec()["custom"], sort_keys=True).encode()).hexdigest(),
            "threshold": self.threshold,
            "score": "P(Yes) per policy; p_unsafe is the largest",
            "device": str(self._loaded[2]) if self._loaded else device,
            "dtype": dtype,
            "batch_size": self.batch_size,
        }

    def __repr__(self) -> str:
        return f"ShieldGemma2Judge({self.source.label!r}, policies={list(self.policies)})"

    # ---- loading --------------------------------------------------------------------------

    def warmup(self) -> None:
        """Load the model and processor now rather than on the first batch."""
        self._load()

    def _load(self) -> tuple[Any, Any, Any, Any]:
        if self._loaded is None:
            if self._load_error is not None:
                raise DetectorUnavailable(self._load_error)
            try:
                self._loaded = self._build()
            except Exception as e:
                self._load_error = (f"judge shieldgemma2: model {self.source.label!r} could "
                                    f"not be loaded: {describe_exception(e)}")
                raise DetectorUnavailable(self._load_error) from e
        return self._loaded

    def _build(self) -> tuple[Any, Any, Any, Any]:
        import torch
        import transformers

        tf = cast(Any, transformers)
        device, dtype_name = self._device_dtype()
        dtype = getattr(torch, dtype_name)
        kw: dict[str, Any] = {}
        if not self.source.local and not self.source.revision.startswith("local:"):
            kw["revision"] = self.source.revision
        proc = tf.AutoProcessor.from_pretrained(self.source.path, **kw)
        model = tf.ShieldGemma2ForImageClassification.from_pretrained(
            self.source.path, dtype=dtype, **placement(device), **kw)
        model.eval()
        known = set(getattr(proc, "policy_definitions", {})) | set(self.custom_policies)
        unknown = [p for p in self.policies if p not in known]
        if unknown:
            raise ValueError(f"unknown policies {unknown}; known: {sorted(known)} (add them "
                             "with custom_policies=)")
        return model, proc, torch.device(device), dtype

    # ---- judging --------------------------------------------------------------------------

    def judge(self, inputs: Sequence[JudgeInput]) -> list[Verdict]:
        """One verdict per input, in order; an input without image pixels fails alone."""
        model, proc, device, dtype = self._load()
        out: list[Verdict | None] = [None] * len(inputs)
        todo: dict[str, list[int]] = {}
        images: dict[str, Any] = {}
        for i, x in enumerate(inputs):
            if x.image is None:
                out[i] = Verdict.failed("shieldgemma2 judges image pixels; this input has "
                                        "none", "input")
                continue
            try:
                key = x.image.sha256
                if key not in self._memo and key not in images:
                    images[key] = x.image.open().convert("RGB")
            except Exception as e:  # an unreadable image fails alone
                out[i] = Verdict.failed(f"shieldgemma2 input: {describe_exception(e)}",
                                        classify_exception(e))
                continue
            todo.setdefault(key, []).append(i)
        keys = list(images)
        failed: dict[str, Verdict] = {}
        for start in range(0, len(keys), self.batch_size):
            chunk = keys[start:start + self.batch_size]
            for key, scores in zip(chunk, self._score_or_split(
                    model, proc, device, dtype, [images[k] for k in chunk]), strict=True):
                if isinstance(scores, Verdict):
                    failed[key] = scores
                else:
                    self._remember(key, scores)
        for key, rows in todo.items():
            for i in rows:
                out[i] = failed[key] if key in failed else self._verdict(
                    self._memo[key], inputs[i])
        return [v if v is not None else Verdict.failed("shieldgemma2: no output",
                                                       "environment") for v in out]

    def _remember(self, key: str, scores: list[float]) -> None:
        self._memo[key] = scores
        self._memo.move_to_end(key)
        while len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)

    def _verdict(self, scores: list[float], x: JudgeInput) -> Verdict:
        p_yes = dict(zip(self.policies, scores, strict=True))
        hit = tuple(p for p, s in p_yes.items() if s >= self.threshold)
        raw = json.dumps({"p_yes": {k: round(v, 6) for k, v in p_yes.items()},
                          "threshold": self.threshold})
        return Verdict(unsafe=bool(hit), p_unsafe=max(scores), categories=hit, raw=raw,
                       evidence=(TEXT_IGNORED,) if x.text.strip() else ())

    def _score_or_split(self, model: Any, proc: Any, device: Any, dtype: Any,
                        images: list[Any]) -> list[list[float] | Verdict]:
        """P(Yes) per policy per image; a failing batch is run image by image."""
        try:
            return list(self._score(model, proc, device, dtype, images))
        except Exception as e:
            if len(images) == 1:
                return [Verdict.failed(f"shieldgemma2 forward: {describe_exception(e)}",
                                       classify_exception(e))]
            return [s for im in images
                    for s in self._score_or_split(model, proc, device, dtype, [im])]

    def _score(self, model: Any, proc: Any, device: Any, dtype: Any, images: list[Any]
               ) -> list[list[float]]:
        import torch

        kw: dict[str, Any] = {"policies": list(self.policies)}
        if self.custom_policies:
            kw["custom_policies"] = dict(self.custom_policies)
        enc = proc(images=images, return_tensors="pt", **kw)
        batch = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device))
                 for k, v in enc.items() if isinstance(v, torch.Tensor)}
        with torch.inference_mode():
            probs = model(**batch).probabilities.float()
        p_yes = probs[:, 0].reshape(len(images), len(self.policies))  # rows: image x policy
        return [[float(v) for v in row] for row in p_yes.tolist()]


@register_detector(
    "shieldgemma2", "judge", extra="guards",
    needs="image pixels (the text is ignored: a J(I) judge); GPU recommended (4B)",
    outputs="unsafe if any policy's P(Yes) >= threshold, p_unsafe = the largest P(Yes), the "
            "policies flagged; raw: P(Yes) per policy",
    description="ShieldGemma 2 via transformers (ShieldGemma2ForImageClassification); "
                "policies dangerous, sexual, violence plus custom_policies=; threshold= "
                "(0.5); 'shieldgemma2:PATH' for a local folder")
def shieldgemma2(model: str = HUB_ID, **kw: Any) -> ShieldGemma2Judge:
    return ShieldGemma2Judge(model, **kw)
