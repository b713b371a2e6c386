"""A two-fold pilot of staged rows: do they raise J(T)'s recall on held-out sources?

A full leave-one-source-out retraining takes hours; this asks the cheaper question first,
with the design of the earlier pre-registered tests (docs/detectors.md, *What did not work*):
two folds, each holding out three sources (``FOLDS``); J(T)'s tuned layers are fine-tuned
on everything else, with or without the staged rows (which are only ever *trained* on, never
scored); the threshold is the one that holds out-of-source FPR at 5 % on the held-out
image-referring leak-free queries and on the held-out hard negatives, each; the figures are
TPR on the held-out explicit requests and the mean per-source AUROC.

The staged rows are ``staged/<name>/new_<name>.jsonl`` (`corpus.voice_files`). The voices
under test (``--tested``, default all staged voices) are the variant's extra rows; any other
staged voice joins the corpus as a source of its own, so a fold may hold it out (``--folds
twins``). The tested rows go through the corpus's filters first: a row repeating a corpus row
(normalised text) or ≥ 0.90 similar to a VLSBench text is dropped, and so is one ≥ 0.90
similar to any package row (a near-copy of a held-out source would inflate the figure it is
meant to measure).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.embedded_judge import corpus as corpus_mod
from training.embedded_judge import finetune, sources, validate

#: the folds of the earlier two-fold tests
FOLDS = (("harmactions", "uncensorbench", "voice_professional"),
         ("strongreject", "advbench", "voice_story"))
#: the benign-twin test's folds (staged/README.md): also held out, the blunt-task voices
#: whose own hard negatives set the threshold of the stop-34 retraining
TWIN_FOLDS = (("harmactions", "uncensorbench", "voice_professional", "voice_taskcard",
               "voice_comms"),
              ("strongreject", "advbench", "voice_story", "voice_devops", "voice_esl"))
FOLD_SETS = {"blunt": FOLDS, "twins": TWIN_FOLDS}


def staged_sources() -> list[str]:
    """The staged voices' source names (``voice_<name>``), in source order."""
    return [s for s, p in corpus_mod.voice_files(staged=True)
            if p.is_relative_to(corpus_mod.STAGED)]


