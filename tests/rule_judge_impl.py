"""A deterministic rule judge for plumbing tests (importable as ``rule_judge_impl``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from vsil.detectors import JudgeInput, Verdict

RISKY = re.compile(r"\b(bomb|gun|kill|drugs?|meth|poison|knife|steal)\b", re.I)


class RuleJudge:
    """A deterministic rule judge for plumbing tests: unsafe iff a risky word is present.

    On a pair it reads text + image_text. ``fail_on`` makes it fail transiently (like an
    HTTP error), ``GARBLE`` makes it reply unparseably (a final error verdict with a raw
    reply), ``refuse_on`` makes it refuse. It counts its calls so tests can check caching.
    """

    name: ClassVar[str] = "rule"
    kind: ClassVar[str] = "judge"
    uses_image_pixels: ClassVar[bool] = False

    def __init__(self, fail_on: str = "FAILME", refuse_on: str = "REFUSEME") -> None:
        self.fail_on = fail_on
        self.refuse_on = refuse_on
        self.calls = 0

    @property
    def fingerprint(self) -> str:
        return f"rule-v1:{self.fail_on}:{self.refuse_on}"

    def info(self) -> dict[str, Any]:
        return {"rule": RISKY.pattern}

    def judge(self, inputs: Sequence[JudgeInput]) -> list[Verdict]:
        out = []
        for x in inputs:
            self.calls += 1
            full = x.text + (" " + x.image_text if x.image_text else "")
            if self.fail_on in full:
                out.append(Verdict.failed("scripted failure", "transient"))  # like HTTP 500
            elif "GARBLE" in full:
                out.append(Verdict.failed("unparseable reply", "parse", raw="?!"))
            elif self.refuse_on in full:
                out.append(Verdict(unsafe=None, refused=True, raw="I cannot help"))
            else:
                hits = RISKY.findall(full)
                out.append(Verdict(unsafe=bool(hits), p_unsafe=0.9 if hits else 0.1,
                                   evidence=tuple(h.lower() for h in hits)))
        return out
