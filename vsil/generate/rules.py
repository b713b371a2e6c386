"""The pipeline's keep rules, as pure functions of the judges' parsed outputs.

Each returns ``(kept, reason)``; ``reason`` is None when kept and a short, stable phrase
otherwise (the report counts drops by it).
"""

from __future__ import annotations

from vsil.generate.schemas import Categorized, FinalVerdict, LeakFilter
from vsil.taxonomy import CATEGORIES, SUB_CATEGORIES

#: the (category, sub_category) pairs of the paper's taxonomy (Table 17). vsil's taxonomy
#: module also lists two pairs that occur in the released data only by accident; a
#: categoriser may still answer them and they are accepted, but the prompt offers these.
PROMPT_PAIRS: tuple[tuple[str, str], ...] = tuple(
    p for p in SUB_CATEGORIES
    if p not in {("Illegal Activity", "Identity Theft and Impersonation"),
                 ("Hate", "Psychological and Disordered Harm")})


def keep_after_mitigation(f: LeakFilter) -> tuple[bool, str | None]:
    """Step 2: keep iff the rewritten text is harmless alone and the pair is harmful.

    ``image_harmful`` is informative only: VLSBench keeps some safe images on purpose.
    """
    if f.text_harmful and not f.pair_harmful:
        return False, "text still harmful alone and pair not harmful"
    if f.text_harmful:
        return False, "text still harmful alone (leak)"
    if not f.pair_harmful:
        return False, "pair no longer harmful"
    return True, None


def keep_after_final(v: FinalVerdict) -> tuple[bool, str | None]:
    """Step 4: keep iff the real image and the query are matched and harmful."""
    if not v.meaningful and not v.harmful:
        return False, "not matched and not harmful"
    if not v.meaningful:
        return False, "image and query not matched"
    if not v.harmful:
        return False, "pair not harmful"
    return True, None


def _norm(s: str) -> str:
    return " ".join(s.replace("_", " ").split()).casefold()


_CATS = {_norm(c): c for c in CATEGORIES}
_PAIRS = {(_norm(c), _norm(s)): (c, s) for (c, s) in SUB_CATEGORIES}


def check_taxonomy(c: Categorized) -> tuple[tuple[str, str] | None, str | None]:
    """Step 4: the canonical (category, sub_category) of an answer, or why it is invalid.

    Case, spacing and underscores are forgiven; anything else (an unknown category, a
    sub-category of another category) is invalid.
    """
    cat, sub = _norm(c.category), _norm(c.sub_category)
    pair = _PAIRS.get((cat, sub))
    if pair is not None:
        return pair, None
    if cat not in _CATS:
        return None, f"invalid taxonomy answer: unknown category {c.category[:80]!r}"
    return None, (f"invalid taxonomy answer: {c.sub_category[:80]!r} is not a sub-category "
                  f"of {_CATS[cat]!r}")


def taxonomy_text() -> str:
    """The taxonomy as the categorise prompt shows it."""
    lines: list[str] = []
    for cat, desc in CATEGORIES.items():
        lines.append(f"- {cat}: {desc}")
        for (c, s) in PROMPT_PAIRS:
            if c == cat:
                lines.append(f"  - {s}: {SUB_CATEGORIES[(c, s)]}")
    return "\n".join(lines)
