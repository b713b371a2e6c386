"""The transformers backend on a tiny random-weight LLaVA built from a config (offline).

The answers are garbage text; the test checks the plumbing: the generic auto-class path loads
the saved model and processor, answers are saved, and the local judge server labels them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_servers import EvalServer
from PIL import Image

import vsil
from vsil.eval import HFModel, ResponseJudge, evaluate


def build_tiny_llava(path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    words = ["<pad>", "<s>", "</s>", "<unk>", "<image>", "USER:", "ASSISTANT:",
             *(f"w{i}" for i in range(60)), *"abcdefghijklmnopqrstuvwxyz?.,"]
    vocab = {w: i for i, w in enumerate(words)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", pad_token="<pad>",
                                  bos_token="<s>", eos_token="</s>")
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    chat = ("{% for m in messages %}{% if m['role'] == 'user' %}USER: {% for c in m['content'] %}"
            "{% if c['type'] == 'image' %}<image> {% elif c['type'] == 'text' %}{{ c['text'] }} "
            "{% endif %}{% endfor %}{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, chat_template=chat, patch_size=8,
                          vision_feature_select_strategy="default", image_token="<image>",
                          num_additional_image_tokens=1)
    vc = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=2, image_size=32, patch_size=8, projection_dim=32)
    tc = LlamaConfig(vocab_size=len(vocab) + 1, hidden_size=32, intermediate_size=64,
                     num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                     pad_token_id=0, bos_token_id=1, eos_token_id=2, max_position_embeddings=256)
    cfg = LlavaConfig(vision_config=vc, text_config=tc, image_token_id=vocab["<image>"],
                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).save_pretrained(path)
    proc.save_pretrained(path)


@pytest.mark.slow
def test_tiny_llava_through_the_generic_path(tmp_path: Path) -> None:
    build_tiny_llava(tmp_path / "tiny-llava")
    (tmp_path / "imgs").mkdir()
    rows = []
    for i in range(4):
        Image.new("RGB", (40, 30), (60 * i, 20, 200)).save(tmp_path / "imgs" / f"{i}.png")
        rows.append({"id": f"t{i}", "text": f"what is this ? w{i}", "image": f"imgs/{i}.png",
                     "category": "Violent", "sub_category": "Weapons",
                     "image_description": "a thing"})
    data = vsil.load(rows, image_root=tmp_path)
    with EvalServer("judge") as judge:
        res = evaluate(f"hf:{tmp_path / 'tiny-llava'}", data,
                       ResponseJudge("j", base_url=judge.base_url, api_key="k"),
                       out_dir=tmp_path / "run", max_new_tokens=6)
        assert judge.state.n == 4
    lines = [json.loads(x) for x in (tmp_path / "run" / "answers.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and all(isinstance(r["answer"], str) for r in lines)
    assert all(0 < r["usage"]["completion_tokens"] <= 6 for r in lines)
    assert res.summary.n_judged == 4 and res.summary.n_model_errors == 0
    info = res.provenance["model"]
    assert info["backend"] == "transformers" and info["model_class"] == \
        "LlavaForConditionalGeneration"
    assert info["do_sample"] is False and info["max_new_tokens"] == 6
    # the same model in text-only mode (no image) also runs
    m = HFModel(str(tmp_path / "tiny-llava"), max_new_tokens=4)
    res2 = evaluate(m, data, None, mode="text-only", out_dir=tmp_path / "run2")
    assert res2.summary.n_unjudged == 4
