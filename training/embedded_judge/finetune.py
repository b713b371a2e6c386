"""Fine-tuning the top layers of MiniLM for J(T), and the tuned features of every text.

The shared stock encoder runs a text up to layer ``START`` (those hidden states are computed
once and kept); a copy of the last ``6 - START`` layers, initialised from the stock weights,
is trained with a logistic output on "states the harm" (unsafe) vs not, plus a category
output on the unsafe rows whose category is known. Only those layers and heads ship
(`vsil/detectors/_tuned.py` runs them at inference).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from training.embedded_judge.corpus import CATEGORIES

START = 3          # stock layers 0..2 are shared; layers 3, 4 and 5 are fine-tuned
TUNED = 6 - START  # all-MiniLM-L6-v2 has six layers
EPOCHS = 4
BATCH = 32
LR_LAYERS = 3e-5
LR_HEAD = 1e-3
DROPOUT = 0.1
CATEGORY_LOSS = 0.5
SEED = 0
#: (unsafe, safe) pairs per step of the pairwise margin objective, and its weight
PAIR_BATCH = 8
PAIR_WEIGHT = 1.0
#: batches are drawn from shuffled chunks of this many batches sorted by length (padding
#: 2.3x the real tokens with plain random batches, ~1.0x with these)
BUCKET_CHUNK = 50

F32 = npt.NDArray[np.float32]


def hidden_states(texts: Sequence[str]) -> dict[str, Any]:
    """Stock hidden states after layer ``START`` (trimmed to each text's tokens)."""
    from vsil.detectors import shared_encoder

    out: dict[str, Any] = {}
    for chunk, hidden, mask, _ in shared_encoder().hidden_states(texts, START):
        for t, h, m in zip(chunk, hidden, mask, strict=True):
            out[t] = h[: int(m.sum())].clone()
    return out


@dataclass
class Tuned:
    """A fine-tuned top (torch module) with its unsafe output (weights of a logistic head)."""

    top: Any
    w: npt.NDArray[np.float64]
    b: npt.NDArray[np.float64]

    def embed(self, texts: Sequence[str], hidden: dict[str, Any]) -> F32:
        import torch

        self.top.eval()
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: hidden[texts[i]].shape[0])
        with torch.inference_mode():
            for s in range(0, len(order), 128):
                idx = order[s:s + 128]
                h, m = _pad([hidden[texts[i]] for i in idx])
                out[idx] = self.top(h, m).numpy()
        return out

    def logit(self, x: F32) -> npt.NDArray[np.float64]:
        return np.asarray((np.asarray(x, np.float64) @ self.w + self.b)[:, 0])

    def prob(self, x: F32) -> npt.NDArray[np.float64]:
        return probability(self.logit(x))


def probability(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The logistic function of the unsafe output's logits."""
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -60, 60))))


def soup(members: Sequence[Tuned]) -> Tuned:
    """A uniform weight soup: one model whose tuned layers and unsafe output are the
    element-wise mean of the members' (fine-tunes of the same recipe from the same stock
    layers, differing in seed). It has one member's size and inference cost."""
    import copy

    import torch

    if not members:
        raise ValueError("a soup needs at least one member")
    top = copy.deepcopy(members[0].top)
    states = [m.top.state_dict() for m in members]
    with torch.no_grad():
        top.load_state_dict({k: torch.stack([s[k] for s in states]).mean(0)
                             for k in states[0]})
    top.eval()
    return Tuned(top, np.mean([m.w for m in members], axis=0),
                 np.mean([m.b for m in members], axis=0))


def _pad(hs: list[Any]) -> tuple[Any, Any]:
    import torch

    n = max(h.shape[0] for h in hs)
    h = torch.zeros(len(hs), n, hs[0].shape[1])
    m = torch.zeros(len(hs), n)
    for j, x in enumerate(hs):
        h[j, : x.shape[0]] = x
        m[j, : x.shape[0]] = 1.0
    return h, m


def length_batches(lengths: Sequence[int], rng: np.random.Generator, batch: int = BATCH,
                   chunk: int = BUCKET_CHUNK) -> list[npt.NDArray[np.int64]]:
    """One epoch's batches: a random permutation cut into chunks of ``chunk`` batches, each
    chunk sorted by length and cut into batches, the batches shuffled."""
    order = rng.permutation(len(lengths))
    out: list[npt.NDArray[np.int64]] = []
    for c in range(0, len(order), batch * chunk):
        part = np.array(sorted(order[c:c + batch * chunk], key=lambda i: lengths[i]))
        out += [part[s:s + batch] for s in range(0, len(part), batch)]
    return [out[i] for i in rng.permutation(len(out))]


