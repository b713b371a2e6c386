"""Build the embedded judge: corpus, leave-one-source-out validation, thresholds, final heads.

The configuration below was chosen by measurement (``python -m training.embedded_judge
select`` writes ``model_selection.json``); the thresholds are chosen on out-of-source
predictions only; VLSBench is never used here (it is only a contamination check in
``corpus.py``, and a reported figure in docs/detectors.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from training.embedded_judge import corpus as corpus_mod
from training.embedded_judge import finetune, validate
from training.embedded_judge.heads import (
    MLP_EPOCHS,
    MLP_MEMBERS,
    Head,
    Pair,
    build_pairs,
    fit_categories,
    fit_head,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = REPO / "vsil" / "data" / "embedded"
IMAGE_LABELS = HERE / "image_labels.jsonl"
#: where `train` keeps each finished validation fold (`FoldStore`). It is in the repository,
#: not a cache: a leave-one-source-out run takes longer than one working session, so the
#: folds a session finished are committed and the next session, on another machine, resumes
#: from them.
FOLD_DIR = HERE / "folds"

#: chosen by measurement: frozen-encoder heads (``select``, model_selection.json) against the
#: fine-tuned top layers (finetune.py); see docs/detectors.md
CONFIG: dict[str, Any] = {
    "text": {"kind": f"fine-tuned MiniLM layers {finetune.START}-5 "
                     "+ logistic output",
             "start": finetune.START, "epochs": finetune.EPOCHS, "features": "tuned(text)"},
    "pair": {"kind": "mlp", "c": 10.0, "hidden": 256, "members": MLP_MEMBERS,
             "epochs": MLP_EPOCHS,
             "features": "[tuned(text), stock(image_text), stock(text) * stock(image_text)]"},
    "image": {"kind": "logistic", "c": 10.0, "features": "stock(image_text)",
              "rows": "image descriptions labelled harmful on their own or not"},
    "category_c": 10.0,
}
METHOD = (f"all-MiniLM-L6-v2 with its top {finetune.TUNED} layers fine-tuned for J(T); J(T) is a "
          "logistic output on the tuned sentence embedding t(text), trained with the "
          "layers; J(T,I): an MLP on [t(text), "
          "e(image_text), e(text)*e(image_text)] with e the stock embedding; 6-class "
          "category heads (logistic regression) on the same features; J(I) (an image "
          "judged alone through its description): a logistic head on e(image_text), "
          "trained on descriptions labelled harmful on their own or not, with its "
          "category head")
#: the shipped heads: J(T), J(T,I), J(I)
HEADS = ("text", "pair", "image")
#: a rebuild must reproduce at least this share of the shipped decisions
MIN_DECISION_AGREEMENT = 0.99


def _corpus_sha(rows: list[dict[str, Any]]) -> str:
    blob = "\n".join(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in rows)
    return hashlib.sha256(blob.encode()).hexdigest()


def prepare(rows: list[dict[str, Any]] | None = None, *, staged: bool = False
            ) -> tuple[list[dict[str, Any]], dict[str, Any], list[Pair], dict[str, Any]]:
    """(corpus rows, corpus stats, pairs, stock embeddings of every text); ``staged``: the
    corpus with the staged voices."""
    stats: dict[str, Any] = {}
    if rows is None:
        rows, stats = corpus_mod.build(staged=staged)
    pairs = build_pairs(rows)
    texts = [r["text"] for r in rows] + [p.image_text for p in pairs]
    return rows, stats, pairs, validate.embed(texts)


def pair_x(pairs: list[Pair], tuned: dict[str, Any], stock: dict[str, Any]) -> Any:
    """``[tuned(text), stock(image_text), stock(text) * stock(image_text)]`` per pair."""
    return np.stack([np.hstack([tuned[p.text], stock[p.image_text],
                                stock[p.text] * stock[p.image_text]]) for p in pairs]
                    ).astype(np.float32)


def _fold(req: list[dict[str, Any]], keep: Any, hidden: dict[str, Any],
          texts: list[str]) -> tuple[finetune.Tuned, dict[str, Any]]:
    tuned = finetune.fine_tune([req[i]["text"] for i in keep],
                               [req[i]["unsafe"] for i in keep],
                               [req[i]["category"] for i in keep], hidden)
    return tuned, dict(zip(texts, tuned.embed(texts, hidden), strict=True))


#: the fine-tune's module settings that a fold's predictions depend on
FINETUNE_SETTINGS = ("START", "EPOCHS", "BATCH", "LR_LAYERS", "LR_HEAD", "DROPOUT",
                     "CATEGORY_LOSS", "SEED", "BUCKET_CHUNK")


class FoldStore:
    """Each finished fold's out-of-source predictions on disk, so that a leave-one-source-out
    run cut short (a session ends, the machine restarts) resumes at the next fold instead of
    from the first. The folder is keyed by everything the predictions depend on (the request
    rows, the pairs, the configuration, the fine-tune's settings, torch and the encoder
    package), so a changed corpus or recipe never reads a stale fold."""

    def __init__(self, root: Path, req: list[dict[str, Any]], pairs: list[Pair],
                 config: dict[str, Any]) -> None:
        import torch

        from vsil.detectors import shared_encoder

        parts = {"requests": _corpus_sha(req),
                 "pairs": _corpus_sha([dataclasses.asdict(p) for p in pairs]),
                 "config": config,
                 "finetune": {k: getattr(finetune, k) for k in FINETUNE_SETTINGS},
                 "torch": torch.__version__, "encoder": shared_encoder().id}
        blob = json.dumps(parts, sort_keys=True, default=str)
        self.dir = root / hashlib.sha256(blob.encode()).hexdigest()[:20]
        self._parts = parts

    def _path(self, source: str) -> Path:
        return self.dir / f"{hashlib.sha256(source.encode()).hexdigest()[:16]}.npz"

    def load(self, source: str, n_text: int, n_pair: int) -> tuple[Any, Any] | None:
        """The fold's (text, pair) predictions, or None when it has not finished (a torn or
        mis-sized file counts as not finished)."""
        path = self._path(source)
        if not path.is_file():
            return None
        try:
            with np.load(path) as z:
                text, pair, name = z["text"], z["pair"], str(z["source"])
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
            return None
        if name != source or text.shape != (n_text,) or pair.shape != (n_pair,):
            return None
        return text, pair

    def prune_others(self) -> list[Path]:
        """Remove the folders of other keys beside this one (folds of an older corpus or
        recipe, which no run can read back); the removed folders."""
        import shutil

        gone = [d for d in self.dir.parent.iterdir() if d.is_dir() and d != self.dir]
        for d in gone:
            shutil.rmtree(d)
        return gone

    def save(self, source: str, text: Any, pair: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "key.json"
        if not meta.is_file():
            meta.write_text(json.dumps(self._parts, indent=1, default=str) + "\n")
        path = self._path(source)
        tmp = path.with_name(path.stem + ".partial.npz")
        np.savez(tmp, text=np.asarray(text, np.float64), pair=np.asarray(pair, np.float64),
                 source=np.array(source))
        os.replace(tmp, path)


def loso_predictions(req: list[dict[str, Any]], pairs: list[Pair], emb: dict[str, Any],
                     hidden: dict[str, Any], config: dict[str, Any] = CONFIG, *,
                     store: FoldStore | None = None, say: Any = None) -> tuple[Any, Any]:
    """Out-of-source ``p_unsafe`` of every request (J(T)) and every pair (J(T,I)): each
    source held out in turn, the layers and the pair head trained on the others. With a
    ``store``, finished folds are read back instead of recomputed, and each new one is saved
    as soon as it finishes."""
    say = say or (lambda *a: None)
    pc = config["pair"]
    texts = [r["text"] for r in req]
    src = np.array([r["source"] for r in req])
    psrc = np.array([p.source for p in pairs])
    pscene = np.array([p.scene_source for p in pairs])
    yp = np.array([p.unsafe for p in pairs])
    p_text = np.full(len(req), np.nan)
    p_pair = np.full(len(pairs), np.nan)
    for s in sorted(set(src)):
        te, tp = src == s, psrc == s
        if store and (done := store.load(s, int(te.sum()), int(tp.sum()))) is not None:
            p_text[te], p_pair[tp] = done
            say(f"fold {s}: read back from {store.dir}")
            continue
        tuned, feats = _fold(req, np.flatnonzero(src != s), hidden, texts)
        p_text[te] = tuned.prob(np.stack([feats[t] for t in np.array(texts)[te]]))
        tr = (psrc != s) & (pscene != s)
        if len(set(yp[tr])) < 2:
            tr = psrc != s
        x = pair_x(pairs, feats, emb)
        p_pair[tp] = _fit_mlp(x[tr], yp[tr], pc).prob(x[tp])
        if store:
            store.save(s, p_text[te], p_pair[tp])
        say(f"fold {s}: done")
    return p_text, p_pair


def _fit_mlp(x: Any, y: Any, pc: dict[str, Any]) -> Head:
    return fit_head(x, y, pc["kind"], pc["c"], hidden=pc["hidden"], members=pc["members"],
                    epochs=pc["epochs"])


def image_labels(path: Path = IMAGE_LABELS) -> list[dict[str, Any]]:
    """J(I)'s training data: written image descriptions (the voices' scenes and the images
    that make their leak-free queries harmful), labelled harmful *on their own* or not by two
    blind annotators (rows where they disagreed, or either was unsure, are left out)."""
    return corpus_mod.read(path)


def fit_image(emb: dict[str, Any], config: dict[str, Any] = CONFIG, *, loso: bool = True
              ) -> dict[str, Any]:
    """J(I): a head on the stock embedding of an image description, validated with each
    voice's descriptions held out, and its category head."""
    ic = config["image"]
    labels = image_labels()
    emb = {**emb, **validate.embed([r["text"] for r in labels])}
    x, y = validate.image_xy(labels, emb)
    out: dict[str, Any] = {}
    if loso:
        out["image_validation"] = validate.image_report(
            labels, validate.image_oos(labels, emb, ic["kind"], ic["c"]))
    out["image"] = fit_head(x, y, ic["kind"], ic["c"])
    cat = [i for i in np.flatnonzero(y) if labels[i]["category"]]
    out["image_cat"] = fit_categories(x[cat], [labels[i]["category"] for i in cat],
                                      config["category_c"])
    out["image_features"] = x
    out["image_data"] = {"rows": len(labels), "unsafe": int(y.sum()),
                         "sha256": _corpus_sha(labels)}
    return out


