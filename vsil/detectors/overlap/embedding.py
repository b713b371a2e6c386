"""Embedding overlap: how close the query is to the text of the image, in MiniLM space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from vsil.detectors._base import Overlap, OverlapInput
from vsil.detectors._encoder import Encoder, UsesEncoder
from vsil.detectors._lexicon import lexicon_path, shared_concepts
from vsil.detectors._registry import register_detector
from vsil.runtime.failures import DetectorUnavailable, classify_exception, describe_exception

VERSION = "1"


@register_detector(
    "embedding",
    "overlap",
    needs="text and image_text",
    outputs="cosine(text, image_text) in [0,1]",
    description="max(0, cosine) of the all-MiniLM-L6-v2 embeddings of the query and the image "
    "text; concepts = risky lexicon concepts both mention.",
)
class EmbeddingOverlap(UsesEncoder):
    """``score = clip(cos(e(text), e(image_text)), 0, 1)`` with unit-norm MiniLM embeddings."""

    name: ClassVar[str] = "embedding"
    kind: ClassVar[Literal["overlap"]] = "overlap"

    def __init__(self, model: str | None = None, encoder: Encoder | None = None) -> None:
        self._model_path = model
        self._encoder = encoder

    @property
    def fingerprint(self) -> str:
        from vsil.detectors._lexicon import lexicon_sha256

        return f"{self.name}/v{VERSION}|{self._encoder_id()}|lex={lexicon_sha256()[:12]}"

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "encoder": self._encoder_id(),
                "formula": "max(0, min(1, <e(text), e(image_text)>)), unit-norm embeddings",
                "lexicon": str(lexicon_path())}

    def score(self, inputs: Sequence[OverlapInput]) -> list[Overlap]:
        out: list[Overlap | None] = [None] * len(inputs)
        idx: list[int] = []
        for i, inp in enumerate(inputs):
            if not inp.image_text or not inp.image_text.strip():
                out[i] = Overlap(score=None, error="no image_text", failure="input")
            elif not inp.text or not inp.text.strip():
                out[i] = Overlap(score=None, error="empty text", failure="input")
            else:
                idx.append(i)
        if idx:
            texts = [inputs[i].text for i in idx] + [inputs[i].image_text or "" for i in idx]
            try:
                vecs = self.encoder.encode(texts)
            except DetectorUnavailable:
                raise
            except Exception as e:  # a broken encode fails the scores (not cached), not the run
                err = f"encoder failed: {describe_exception(e)}"
                kind = classify_exception(e)
                return [o if o is not None else Overlap(score=None, error=err, failure=kind)
                        for o in out]
            n = len(idx)
            cos = np.einsum("ij,ij->i", vecs[:n].astype(np.float64),
                            vecs[n:].astype(np.float64))
            for row, i in enumerate(idx):
                inp = inputs[i]
                shared = shared_concepts(inp.text, inp.image_text or "")
                out[i] = Overlap(score=round(float(np.clip(cos[row], 0.0, 1.0)), 6),
                                 concepts=shared)
        return [o if o is not None else Overlap(score=None, error="internal",
                                                failure="environment") for o in out]
