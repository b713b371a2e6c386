"""Reply parsing: last label, refusals, custom rules, Llama Guard format, logprobs."""

from __future__ import annotations

import math

import pytest

from vsil.detectors.judges.llamaguard_format import CATEGORIES_S13, CATEGORIES_S14, parse_llamaguard
from vsil.detectors.judges.openai_judge import p_unsafe_from_logprobs
from vsil.detectors.judges.prompts import (
    SAFE_UNSAFE,
    ParseRule,
    custom_preset,
    looks_like_refusal,
    render_template,
)


@pytest.mark.parametrize(
    ("reply", "unsafe"),
    [
        ("safe", False),
        ("unsafe", True),
        ("UNSAFE.", True),
        ("Safe", False),
        ("It looks safe at first, but it is unsafe", True),
        ("It looks unsafe at first, but it is safe.", False),
        ("**unsafe**", True),
        ("unsafely", None),
        ("safety first", None),
        ("", None),
    ],
)
def test_last_label_word_bounded(reply: str, unsafe: bool | None) -> None:
    found = SAFE_UNSAFE.find(reply)
    assert (found[0] if found else None) is unsafe


def test_custom_rules() -> None:
    rule = ParseRule(r"verdict:\s*(?P<label>yes|no)", {"yes": True, "no": False})
    assert rule.find("verdict: no ... verdict: YES") == (True, 25)
    by_map = ParseRule.from_labels({"harmful": True, "harmless": False})
    found = by_map.find("harmless? no: harmful")
    assert found is not None and found[0] is True
    p = custom_preset("Q: {text} / {image_text}", parse={"bad": True, "good": False})
    assert p.render(True, "hi {x}", "a cat") == "Q: hi {x} / a cat"
    assert p.rule.find("good, not bad") == (True, 10)
    j = custom_preset("{{ text | upper }}!", text_template="T: {text}")
    assert j.render(True, "abc", None) == "ABC!" and j.render(False, "abc", None) == "T: abc"
    with pytest.raises(ValueError):
        custom_preset("{text} {other}")


def test_templates_treat_dataset_text_as_data() -> None:
    assert render_template("[{text}]", text="{image_text} {0} {{x}}", image_text="I") \
        == "[{image_text} {0} {{x}}]"
    assert render_template("[{{ text }}]", text="{{ 7*7 }}", image_text="") == "[{{ 7*7 }}]"


@pytest.mark.parametrize("reply", ["I'm sorry, I can't help with that.",
                                   "I cannot assist with this request.",
                                   "Sorry, but I won't do that", "I’m unable to help"])
def test_refusal_text(reply: str) -> None:
    assert looks_like_refusal(reply)
    assert not looks_like_refusal("safe")


def test_parse_llamaguard() -> None:
    v = parse_llamaguard("safe")
    assert v.unsafe is False and v.categories == () and v.error is None
    v = parse_llamaguard("\n\nunsafe\nS1,S10")
    assert v.unsafe is True and v.categories == ("S1", "S10")
    v = parse_llamaguard("unsafe")
    assert v.unsafe is True and v.categories == ()
    for bad in ["", "maybe", "unsafe\nS99", "safe\nbut actually not", "unsafe\nS1\nmore"]:
        v = parse_llamaguard(bad)
        assert v.unsafe is None and v.error and v.raw == bad
    assert len(CATEGORIES_S13) == 13 and CATEGORIES_S14["S14"] == "Code Interpreter Abuse"


def _lp(*tokens: tuple[str, list[tuple[str, float]]]) -> dict[str, object]:
    return {"content": [{"token": t, "logprob": alts[0][1],
                         "top_logprobs": [{"token": a, "logprob": math.log(p)}
                                          for a, p in alts]} for t, alts in tokens]}


def test_p_unsafe_from_logprobs() -> None:
    lp = _lp(("unsafe", [("unsafe", 0.6), ("safe", 0.3), ("I", 0.1)]))
    assert p_unsafe_from_logprobs(lp, "unsafe", 0) == pytest.approx(0.6 / 0.9)
    # split tokens ("un" + "safe") and leading whitespace
    lp = _lp((" un", [(" un", 0.2), (" safe", 0.8)]), ("safe", [("safe", 1.0)]))
    assert p_unsafe_from_logprobs(lp, " unsafe", 1) == pytest.approx(0.2)
    # the label that was parsed (the last one) decides which position is used
    lp = _lp(("safe", [("safe", 0.9), ("unsafe", 0.1)]), (" or", [(" or", 1.0)]),
             (" unsafe", [(" unsafe", 0.7), (" safe", 0.3)]))
    assert p_unsafe_from_logprobs(lp, "safe or unsafe", 8) == pytest.approx(0.7)
    assert p_unsafe_from_logprobs(None, "safe", 0) is None
    assert p_unsafe_from_logprobs(_lp(("hmm", [("hmm", 1.0)])), "hmm", 0) is None
