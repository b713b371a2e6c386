"""Pilot: a lexical model stacked on J(T)'s out-of-source scores (``staged/README.md``, stop 40).

For each held-out source S, on the other sources' request rows only: a TF-IDF logistic
regression (word 1-2-grams and char_wb 3-5-grams) scores S's rows (*lexical*), and a
logistic regression on [logit of the J(T) score, the lexical decision value] of the other
sources' rows, both out of source for those rows, scores S's rows (*stacked*). Variant
*stacked3* adds a third input, a logistic head on the stock MiniLM embeddings (*stock*),
fitted the same way. Variant *residual* fits one logistic regression on [TF-IDF
features, 10 × J(T) logit], so that the word weights learn J(T)'s errors. The figures
are the shipping rule's (`decision.decide`) on each variant's pooled out-of-source scores.

    python -m training.embedded_judge.lexical_pilot [--oos PATH] [--out staged/lexical_pilot.json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from training.embedded_judge.decision import decide
from training.embedded_judge.finetune import probability
from training.embedded_judge.heads import fit_head
from training.embedded_judge.sources import cache_dir
from training.embedded_judge.validate import embed

F64 = npt.NDArray[np.float64]

#: the J(T) logit's scale as a column of the residual model (its weight then costs
#: 1/100 of the L2 penalty a unit-scale column would)
JUDGE_SCALE = 10.0


def lexical_model() -> Any:
    """The pre-registered lexical model (unfitted)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), lowercase=True,
                        sublinear_tf=True, min_df=2),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), lowercase=True,
                        sublinear_tf=True, min_df=2))
    return make_pipeline(features, LogisticRegression(C=1.0, class_weight="balanced",
                                                      max_iter=5000))


def logit(p: F64) -> F64:
    q = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=float)


def out_of_source(src: npt.NDArray[Any],
                  fit_score: Callable[[npt.NDArray[np.bool_], npt.NDArray[np.bool_]], Any],
                  say: Any = None, name: str = "") -> F64:
    """Each row's score from ``fit_score(train, held)``, called once per source with
    ``held`` its rows and ``train`` every other source's."""
    out = np.full(len(src), np.nan)
    for s in sorted(set(src)):
        held = src == s
        out[held] = fit_score(~held, held)
        if say:
            say(f"{name}: {s} ({int(held.sum())} rows) done")
    return out


def lexical_oos(texts: Sequence[str], y: npt.NDArray[np.bool_],
                src: npt.NDArray[Any], say: Any = print) -> F64:
    """Each row's lexical decision value from a model fitted without its source."""
    arr = np.asarray(texts, dtype=object)
    return out_of_source(
        src, lambda tr, te: lexical_model().fit(arr[tr], y[tr]).decision_function(arr[te]),
        say, "lexical")


def residual_oos(texts: Sequence[str], judge: F64, y: npt.NDArray[np.bool_],
                 src: npt.NDArray[Any], say: Any = print) -> F64:
    """Each row's decision value from one logistic regression on [TF-IDF features,
    ``JUDGE_SCALE`` × J(T) logit], fitted without its source: the word weights learn the
    correction to J(T)'s score."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    arr = np.asarray(texts, dtype=object)
    col = sparse.csr_matrix(JUDGE_SCALE * np.asarray(judge, dtype=float)[:, None])

    def fit_score(tr: npt.NDArray[np.bool_], te: npt.NDArray[np.bool_]) -> Any:
        features = lexical_model().steps[0][1].fit(arr[tr])
        x_tr, x_te = (sparse.hstack([features.transform(arr[m]), col[np.flatnonzero(m)]],
                                    format="csr") for m in (tr, te))
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000)
        return model.fit(x_tr, y[tr]).decision_function(x_te)

    return out_of_source(src, fit_score, say, "residual")


def stock_oos(vecs: npt.NDArray[Any], y: npt.NDArray[np.bool_], src: npt.NDArray[Any]
              ) -> F64:
    """Each row's decision value from a logistic head on the stock MiniLM embeddings,
    fitted without its source."""
    return out_of_source(
        src, lambda tr, te: fit_head(vecs[tr], y[tr], "logistic", 1.0).logit(vecs[te]))


def stacked_oos(inputs: Sequence[F64], y: npt.NDArray[np.bool_],
                src: npt.NDArray[Any]) -> tuple[F64, dict[str, list[float]]]:
    """Each row's stacked decision value from a combiner fitted without its source on the
    ``inputs`` (each out of source for its row), and each combiner's weights (one per input,
    then the intercept)."""
    x = np.column_stack(list(inputs))
    weights: dict[str, list[float]] = {}

    def fit_score(tr: npt.NDArray[np.bool_], te: npt.NDArray[np.bool_]) -> F64:
        comb = fit_head(x[tr], y[tr], "logistic", 1.0)
        (w, b), = comb.layers
        weights[str(src[te][0])] = [round(float(v), 4) for v in (*w[:, 0], b[0])]
        return comb.logit(x[te])

    return out_of_source(src, fit_score), weights


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.embedded_judge.lexical_pilot")
    ap.add_argument("--oos", type=Path, default=None,
                    help="oos_predictions.json of a train run (default: the training cache's)")
    ap.add_argument("--out", type=Path, default=None, help="write every figure here (JSON)")
    args = ap.parse_args(argv)
    path = args.oos or cache_dir() / "oos_predictions.json"
    rows = json.loads(path.read_text()).get("text") or []
    if not rows:
        ap.error(f"{path}: no out-of-source J(T) records (key 'text')")
    for i, r in enumerate(rows):
        if missing := {"text", "source", "group", "unsafe", "p"} - set(r):
            ap.error(f"{path}: text record {i} lacks {sorted(missing)}")
    y = np.array([bool(r["unsafe"]) for r in rows])
    src = np.array([r["source"] for r in rows])
    judge = logit(np.array([r["p"] for r in rows], dtype=float))
    texts = [r["text"] for r in rows]
    lex = lexical_oos(texts, y, src)
    emb = embed(texts)
    stock = stock_oos(np.stack([emb[t] for t in texts]), y, src)
    stacked, weights = stacked_oos([judge, lex], y, src)
    stacked3, weights3 = stacked_oos([judge, lex, stock], y, src)
    residual = residual_oos(texts, judge, y, src)
    out: dict[str, Any] = {"rows": len(rows), "sources": len(set(src))}
    for name, z in (("judge", judge), ("lexical", lex), ("stacked", stacked),
                    ("stock", stock), ("stacked3", stacked3), ("residual", residual)):
        scored = [{**r, "p": float(p)} for r, p in zip(rows, probability(z), strict=True)]
        verdict = decide(scored, [])
        out[name] = {k: verdict[k] for k in ("rule_met", "threshold", "mean_loso_auroc",
                                             "pooled_at_its_threshold", "per_source")}
        pooled = next(iter(verdict["pooled_at_its_threshold"].values()))
        print(f"{name}: threshold {verdict['threshold']} AUROC {verdict['mean_loso_auroc']} "
              + " ".join(f"{k} {v['k']}/{v['n']}={v['rate']}" for k, v in pooled.items()))
    out["stacked"]["combiner_weights"] = weights
    out["stacked3"]["combiner_weights"] = weights3
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
