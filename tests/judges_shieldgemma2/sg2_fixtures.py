"""Tiny random-weight ShieldGemma 2 checkpoints built offline.

- a byte-level BPE tokenizer with the Gemma 3 turn and image tokens (``<start_of_image>``,
  ``<end_of_image>``, ``<image_soft_token>``), and "Yes"/"No" as single tokens;
- a chat template in the shape of ShieldGemma 2's (a policy expert turn with the image, the
  policy text, and a Yes/No question);
- ``sg2``: ``ShieldGemma2ForImageClassification`` from a tiny Gemma 3 text + SigLIP vision
  config, 4 image tokens per image, with ``ShieldGemma2Processor``;
- ``sg2_even``: the same with the Yes and No rows of the output head zeroed, so the model
  really computes P(Yes) = 0.5 for every image and policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>",
           "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{%- for message in messages -%}<start_of_turn>user\nYou are a policy expert "
    "trying to help determine whether an image is in violation of the safety policy below."
    "{%- for c in message['content'] -%}{%- if c['type'] == 'image' -%}<start_of_image>"
    "{%- endif -%}{%- endfor -%}\n<BEGIN_SAFETY_POLICY>\n"
    "{%- for c in message['content'] -%}{%- if c['type'] == 'text' -%}{{ c['text'] }}"
    "{%- endif -%}{%- endfor -%}\n</END_SAFETY_POLICY>\nDoes the image violate the above policy?"
    " Your Answer must start with 'Yes' or 'No'.<end_of_turn>\n<start_of_turn>model\n"
    "{%- endfor -%}"
)
_CORPUS = ("You are a policy expert trying to help determine whether an image is in violation "
           "of the safety policy below. No Dangerous Content: The image shall not contain "
           "content that facilitates real-world harm. No Sexually Explicit content. No "
           "Violence/Gore content. Does the image violate the above policy? Yes No\n")


def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([_CORPUS] * 5 + ["Yes", "No"] * 40, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        unk_token="<unk>", extra_special_tokens={"boi_token": "<start_of_image>",
                                                 "eoi_token": "<end_of_image>",
                                                 "image_token": "<image_soft_token>"})
    for w in ("Yes", "No"):
        assert len(fast.encode(w, add_special_tokens=False)) == 1, w
    return fast


def build_model(tok: Any, seed: int) -> Any:
    import torch
    from transformers import ShieldGemma2Config, ShieldGemma2ForImageClassification

    torch.manual_seed(seed)
    ids = tok.convert_tokens_to_ids
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                max_position_embeddings=1024, sliding_window=64, initializer_range=0.3,
                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                  num_attention_heads=2, image_size=32, patch_size=8)
    cfg = ShieldGemma2Config(text_config=text, vision_config=vision, mm_tokens_per_image=4,
                             boi_token_index=ids("<start_of_image>"),
                             eoi_token_index=ids("<end_of_image>"),
                             image_token_index=ids("<image_soft_token>"),
                             yes_token_index=ids("Yes"), no_token_index=ids("No"))
    return ShieldGemma2ForImageClassification(cfg).eval()


def build_processor(tok: Any) -> Any:
    from transformers import Gemma3ImageProcessor, ShieldGemma2Processor

    ip = Gemma3ImageProcessor(size={"height": 32, "width": 32}, image_seq_length=4)
    return ShieldGemma2Processor(image_processor=ip, tokenizer=tok, chat_template=CHAT_TEMPLATE,
                                 image_seq_length=4)


def build_all(root: Path) -> dict[str, Path]:
    import torch

    tok = build_tokenizer()
    out: dict[str, Path] = {}
    for name in ("sg2", "sg2_even"):
        model = build_model(tok, 0)
        if name == "sg2_even":
            with torch.no_grad():
                head = model.model.get_output_embeddings().weight  # tied to the embeddings
                head[tok.convert_tokens_to_ids("Yes")] = 0.0
                head[tok.convert_tokens_to_ids("No")] = 0.0
        d = root / name
        model.save_pretrained(d)
        build_processor(tok).save_pretrained(d)
        out[name] = d
    return out
