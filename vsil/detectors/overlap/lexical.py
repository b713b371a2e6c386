"""Lexical overlap: the risky concepts of the image text that the query already names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from vsil.detectors._base import Overlap, OverlapInput
from vsil.detectors._lexicon import concept_overlap, lexicon_path, lexicon_sha256
from vsil.detectors._registry import register_detector

VERSION = "1"
SUB_CATEGORY_CREDIT = 0.5


@register_detector(
    "lexical",
    "overlap",
    needs="text and image_text",
    outputs="share of the image text's risky concepts the text names, in [0,1]; the concepts",
    description="Risky-concept overlap from vsil's lexicon (no model): synonyms count as one "
    "concept; a concept matched only by sub-category gets half credit.",
)
class LexicalOverlap:
    """``score = (|G_T ∩ G_I| + 0.5·|{g ∈ G_I \\ G_T : sub(g) ∩ sub(G_T) ≠ ∅}|) / |G_I|``.

    ``G_T``, ``G_I``: the synonym groups of the risky concepts in the text and in the image text;
    ``sub(·)``: their (category, sub_category) pairs. 0 when the image text names no risky
    concept. ``concepts``: the shared concepts (as written in the text), then any
    ``~sub_category`` matches.
    """

    name: ClassVar[str] = "lexical"
    kind: ClassVar[Literal["overlap"]] = "overlap"

    def __init__(self, sub_category_credit: float = SUB_CATEGORY_CREDIT,
                 model: str | None = None) -> None:
        del model  # no model; accepted so that "lexical:..." specs do not crash
        self.sub_category_credit = float(sub_category_credit)

    @property
    def fingerprint(self) -> str:
        return (f"{self.name}/v{VERSION}|lex={lexicon_sha256()[:12]}"
                f"|sub={self.sub_category_credit:g}")

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "lexicon": str(lexicon_path()),
                "lexicon_sha256": lexicon_sha256(),
                "sub_category_credit": self.sub_category_credit,
                "formula": "(shared groups + credit * sub-category-only matches) / "
                           "groups in image_text; 0 if image_text has none"}

    def score(self, inputs: Sequence[OverlapInput]) -> list[Overlap]:
        out: list[Overlap] = []
        for inp in inputs:
            if not inp.image_text or not inp.image_text.strip():
                out.append(Overlap(score=None, error="no image_text", failure="input"))
                continue
            score, concepts = concept_overlap(inp.text or "", inp.image_text,
                                              self.sub_category_credit)
            out.append(Overlap(score=round(score, 6), concepts=concepts))
        return out
