"""Llama Guard judges on tiny random-weight Mllama / Llama checkpoints built offline."""

from __future__ import annotations

import math
from pathlib import Path

import huggingface_hub
import pytest

pytest.importorskip("transformers")

from lg_fixtures import built_models, save_png

from vsil.dataset import ImageRef
from vsil.detectors import JudgeInput, Verdict, create
from vsil.detectors.judges.llamaguard import (
    LlamaGuard8BJudge,
    LlamaGuardJudge,
    LlamaGuardVisionJudge,
)
from vsil.detectors.judges.llamaguard_source import ModelUnavailableError, resolve

ATOL = 2e-6  # batched vs alone, fp32 on CPU (observed differences are ~1e-8)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return built_models(tmp_path_factory)


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[ImageRef]:
    d = tmp_path_factory.mktemp("lg_imgs")
    sizes = [(20, 30), (64, 24), (33, 80)]
    return [ImageRef(path=save_png(d / f"{i}.png", w, h, i), label=f"{i}.png")
            for i, (w, h) in enumerate(sizes)]


def judge(models: dict[str, Path], name: str, **kw: object) -> LlamaGuardJudge:
    j = create("judge", "llamaguard3:" + str(models[name]), **kw)
    assert isinstance(j, LlamaGuardJudge)
    return j


def assert_accounted(vs: list[Verdict], n: int) -> None:
    """Each verdict is a label or a counted failure with its raw text; p is a probability."""
    assert len(vs) == n
    for v in vs:
        assert v.p_unsafe is not None and 0.0 <= v.p_unsafe <= 1.0 and math.isfinite(v.p_unsafe)
        if v.unsafe is None:
            assert v.error and v.raw is not None
        else:
            assert v.error is None


def test_generic_spec_reads_vision_or_text_from_the_config(models: dict[str, Path]) -> None:
    v = judge(models, "vision")
    assert isinstance(v, LlamaGuardVisionJudge) and v.uses_image_pixels and v.batch_size == 4
    t = judge(models, "guard1b-tiny")
    assert type(t) is LlamaGuardJudge and not t.uses_image_pixels and t.batch_size == 8
    assert isinstance(judge(models, "Llama-Guard-3-8B-tiny"), LlamaGuard8BJudge)
    named = create("judge", "llamaguard3-8b:" + str(models["guard1b-tiny"]))
    assert isinstance(named, LlamaGuard8BJudge) and "S14" in named.categories


def test_fingerprint_is_cheap_stable_and_sensitive(models: dict[str, Path]) -> None:
    a, b = judge(models, "vision"), judge(models, "vision")
    assert a.fingerprint == b.fingerprint and a._runtime is None  # nothing loaded
    assert judge(models, "vision", max_new_tokens=20).fingerprint != a.fingerprint
    assert judge(models, "vision", excluded_categories=["S2"]).fingerprint != a.fingerprint
    assert judge(models, "vision_tpl").fingerprint != a.fingerprint  # other files
    info = a.info()
    assert info["model_id"] == str(models["vision"]) and info["revision"].startswith("local:")
    assert info["dtype"] == "float32" and info["device"] == "cpu" and info["max_new_tokens"] == 10
    assert len(info["prompt_template_sha256"]) == 64 and info["categories"][-1] == "S13"


def test_rendered_prompts_follow_the_documented_format(
        models: dict[str, Path], images: list[ImageRef]) -> None:
    v = judge(models, "vision")
    with_img, has_px, _ = v.render(JudgeInput("What is this?", images[0]))
    text_only, has_px2, _ = v.render(JudgeInput("What is this?"))
    desc, _, notes = v.render(JudgeInput("What is this?", None, "a rifle"))
    assert has_px and not has_px2 and v.info()["prompt_template"] == "builtin"
    assert with_img.count("<|image|>") == 1 and "<|image|>" not in text_only + desc
    assert "User: Image description: a rifle\n\nWhat is this?\n\n" in desc and notes
    for p in (with_img, text_only, desc):
        assert "<|start_header_id|>system" not in p and "S13: Elections.\n<END UNSAFE" in p
        assert "S14" not in p
    tok = v._load().tokenizer
    ids = tok(with_img, add_special_tokens=False)["input_ids"]
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1
    p8 = judge(models, "Llama-Guard-3-8B-tiny").render(JudgeInput("hi"))[0]
    p1 = judge(models, "guard1b-tiny").render(JudgeInput("hi"))[0]
    assert "S13: Elections.\nS14: Code Interpreter Abuse.\n<END UNSAFE" in p8
    assert "S14" not in p1


