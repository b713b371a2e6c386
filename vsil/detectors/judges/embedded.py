"""The embedded offline judge: MiniLM sentence embeddings + logistic regression (no LLM).

Method (details and measured numbers in docs/detectors.md):

* every text is encoded once by the shared all-MiniLM-L6-v2 encoder (unit-norm, 384 dims; one
  ``encode`` call per batch, memoised per process, so the embedding overlap scorer reuses it);
* J(T): a 7-class multinomial logistic regression ("safe" + the 6 VLSBench categories) on
  ``e(text)``;
* J(T, I): a second 7-class logistic regression on ``[e(text), e(image_text)]``: the image is seen
  only through its text (a description, caption or OCR). The pair is never encoded as one new
  string, so a pair costs no more encoder time than its two texts;
* ``p_unsafe = 1 - p(safe)``; ``unsafe = p_unsafe >= threshold`` (per head, calibrated on a
  held-out split of the training data, see ``_embedded_train``);
* ``categories``: the most probable unsafe class, plus any other unsafe class with at least half
  its probability, for unsafe verdicts; ``evidence``: the lexicon's risky concepts in the text
  (and the image text, for a pair).

The weights ship in ``vsil/data/embedded/classifier.npz`` (+ ``classifier.json``, metadata);
inference is numpy only and never retrains.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from vsil.detectors._base import JudgeInput, Verdict
from vsil.detectors._encoder import Encoder, UsesEncoder
from vsil.detectors._lexicon import concept_names, find_concepts, lexicon_path
from vsil.detectors._registry import register_detector
from vsil.runtime.failures import DetectorUnavailable, classify_exception, describe_exception

VERSION = "1"
NO_PIXELS = ("embedded judge cannot see pixels and this sample has no image_text; add a "
             "describer or an image_text column")

F64 = npt.NDArray[np.float64]


def _data_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "data" / "embedded"


@lru_cache(maxsize=4)
def _file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@lru_cache(maxsize=2)
def _load_classifier(path: str) -> dict[str, Any]:
    with np.load(path) as z:
        return {
            "classes": tuple(str(c) for c in z["classes"]),
            "text_w": z["text_w"].astype(np.float64), "text_b": z["text_b"].astype(np.float64),
            "pair_w": z["pair_w"].astype(np.float64), "pair_b": z["pair_b"].astype(np.float64),
        }


def _softmax(x: npt.NDArray[Any], w: F64, b: F64) -> F64:
    z = x.astype(np.float64) @ w.T + b
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: F64 = e / e.sum(axis=1, keepdims=True)
    return out


@register_detector(
    "embedded",
    "judge",
    needs="text; image_text for J(T,I)",
    outputs="unsafe, p_unsafe, taxonomy categories, risky concepts",
    description="Offline judge: all-MiniLM-L6-v2 embeddings + logistic regression trained on "
    "vsil's own written data; text-side only (sees the image through image_text).",
)
class EmbeddedJudge(UsesEncoder):
    """Offline text-side safety judge; see the module docstring."""

    name: ClassVar[str] = "embedded"
    kind: ClassVar[Literal["judge"]] = "judge"
    uses_image_pixels: ClassVar[bool] = False
    #: samples per cached batch: large, so that the encoder sorts many texts by length at once
    #: (little padding); an interrupted run loses at most one batch (~10 s of work)
    batch_size: ClassVar[int] = 2048

    def __init__(self, threshold: float | None = None, model: str | None = None,
                 encoder: Encoder | None = None, classifier: str | Path | None = None) -> None:
        """``threshold`` overrides both calibrated thresholds; ``model`` is a local path to the
        MiniLM encoder (default: the packaged one); ``classifier`` a path to another
        ``classifier.npz`` (its ``classifier.json`` beside it)."""
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.threshold = threshold
        self._model_path = model
        self._encoder = encoder
        self._npz = Path(classifier) if classifier else _data_dir() / "classifier.npz"
        self._meta: dict[str, Any] = json.loads(
            self._npz.with_suffix(".json").read_text(encoding="utf-8"))

    # --- provenance -------------------------------------------------------------------------
    @property
    def thresholds(self) -> dict[str, float]:
        if self.threshold is not None:
            return {"text": self.threshold, "pair": self.threshold}
        t = self._meta["thresholds"]
        return {"text": float(t["text"]), "pair": float(t["pair"])}

    @property
    def fingerprint(self) -> str:
        th = self.thresholds
        return (f"{self.name}/v{VERSION}|{self._encoder_id()}"
                f"|clf={_file_sha256(str(self._npz))[:16]}"
                f"|lex={_file_sha256(str(lexicon_path()))[:12]}"
                f"|t={th['text']:.4g},{th['pair']:.4g}")

    def info(self) -> dict[str, Any]:
        counts = self._meta.get("counts", {})
        return {
            "name": self.name,
            "method": self._meta.get("method"),
            "encoder": self._encoder_id(),
            "classifier_sha256": _file_sha256(str(self._npz)),
            "classifier_path": str(self._npz),
            "lexicon_sha256": _file_sha256(str(lexicon_path())),
            "thresholds": self.thresholds,
            "training_rows": counts.get("rows_hand_written", 0)
            + counts.get("rows_templated", 0),
            "training_pairs": counts.get("pairs"),
            "training_data_sha256": self._meta.get("training_data_sha256"),
            "trained": self._meta.get("date"),
            "uses_image_pixels": False,
        }

    # --- judging ----------------------------------------------------------------------------
    def judge(self, inputs: Sequence[JudgeInput]) -> list[Verdict]:
        out: list[Verdict | None] = [None] * len(inputs)
        text_idx: list[int] = []
        pair_idx: list[int] = []
        for i, inp in enumerate(inputs):
            if not inp.text or not inp.text.strip():
                out[i] = Verdict.failed("empty text", "input")
            elif inp.image_text is not None and inp.image_text.strip():
                pair_idx.append(i)
            elif inp.image is not None or inp.image_text is not None:
                out[i] = Verdict.failed(NO_PIXELS, "input")
            else:
                text_idx.append(i)
        if text_idx or pair_idx:
            texts = [inputs[i].text for i in text_idx + pair_idx]
            texts += [inputs[i].image_text or "" for i in pair_idx]
            try:
                vecs = self.encoder.encode(texts)
            except DetectorUnavailable:
                raise
            except Exception as e:  # a broken encode fails the calls (not cached), not the run
                err = f"encoder failed: {describe_exception(e)}"
                kind = classify_exception(e)
                for i in text_idx + pair_idx:
                    out[i] = Verdict.failed(err, kind)
                return [v if v is not None else Verdict.failed(err, kind) for v in out]
            clf = _load_classifier(str(self._npz))
            classes: tuple[str, ...] = clf["classes"]
            th = self.thresholds
            nt, npair = len(text_idx), len(pair_idx)
            if nt:
                p = _softmax(vecs[:nt], clf["text_w"], clf["text_b"])
                for row, i in enumerate(text_idx):
                    out[i] = self._verdict(p[row], classes, th["text"], inputs[i].text)
            if npair:
                x = np.hstack([vecs[nt:nt + npair], vecs[nt + npair:]])
                p = _softmax(x, clf["pair_w"], clf["pair_b"])
                for row, i in enumerate(pair_idx):
                    inp = inputs[i]
                    out[i] = self._verdict(p[row], classes, th["pair"],
                                           f"{inp.text}\n{inp.image_text}")
        return [v if v is not None else Verdict.failed("internal: no verdict", "environment")
                for v in out]

    @staticmethod
    def _verdict(p: F64, classes: tuple[str, ...], threshold: float, text: str) -> Verdict:
        p_unsafe = float(min(1.0, max(0.0, 1.0 - p[0])))
        unsafe = p_unsafe >= threshold
        cats: tuple[str, ...] = ()
        if unsafe:
            order = np.argsort(-p[1:]) + 1
            top = float(p[order[0]])
            cats = tuple(classes[int(k)] for k in order if float(p[k]) >= 0.5 * top)
        raw = " ".join(f"{c}={float(v):.3f}" for c, v in zip(classes, p, strict=True))
        evidence = concept_names(find_concepts(text))
        return Verdict(unsafe=unsafe, p_unsafe=round(p_unsafe, 6), categories=cats, raw=raw,
                       evidence=evidence)