def fit_all(rows: list[dict[str, Any]], pairs: list[Pair], emb: dict[str, Any],
            config: dict[str, Any] = CONFIG, *, loso: bool = True,
            fold_dir: Path | None = None, say: Any = None) -> dict[str, Any]:
    """Validate (out of source), choose thresholds, fit the final model on everything.
    With ``fold_dir``, the validation's finished folds are kept there (`FoldStore`) and an
    interrupted run resumes from them."""
    say = say or (lambda *a: None)
    req = [r for r in rows if r["kind"] == "request"]
    texts = [r["text"] for r in req]
    hidden = finetune.hidden_states(texts)
    pc = config["pair"]
    out: dict[str, Any] = {}
    if loso:
        store = FoldStore(fold_dir, req, pairs, config) if fold_dir else None
        p_text, p_pair = loso_predictions(req, pairs, emb, hidden, config, store=store,
                                          say=say)
        out["fold_store"] = store
        out["text_validation"] = validate.text_report(req, p_text)
        oos_text = {r["text"]: float(p) for r, p in zip(req, p_text, strict=True)}
        out["pair_validation"] = validate.pair_report(pairs, p_pair, oos_text)
        out["oos"] = {
            "text": [{"text": r["text"], "source": r["source"], "group": r["group"],
                      "unsafe": bool(r["unsafe"]), "p": float(p)}
                     for r, p in zip(req, p_text, strict=True)],
            "pair": [{"text": q.text, "image_text": q.image_text, "kind": q.kind,
                      "source": q.source, "unsafe": bool(q.unsafe), "p": float(p)}
                     for q, p in zip(pairs, p_pair, strict=True)]}
    tuned, feats = _fold(req, np.arange(len(req)), hidden, texts)
    out["tuned"] = tuned
    out["text"] = Head([(tuned.w, tuned.b)], "fine-tuned")
    xt = np.stack([feats[t] for t in texts])
    xp = pair_x(pairs, feats, emb)
    out["pair"] = _fit_mlp(xp, np.array([p.unsafe for p in pairs]), pc)
    cat_t = [i for i, r in enumerate(req) if r["unsafe"] and r["category"]]
    out["text_cat"] = fit_categories(xt[cat_t], [req[i]["category"] for i in cat_t],
                                     config["category_c"])
    cat_p = [i for i, p in enumerate(pairs) if p.unsafe and p.category]
    out["pair_cat"] = fit_categories(xp[cat_p], [pairs[i].category for i in cat_p],
                                     config["category_c"])
    image = fit_image(emb, config, loso=loso)
    out["features"] = {"text": xt, "pair": xp, "image": image.pop("image_features")}
    out.update(image)
    return out


