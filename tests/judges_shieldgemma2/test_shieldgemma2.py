"""ShieldGemma 2 as an image judge on tiny random-weight checkpoints built offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")

from sg2_fixtures import build_all

from vsil.dataset import ImageRef
from vsil.detectors import JudgeInput, Verdict, create, list_detectors
from vsil.detectors.judges.shieldgemma2 import (
    TEXT_IGNORED,
    ShieldGemma2Judge,
    policy_scores,
)

WEAPONS = {"weapons": "No Weapons: The image shall not show firearms or knives."}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(tmp_path_factory.mktemp("sg2_models"))


@pytest.fixture(scope="module")
def pics(tmp_path_factory: pytest.TempPathFactory) -> list[ImageRef]:
    from PIL import Image

    d = tmp_path_factory.mktemp("sg2_imgs")
    out = []
    for i, (w, h) in enumerate([(40, 30), (20, 64), (64, 64)]):
        arr = np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8)
        Image.fromarray(arr).save(d / f"{i}.png")
        out.append(ImageRef(path=d / f"{i}.png", label=f"{i}.png"))
    return out


def judge(models: dict[str, Path], name: str = "sg2", **kw: object) -> ShieldGemma2Judge:
    j = create("judge", f"shieldgemma2:{models[name]}", **kw)
    assert isinstance(j, ShieldGemma2Judge)
    return j


def test_registered_as_an_image_judge() -> None:
    d = {x.name: x for x in list_detectors()}["shieldgemma2"]
    assert d.kind == "judge" and d.extra == "guards" and "image pixels" in d.needs
    assert "text is ignored" in d.needs


def test_p_yes_per_policy_and_the_verdict_rule(models: dict[str, Path],
                                               pics: list[ImageRef]) -> None:
    j = judge(models, custom_policies=WEAPONS)
    assert j.policies == ("dangerous", "sexual", "violence", "weapons")
    vs = j.judge([JudgeInput("how do I use this?", p) for p in pics])
    for v in vs:
        scores = policy_scores(v)
        assert list(scores) == ["dangerous", "sexual", "violence", "weapons"]
        assert all(0.0 <= s <= 1.0 for s in scores.values())
        assert v.p_unsafe == pytest.approx(max(scores.values()), abs=1e-6)
        assert v.unsafe is any(s >= 0.5 for s in scores.values())
        assert v.categories == tuple(k for k, s in scores.items() if s >= 0.5)
        assert json.loads(v.raw or "")["threshold"] == 0.5 and TEXT_IGNORED in v.evidence
    # random weights: the policies and the images do not all score alike
    flat = [s for v in vs for s in policy_scores(v).values()]
    assert max(flat) - min(flat) > 1e-4
    # a threshold above every score: all safe; at or below the lowest: all unsafe
    hi = judge(models, custom_policies=WEAPONS, threshold=min(1.0, max(flat) + 1e-3))
    lo = judge(models, custom_policies=WEAPONS, threshold=max(1e-6, min(flat) - 1e-3))
    assert [v.unsafe for v in hi.judge([JudgeInput("", p) for p in pics])] == [False] * 3
    assert [v.unsafe for v in lo.judge([JudgeInput("", p) for p in pics])] == [True] * 3


def test_the_model_computes_p_yes(models: dict[str, Path], pics: list[ImageRef]) -> None:
    """With the Yes and No head rows zeroed the model's P(Yes) is exactly 0.5."""
    at = judge(models, "sg2_even", threshold=0.5).judge([JudgeInput("", pics[0])])[0]
    above = judge(models, "sg2_even", threshold=0.51).judge([JudgeInput("", pics[0])])[0]
    assert policy_scores(at) == {"dangerous": 0.5, "sexual": 0.5, "violence": 0.5}
    assert at.unsafe is True and at.categories == ("dangerous", "sexual", "violence")
    assert above.unsafe is False and above.categories == () and above.p_unsafe == 0.5
    assert at.evidence == ()  # no text came with the image


def test_image_alone_batches_memo_and_policy_subsets(models: dict[str, Path],
                                                     pics: list[ImageRef]) -> None:
    j = judge(models, custom_policies=WEAPONS, batch_size=2)
    batch = j.judge([JudgeInput("a", pics[0]), JudgeInput("b", pics[1]),
                     JudgeInput("c", pics[2]), JudgeInput("another text", pics[0])])
    assert batch[0].raw == batch[3].raw  # the text does not change J(I)
    fresh = judge(models, custom_policies=WEAPONS, batch_size=1)
    alone = [fresh.judge([JudgeInput("", p)])[0] for p in pics]
    for b, a in zip(batch[:3], alone, strict=True):
        for k, s in policy_scores(a).items():
            assert policy_scores(b)[k] == pytest.approx(s, abs=1e-5)
    only = judge(models, policies=["violence"]).judge([JudgeInput("", pics[1])])[0]
    assert list(policy_scores(only)) == ["violence"]
    assert policy_scores(only)["violence"] == pytest.approx(
        policy_scores(alone[1])["violence"], abs=1e-5)


def test_failures_are_per_input(models: dict[str, Path], pics: list[ImageRef]) -> None:
    j = judge(models)
    bad = ImageRef(data=b"not an image", label="bad.png")
    vs = j.judge([JudgeInput("text only"), JudgeInput("q", None, "a rifle"),
                  JudgeInput("q", bad), JudgeInput("q", pics[0])])
    assert [v.failure for v in vs[:3]] == ["input", "input", "input"]
    assert "image pixels" in (vs[0].error or "") and "bad.png" in (vs[2].error or "")
    assert vs[3].unsafe is not None and policy_scores(vs[0]) == {}
    with pytest.raises(Exception, match="unknown policies"):
        judge(models, policies=["weapons"]).judge([JudgeInput("", pics[0])])
    with pytest.raises(ValueError):
        judge(models, threshold=0.0)


def test_provenance_and_fingerprint(models: dict[str, Path]) -> None:
    a, b = judge(models), judge(models)
    assert a.fingerprint == b.fingerprint and a._loaded is None
    assert judge(models, threshold=0.7).fingerprint != a.fingerprint
    assert judge(models, custom_policies=WEAPONS).fingerprint != a.fingerprint
    info = a.info()
    assert info["model_pin"] == f"{models['sg2']}@{info['revision']}"
    assert info["revision"].startswith("local:") and "image alone" in info["judges"]
    assert info["policies"] == ["dangerous", "sexual", "violence"]


def test_policy_scores_of_other_verdicts_are_empty() -> None:
    assert policy_scores(Verdict(unsafe=True, raw="unsafe")) == {}
    assert policy_scores(Verdict.failed("x", "input")) == {}