def margin_pairs(rows: Sequence[Mapping[str, Any]], stock: F32) -> list[tuple[int, int]]:
    """(unsafe, safe) index pairs of ``rows`` for the pairwise margin objective: within each
    ``frame``, every unsafe row with every safe row (declared twins); and every hard negative
    with the explicit request nearest to it by ``stock`` (unit-length embeddings, one per
    row), unless the two are already declared twins."""
    frames: dict[str, tuple[list[int], list[int]]] = {}
    for i, r in enumerate(rows):
        if r.get("frame"):
            frames.setdefault(r["frame"], ([], []))[0 if r["unsafe"] else 1].append(i)
    pairs = {(u, s) for us, ss in frames.values() for u in us for s in ss}
    explicit = np.flatnonzero([r["unsafe"] and r["group"] == "explicit" for r in rows])
    hard = np.flatnonzero([not r["unsafe"] and r["group"] == "hard_negative" for r in rows])
    if len(explicit) and len(hard):
        e = np.asarray(stock, np.float32)
        for s0 in range(0, len(hard), 1024):
            part = hard[s0:s0 + 1024]
            near = explicit[(e[part] @ e[explicit].T).argmax(axis=1)]
            pairs.update(zip(near.tolist(), part.tolist(), strict=True))
    return sorted(pairs)


def fine_tune(texts: Sequence[str], unsafe: Sequence[bool], categories: Sequence[str],
              hidden: dict[str, Any], *, epochs: int = EPOCHS, seed: int = SEED,
              pairs: Sequence[tuple[int, int]] = ()) -> Tuned:
    """Train the top layers + outputs on these rows (classes balanced by the loss). With
    ``pairs`` ((unsafe, safe) indices into ``texts``), every step also draws ``PAIR_BATCH``
    of them and adds ``PAIR_WEIGHT`` x mean softplus(z_safe - z_unsafe) to the loss."""
    import torch
    from torch import nn

    from vsil.detectors import _tuned, shared_encoder

    torch.manual_seed(seed)
    random.seed(seed)
    top = _tuned.build_module(TUNED, dropout=DROPOUT)
    stock = shared_encoder()._load()[0].auto_model.encoder.layer[START:]
    _tuned.from_hf_layers(top, stock)
    head = nn.Linear(384, 1)
    cat_head = nn.Linear(384, len(CATEGORIES))
    y = torch.tensor(np.asarray(unsafe, dtype=np.float32))
    cat = torch.tensor([CATEGORIES.index(c) if (u and c in CATEGORIES) else -100
                        for u, c in zip(unsafe, categories, strict=True)])
    pos = float(y.sum())
    bce = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(y) - pos) / max(pos, 1.0)))
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    opt = torch.optim.AdamW([
        {"params": top.parameters(), "lr": LR_LAYERS},
        {"params": list(head.parameters()) + list(cat_head.parameters()), "lr": LR_HEAD},
    ], weight_decay=0.01)
    rng = np.random.default_rng(seed)
    lengths = [hidden[t].shape[0] for t in texts]
    pair_rng = np.random.default_rng([seed, 1])
    pair_idx = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    for _ in range(epochs):
        top.train()
        for idx in length_batches(lengths, rng):
            h, m = _pad([hidden[texts[i]] for i in idx])
            e = top(h, m)
            loss = bce(head(e)[:, 0], y[idx])
            ci = cat[idx]
            if (ci >= 0).any():
                loss = loss + CATEGORY_LOSS * ce(cat_head(e), ci)
            if len(pair_idx):
                drawn = pair_idx[pair_rng.integers(len(pair_idx), size=PAIR_BATCH)]
                hp, mp = _pad([hidden[texts[i]] for i in (*drawn[:, 0], *drawn[:, 1])])
                z = head(top(hp, mp))[:, 0]
                gap = z[:PAIR_BATCH] - z[PAIR_BATCH:]
                loss = loss + PAIR_WEIGHT * nn.functional.softplus(-gap).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    top.eval()
    return Tuned(top, head.weight.detach().numpy().T.astype(np.float64),
                 head.bias.detach().numpy().astype(np.float64))