def test_models_own_chat_template_is_used_with_categories_kwargs(
        models: dict[str, Path], images: list[ImageRef]) -> None:
    for excluded in ((), ("S2", "S7")):
        tpl = judge(models, "vision_tpl", excluded_categories=excluded)
        builtin = judge(models, "vision", excluded_categories=excluded)
        for x in (JudgeInput("How?  ", images[1]), JudgeInput("How?"),
                  JudgeInput("How?", None, "a knife")):
            assert tpl.render(x) == builtin.render(x)
        assert tpl.info()["prompt_template"] == "chat_template"
        assert tpl.info()["prompt_template_sha256"] != builtin.info()["prompt_template_sha256"]
    off = judge(models, "vision_tpl", use_chat_template=False)
    off.render(JudgeInput("x"))
    assert off.info()["prompt_template"] == "builtin"


def test_forced_outputs_are_parsed_and_scored(models: dict[str, Path]) -> None:
    xs = [JudgeInput("How do I make a bomb?"), JudgeInput("hi")]
    unsafe = judge(models, "forced_unsafe").judge(xs)
    assert [(v.unsafe, v.categories, v.raw) for v in unsafe] == [
        (True, ("S1", "S10"), "unsafe\nS1,S10")] * 2
    safe = judge(models, "forced_safe").judge(xs)
    assert [(v.unsafe, v.categories, v.raw) for v in safe] == [(False, (), "safe")] * 2
    assert all(v.p_unsafe is not None and v.p_unsafe > 0.99 for v in unsafe)
    assert all(v.p_unsafe is not None and v.p_unsafe < 0.01 for v in safe)
    assert_accounted(unsafe + safe, 4)


def test_random_weights_garbage_is_counted_not_labelled(
        models: dict[str, Path], images: list[ImageRef]) -> None:
    xs = [JudgeInput("How do I make a bomb?", images[0]), JudgeInput("hi"),
          JudgeInput("a longer question about the cake recipe in the picture", images[2]),
          JudgeInput("q", None, "a dog")]
    text_xs = [JudgeInput(x.text, None, x.image_text) for x in xs]
    for name, inputs in (("vision", xs), ("Llama-Guard-3-8B-tiny", text_xs)):
        vs = judge(models, name).judge(inputs)
        assert_accounted(vs, len(inputs))
        assert any(v.unsafe is None for v in vs)  # random weights do not write the format


@pytest.mark.parametrize("name", ["vision", "guard1b-tiny"])
def test_left_padding_gives_the_same_answer_alone_and_in_a_batch(
        models: dict[str, Path], images: list[ImageRef], name: str) -> None:
    j = judge(models, name)
    short = JudgeInput("hi", images[0] if j.uses_image_pixels else None)
    long = JudgeInput("please tell me, in many words, how the thing in this picture is "
                      "made and how I would use it on a person " * 3,
                      images[1] if j.uses_image_pixels else None)
    text = JudgeInput("what is this recipe?")
    batch = j.judge([short, long, text, short])
    alone = [j.judge([x])[0] for x in (short, long, text)]
    for b, a in zip(batch, [*alone, alone[0]], strict=True):
        assert b.raw == a.raw and b.unsafe == a.unsafe
        assert b.p_unsafe is not None and a.p_unsafe is not None
        assert abs(b.p_unsafe - a.p_unsafe) < ATOL
    # the tolerance is meaningful: different inputs do score differently
    assert abs((alone[0].p_unsafe or 0) - (alone[1].p_unsafe or 0)) > 10 * ATOL


def test_per_input_failures_do_not_sink_the_batch(
        models: dict[str, Path], images: list[ImageRef]) -> None:
    bad = ImageRef(data=b"not an image", label="bad.png")
    vs = judge(models, "vision").judge(
        [JudgeInput("a", images[0]), JudgeInput("b", bad), JudgeInput("c")])
    assert vs[1].unsafe is None and "bad.png" in (vs[1].error or "")
    assert vs[0].p_unsafe is not None and vs[2].p_unsafe is not None
    t = judge(models, "guard1b-tiny").judge([JudgeInput("a", images[0]),
                                            JudgeInput("a", images[0], "a cat")])
    assert t[0].unsafe is None and "without image_text" in (t[0].error or "")
    assert t[1].p_unsafe is not None and t[1].evidence


def test_model_sources_and_the_offline_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    for spec in (str(tmp_path / "m.gguf"), f"{tmp_path}::m.gguf"):
        src = resolve(spec)
        assert (src.path, src.gguf_file, src.local) == (str(tmp_path), "m.gguf", True)
    with pytest.raises(FileNotFoundError):
        resolve(str(tmp_path / "missing"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(ModelUnavailableError, match="meta-llama/Llama-Guard-3-11B-Vision"):
        create("judge", "llamaguard3-vision")
    with pytest.raises(ModelUnavailableError, match="llamaguard3:/path/to/Llama-Guard-3-8B"):
        create("judge", "llamaguard3-8b")
