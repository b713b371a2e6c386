"""How the Ray engine cuts rows into batches (pure arithmetic; no Ray needed)."""

from __future__ import annotations

import math

import pytest

from vsil.audit.engines.ray import batch_sizes


@pytest.mark.parametrize(("n", "batch", "actors"), [
    (2241, 512, 1), (2241, 512, 2), (2241, 64, 2), (10, 64, 2), (1, 64, 4), (7, 2, 3),
    (100, 64, 4), (1000, 1, 2), (5, 1000, 8), (20, 4, 2),
])
def test_batches_are_bounded_even_and_shared_across_actors(n: int, batch: int,
                                                           actors: int) -> None:
    sizes = batch_sizes(n, batch, actors)
    assert sum(sizes) == n
    assert max(sizes) <= batch and min(sizes) >= 1
    assert max(sizes) - min(sizes) <= 1  # no straggler batch
    assert len(sizes) >= math.ceil(n / batch)
    if n >= actors:  # every actor gets the same number of batches
        assert len(sizes) % actors == 0
    else:
        assert len(sizes) == n


def test_the_vlsbench_run_splits_into_equal_batches_per_worker() -> None:
    assert batch_sizes(2241, 512, 1) == [449] * 1 + [448] * 4  # not 4 of 512 and one of 193
    assert batch_sizes(2241, 512, 2) == [374] * 3 + [373] * 3  # 3 per worker, not 3 and 2
    assert batch_sizes(0, 64, 2) == []
