"""Leave-one-source-out validation of the embedded judge's heads.

Every row of the corpus belongs to one source (a written voice, the templates, or a package).
For each source S, the heads are fitted on every other source and score S: each row's score
comes from a model that never saw its source (its *out-of-source* score). From those scores:

* per source: AUROC (unsafe vs safe rows of S; for a source with harmful rows only, against
  the out-of-source scores of every safe row of the other sources) and the TPR at the
  threshold;
* the threshold itself: chosen on the out-of-source scores only, as the lowest threshold
  whose false-positive rate is at most ``MAX_FPR`` on each of the hard cases, image-referring
  leak-free queries and hard negatives, taken one group at a time (not pooled: a pooled rate
  lets the larger group hide the other's);
* FPR at that threshold on image-referring leak-free queries and on hard negatives;
* the pair head likewise, holding out the query's source and never training on that source's
  scenes; and the AUROC of the leakage score, leaky vs leak-free pairs;
* the image head J(I) (an image judged alone through its description): descriptions labelled
  harmful or not *on their own* (``image_labels.jsonl``), each written voice held out in turn;
  its threshold, like J(T)'s, holds the out-of-source FPR at ``MAX_FPR`` (a false J(I)
  claims the image alone carries a harm that only the pair carries).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from training.embedded_judge.heads import (
    Head,
    Pair,
    fit_head,
    pair_features,
    threshold_at_fpr,
    threshold_balanced,
)
from training.embedded_judge.sources import cache_dir

MAX_FPR = 0.05
HARD = ("image_leakfree", "hard_negative")

#: The pooled J(T) figures: (figure, row group, label of the rows it counts).
GROUP_RATES = (("tpr_explicit", "explicit", True),
               ("tpr_leaky_image_referring", "image_leaky", True),
               ("fpr_image_leakfree", "image_leakfree", False),
               ("fpr_hard_negative", "hard_negative", False),
               ("fpr_benign_request", "benign_request", False))

F32 = npt.NDArray[np.float32]


def embed(texts: Sequence[str], encode: Callable[[list[str]], Any] | None = None
          ) -> dict[str, F32]:
    """MiniLM embeddings of ``texts``, cached on disk by text hash between runs."""
    path = cache_dir() / "embeddings.npz"
    cache: dict[str, F32] = {}
    if path.is_file():
        with np.load(path) as z:
            cache = dict(zip([str(k) for k in z["keys"]], z["vecs"], strict=True))
    keys = {t: hashlib.sha256(t.encode()).hexdigest()[:24] for t in dict.fromkeys(texts)}
    todo = [t for t, k in keys.items() if k not in cache]
    if todo:
        if encode is None:
            from vsil.detectors import shared_encoder

            encode = shared_encoder().encode
        vecs = np.asarray(encode(todo), dtype=np.float32)
        cache.update({keys[t]: v for t, v in zip(todo, vecs, strict=True)})
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, keys=np.array(list(cache)), vecs=np.stack(list(cache.values())))
    return {t: cache[k] for t, k in keys.items()}


def auroc(pos: npt.NDArray[Any], neg: npt.NDArray[Any]) -> float:
    from sklearn.metrics import roc_auc_score

    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return float(roc_auc_score(y, np.r_[pos, neg]))


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """A report's pooled figures (without the per-source tables)."""
    return {k: v for k, v in report.items() if k not in ("per_source", "per_source_auroc",
                                                         "threshold_rule")}


def loso_probs(x: F32, y: npt.NDArray[np.bool_], src: npt.NDArray[Any], kind: str,
               c: float) -> npt.NDArray[np.float64]:
    """Each row's p_unsafe from a head fitted on every other source."""
    out = np.full(len(x), np.nan)
    for s in sorted(set(src)):
        out[src == s] = fit_head(x[src != s], y[src != s], kind, c).prob(x[src == s])
    return out


