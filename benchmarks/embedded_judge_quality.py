"""Quality and speed of the embedded judge: VLSBench figures, vsil's leaky-pair set, unseen
writers, throughput.

Run: ``HF_HUB_OFFLINE=1 python benchmarks/embedded_judge_quality.py [--no-speed]``.

VLSBench (every pair harmful only through its image) is *reported*, never a target: nothing in
the judge was chosen on it. Leaky-pair set (tests/detectors/data/leaky_pairs.jsonl, written for
vsil, not in the training corpus): J(T) on leaky pairs, on neutral-query pairs, J(T,I) on benign
pairs. Unseen writers (benchmarks/data/unseen_writers/, six voices no training row was written
in, never trained on): J(T)'s AUROC, TPR on explicit requests and FPR on hard negatives at the
shipped threshold, pooled, per voice and per category. Photo messages
(benchmarks/data/photo_messages/, four more voices, a different brief, never trained on):
messages sent with a photo, leaky (the words state the harm) or leak-free (harmless words, a
risky picture): J(T)'s AUROC and flag rates, and J(T,I) with the writer's picture description.
Speed: J(T) + J(T,I) with an empty memo beside the bare MiniLM encode of the same texts.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from vsil.dataset import read_rows
from vsil.detectors import Encoder, JudgeInput, Verdict
from vsil.detectors.judges.embedded import EmbeddedJudge

LEAKY = Path(__file__).resolve().parents[1] / "tests" / "detectors" / "data" / "leaky_pairs.jsonl"
UNSEEN = Path(__file__).resolve().parent / "data" / "unseen_writers"
PHOTO = Path(__file__).resolve().parent / "data" / "photo_messages"


def rate(vs: list[Verdict]) -> float:
    return float(np.mean([v.unsafe is True for v in vs])) if vs else float("nan")


def vlsbench(judge: EmbeddedJudge) -> dict[str, Any]:
    import vsil

    samples = list(vsil.load("vlsbench"))
    jt = judge.judge([JudgeInput(s.text) for s in samples])
    jti = judge.judge([JudgeInput(s.text, image_text=s.image_text) for s in samples])
    n = len(samples)
    r1 = sum(v.unsafe is True for v in jti) / n
    r2 = sum(a.unsafe is True and b.unsafe is True for a, b in zip(jti, jt, strict=True)) / n
    per: dict[str, list[tuple[Verdict, Verdict]]] = defaultdict(list)
    for s, a, b in zip(samples, jt, jti, strict=True):
        per[s.category or "?"].append((a, b))
    cat_hit = [bool(b.categories and b.categories[0] == s.category)
               for s, b in zip(samples, jti, strict=True) if b.unsafe]
    return {
        "n": n,
        "errors": sum(v.error is not None for v in jt),
        "J(T) unsafe": sum(v.unsafe is True for v in jt) / n,
        "J(T,I) unsafe (R1)": r1,
        "R2": r2,
        "R2/R1": r2 / r1 if r1 else float("nan"),
        "top category == VLSBench category (unsafe pairs)": float(np.mean(cat_hit)),
        "per category": {c: {"n": len(v), "J(T)": rate([a for a, _ in v]),
                             "J(T,I)": rate([b for _, b in v])}
                         for c, v in sorted(per.items())},
    }


def leaky_set(judge: EmbeddedJudge) -> dict[str, Any]:
    rows = read_rows(LEAKY)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r.get("group") or ("leaky" if r["leaky"] else "neutral")].append(r)
    out: dict[str, Any] = {"n": len(rows)}
    for g, rs in sorted(groups.items()):
        jt = judge.judge([JudgeInput(r["text"]) for r in rs])
        jti = judge.judge([JudgeInput(r["text"], image_text=r["image_text"]) for r in rs])
        out[g] = {"n": len(rs), "J(T) unsafe": rate(jt), "J(T,I) unsafe": rate(jti)}
    return out


def read_voices(folder: Path) -> list[dict[str, Any]]:
    """Rows of every ``voice_*.jsonl`` in ``folder``, each tagged with its voice."""
    rows = [{**r, "voice": f.stem.removeprefix("voice_")}
            for f in sorted(folder.glob("voice_*.jsonl")) for r in read_rows(f)]
    if not rows:
        raise FileNotFoundError(f"no voice_*.jsonl rows in {folder}")
    return rows


def text_scores(judge: EmbeddedJudge, rows: list[dict[str, Any]]) -> Any:
    """J(T)'s ``p_unsafe`` of each row's text."""
    return np.array([v.p_unsafe for v in judge.judge([JudgeInput(r["text"]) for r in rows])])


def separation(rows: list[dict[str, Any]], p: Any, t: float, pos: str, neg: str,
               extra: Any = None) -> dict[str, Any]:
    """AUROC of ``p`` for harmful vs safe rows, the share of each group at or above ``t``,
    pooled, per voice and per category (``extra(harmful, safe)``, given the cell's two masks,
    adds figures to each cell)."""
    from sklearn.metrics import roc_auc_score

    y = np.array([r["label"] != "safe" for r in rows])

    def figures(m: Any) -> dict[str, Any]:
        out = {"n": int(m.sum()), "auroc": round(float(roc_auc_score(y[m], p[m])), 4),
               pos: round(float((p[m & y] >= t).mean()), 4),
               neg: round(float((p[m & ~y] >= t).mean()), 4)}
        return {**out, **(extra(m & y, m & ~y) if extra else {})}

    out: dict[str, Any] = {"threshold": t, "all": figures(np.ones(len(rows), bool))}
    for key in ("voice", "category"):
        col = np.array([r[key] for r in rows])
        out[f"per {key}"] = {k: figures(col == k) for k in sorted(set(col))}
    return out


def unseen_writers(judge: EmbeddedJudge) -> dict[str, Any]:
    """J(T) on the held-out writers' explicit requests and hard negatives."""
    rows = read_voices(UNSEEN)
    return separation(rows, text_scores(judge, rows), judge.thresholds["text"],
                      "tpr_explicit", "fpr_hard_negative")


