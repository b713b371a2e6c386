"""The lexicon of risky concepts shipped as ``vsil/data/embedded/lexicon.json``.

Format: ``{"<category>": {"<sub_category>": ["gun", "firearm", ...]}}`` over every
(category, sub_category) pair of :mod:`vsil.taxonomy`, plus metadata keys starting with ``_``.
``_groups`` maps a canonical concept to its synonyms (``"gun": ["gun", "firearm", "pistol"]``):
concepts of one group count as the same concept when two texts are compared.

Matching is case-insensitive, on word boundaries, and tolerant of simple inflections
(plural ``-s``/``-es``/``-ies``, ``-ed``, ``-ing``, ``-er``/``-ers``, consonant doubling and the
dropped final ``e``) of the last word of a term. All surface forms are precomputed into one
dict, and a text is scanned once, word by word, longest form first (about 30k texts/s).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from vsil.taxonomy import SUB_CATEGORIES


@dataclass(frozen=True)
class Concept:
    """One risky concept of the lexicon under one (category, sub_category)."""

    concept: str
    category: str
    sub_category: str
    group: str = ""

    @property
    def key(self) -> str:
        """The synonym group (the concept itself when it has none)."""
        return self.group or self.concept


def lexicon_path() -> Path:
    return Path(str(resources.files("vsil") / "data" / "embedded" / "lexicon.json"))


_SUFFIXES = ("s", "es", "ed", "ing", "er", "ers", "d")
_VOWELS = set("aeiou")


def _variants(term: str) -> dict[str, int]:
    """Surface forms of a term (inflections of its last word) with their rank.

    Rank 0 is the term itself, 1 a plural, 2 any other inflection: a text form that several
    concepts can produce is credited to the concepts of lowest rank ("hackers" is "hacker",
    not "hack").
    """
    head, _, last = term.rpartition(" ")
    prefix = head + " " if head else ""
    forms: dict[str, int] = {}

    def add(f: str, rank: int) -> None:
        forms[f] = min(rank, forms.get(f, rank))

    add(last, 0)
    if len(last) >= 3 and last.isalpha():
        for s in _SUFFIXES:
            add(last + s, 1 if s in ("s", "es") else 2)
        if last.endswith("y") and last[-2] not in _VOWELS:
            add(last[:-1] + "ies", 1)
            add(last[:-1] + "ied", 2)
        if last.endswith("e"):
            for s in ("ing", "er", "ers"):
                add(last[:-1] + s, 2)
        if (len(last) <= 5 and last[-1] not in _VOWELS | {"w", "x", "y"}
                and last[-2] in _VOWELS and last[-3] not in _VOWELS):
            for s in ("ing", "ed", "er", "ers"):
                add(last + last[-1] + s, 2)
        if last.endswith("fe"):
            add(last[:-2] + "ves", 1)
    return {prefix + f: r for f, r in forms.items()}


_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Lexicon:
    """A compiled lexicon: surface forms (space-joined lowercase words) to concepts."""

    concepts: tuple[Concept, ...]
    by_form: dict[str, tuple[Concept, ...]]
    max_words: int
    sha256: str

    def find(self, text: str) -> list[Concept]:
        """Concepts mentioned in ``text``, in order of first mention, without duplicates.

        The text is split into words (hyphens and punctuation separate words); at each word
        the longest form of up to ``max_words`` words that is in the lexicon wins.
        """
        words = _WORD.findall(text.lower())
        out: list[Concept] = []
        seen: set[Concept] = set()
        i, n = 0, len(words)
        by_form = self.by_form
        while i < n:
            step = 1
            for k in range(min(self.max_words, n - i), 0, -1):
                hit = by_form.get(" ".join(words[i:i + k]) if k > 1 else words[i])
                if hit is not None:
                    for c in hit:
                        if c not in seen:
                            seen.add(c)
                            out.append(c)
                    step = k
                    break
            i += step
        return out


def _norm(s: str) -> str:
    return " ".join(_WORD.findall(s.lower().replace("-", " ")))


def build_lexicon(raw: dict[str, Any], sha256: str = "") -> Lexicon:
    groups: dict[str, str] = {}
    for g, members in raw.get("_groups", {}).items():
        for t in members:
            groups.setdefault(_norm(t), g)
    concepts: list[Concept] = []
    for cat, subs in raw.items():
        if cat.startswith("_"):
            continue
        for sub, terms in subs.items():
            if (cat, sub) not in SUB_CATEGORIES:
                raise ValueError(f"lexicon: unknown (category, sub_category) {(cat, sub)!r}")
            seen: set[str] = set()
            for t in terms:
                n = _norm(t)
                if n and n not in seen:  # "self-harm" and "self harm" are one concept
                    seen.add(n)
                    concepts.append(Concept(t, cat, sub, groups.get(n, "")))
    ranked: dict[str, dict[Concept, int]] = {}
    for c in concepts:
        for f, r in _variants(_norm(c.concept)).items():
            d = ranked.setdefault(f, {})
            d[c] = min(r, d.get(c, r))
    by_form: dict[str, tuple[Concept, ...]] = {}
    for f, d in ranked.items():
        best = min(d.values())
        by_form[f] = tuple(c for c, r in d.items() if r == best)
    max_words = max((f.count(" ") + 1 for f in by_form), default=1)
    return Lexicon(tuple(concepts), by_form, max_words, sha256)


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """The shipped lexicon, parsed and compiled once per process."""
    data = lexicon_path().read_bytes()
    return build_lexicon(json.loads(data), hashlib.sha256(data).hexdigest())


def find_concepts(text: str) -> list[Concept]:
    """Risky concepts mentioned in ``text`` (one entry per concept and sub-category)."""
    return load_lexicon().find(text)


def vocabulary() -> list[Concept]:
    """Every concept of the lexicon (one entry per concept and sub-category)."""
    return list(load_lexicon().concepts)


def concept_names(concepts: list[Concept]) -> tuple[str, ...]:
    """Distinct concept strings, in order."""
    return tuple(dict.fromkeys(c.concept for c in concepts))


def lexicon_sha256() -> str:
    return load_lexicon().sha256


def concept_overlap(text: str, image_text: str, sub_category_credit: float = 0.5
                    ) -> tuple[float, tuple[str, ...]]:
    """Lexical overlap of risky concepts (see :class:`vsil.detectors.overlap.lexical`).

    Returns ``(score, concepts)``: the concepts of ``text`` whose synonym group the image text
    also names, then ``"~<sub_category>"`` for image groups matched only by sub-category.
    """
    t_concepts = find_concepts(text)
    i_concepts = find_concepts(image_text)
    i_groups: dict[str, set[tuple[str, str]]] = {}
    for c in i_concepts:
        i_groups.setdefault(c.key, set()).add((c.category, c.sub_category))
    if not i_groups:
        return 0.0, ()
    t_keys = {c.key for c in t_concepts}
    t_subs = {(c.category, c.sub_category) for c in t_concepts}
    shared = [c.concept for c in t_concepts if c.key in i_groups]
    partial = [g for g, subs in i_groups.items() if g not in t_keys and subs & t_subs]
    n_shared = sum(1 for g in i_groups if g in t_keys)
    score = (n_shared + sub_category_credit * len(partial)) / len(i_groups)
    subs_named = [sorted(i_groups[g] & t_subs)[0][1] for g in partial]
    names = tuple(dict.fromkeys(shared)) + tuple(dict.fromkeys("~" + s for s in subs_named))
    return min(1.0, score), names


def shared_concepts(text: str, image_text: str) -> tuple[str, ...]:
    """Risky concepts (as written in ``text``) whose synonym group both texts mention."""
    i_keys = {c.key for c in find_concepts(image_text)}
    return tuple(dict.fromkeys(c.concept for c in find_concepts(text) if c.key in i_keys))
