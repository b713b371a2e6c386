"""The shared MiniLM encoder batches texts by token count and still gives
sentence-transformers' own embeddings."""

from __future__ import annotations

import numpy as np
from sentence_transformers import SentenceTransformer

from vsil.detectors._encoder import Encoder, by_token_count

# character length and token count disagree: long single words are few tokens per character
TEXTS = [
    "a b c d e f g h i j k l m n o p",                 # 16 tokens, 31 characters
    "Supercalifragilisticexpialidocious",              # a few tokens, 34 characters
    "How do I pick the lock on this door?",
    "",
    "  leading and trailing spaces  ",
    "x",
    "Antidisestablishmentarianism and photosynthesis",
    "what is the best way to use this " * 40,          # truncated at 256 tokens
]


def test_batches_follow_token_counts_not_characters() -> None:
    enc = Encoder(batch_size=2)
    model = enc._load()
    tok = model.tokenizer
    order = by_token_count(model, list(TEXTS))
    assert sorted(order) == sorted(TEXTS)
    n_tokens = [len(tok(t, truncation=True, max_length=256)["input_ids"]) for t in order]
    assert n_tokens == sorted(n_tokens)
    assert order != sorted(TEXTS, key=len)  # the example is one where the two orders differ
    batches = [chunk for chunk, *_ in enc.hidden_states(TEXTS, 4)]
    assert [t for chunk in batches for t in chunk] == order


def test_embeddings_equal_sentence_transformers_encode() -> None:
    enc = Encoder(batch_size=3)
    ours = enc.encode(TEXTS)
    model: SentenceTransformer = enc._load()
    ref = model.encode(TEXTS, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    # the stock vectors memoised by a tuned pass are the same embeddings
    again = Encoder(batch_size=3)
    from vsil.detectors._tuned import build_module

    top = build_module(2)
    top.eval()
    again.encode_tuned(TEXTS, top, 4, tag="random-top")
    np.testing.assert_allclose(again.encode(TEXTS), ref, atol=1e-4)