def _layers(prefix: str, head: Head) -> dict[str, Any]:
    arrays: dict[str, Any] = {}
    for k, (w, b) in enumerate(head.layers):
        arrays[f"{prefix}_W{k}"] = w.astype(np.float32)
        arrays[f"{prefix}_b{k}"] = b.astype(np.float32)
    return arrays


def write(model: dict[str, Any], rows: list[dict[str, Any]], stats: dict[str, Any],
          pairs: list[Pair], out: Path = OUT) -> tuple[Path, Path]:
    from sklearn import __version__ as skv

    from vsil.detectors import shared_encoder
    from vsil.detectors._tuned import state_arrays

    arrays: dict[str, Any] = {"categories": np.array(corpus_mod.CATEGORIES),
                              "top_start": np.array(finetune.START),
                              **state_arrays(model["tuned"].top, "top")}
    for head in HEADS:
        arrays.update(_layers(head, model[head]))
        cat = model[f"{head}_cat"]
        arrays[f"{head}_cat_w"] = cat.w.astype(np.float32)
        arrays[f"{head}_cat_b"] = cat.b.astype(np.float32)
    out.mkdir(parents=True, exist_ok=True)
    npz = out / "classifier.npz"
    with npz.open("wb") as fh:
        np.savez_compressed(fh, **arrays)
    tv, pv, iv = model["text_validation"], model["pair_validation"], model["image_validation"]
    meta = {
        "version": "2",
        "method": METHOD,
        "heads": {h: {"kind": model[h].kind, "layers": [list(w.shape) for w, _ in
                                                        model[h].layers]}
                  for h in HEADS},
        "config": CONFIG,
        "thresholds": {"text": tv["threshold"], "pair": pv["threshold"],
                       "image": iv["threshold"]},
        "encoder": shared_encoder().id,
        "sklearn": skv,
        "date": date.today().isoformat(),
        "corpus": {"rows": len(rows), "pairs": len(pairs), "sha256": _corpus_sha(rows),
                   **{k: v for k, v in stats.items() if k != "packages"},
                   "packages": stats.get("packages")},
        "image_data": model["image_data"],
        "validation": {"protocol": "leave one source out (validate.py)", "text": tv,
                       "pair": pv, "image": iv},
        "classifier_npz_sha256": hashlib.sha256(npz.read_bytes()).hexdigest(),
    }
    js = out / "classifier.json"
    js.write_text(json.dumps(_finite(meta), indent=1, ensure_ascii=False, allow_nan=False)
                  + "\n", encoding="utf-8")
    return npz, js