def text_oos(rows: Sequence[dict[str, Any]], emb: dict[str, F32], kind: str,
             c: float) -> npt.NDArray[np.float64]:
    """Out-of-source p_unsafe of every request row (scenes are not J(T) inputs)."""
    x = np.stack([emb[r["text"]] for r in rows])
    return loso_probs(x, np.array([r["unsafe"] for r in rows]),
                      np.array([r["source"] for r in rows]), kind, c)


def text_threshold(rows: Sequence[dict[str, Any]], p: npt.NDArray[Any]) -> float:
    """J(T)'s threshold: the lowest whose FPR on each `HARD` group is at most ``MAX_FPR``."""
    y = np.array([r["unsafe"] for r in rows])
    group = np.array([r["group"] for r in rows])
    return max(threshold_at_fpr(p, (group == g) & ~y, MAX_FPR) for g in HARD)


def group_rates(rows: Sequence[dict[str, Any]], p: npt.NDArray[Any], threshold: float
                ) -> dict[str, dict[str, Any]]:
    """Each of `GROUP_RATES` at ``threshold``: of the group's ``n`` rows, the ``k`` with
    ``p >= threshold`` and their share (``rate``: NaN for a group with no rows)."""
    y = np.array([r["unsafe"] for r in rows], dtype=bool)
    group = np.array([r["group"] for r in rows])
    p = np.asarray(p, dtype=float)
    out: dict[str, dict[str, Any]] = {}
    for name, g, unsafe in GROUP_RATES:
        sel = p[(group == g) & (y == unsafe)]
        k = int((sel >= threshold).sum())
        out[name] = {"rate": k / len(sel) if len(sel) else float("nan"), "k": k, "n": len(sel)}
    return out


def text_report(rows: Sequence[dict[str, Any]], p: npt.NDArray[Any],
                threshold: float | None = None) -> dict[str, Any]:
    y = np.array([r["unsafe"] for r in rows])
    src = np.array([r["source"] for r in rows])
    t = threshold if threshold is not None else text_threshold(rows, p)
    per: dict[str, Any] = {}
    for s in sorted(set(src)):
        m = src == s
        pos, neg = p[m & y], p[m & ~y]
        neg_ref = neg if len(neg) else p[~m & ~y]
        per[s] = {"n_unsafe": len(pos), "n_safe": len(neg),
                  "auroc": round(auroc(pos, neg_ref), 4),
                  "auroc_against": "own safe rows" if len(neg) else "other sources' safe rows",
                  "tpr": round(float((pos >= t).mean()), 4) if len(pos) else None,
                  "fpr": round(float((neg >= t).mean()), 4) if len(neg) else None}
    aurocs = [v["auroc"] for v in per.values() if not np.isnan(v["auroc"])]
    return {
        "threshold": round(t, 4),
        "threshold_rule": f"lowest threshold with out-of-source FPR <= {MAX_FPR} on "
                          "image-referring leak-free queries and on hard negatives, each",
        "mean_loso_auroc": round(float(np.mean(aurocs)), 4),
        **{name: round(v["rate"], 4) for name, v in group_rates(rows, p, t).items()},
        "per_source": per,
    }


def pair_oos(pairs: Sequence[Pair], emb: dict[str, F32], kind: str, c: float
             ) -> npt.NDArray[np.float64]:
    x = np.stack([pair_features(emb[p.text], emb[p.image_text]) for p in pairs])
    y = np.array([p.unsafe for p in pairs])
    src = np.array([p.source for p in pairs])
    scene = np.array([p.scene_source for p in pairs])
    out = np.full(len(pairs), np.nan)
    for s in sorted(set(src)):
        tr, te = (src != s) & (scene != s), src == s
        if len(set(y[tr])) < 2:  # the held-out source wrote every scene: keep its scenes
            tr = src != s
        out[te] = fit_head(x[tr], y[tr], kind, c).prob(x[te])
    return out


