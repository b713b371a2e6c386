"""The embedded offline judge: MiniLM sentence embeddings + small trained heads (no LLM).

Method (details, data, licences and measured numbers in docs/detectors.md; the training code
is ``training/embedded_judge``):

* every text is encoded once by the shared all-MiniLM-L6-v2 encoder (unit-norm, 384 dims;
  memoised per process, so the embedding overlap scorer reuses it): ``e(x)``;
* a query also goes, from the same forward pass, through the judge's own copy of the encoder's
  top three layers, fine-tuned to tell a text that states a harm from one that does not
  (`vsil.detectors._tuned`): ``t(text)``. Only queries take this extra step (three of six
  layers, on the short texts), never the image texts;
* J(T): ``p_unsafe`` is a logistic output on ``t(text)``, trained with the layers;
* J(T, I): a small MLP on ``[t(text), e(image_text), e(text) * e(image_text)]``: the image is
  seen only through its text (a description, caption or OCR), and the product term lets the
  head see that a query and a scene go together. The pair is never encoded as one new string;
* J(I), the image alone (`JudgeInput.image_alone`, asked by the audit's harm source): a
  logistic head on ``e(image_text)``, trained on written image descriptions that two blind
  annotators labelled harmful *on their own* or not (the J(T) head was trained on requests and
  misses most plain descriptions of harm);
* ``unsafe = p_unsafe >= threshold`` (per head, chosen on out-of-source predictions, see
  ``training/embedded_judge/validate.py``);
* ``categories`` (unsafe verdicts only): a 6-class head over the VLSBench categories on the same
  features; the most probable category plus any other with at least half its probability;
  ``evidence``: the lexicon's risky concepts in the text (and the image text, for a pair).

The weights ship in ``vsil/data/embedded/classifier.npz`` (+ ``classifier.json``: thresholds,
training corpus statistics, validation); inference is numpy only and never retrains.
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

VERSION = "2"
NO_PIXELS = ("embedded judge cannot see pixels and this sample has no image_text; add a "
             "describer or an image_text column")
HEADS = ("text", "pair", "image")
NO_IMAGE_HEAD = ("this classifier has no image head (J(I)); rebuild it with "
                 "`python -m training.embedded_judge train`")

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def _data_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "data" / "embedded"


@lru_cache(maxsize=4)
def _file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@lru_cache(maxsize=2)
def load_classifier(path: str) -> dict[str, Any]:
    """A ``classifier.npz``: the fine-tuned top layers (a torch module and the layer they
    start at), and per head its layers and its category head."""
    from vsil.detectors._tuned import build_module, load_state

    with np.load(path) as z:
        out: dict[str, Any] = {"categories": tuple(str(c) for c in z["categories"])}
        n_top = len({k.split("_")[0] for k in z.files if k.startswith("top") and k[3:4].isdigit()})
        top = build_module(n_top)
        load_state(top, {k: z[k] for k in z.files if k.startswith("top")}, "top")
        top.eval()
        out["top"], out["start"] = top, int(z["top_start"])
        for head in HEADS:
            if f"{head}_W0" not in z:
                continue
            layers = []
            k = 0
            while f"{head}_W{k}" in z:
                layers.append((z[f"{head}_W{k}"].astype(np.float64),
                               z[f"{head}_b{k}"].astype(np.float64)))
                k += 1
            out[head] = layers
            out[f"{head}_cat"] = (z[f"{head}_cat_w"].astype(np.float64),
                                  z[f"{head}_cat_b"].astype(np.float64))
    return out


def pair_features(tuned_text: npt.NDArray[Any], text: npt.NDArray[Any],
                  image_text: npt.NDArray[Any]) -> F64:
    """``[t(text), e(image_text), e(text) * e(image_text)]``."""
    e_t, e_i = np.asarray(text, np.float64), np.asarray(image_text, np.float64)
    return np.hstack([np.asarray(tuned_text, np.float64), e_i, e_t * e_i])


def p_unsafe(layers: list[tuple[F64, F64]], x: npt.NDArray[Any]) -> F64:
    """A binary head's probability: ReLU hidden layers, then a logistic output."""
    h = np.asarray(x, dtype=np.float64)
    for k, (w, b) in enumerate(layers):
        h = h @ w + b
        if k < len(layers) - 1:
            h = np.maximum(h, 0.0)
    out: F64 = 1.0 / (1.0 + np.exp(-np.clip(h[:, 0], -60.0, 60.0)))
    return out


