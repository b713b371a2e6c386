"""``python -m training.embedded_judge {corpus,select,train,check,decide}``.

* ``corpus --out corpus.jsonl``: write the exact training corpus (and print its statistics);
* ``select``: leave-one-source-out comparison of candidate heads -> ``model_selection.json``;
* ``train``: validate, choose thresholds, fit and write ``vsil/data/embedded/classifier.*``;
* ``check``: rebuild and compare decisions with the shipped classifier (writes nothing);
* ``decide``: the shipping rule (`decision.py`) on the out-of-source scores ``train`` wrote;
  exit status 0 when it is met, 1 when not.

Wheels are downloaded once into ``$VSIL_TRAINING_CACHE`` (default ``~/.cache/vsil/training``).
Each finished leave-one-source-out fold is kept under ``training/embedded_judge/folds/<key>/``
(in the repository: commit it, and a ``train`` that a session could not finish resumes at the
next fold in the next session, on any machine; ``--fresh-folds`` recomputes them all).
When ``train`` writes the classifier it removes the other keys' folders there (stale folds).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from training.embedded_judge import corpus as corpus_mod
from training.embedded_judge import decision, sources, train, validate

HERE = Path(__file__).resolve().parent

CANDIDATES: dict[str, list[dict[str, Any]]] = {
    "text": [{"kind": "logistic", "c": c} for c in (1.0, 10.0, 100.0)]
    + [{"kind": "mlp", "c": c} for c in (3.0, 10.0, 30.0)],
    "pair": [{"kind": "logistic", "c": c} for c in (1.0, 10.0)]
    + [{"kind": "mlp", "c": 10.0}],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.embedded_judge")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus", help="write the training corpus as JSONL")
    c.add_argument("--out", type=Path, required=True)
    sub.add_parser("select", help="compare candidate heads (leave one source out)")
    tr = sub.add_parser("train", help="train and write the shipped classifier")
    tr.add_argument("--fresh-folds", action="store_true",
                    help="recompute every validation fold instead of reading back the ones "
                         "an earlier, interrupted run finished")
    ck = sub.add_parser("check", help="rebuild and compare decisions with the shipped "
                        "classifier (without --full: no leave-one-source-out, shipped "
                        "thresholds)")
    ck.add_argument("--full", action="store_true",
                    help="also redo the validation and the thresholds (tens of minutes)")
    tr.add_argument("--out", type=Path, default=train.OUT,
                    help="where to write classifier.npz/.json (default: the shipped files "
                         "in vsil/data/embedded; a retraining that may not ship writes "
                         "elsewhere)")
    dc = sub.add_parser("decide", help="the shipping rule on a train run's out-of-source "
                        "scores (exit status 0: met, 1: not met)")
    dc.add_argument("--oos", type=Path, default=None,
                    help="oos_predictions.json (default: the one in the training cache)")
    dc.add_argument("--out", type=Path, default=None, help="also write the verdict here")
    for p in (c, tr):
        p.add_argument("--with-staged", action="store_true",
                       help="add the staged voices (training/embedded_judge/staged/) to the "
                            "corpus: the retraining that decides whether they join")
    args = ap.parse_args(argv)
    staged = bool(getattr(args, "with_staged", False))
    say = lambda *a: print(*a, file=sys.stderr)  # noqa: E731

    if args.cmd == "corpus":
        rows, stats = corpus_mod.build(staged=staged)
        corpus_mod.write(rows, args.out)
        (HERE / "corpus_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
        say(json.dumps(stats, indent=1))
        say(f"wrote {len(rows)} rows to {args.out}")
        return 0
    if args.cmd == "decide":
        path = args.oos or sources.cache_dir() / "oos_predictions.json"
        if not path.is_file():
            say(f"no out-of-source scores at {path}: run `train` first")
            return 2
        try:
            oos_text = json.loads(path.read_text(encoding="utf-8"))["text"]
        except (ValueError, KeyError, TypeError) as e:
            say(f"{path} is not a train run's out-of-source scores (expected JSON with a "
                f"'text' list): {type(e).__name__}: {e}")
            return 2
        present = {r["source"] for r in oos_text}
        staged_names = {s for s, f in corpus_mod.voice_files(staged=True)
                        if f.is_relative_to(corpus_mod.STAGED)} & present
        verdict = decision.decide(oos_text, staged_names)
        text = json.dumps(verdict, indent=1)
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
        return 0 if verdict["rule_met"] else 1
    rows, stats, pairs, emb = train.prepare(staged=staged)
    if args.cmd == "select":
        req = [r for r in rows if r["kind"] == "request"]
        result: dict[str, Any] = {"text": [], "pair": []}
        best_text = None
        for cand in CANDIDATES["text"]:
            rep = validate.text_report(req, validate.text_oos(req, emb, cand["kind"],
                                                              cand["c"]))
            result["text"].append({**cand, **validate.summary(rep)})
            say("text", cand, validate.summary(rep))
            if best_text is None or rep["mean_loso_auroc"] > best_text[1]["mean_loso_auroc"]:
                best_text = (cand, rep)
        assert best_text is not None
        p_text = validate.text_oos(req, emb, best_text[0]["kind"], best_text[0]["c"])
        oos = {r["text"]: float(p) for r, p in zip(req, p_text, strict=True)}
        for cand in CANDIDATES["pair"]:
            rep = validate.pair_report(pairs, validate.pair_oos(pairs, emb, cand["kind"],
                                                                cand["c"]), oos)
            result["pair"].append({**cand, **validate.summary(rep)})
            say("pair", cand, validate.summary(rep))
        (HERE / "model_selection.json").write_text(json.dumps(result, indent=1) + "\n")
        return 0
    loso = args.cmd == "train" or bool(getattr(args, "full", False))
    # only `train` resumes from saved folds: `check` is a rebuild, so it recomputes everything
    folds = train.FOLD_DIR if args.cmd == "train" and not args.fresh_folds else None
    model = train.fit_all(rows, pairs, emb, loso=loso, fold_dir=folds, say=say)
    if loso:
        say("text", validate.summary(model["text_validation"]))
        say("pair", validate.summary(model["pair_validation"]))
        say("image", validate.summary(model["image_validation"]))
    if args.cmd == "check":
        cmp = train.compare_with_shipped(model, rows, pairs)
        print(json.dumps(cmp, indent=1))
        ok = all(h["decision_agreement"] >= train.MIN_DECISION_AGREEMENT for h in cmp.values())
        return 0 if ok else 1
    npz, js = train.write(model, rows, stats, pairs, out=args.out)
    if (store := model.get("fold_store")) is not None:
        for d in store.prune_others():
            say(f"removed stale folds {d}")
    # every row's out-of-source score, for error analysis (not shipped: it quotes the corpus)
    oos = sources.cache_dir() / "oos_predictions.json"
    oos.write_text(json.dumps(model["oos"], ensure_ascii=False) + "\n", encoding="utf-8")
    say(f"out-of-source scores: {oos}")
    (HERE / "corpus_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    say(f"wrote {npz} and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
