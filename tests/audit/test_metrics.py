"""R1/R2 exactly as the paper defines them, checked against its Table 1 counts."""

from __future__ import annotations

import math

import pytest

from vsil.audit.metrics import bootstrap_ratio, figures, wilson

# (name, N, #J(T,I) unsafe, #both unsafe, R1 %, R2 %) from paper Table 1
TABLE1 = [
    ("FigStep", 500, 274, 272, 54.80, 54.40),
    ("JailbreakV", 280, 183, 182, 65.36, 65.00),
    ("HarmBench-mm", 110, 34, 33, 30.91, 30.00),
    ("VLSafe", 1110, 1014, 1011, 91.35, 91.08),
]


def _verdicts(n: int, k1: int, k2: int, extra_text_only: int = 3) -> tuple[list[bool], list[bool]]:
    pair = [True] * k1 + [False] * (n - k1)
    # k2 of the unsafe pairs are also unsafe as text; a few safe pairs are unsafe as text,
    # which must not count toward R2
    text = [True] * k2 + [False] * (k1 - k2) + [True] * extra_text_only
    text += [False] * (n - len(text))
    return pair, text


@pytest.mark.parametrize(("name", "n", "k1", "k2", "r1", "r2"), TABLE1)
def test_table1_counts_reproduce_published_rates(name: str, n: int, k1: int, k2: int,
                                                 r1: float, r2: float) -> None:
    pair, text = _verdicts(n, k1, k2)
    f = figures(pair, text)
    assert round(100 * f.r1, 2) == r1
    assert round(100 * f.r2, 2) == r2
    assert round(100 * f.r1_minus_r2, 2) == round(r1 - r2, 2)
    assert f.n == n and f.n_pair_unsafe == k1 and f.n_leaky == k2
    assert f.leak_ratio == pytest.approx(k2 / k1)
    lo, hi = f.r1_ci
    assert lo < f.r1 < hi
    rlo, rhi = f.leak_ratio_ci
    assert rlo <= f.leak_ratio <= rhi


def test_errors_stay_in_denominator_and_are_never_labels() -> None:
    pair = [True, True, None, False]
    text = [True, None, True, False]
    f = figures(pair, text)
    assert f.n == 4 and f.n_errors == 2 and f.n_scored == 2
    # the accounting rule: a row counts toward a numerator only when both verdicts exist, so
    # the row whose J(T) failed adds nothing to R1 and the one whose J(T,I) failed nothing to
    # the text-only rate; both stay in N
    assert f.r1 == 0.25 and f.n_pair_unsafe == 1
    assert f.r2 == 0.25  # only row 0 is unsafe on both
    assert f.n_text_unsafe == 1 and f.text_unsafe_rate == 0.25


def test_wilson_known_values() -> None:
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_bootstrap_is_seeded_and_brackets() -> None:
    a = bootstrap_ratio(30, 70, 200, seed=1)
    assert a == bootstrap_ratio(30, 70, 200, seed=1)
    assert a[0] < 0.3 < a[1]
    assert all(math.isnan(x) for x in bootstrap_ratio(0, 0, 10))
