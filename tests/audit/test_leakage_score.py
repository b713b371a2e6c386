"""`leakage_score` is monotone in every piece of evidence and ranks stated harm first."""

from __future__ import annotations

import itertools

import numpy as np

from vsil.audit import leakage_score

GRID = np.linspace(0.0, 1.0, 11)


def test_monotone_in_each_argument() -> None:
    for pp, pt, ov in itertools.product(GRID, GRID, GRID):
        base = leakage_score(pp, pt, [ov])
        assert base is not None and 0.0 <= base <= 1.0
        for d in (0.05, 0.3):
            assert leakage_score(min(pp + d, 1.0), pt, [ov]) >= base  # type: ignore[operator]
            assert leakage_score(pp, min(pt + d, 1.0), [ov]) >= base  # type: ignore[operator]
            assert leakage_score(pp, pt, [min(ov + d, 1.0)]) >= base  # type: ignore[operator]


def test_stated_harm_outranks_unstated_harm_whatever_the_overlap() -> None:
    # Both pairs unsafe (p_pair above 0.5); the first text states the harm (J(T) unsafe at
    # p >= 0.8), the second does not (p <= 0.2): overlap alone can never reverse that.
    for pp, ov1, ov2 in itertools.product(np.linspace(0.6, 1.0, 5), GRID, GRID):
        stated = leakage_score(pp, 0.8, [ov1])
        unstated = leakage_score(pp, 0.2, [ov2])
        assert stated is not None and unstated is not None and stated > unstated


def test_missing_probability_is_no_score() -> None:
    assert leakage_score(None, 0.9, [0.5]) is None
    assert leakage_score(0.9, None, []) is None
    assert leakage_score(0.5, 0.5, []) == 0.25