def staged_rows(tested: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The rows of the staged voices under test (default all), in the corpus's form."""
    return [corpus_mod.finish(r)
            for source, path in corpus_mod.voice_files(staged=True)
            if path.is_relative_to(corpus_mod.STAGED) and (tested is None or source in tested)
            for r in corpus_mod.voice_rows(path, source)]


def filter_staged(staged: list[dict[str, Any]], corpus: list[dict[str, Any]]
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from vsil.detectors import shared_encoder

    encode = shared_encoder().encode
    seen = {sources.norm(r["text"]) for r in corpus}
    pkg = [r["text"] for r in corpus if r["source"] in sources.READERS]
    vls = corpus_mod.vlsbench_texts()
    e_s = np.asarray(encode([r["text"] for r in staged]), np.float32)
    e_p = np.asarray(encode(pkg), np.float32)
    e_v = np.asarray(encode(vls), np.float32)
    sim_p, sim_v = (e_s @ e_p.T).max(axis=1), (e_s @ e_v.T).max(axis=1)
    keep: list[dict[str, Any]] = []
    drops: dict[str, Any] = {"duplicate": 0, "near_package_row": 0, "near_vlsbench": 0}
    for r, p, v in zip(staged, sim_p, sim_v, strict=True):
        key = sources.norm(r["text"])
        if key in seen:
            drops["duplicate"] += 1
        elif p >= corpus_mod.NEAR_DUPLICATE:
            drops["near_package_row"] += 1
        elif v >= corpus_mod.NEAR_DUPLICATE:
            drops["near_vlsbench"] += 1
        else:
            seen.add(key)
            keep.append(r)
    drops["max_similarity_to_a_package_row"] = round(float(sim_p.max()), 3)
    return keep, drops


def figures(held_rows: list[dict[str, Any]], p: np.ndarray) -> dict[str, Any]:
    """Pooled held-out figures of one set of out-of-source predictions."""
    rep = validate.text_report(held_rows, p)
    return {**{k: rep[k] for k in ("threshold", "mean_loso_auroc", "tpr_explicit",
                                   "tpr_leaky_image_referring",
                                   "fpr_image_leakfree", "fpr_hard_negative")},
            "n_explicit": sum(r["unsafe"] and r["group"] == "explicit" for r in held_rows),
            "per_source": {s: {k: v[k] for k in ("auroc", "tpr", "fpr")}
                           for s, v in rep["per_source"].items()}}


def _fits(req: list[dict[str, Any]], extra: list[dict[str, Any]], hidden: dict[str, Any],
          seeds: Sequence[int], folds: Sequence[Sequence[str]], say: Any = print,
          stock: Mapping[str, np.ndarray] | None = None
          ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Per fold, one fine-tune per seed (``extra`` rows added to every fold's training set);
    the held-out rows and each seed's out-of-source logits, plus the soup's (key "soup",
    with more than one seed). With ``stock`` (stock embeddings by text), the fine-tunes add
    the pairwise margin objective on the training rows' `finetune.margin_pairs`."""
    src = np.array([r["source"] for r in req])
    held = np.isin(src, [s for f in folds for s in f])
    keys = [*map(str, seeds), *(["soup"] if len(seeds) > 1 else [])]
    logit = {k: np.full(len(req), np.nan) for k in keys}
    for fold in folds:
        out = np.isin(src, fold)
        train = [req[i] for i in np.flatnonzero(~out)] + extra
        te = [req[i]["text"] for i in np.flatnonzero(out)]
        pairs = [] if stock is None else finetune.margin_pairs(
            train, np.stack([stock[r["text"]] for r in train]))
        if pairs:
            say(f"fold {list(fold)}: {len(pairs)} margin pairs")
        members = []
        for seed in seeds:
            members.append(finetune.fine_tune(
                [r["text"] for r in train], [r["unsafe"] for r in train],
                [r["category"] for r in train], hidden, seed=seed, pairs=pairs))
            say(f"fold {list(fold)}: seed {seed} fitted")
        models = list(zip(map(str, seeds), members, strict=True))
        if len(members) > 1:
            models.append(("soup", finetune.soup(members)))
        for k, m in models:
            logit[k][out] = m.logit(m.embed(te, hidden))
    return [req[i] for i in np.flatnonzero(held)], {k: v[held] for k, v in logit.items()}


def run(req: list[dict[str, Any]], extra: list[dict[str, Any]], hidden: dict[str, Any],
        seed: int, folds: Sequence[Sequence[str]] = FOLDS, say: Any = print,
        stock: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Pooled held-out figures of one variant (``extra`` rows added to every fold's
    training set; with ``stock``, the margin objective) at one seed."""
    held_rows, logit = _fits(req, extra, hidden, [seed], folds, say, stock)
    return {"seed": seed, **figures(held_rows, finetune.probability(logit[str(seed)]))}


def run_soup(req: list[dict[str, Any]], extra: list[dict[str, Any]], hidden: dict[str, Any],
             seeds: Sequence[int], folds: Sequence[Sequence[str]] = FOLDS, say: Any = print
             ) -> dict[str, Any]:
    """A soup of one fine-tune per seed, against its members one by one and against the
    mean-logit ensemble of the same members (each at its own pooled threshold)."""
    held_rows, logit = _fits(req, extra, hidden, seeds, folds, say)
    members = [{"seed": s, **figures(held_rows, finetune.probability(logit[str(s)]))}
               for s in seeds]
    ensemble = finetune.probability(np.mean([logit[str(s)] for s in seeds], axis=0))
    return {"seeds": list(seeds), "members": members,
            "ensemble": figures(held_rows, ensemble),
            "soup": figures(held_rows, finetune.probability(logit["soup"]))}


def main(seeds: Sequence[int], variants: Sequence[str], out: Path, say: Any = print, *,
         tested: Sequence[str] | None = None, folds: Sequence[Sequence[str]] = FOLDS,
         soups: Sequence[Sequence[int]] = ()) -> dict[str, Any]:
    """Run each (variant, seed) not yet in ``out``; ``tested``: the staged voices under test
    (default all; the others join the corpus); ``folds``: the held-out source sets;
    ``soups``: seed sets, each fitted as a soup of the *staged* variant (`run_soup`)."""
    every = staged_sources()
    tested = every if tested is None else list(tested)
    if unknown := sorted(set(tested) - set(every)):
        raise ValueError(f"not a staged voice: {unknown} (staged: {every})")
    joined = [s for s in every if s not in tested]
    rows, _ = corpus_mod.build(staged=joined)
    req = [r for r in rows if r["kind"] == "request"]
    if missing := sorted({s for f in folds for s in f} - {r["source"] for r in req}):
        raise ValueError(f"held-out sources not in the corpus: {missing}")
    staged, drops = filter_staged(staged_rows(tested), req)
    say(f"staged rows kept: {len(staged)}; dropped: {drops}; joined the corpus: {joined}")
    hidden = finetune.hidden_states([r["text"] for r in req + staged])
    stock = validate.embed(list(hidden)) if "margin" in variants else None
    result: dict[str, Any] = {"folds": folds, "tested": tested, "joined": joined,
                              "staged_rows": len(staged), "drops": drops, "runs": []}
    result["soups"] = []
    if out.is_file():
        old = json.loads(out.read_text())
        result["runs"], result["soups"] = old["runs"], old.get("soups", [])
    done = {(r["variant"], r["seed"]) for r in result["runs"]}
    for seed in seeds:
        for variant in variants:
            if (variant, seed) in done:
                continue
            fig = run(req, [] if variant == "base" else staged, hidden, seed, folds, say,
                      stock if variant == "margin" else None)
            result["runs"].append({"variant": variant, **fig})
            say(json.dumps({k: v for k, v in result["runs"][-1].items() if k != "per_source"}))
            out.write_text(json.dumps(result, indent=1) + "\n")
    done_soups = {tuple(r["seeds"]) for r in result["soups"]}
    for group in soups:
        if tuple(group) in done_soups:
            continue
        fig = run_soup(req, staged, hidden, group, folds, say)
        result["soups"].append(fig)
        say(json.dumps({"seeds": fig["seeds"],
                        "members": [m["tpr_explicit"] for m in fig["members"]],
                        "ensemble": fig["ensemble"]["tpr_explicit"],
                        "soup": fig["soup"]["tpr_explicit"]}))
        out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python -m training.embedded_judge.pilot")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--variants", nargs="+", choices=["base", "staged", "margin"],
                    help="default: base and staged, or none when --soup is given; margin: "
                    "staged plus the pairwise margin objective")
    ap.add_argument("--out", type=Path, default=sources.cache_dir() / "pilot.json",
                    help="results (runs already in it are not redone)")
    ap.add_argument("--tested", nargs="+", metavar="VOICE",
                    help="staged voices under test, as voice_<name> (default: all staged "
                         "voices); the other staged voices join the corpus")
    ap.add_argument("--folds", choices=sorted(FOLD_SETS), default="blunt")
    ap.add_argument("--soup", type=int, nargs="+", action="append", default=[],
                    metavar="SEED", help="fit a soup of these seeds (staged variant); "
                    "repeat for several soups")
    a = ap.parse_args()
    variants = a.variants if a.variants is not None else [] if a.soup else ["base", "staged"]
    main(a.seeds, variants, a.out, tested=a.tested,
         folds=FOLD_SETS[a.folds], soups=a.soup)
