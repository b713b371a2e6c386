"""The transformers captioner end to end with a tiny random-weight BLIP built from configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsil.dataset import ImageRef

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]",
         "a", "photo", "of", "the", "cat", "dog", "list", "steps", "text", "drugs", "gun",
         "cake", "with", "on", "in"]


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BLIP captioner with random weights, its tokenizer and image processor, saved to disk."""
    torch = pytest.importorskip("torch")
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    out = tmp_path_factory.mktemp("tiny-blip")
    tok = BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)}, bos_token="[DEC]")
    text = BlipTextConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64,
                          num_hidden_layers=2, num_attention_heads=2,
                          max_position_embeddings=64, bos_token_id=5, pad_token_id=0,
                          sep_token_id=3, eos_token_id=3, encoder_hidden_size=32)
    vision = BlipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, image_size=32, patch_size=8)
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(BlipConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=32))
    model.save_pretrained(out)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                  tokenizer=tok).save_pretrained(out)
    return out


def test_captions_images_offline(tiny_blip: Path, typo_dir: Path) -> None:
    from vsil.detectors.describers.caption_hf import HFCaptioner

    cap = HFCaptioner(str(tiny_blip), max_new_tokens=6, batch_size=2)
    refs = [ImageRef.from_path(typo_dir, "harmful.png"), ImageRef.from_path(typo_dir, "benign.png"),
            ImageRef.from_path(typo_dir, "harmful.png"), ImageRef(data=b"junk", label="junk.png")]
    out = cap.describe(refs)
    assert [d.source for d in out] == ["caption-hf"] * 4
    for d in out[:3]:
        assert d.error is None and d.text  # random weights: some words of the tiny vocabulary
        assert set(d.text.split()) <= set(WORDS)
    assert out[0].text == out[2].text  # greedy: deterministic, batch position does not matter
    assert out[3].text is None and "junk.png" in (out[3].error or "")
    again = HFCaptioner(str(tiny_blip), max_new_tokens=6)
    assert again.fingerprint == cap.fingerprint
    assert HFCaptioner(str(tiny_blip), max_new_tokens=7).fingerprint != cap.fingerprint
    assert again.describe(refs[:1])[0].text == out[0].text  # batch of 1 == batch of 2


def test_audit_uses_captions_as_image_text(tiny_blip: Path, typo_dir: Path) -> None:
    import vsil

    rows = [{"id": "a", "text": "What is in the picture?", "image": "benign.png"}]
    res = vsil.audit(rows, image_root=typo_dir, judge="embedded", overlap=("lexical",),
                     describe=[f"caption-hf:{tiny_blip}"], cache=False, quiet=True)
    s = res.samples.iloc[0]
    assert s["image_text_source"] == "caption-hf" and s["image_text"]
    assert res.summary.image_text_sources == {"caption-hf": 1}