def pair_report(pairs: Sequence[Pair], p: npt.NDArray[Any], p_text: dict[str, float],
                threshold: float | None = None) -> dict[str, Any]:
    y = np.array([q.unsafe for q in pairs])
    src = np.array([q.source for q in pairs])
    kinds = np.array([q.kind for q in pairs])
    t = threshold if threshold is not None else threshold_balanced(p, y)
    per = {s: round(auroc(p[(src == s) & y], p[(src == s) & ~y]), 4) for s in sorted(set(src))}
    by_kind = {k: round(float((p[kinds == k] >= t).mean()), 4) for k in sorted(set(kinds))}
    # the leakage score ranks leaky pairs (the text states the harm) above leak-free ones
    # (harmful only with the image): both kinds with the image that makes them harmful
    leaky = kinds == "leaky+harmful_image"
    free = kinds == "leakfree+harmful_image"
    pt = np.array([p_text.get(q.text, np.nan) for q in pairs])
    score = p * pt
    return {
        "threshold": round(t, 4), "threshold_rule": "max out-of-source balanced accuracy",
        "balanced_accuracy": round(float(((p >= t)[y].mean() + (p < t)[~y].mean()) / 2), 4),
        "mean_loso_auroc": round(float(np.nanmean(list(per.values()))), 4),
        "per_source_auroc": per, "unsafe_rate_by_pair_kind": by_kind,
        "leakage_score_auroc_leaky_vs_leakfree": round(auroc(score[leaky], score[free]), 4),
    }


def image_xy(labels: Sequence[dict[str, Any]], emb: dict[str, F32]
             ) -> tuple[F32, npt.NDArray[np.bool_]]:
    """Stock embeddings of the labelled image descriptions (J(I)'s data) and their labels."""
    x = np.stack([emb[r["text"]] for r in labels])
    return x, np.array([bool(r["unsafe"]) for r in labels])


def image_oos(labels: Sequence[dict[str, Any]], emb: dict[str, F32], kind: str, c: float
              ) -> npt.NDArray[np.float64]:
    """Out-of-source p_unsafe of every labelled description (its voice held out)."""
    x, y = image_xy(labels, emb)
    return loso_probs(x, y, np.array([r["source"] for r in labels]), kind, c)


def image_report(labels: Sequence[dict[str, Any]], p: npt.NDArray[Any],
                 threshold: float | None = None) -> dict[str, Any]:
    y = np.array([bool(r["unsafe"]) for r in labels])
    src = np.array([r["source"] for r in labels])
    kind = np.array([r["kind"] for r in labels])
    t = threshold if threshold is not None else threshold_at_fpr(p, ~y, MAX_FPR)
    per = {s: {"n_unsafe": int(((src == s) & y).sum()), "n_safe": int(((src == s) & ~y).sum()),
               "auroc": round(auroc(p[(src == s) & y], p[(src == s) & ~y]), 4),
               "tpr": round(float((p[(src == s) & y] >= t).mean()), 4),
               "fpr": round(float((p[(src == s) & ~y] >= t).mean()), 4)}
           for s in sorted(set(src))}
    return {
        "threshold": round(t, 4),
        "threshold_rule": f"lowest threshold with out-of-source FPR <= {MAX_FPR} on the "
                          "descriptions harmless on their own",
        "mean_loso_auroc": round(float(np.mean([v["auroc"] for v in per.values()])), 4),
        "tpr": round(float((p[y] >= t).mean()), 4),
        "fpr": round(float((p[~y] >= t).mean()), 4),
        # the images written to make a leak-free query harmful, harmless on their own
        # ("a bottle of pills on a nightstand"): risky only in context
        "fpr_risky_in_context": round(float((p[~y & (kind == "query_image")] >= t).mean()), 4),
        "per_source": per,
    }


def fit_text_head(rows: Sequence[dict[str, Any]], emb: dict[str, F32], kind: str,
                  c: float) -> Head:
    x = np.stack([emb[r["text"]] for r in rows])
    return fit_head(x, np.array([r["unsafe"] for r in rows]), kind, c)