def photo_messages(judge: EmbeddedJudge) -> dict[str, Any]:
    """J(T) on held-out messages sent with a photo: leaky ones (the words state the harm) vs
    leak-free ones (harmless words, a risky picture); J(T,I) on the same messages with the
    writer's description of the picture, where every pair is harmful."""
    rows = read_voices(PHOTO)
    pair = np.array([v.unsafe is True for v in judge.judge(
        [JudgeInput(r["text"], image_text=r["image_text"]) for r in rows])])

    def pairs(leaky: Any, leak_free: Any) -> dict[str, Any]:
        return {"J(T,I) leaky": round(float(pair[leaky].mean()), 4),
                "J(T,I) leak_free": round(float(pair[leak_free].mean()), 4)}

    out = separation(rows, text_scores(judge, rows), judge.thresholds["text"],
                     "J(T) leaky", "J(T) leak_free", pairs)
    return {"pair_threshold": judge.thresholds["pair"], **out}


def speed(n: int | None = None, repeats: int = 2) -> dict[str, float]:
    """Judge (J(T) + J(T,I), empty memo) vs bare encode of the same texts; min over repeats,
    alternating the two so that background load hits both alike."""
    import vsil

    samples = list(vsil.load("vlsbench"))[:n]
    texts = [s.text for s in samples if s.text.strip()]
    descs = [s.image_text or "" for s in samples if s.text.strip()]
    uniq = list(dict.fromkeys(texts + descs))
    warm = Encoder()
    warm.encode(["warm up the model"])
    model = warm._load()
    bare: list[float] = []
    full: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.encode(uniq, batch_size=warm.batch_size, normalize_embeddings=True,
                     convert_to_numpy=True)
        bare.append(time.perf_counter() - t0)
        enc = Encoder()
        enc._model = model  # a loaded model, an empty memo: the judge pays for every encode
        judge = EmbeddedJudge(encoder=enc)
        t0 = time.perf_counter()
        judge.judge([JudgeInput(s.text) for s in samples])
        judge.judge([JudgeInput(s.text, image_text=s.image_text) for s in samples])
        full.append(time.perf_counter() - t0)
    # everything but the encoder: the same calls again, every text now memoised
    t0 = time.perf_counter()
    judge.judge([JudgeInput(s.text) for s in samples])
    judge.judge([JudgeInput(s.text, image_text=s.image_text) for s in samples])
    overhead = time.perf_counter() - t0
    return {"pairs": len(samples), "texts encoded": len(uniq), "bare encode s": min(bare),
            "judge J(T)+J(T,I) s": min(full), "ratio": min(full) / min(bare),
            "judge overhead beyond encoding s": overhead,
            "overhead / bare encode": overhead / min(bare),
            "pairs/s": len(samples) / min(full)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--speed-n", type=int, default=None, help="pairs for the speed run")
    ap.add_argument("--only-speed", action="store_true")
    args = ap.parse_args()
    judge = EmbeddedJudge()
    print("fingerprint:", judge.fingerprint)
    if not args.only_speed:
        print(json.dumps({"vlsbench": vlsbench(judge), "leaky_pairs": leaky_set(judge),
                          "unseen_writers": unseen_writers(judge),
                          "photo_messages": photo_messages(judge)}, indent=1))
    if not args.no_speed:
        print(json.dumps({"speed": speed(args.speed_n)}, indent=1))


if __name__ == "__main__":
    main()
