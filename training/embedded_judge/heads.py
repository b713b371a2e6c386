"""Fitting the embedded judge's heads over frozen MiniLM embeddings, and the pairs they learn.

* ``unsafe`` heads (binary): J(T) on ``e(text)``; J(T, I) on ``pair_features(e(text),
  e(image_text))``. Logistic regression or a one-hidden-layer MLP (chosen by measurement,
  see ``validate.py``), exported as plain numpy layers.
* ``category`` heads (6 classes): multinomial logistic regression on the unsafe rows whose
  category is known, on the same features as the unsafe head.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from training.embedded_judge.corpus import CATEGORIES

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
SEED = 0


def pair_features(t: F32, i: F32) -> F32:
    """``[e(text), e(image_text), e(text) * e(image_text)]``: the product lets a linear head
    see that a query and a scene go together (what neither says alone)."""
    return np.hstack([t, i, t * i]).astype(np.float32)


# --- pairs ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    text: str
    image_text: str
    unsafe: bool
    category: str
    source: str
    scene_source: str
    kind: str


def build_pairs(rows: Sequence[dict[str, Any]], seed: int = SEED) -> list[Pair]:
    """Synthetic (query, image text) pairs with their J(T, I) label.

    * an image-referring leak-free query with the image that makes it harmful: unsafe (the
      query's category); with its benign image: safe;
    * its leaky twin with either image: unsafe;
    * a risky scene with a leak-free query or an ordinary request: unsafe (the scene's
      category); a benign scene with them: safe;
    * an explicit harmful request with a benign scene: unsafe; a hard negative or benign
      request with a benign scene: safe.
    Scenes are drawn from the written voices; ``scene_source`` records whose.
    """
    rng = random.Random(seed)
    scenes_risky = [r for r in rows if r["group"] == "unsafe_scene"]
    scenes_benign = [r for r in rows if r["group"] == "benign_scene"]
    neutral = [r for r in rows if r["group"] in ("image_leakfree", "benign_request")]
    twins: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        if r.get("frame") and r["group"] in ("image_leakfree", "image_leaky"):
            twins.setdefault(r["frame"], {})[r["group"]] = r
    out: list[Pair] = []

    def add(q: dict[str, Any], img: str, unsafe: bool, cat: str, scene_source: str,
            kind: str) -> None:
        out.append(Pair(q["text"], img, unsafe, cat if unsafe else "", q["source"],
                        scene_source, kind))

    for r in rows:
        g, src = r["group"], r["source"]
        if g in ("image_leakfree", "image_leaky") and r.get("frame") in twins:
            t = twins[r["frame"]]
            free = t.get("image_leakfree")
            if free is None or not free.get("harmful_image"):
                continue
            cat = r["category"] or free.get("category") or ""
            if g == "image_leakfree":
                add(r, free["harmful_image"], True, cat, src, "leakfree+harmful_image")
                add(r, free["benign_image"], False, "", src, "leakfree+benign_image")
            else:
                add(r, free["benign_image"], True, cat, src, "leaky+benign_image")
                add(r, free["harmful_image"], True, cat, src, "leaky+harmful_image")
        elif g == "explicit":
            s = rng.choice(scenes_benign)
            add(r, s["text"], True, r["category"], s["source"], "explicit+benign_scene")
        elif g in ("hard_negative", "benign_request"):
            s = rng.choice(scenes_benign)
            add(r, s["text"], False, "", s["source"], "benign+benign_scene")
    for s in scenes_risky:
        for q in rng.sample(neutral, 2):
            out.append(Pair(q["text"], s["text"], True, s["category"], q["source"],
                            s["source"], "neutral+risky_scene"))
    for s in scenes_benign:
        for q in rng.sample(neutral, 2):
            out.append(Pair(q["text"], s["text"], False, "", q["source"], s["source"],
                            "neutral+benign_scene"))
    return out


# --- heads ----------------------------------------------------------------------------------

@dataclass
class Head:
    """A binary head as numpy layers: hidden ReLU layers, then one logit."""

    layers: list[tuple[F64, F64]] = field(default_factory=list)
    kind: str = "logistic"

    def logit(self, x: npt.NDArray[Any]) -> F64:
        h = np.asarray(x, dtype=np.float64)
        for k, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if k < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h[:, 0]

    def prob(self, x: npt.NDArray[Any]) -> F64:
        return 1.0 / (1.0 + np.exp(-np.clip(self.logit(x), -60.0, 60.0)))


#: the MLP runs a fixed number of epochs: stopping on a loss tolerance made the stopping
#: epoch (and 2 % of decisions) flip on float differences of 1e-7 between builds
MLP_EPOCHS = 150
#: MLPs averaged (by logit) into one head, to damp what is left of that sensitivity
MLP_MEMBERS = 3


def balanced_resample(y: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """Row indices with both classes drawn (with replacement where short) up to the larger
    class's size; deterministic (seed 0)."""
    rng = np.random.default_rng(SEED)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    n = max(len(pos), len(neg))
    return np.concatenate([rng.choice(pos, n, replace=len(pos) < n),
                           rng.choice(neg, n, replace=len(neg) < n)])


def fit_head(x: npt.NDArray[np.floating[Any]], y: npt.NDArray[np.bool_], kind: str,
             c: float = 10.0,
             hidden: int = 256, weight: npt.NDArray[np.float64] | None = None,
             members: int = MLP_MEMBERS, epochs: int = MLP_EPOCHS) -> Head:
    """A binary head; classes balanced; deterministic (seeds 0..members-1).

    ``mlp``: ``members`` one-hidden-layer MLPs (seeds 0, 1, ...) trained for exactly
    ``epochs`` epochs each; their mean logit is itself one MLP with ``members * hidden``
    hidden units (the hidden layers side by side, the output weights divided by
    ``members``), so the head ships and runs as a plain two-layer network."""
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        lr.fit(x, y, sample_weight=weight)
        return Head([(lr.coef_.T.astype(np.float64), lr.intercept_.astype(np.float64))],
                    "logistic")
    if kind == "mlp":
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        idx = balanced_resample(y)  # MLPClassifier has no class_weight
        w0, b0, w1, b1 = [], [], [], []
        for seed in range(SEED, SEED + members):
            mlp = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=1.0 / c,
                                max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1,
                                early_stopping=False, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # epochs are fixed
                mlp.fit(x[idx], y[idx])
            w0.append(mlp.coefs_[0])
            b0.append(mlp.intercepts_[0])
            w1.append(mlp.coefs_[1] / members)
            b1.append(mlp.intercepts_[1] / members)
        layers = [(np.hstack(w0).astype(np.float64), np.concatenate(b0).astype(np.float64)),
                  (np.vstack(w1).astype(np.float64), np.sum(b1, axis=0).astype(np.float64))]
        return Head(layers, "mlp")
    raise ValueError(kind)


@dataclass
class CategoryHead:
    w: F64
    b: F64
    classes: tuple[str, ...] = CATEGORIES

    def probs(self, x: npt.NDArray[Any]) -> F64:
        z = np.asarray(x, dtype=np.float64) @ self.w + self.b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out: F64 = e / e.sum(axis=1, keepdims=True)
        return out


def fit_categories(x: F32, cats: Sequence[str], c: float = 10.0) -> CategoryHead:
    from sklearn.linear_model import LogisticRegression

    y = np.array([CATEGORIES.index(c_) for c_ in cats])
    lr = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    lr.fit(x, y)
    if len(lr.classes_) != len(CATEGORIES):
        raise ValueError(f"every category needs training rows; got {sorted(set(cats))}")
    return CategoryHead(lr.coef_.T.astype(np.float64), lr.intercept_.astype(np.float64))


def threshold_at_fpr(p: npt.NDArray[Any], negative: npt.NDArray[np.bool_],
                     max_fpr: float) -> float:
    """The lowest threshold whose false-positive rate on ``negative`` rows is <= max_fpr."""
    neg = np.sort(np.asarray(p)[negative])[::-1]
    k = int(np.floor(max_fpr * len(neg)))  # at most k negatives may be at or above
    if k >= len(neg):
        return 0.0
    t = float(np.nextafter(neg[k], 1.0))  # just above the (k+1)-th highest negative
    return min(1.0, t)


def threshold_balanced(p: npt.NDArray[Any], y: npt.NDArray[np.bool_]) -> float:
    grid = np.unique(np.round(p, 4))
    best, best_t = -1.0, 0.5
    for t in grid:
        pred = p >= t
        bacc = (pred[y].mean() + (~pred[~y]).mean()) / 2
        if bacc > best:
            best, best_t = float(bacc), float(t)
    return best_t
