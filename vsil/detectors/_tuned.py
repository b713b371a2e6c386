"""Fine-tuned top layers of the MiniLM encoder, written out in plain torch.

The embedded judge reads a query through the shared, frozen all-MiniLM-L6-v2 up to layer
``start`` and then through its own copy of the last layers, fine-tuned to tell stated harm from
harmless phrasing (``training/embedded_judge/finetune.py``). Only those layers ship (in
``classifier.npz``); the stock encoder below them is shared with every other detector.

The layers are BERT encoder layers (self-attention, then a GELU feed-forward block, each with
a residual connection and LayerNorm), implemented here rather than through transformers'
layer classes, so training and inference run the same code whatever the transformers version.
The output is the attention-masked mean of the last hidden states, unit-normalised, as
sentence-transformers pools all-MiniLM-L6-v2.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

#: parameter names of one layer, in the order they are stored
PARAMS = ("q_w", "q_b", "k_w", "k_b", "v_w", "v_b", "o_w", "o_b", "ln1_w", "ln1_b",
          "i_w", "i_b", "f_w", "f_b", "ln2_w", "ln2_b")
#: the transformers BertLayer state-dict names of the same parameters
HF_NAMES = {
    "q_w": "attention.self.query.weight", "q_b": "attention.self.query.bias",
    "k_w": "attention.self.key.weight", "k_b": "attention.self.key.bias",
    "v_w": "attention.self.value.weight", "v_b": "attention.self.value.bias",
    "o_w": "attention.output.dense.weight", "o_b": "attention.output.dense.bias",
    "ln1_w": "attention.output.LayerNorm.weight", "ln1_b": "attention.output.LayerNorm.bias",
    "i_w": "intermediate.dense.weight", "i_b": "intermediate.dense.bias",
    "f_w": "output.dense.weight", "f_b": "output.dense.bias",
    "ln2_w": "output.LayerNorm.weight", "ln2_b": "output.LayerNorm.bias",
}


def build_module(n_layers: int, *, hidden: int = 384, heads: int = 12, eps: float = 1e-12,
                 dropout: float = 0.0) -> Any:
    """A torch module of ``n_layers`` BERT layers + masked mean pooling + L2 normalisation."""
    import torch
    from torch import nn
    from torch.nn import functional as fn

    class Layer(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.q = nn.Linear(hidden, hidden)
            self.k = nn.Linear(hidden, hidden)
            self.v = nn.Linear(hidden, hidden)
            self.o = nn.Linear(hidden, hidden)
            self.ln1 = nn.LayerNorm(hidden, eps=eps)
            self.i = nn.Linear(hidden, 4 * hidden)
            self.f = nn.Linear(4 * hidden, hidden)
            self.ln2 = nn.LayerNorm(hidden, eps=eps)
            self.drop = nn.Dropout(dropout)

        def forward(self, h: Any, additive_mask: Any) -> Any:
            b, n, _ = h.shape
            d = hidden // heads

            def split(x: Any) -> Any:
                return x.view(b, n, heads, d).transpose(1, 2)

            scores = split(self.q(h)) @ split(self.k(h)).transpose(-1, -2) / math.sqrt(d)
            probs = self.drop(torch.softmax(scores + additive_mask, dim=-1))
            ctx = (probs @ split(self.v(h))).transpose(1, 2).reshape(b, n, hidden)
            a = self.ln1(self.drop(self.o(ctx)) + h)
            return self.ln2(self.drop(self.f(fn.gelu(self.i(a)))) + a)

    class Top(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(Layer() for _ in range(n_layers))

        def forward(self, h: Any, mask: Any) -> Any:
            additive = (1.0 - mask[:, None, None, :].to(h.dtype)) * -1e9
            for layer in self.layers:
                h = layer(h, additive)
            m = mask[..., None].to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
            return fn.normalize(pooled, dim=-1)

    return Top()


def _module_names(k: int) -> dict[str, str]:
    short = {"q": "q", "k": "k", "v": "v", "o": "o", "ln1": "ln1", "i": "i", "f": "f",
             "ln2": "ln2"}
    out = {}
    for p in PARAMS:
        mod, kind = p.rsplit("_", 1)
        out[p] = f"layers.{k}.{short[mod]}.{'weight' if kind == 'w' else 'bias'}"
    return out


def load_state(module: Any, arrays: Mapping[str, npt.NDArray[Any]], prefix: str) -> None:
    """Copy ``{prefix}{k}_{param}`` arrays into ``module`` (as written by `state_arrays`)."""
    import torch

    state = {}
    for k in range(len(module.layers)):
        for p, name in _module_names(k).items():
            state[name] = torch.from_numpy(np.asarray(arrays[f"{prefix}{k}_{p}"],
                                                      dtype=np.float32))
    module.load_state_dict(state)


def state_arrays(module: Any, prefix: str) -> dict[str, npt.NDArray[np.float32]]:
    """The module's parameters as ``{prefix}{k}_{param}`` float32 arrays."""
    sd = module.state_dict()
    out = {}
    for k in range(len(module.layers)):
        for p, name in _module_names(k).items():
            out[f"{prefix}{k}_{p}"] = sd[name].detach().cpu().numpy().astype(np.float32)
    return out


def from_hf_layers(module: Any, hf_layers: Any) -> None:
    """Initialise ``module`` from transformers BertLayer modules (the stock weights)."""
    state = {}
    for k, layer in enumerate(hf_layers):
        sd = layer.state_dict()
        for p, name in _module_names(k).items():
            state[name] = sd[HF_NAMES[p]].detach().clone()
    module.load_state_dict(state)