def softmax(x: npt.NDArray[Any], w: F64, b: F64) -> F64:
    z = np.asarray(x, dtype=np.float64) @ w + b
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
    judges_image_text_alone: ClassVar[bool] = True
    #: samples per cached batch: large, so that the encoder sorts many texts by length at once
    #: (little padding); an interrupted run loses at most one batch (~10 s of work)
    batch_size: ClassVar[int] = 2048

    def __init__(self, threshold: float | None = None, model: str | None = None,
                 encoder: Encoder | None = None, classifier: str | Path | None = None) -> None:
        """``threshold`` overrides every calibrated threshold; ``model`` is a local path to the
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
        t = self._meta["thresholds"]
        return {h: float(self.threshold if self.threshold is not None else t[h])
                for h in HEADS if h in t}

    @property
    def fingerprint(self) -> str:
        th = self.thresholds
        return (f"{self.name}/v{VERSION}|{self._encoder_id()}"
                f"|clf={_file_sha256(str(self._npz))[:16]}"
                f"|lex={_file_sha256(str(lexicon_path()))[:12]}"
                f"|t={','.join(f'{v:.4g}' for v in th.values())}")

    def info(self) -> dict[str, Any]:
        corpus = self._meta.get("corpus", {})
        return {
            "name": self.name,
            "version": VERSION,
            "method": self._meta.get("method"),
            "heads": self._meta.get("heads"),
            "encoder": self._encoder_id(),
            "classifier_sha256": _file_sha256(str(self._npz)),
            "classifier_path": str(self._npz),
            "lexicon_sha256": _file_sha256(str(lexicon_path())),
            "thresholds": self.thresholds,
            "training_rows": corpus.get("rows"),
            "training_pairs": corpus.get("pairs"),
            "training_corpus_sha256": corpus.get("sha256"),
            "trained": self._meta.get("date"),
            "uses_image_pixels": False,
        }

    # --- judging -------------------------------------------------------------------------
    def judge(self, inputs: Sequence[JudgeInput]) -> list[Verdict]:
        out: list[Verdict | None] = [None] * len(inputs)
        text_idx: list[int] = []
        pair_idx: list[int] = []
        image_idx: list[int] = []
        for i, inp in enumerate(inputs):
            if inp.image_alone:
                if inp.image_text is not None and inp.image_text.strip():
                    image_idx.append(i)
                else:
                    out[i] = Verdict.failed(NO_PIXELS, "input")
            elif not inp.text or not inp.text.strip():
                out[i] = Verdict.failed("empty text", "input")
            elif inp.image_text is not None and inp.image_text.strip():
                pair_idx.append(i)
            elif inp.image is not None or inp.image_text is not None:
                out[i] = Verdict.failed(NO_PIXELS, "input")
            else:
                text_idx.append(i)
        if text_idx or pair_idx or image_idx:
            clf = load_classifier(str(self._npz))
            if image_idx and "image" not in clf:
                for i in image_idx:
                    out[i] = Verdict.failed(NO_IMAGE_HEAD, "environment")
                image_idx = []
            queries = [inputs[i].text for i in text_idx + pair_idx]
            images = [inputs[i].image_text or "" for i in pair_idx + image_idx]
            try:
                tuned = (self.encoder.encode_tuned(queries, clf["top"], clf["start"],
                                                   tag=_file_sha256(str(self._npz)))
                         if queries else np.zeros((0, 384), np.float32))
                stock = self.encoder.encode(queries[len(text_idx):] + images)
            except DetectorUnavailable:
                raise
            except Exception as e:  # a broken encode fails the calls (not cached), not the run
                err = f"encoder failed: {describe_exception(e)}"
                kind = classify_exception(e)
                for i in text_idx + pair_idx + image_idx:
                    out[i] = Verdict.failed(err, kind)
                return [v if v is not None else Verdict.failed(err, kind) for v in out]
            th = self.thresholds
            nt, npair = len(text_idx), len(pair_idx)
            if nt:
                self._fill(out, text_idx, tuned[:nt], clf, "text", th["text"],
                           [inputs[i].text for i in text_idx])
            if npair:
                x = pair_features(tuned[nt:], stock[:npair], stock[npair:2 * npair])
                self._fill(out, pair_idx, x, clf, "pair", th["pair"],
                           [f"{inputs[i].text}\n{inputs[i].image_text}" for i in pair_idx])
            if image_idx:
                self._fill(out, image_idx, stock[2 * npair:], clf, "image", th["image"],
                           [inputs[i].image_text or "" for i in image_idx])
        return [v if v is not None else Verdict.failed("internal: no verdict", "environment")
                for v in out]

    @staticmethod
    def _fill(out: list[Verdict | None], idx: list[int], x: npt.NDArray[Any], clf: dict[str, Any],
              head: str, threshold: float, texts: list[str]) -> None:
        p = p_unsafe(clf[head], x)
        cat_p = softmax(x, *clf[f"{head}_cat"])
        names: tuple[str, ...] = clf["categories"]
        for row, i in enumerate(idx):
            pu = float(min(1.0, max(0.0, p[row])))
            unsafe = pu >= threshold
            cats: tuple[str, ...] = ()
            if unsafe:
                order = np.argsort(-cat_p[row])
                top = float(cat_p[row][order[0]])
                cats = tuple(names[int(k)] for k in order if float(cat_p[row][k]) >= 0.5 * top)
            raw = f"p_unsafe={pu:.3f} " + " ".join(
                f"{c}={float(v):.3f}" for c, v in zip(names, cat_p[row], strict=True))
            out[i] = Verdict(unsafe=unsafe, p_unsafe=round(pu, 6), categories=cats, raw=raw,
                             evidence=concept_names(find_concepts(texts[row])))
