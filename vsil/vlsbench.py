"""VLSBench, the reference leak-free benchmark: load it, grow it, evaluate MLLMs on it.

``vsil.vlsbench.load()`` is ``vsil.load("vlsbench", ...)``; ``generate`` is the four-step
construction pipeline; ``evaluate`` runs an MLLM and the three-label judge.
"""

from __future__ import annotations

from typing import Any

from vsil.dataset import Dataset
from vsil.dataset import load as _load
from vsil.eval import evaluate
from vsil.generate import generate


def load(root: str | None = None, **kwargs: Any) -> Dataset:
    """VLSBench from ``root`` (data.json + imgs/), or the copy shipped with vsil."""
    return _load("vlsbench", root=root, **kwargs)


__all__ = ["evaluate", "generate", "load"]
