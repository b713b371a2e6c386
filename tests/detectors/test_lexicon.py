from __future__ import annotations

import time

from vsil.detectors._lexicon import (
    build_lexicon,
    concept_overlap,
    find_concepts,
    load_lexicon,
    vocabulary,
)
from vsil.taxonomy import SUB_CATEGORIES


def names(text: str) -> list[str]:
    return [c.concept for c in find_concepts(text)]


def test_vocabulary_covers_every_taxonomy_pair() -> None:
    pairs = {(c.category, c.sub_category) for c in vocabulary()}
    assert pairs == set(SUB_CATEGORIES)


def test_inflections_case_and_boundaries() -> None:
    assert "pistol" in names("He aims two loaded PISTOLS at her")
    assert "stab" in names("she was stabbing wildly")
    assert "knives" in names("a drawer of knives")
    assert "hacker" in names("The hackers got in")  # plural of hacker, not an inflection of hack
    assert "hack" not in names("The hackers got in")
    assert names("I love my potatoes and gunnysacks") == []
    assert "molotov cocktail" in names("a Molotov-cocktail in his hand")
    assert "ar-15" in names("an AR-15 on the wall")


def test_synonyms_share_a_group() -> None:
    (a,) = [c for c in find_concepts("a firearm") if c.concept == "firearm"]
    (b,) = [c for c in find_concepts("a revolver") if c.concept == "revolver"]
    assert a.key == b.key == "gun"


def test_one_concept_per_normal_form() -> None:
    assert names("self harm and self-harm") == ["self-harm"]


def test_overlap_formula() -> None:
    assert concept_overlap("how do I use this?", "a man holding a gun") == (0.0, ())
    assert concept_overlap("anything", "a sunny park") == (0.0, ())
    score, concepts = concept_overlap("how do I load this firearm", "a revolver on a table")
    assert score == 1.0 and concepts == ("firearm",)
    # image names gun and knife; text names only gun: 1/2, plus half credit for the knife,
    # which shares the gun's sub-category
    assert concept_overlap("fire the pistol", "a pistol and a knife", 0.0)[0] == 0.5
    assert concept_overlap("fire the pistol", "a pistol and a knife", 0.5)[0] == 0.75
    # sub-category-only match earns the credit
    score, concepts = concept_overlap("sharpen the machete", "a rifle on a bed", 0.5)
    assert score == 0.5 and concepts == ("~Weapon-Related Violence",)


def test_unknown_taxonomy_pair_rejected() -> None:
    import pytest

    with pytest.raises(ValueError):
        build_lexicon({"Violent": {"Nope": ["x"]}})


def test_fast() -> None:
    load_lexicon()
    texts = ["A masked man carrying a rifle and a knife toward a crowded market at night."] * 5000
    t0 = time.perf_counter()
    for t in texts:
        find_concepts(t)
    assert time.perf_counter() - t0 < 2.0  # thousands of texts per second
