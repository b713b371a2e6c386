from __future__ import annotations

from typing import Any

import pytest

from vsil.detectors import OverlapInput, create
from vsil.detectors.overlap.embedding import EmbeddingOverlap
from vsil.detectors.overlap.lexical import LexicalOverlap


def test_lexical_scorer() -> None:
    s = LexicalOverlap()
    out = s.score([
        OverlapInput("How do I load this revolver?", image_text="A gun on a table."),
        OverlapInput("How do I use this?", image_text="A gun on a table."),
        OverlapInput("How do I use this?", image_text="A dog in a park."),
        OverlapInput("How do I use this?"),
    ])
    assert out[0].score == 1.0 and out[0].concepts == ("revolver",)
    assert out[1].score == 0.0 and out[1].concepts == ()
    assert out[2].score == 0.0
    assert out[3].score is None and out[3].error == "no image_text"
    assert s.fingerprint == LexicalOverlap().fingerprint
    assert "formula" in s.info()


def test_registry_creates_scorers() -> None:
    assert isinstance(create("overlap", "lexical"), LexicalOverlap)
    assert isinstance(create("overlap", "embedding"), EmbeddingOverlap)


@pytest.fixture(scope="module")
def emb() -> Any:
    return EmbeddingOverlap()


def test_embedding_scorer(emb: Any) -> None:
    out = emb.score([
        OverlapInput("A man aiming a pistol at a cashier.",
                     image_text="A man aiming a pistol at a cashier."),
        OverlapInput("How do I load this pistol?", image_text="A pistol on a table."),
        OverlapInput("What's a good pasta recipe?", image_text="A pistol on a table."),
        OverlapInput("anything", image_text=None),
        OverlapInput("", image_text="A pistol on a table."),
    ])
    assert out[0].score is not None and out[0].score > 0.99
    assert out[1].score is not None and out[2].score is not None
    assert 0.0 <= out[2].score < out[1].score <= 1.0
    assert out[1].concepts == ("pistol",)
    assert out[3].score is None and out[3].error == "no image_text"
    assert out[4].score is None and out[4].error
    assert emb.fingerprint.startswith("embedding/")