def _finite(v: Any) -> Any:
    """``v`` with NaN (a source with no rows of one class has no AUROC) as None: strict JSON."""
    if isinstance(v, float):
        return v if np.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def compare_with_shipped(model: dict[str, Any], rows: list[dict[str, Any]], pairs: list[Pair]
                         ) -> dict[str, Any]:
    """How a rebuilt model agrees with the shipped judge, by *decisions* on a fixed check set
    (every corpus request for J(T), every corpus pair for J(T,I), every labelled image
    description for J(I)). The shipped judge runs as users run it (`EmbeddedJudge`); the
    rebuilt one uses its own thresholds when it was validated, else the shipped ones. Weights
    differ across torch/BLAS builds; decisions must not."""
    from vsil.detectors import JudgeInput
    from vsil.detectors.judges.embedded import EmbeddedJudge

    judge = EmbeddedJudge()
    shipped_t = judge.thresholds
    req = [r for r in rows if r["kind"] == "request"]
    described = image_labels()
    old = {"text": judge.judge([JudgeInput(r["text"]) for r in req]),
           "pair": judge.judge([JudgeInput(p.text, image_text=p.image_text) for p in pairs]),
           "image": judge.judge([JudgeInput("", image_text=r["text"], image_alone=True)
                                 for r in described])}
    out: dict[str, Any] = {}
    for head in HEADS:
        val = model.get(f"{head}_validation")
        t = val["threshold"] if val else shipped_t[head]
        p_new = model[head].prob(model["features"][head])
        p_old = np.array([v.p_unsafe for v in old[head]], dtype=float)
        same = (p_new >= t) == np.array([bool(v.unsafe) for v in old[head]])
        out[head] = {"n": len(same), "decision_agreement": float(same.mean()),
                     "threshold": (t, shipped_t[head]),
                     "max_abs_p_difference": float(np.abs(p_new - p_old).max())}
    return out
