"""Llama Guard 3 output format: the S1–S14 hazard categories and the reply parser.

Shared by the transformers Llama Guard judge and the OpenAI-compatible ``llamaguard`` preset
(Llama Guard served by vLLM). Llama Guard answers ``safe``, or ``unsafe`` followed by a line
of violated category codes (``unsafe\\nS1,S10``). Anything else is a parse error; the raw text
is kept so that it can be inspected.
"""

from __future__ import annotations

import re

from vsil.detectors._base import Verdict

#: Llama Guard 3 hazard categories (11B-Vision and 1B use S1–S13; the 8B text model adds S14).
CATEGORIES: dict[str, str] = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation",
    "S5": "Defamation",
    "S6": "Specialized Advice",
    "S7": "Privacy",
    "S8": "Intellectual Property",
    "S9": "Indiscriminate Weapons",
    "S10": "Hate",
    "S11": "Suicide & Self-Harm",
    "S12": "Sexual Content",
    "S13": "Elections",
    "S14": "Code Interpreter Abuse",
}

#: the 13 categories of Llama-Guard-3-11B-Vision and Llama-Guard-3-1B
CATEGORIES_S13: dict[str, str] = {k: v for k, v in CATEGORIES.items() if k != "S14"}
#: the 14 categories of Llama-Guard-3-8B
CATEGORIES_S14: dict[str, str] = dict(CATEGORIES)

_CODE = re.compile(r"^S(?:[1-9]|1[0-4])$")


def parse_llamaguard(text: str | None) -> Verdict:
    """``safe`` → Verdict(False); ``unsafe`` + ``S1,S10`` → Verdict(True, categories=("S1","S10")).

    Leading/trailing whitespace and the label's case are ignored. An ``unsafe`` with no code
    line is accepted with no categories. Anything else (extra prose, unknown codes, a missing
    label) is ``Verdict.failed`` with the raw text kept. ``p_unsafe`` is left to the caller,
    which knows the token probabilities.
    """
    if text is None:
        return Verdict.failed("llamaguard: empty reply", "parse", raw=None)
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return Verdict.failed("llamaguard: empty reply", "parse", raw=text)
    label = lines[0].lower()
    if label == "safe" and len(lines) == 1:
        return Verdict(unsafe=False, raw=text)
    if label == "unsafe" and len(lines) <= 2:
        codes: tuple[str, ...] = ()
        if len(lines) == 2:
            parts = [c.strip().upper() for c in lines[1].split(",") if c.strip()]
            if not parts or not all(_CODE.match(c) for c in parts):
                return Verdict.failed("llamaguard: bad category line", "parse", raw=text)
            codes = tuple(dict.fromkeys(parts))
        return Verdict(unsafe=True, categories=codes, raw=text)
    return Verdict.failed("llamaguard: unparseable reply", "parse", raw=text)


def category_names(codes: tuple[str, ...] | list[str]) -> list[str]:
    """Human-readable names of category codes (unknown codes are returned unchanged)."""
    return [CATEGORIES.get(c, c) for c in codes]
