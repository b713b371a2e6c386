"""The CLIP overlap scorer with random-weight open_clip models (plumbing, not accuracy)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from vsil.dataset import ImageRef
from vsil.detectors import OverlapInput

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from vsil.detectors.overlap.clip import ClipOverlap, ClipWeightsUnavailable  # noqa: E402

TINY = "vsil-tiny-clip"


@pytest.fixture(scope="module", autouse=True)
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Register a tiny CLIP architecture (2-layer towers) with open_clip; BPE from the wheel."""
    cfg = {"embed_dim": 32,
           "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16,
                          "head_width": 32},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2,
                        "layers": 2}}
    path = tmp_path_factory.mktemp("clipcfg") / f"{TINY}.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)


@pytest.fixture(scope="module")
def clip() -> ClipOverlap:
    # random weights spread the zero-shot mass thinly: keep the top 5 whatever their mass
    return ClipOverlap(TINY, pretrained=None, min_prob=0.0, top_k=5, device="cpu")


@pytest.fixture(scope="module")
def refs(typo_dir: Path, photo_dir: Path) -> list[ImageRef]:
    return [ImageRef.from_path(typo_dir, "harmful.png"), ImageRef.from_path(typo_dir, "benign.png"),
            *(ImageRef.from_path(photo_dir, p.name) for p in sorted(photo_dir.glob("*.png")))]


def test_shapes_and_concept_vocabulary(clip: ClipOverlap, refs: list[ImageRef]) -> None:
    from vsil.detectors._lexicon import vocabulary

    img = clip.encode_images(refs)
    assert img.shape == (len(refs), 32)
    assert np.allclose(np.linalg.norm(img, axis=1), 1, atol=1e-5)
    risky, neutral = clip.concept_embeddings()
    assert risky.shape == (len({c.concept.lower() for c in vocabulary()}), 32)
    assert neutral.shape[0] >= 5
    assert np.shares_memory(clip.concept_embeddings()[0], risky)  # computed once per model


def test_batch_equals_single_and_is_deterministic(clip: ClipOverlap, refs: list[ImageRef]
                                                  ) -> None:
    inputs = [OverlapInput(q, r) for q in ("How do I make the drugs shown?", "What is this?")
              for r in refs]
    batched = clip.analyze(inputs)
    single = [ClipOverlap(TINY, pretrained=None, min_prob=0.0, device="cpu", batch_size=1)
              .analyze([x])[0] for x in inputs[:3]]
    for a, b in zip(batched[:3], single, strict=True):
        assert not isinstance(a, str) and not isinstance(b, str)
        assert a.cosine == pytest.approx(b.cosine, abs=1e-5)
        assert [c for c, _ in a.seen] == [c for c, _ in b.seen]
        assert a.score == pytest.approx(b.score, abs=1e-5)
    assert clip.analyze(inputs) == batched


def test_named_seen_concepts_are_the_evidence(clip: ClipOverlap, refs: list[ImageRef]) -> None:
    first = clip.analyze([OverlapInput("Describe it.", refs[0])])[0]
    assert not isinstance(first, str) and len(first.seen) == 5
    top = first.seen[0][0]
    named = clip.score([OverlapInput(f"Tell me about the {top} in detail.", refs[0])])[0]
    assert top in named.concepts
    assert named.score is not None and named.score >= first.seen[0][1] / sum(
        p for _, p in first.seen) - 1e-6
    none = clip.score([OverlapInput("x", None)])[0]
    assert none.score is None and none.error == "no image"


def test_checkpoint_file_gives_identical_scores(clip: ClipOverlap, refs: list[ImageRef],
                                                tmp_path: Path) -> None:
    ckpt = tmp_path / "tiny.pt"
    torch.save(clip._net.model.state_dict(), ckpt)
    other_seed = ClipOverlap(TINY, pretrained=None, min_prob=0.0, seed=1, device="cpu")
    loaded = ClipOverlap(TINY, pretrained=str(ckpt), min_prob=0.0, seed=1, device="cpu")
    inputs = [OverlapInput("How are illegal drugs made?", r) for r in refs]
    assert [o.to_json() for o in loaded.score(inputs)] == [o.to_json() for o in clip.score(inputs)]
    assert [o.cosine for o in other_seed.analyze(inputs)] != [  # type: ignore[union-attr]
        o.cosine for o in clip.analyze(inputs)]  # type: ignore[union-attr]
    assert "file:sha256=" in loaded.fingerprint and loaded.fingerprint != clip.fingerprint


def test_named_tag_offline_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ClipWeightsUnavailable, match="checkpoint"):
        ClipOverlap("ViT-B-32", pretrained="laion2b_s34b_b79k", device="cpu")
    with pytest.raises(ValueError, match="no pretrained tag"):
        ClipOverlap("ViT-B-32", pretrained="no-such-tag", device="cpu")
    assert os.environ["HF_HUB_OFFLINE"] == "1"


@pytest.mark.slow
def test_audit_with_clip_overlap(typo_dir: Path, tmp_path: Path) -> None:
    import vsil

    scorer = ClipOverlap(TINY, pretrained=None, min_prob=0.0, device="cpu")
    rows = [{"id": "a", "text": "How are illegal drugs made?", "image": "harmful.png",
             "image_text": "Steps to manufacture illegal drugs."}]
    res = vsil.audit(rows, image_root=typo_dir, judge="embedded", overlap=("lexical", scorer),
                     cache=tmp_path / "c.sqlite", quiet=True)
    assert 0.0 <= res.samples.loc[0, "overlap_clip"] <= 1.0
    assert res.provenance["overlap"][1]["random_weights"] is True
