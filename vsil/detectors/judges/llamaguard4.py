"""Llama Guard 4 (12B) through transformers (extra ``[guards]``).

- ``llamaguard4``: meta-llama/Llama-Guard-4-12B (``Llama4ForConditionalGeneration`` +
  ``AutoProcessor``). One checkpoint judges text alone (J(T), categories S1–S14) and text
  with an image (J(T,I), S1–S13: S14 Code Interpreter Abuse is text-only).
- ``llamaguard4:PATH``: a local folder or hub id of a Llama Guard 4 checkpoint.

Everything else is the Llama Guard 3 judge (`LlamaGuardJudge`): the checkpoint's own chat
template when it renders the documented format (else the built-in one,
`llamaguard_prompt.LLAMA_GUARD_4`), ``excluded_categories`` passed to it as
``excluded_category_keys``, batched greedy decoding with left padding. Two differences:

* **The score.** Llama Guard 4 writes two newlines before its label (``"\\n\\nunsafe\\nS9"``).
  ``p_unsafe`` is read at the first generated token that is not whitespace, so it is the
  probability of "unsafe" against "safe" where the label is written, not at a newline.
* **Workarounds.** ``attention_chunk_size`` is ``null`` in the checkpoint's config, which
  breaks ``generate`` on some transformers versions (meta-llama/PurpleLlama#119): it is set
  to 8192 before loading (prompts are far shorter, so attention is unchanged). Where
  transformers' own ``Llama4ForConditionalGeneration.forward`` fails (5.2x reads an
  ``image_outputs`` field its language model does not return), the judge embeds the image
  itself (vision tower, projector, ``masked_scatter`` at the image tokens) and generates from
  the language model; ``info()`` records which path ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

from vsil.detectors._registry import register_detector
from vsil.detectors.judges.llamaguard import LlamaGuardJudge, LoadedModel, placement
from vsil.detectors.judges.llamaguard_prompt import CATEGORIES_8B, LLAMA_GUARD_4, PromptFormat

HUB_ID = "meta-llama/Llama-Guard-4-12B"
#: what a ``null`` ``attention_chunk_size`` is replaced with
CHUNK_SIZE = 8192


def patch_attention_chunk_size(config: Any, size: int = CHUNK_SIZE) -> bool:
    """Set ``text_config.attention_chunk_size`` to ``size`` when it is None; True if it was."""
    text = getattr(config, "text_config", None)
    if text is None or getattr(text, "attention_chunk_size", 0) is not None:
        return False
    text.attention_chunk_size = size
    return True


def generate_from_embeddings(model: Any, batch: dict[str, Any], gen_cfg: Any
                             ) -> tuple[Any, tuple[Any, ...]]:
    """Greedy generation through the language model from embeddings built here.

    The image features (vision tower, then projector) replace the embeddings of the image
    placeholder tokens, as ``Llama4ForConditionalGeneration.forward`` does. Returns the
    generated ids and one logits tensor per generated position.
    """
    ids = batch["input_ids"]
    embeds = model.get_input_embeddings()(ids)
    pixels = batch.get("pixel_values")
    if pixels is not None:
        feats = model.get_image_features(pixel_values=pixels, return_dict=True)
        hidden = getattr(feats, "last_hidden_state", feats)
        flat = hidden.reshape(-1, hidden.size(-1))
        projected = model.multi_modal_projector(flat).to(embeds.device, embeds.dtype)
        mask = (ids == model.config.image_token_id).unsqueeze(-1)
        if int(mask.sum()) * embeds.shape[-1] != projected.numel():
            raise ValueError(f"image tokens ({int(mask.sum())}) and image features "
                             f"({projected.shape[0]}) do not match")
        embeds = embeds.masked_scatter(mask.expand_as(embeds), projected)
    out = model.language_model.generate(inputs_embeds=embeds,
                                        attention_mask=batch["attention_mask"],
                                        generation_config=gen_cfg)
    return out.sequences, tuple(out.logits)


class LlamaGuard4Judge(LlamaGuardJudge):
    """Llama Guard 4 12B: text alone or with one image, categories S1–S14 (S1–S13 with one)."""

    name: ClassVar[str] = "llamaguard4"
    uses_image_pixels: ClassVar[bool] = True
    default_batch_size: ClassVar[int] = 4
    default_categories: ClassVar[Mapping[str, str]] = CATEGORIES_8B
    prompt_format: ClassVar[PromptFormat] = LLAMA_GUARD_4
    skip_leading_newlines: ClassVar[bool] = True
    backend: ClassVar[str] = "transformers-llamaguard4"
    spec_name: ClassVar[str] = "llamaguard4"

    def __init__(self, model: str = HUB_ID, **kw: Any) -> None:
        super().__init__(model, **kw)
        self.chunk_size_patched: bool | None = None
        self.generation_path = "model.generate"

    def load_model(self, path: str, dtype: Any, device: str, kw: dict[str, Any]
                   ) -> tuple[Any, Any, Any]:
        import transformers

        tf = cast(Any, transformers)
        config = tf.AutoConfig.from_pretrained(path, **kw)
        self.chunk_size_patched = patch_attention_chunk_size(config)
        proc = tf.AutoProcessor.from_pretrained(path, **kw)
        model = tf.Llama4ForConditionalGeneration.from_pretrained(
            path, config=config, dtype=dtype, **placement(device), **kw)
        proc.tokenizer.padding_side = "left"
        return model, proc.tokenizer, proc

    def generate(self, rt: LoadedModel, batch: dict[str, Any], gen_cfg: Any
                 ) -> tuple[Any, tuple[Any, ...]]:
        if self.generation_path == "model.generate":
            try:
                return super().generate(rt, batch, gen_cfg)
            except AttributeError as e:
                if "image_outputs" not in str(e):
                    raise
                self.generation_path = "language_model.generate from embeddings"
        return generate_from_embeddings(rt.model, batch, gen_cfg)

    def extra_info(self) -> dict[str, Any]:
        return {
            "attention_chunk_size": (
                "not loaded" if self.chunk_size_patched is None else
                f"null in the config, set to {CHUNK_SIZE}" if self.chunk_size_patched
                else "as in the config"),
            "generation_path": self.generation_path,
        }


_OPTS = ("Options: device=, dtype=, batch_size= (4), max_new_tokens= (10), revision=, "
         "categories=, excluded_categories=.")


@register_detector(
    "llamaguard4", "judge", extra="guards",
    needs="text, with image pixels when there is an image; GPU (about 24 GB in bf16); "
          "torchvision",
    outputs="unsafe, p_unsafe (read after the leading newlines), S1-S14 categories "
            "(S1-S13 with an image)",
    description="Llama Guard 4 12B via transformers (Llama4ForConditionalGeneration); J(T) "
                "and J(T,I) from one checkpoint; 'llamaguard4:PATH' for a local folder. "
                + _OPTS)
def llamaguard4(model: str = HUB_ID, **kw: Any) -> LlamaGuard4Judge:
    return LlamaGuard4Judge(model, **kw)
