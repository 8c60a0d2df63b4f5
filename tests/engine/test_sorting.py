"""The packed lexsort and dense rank give NumPy's own results, in and out of their fast path."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.sorting import dense_rank, lexsort, unique_sorted


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (0, 4),  # many ties: the row number must keep them in order (stable)
        (-50, 50),  # negative keys are shifted, not mistaken for large ones
        (0, 2**40),  # too wide to pack with the others: np.lexsort's path
    ],
)
@pytest.mark.parametrize("n_keys", [1, 2, 3])
def test_lexsort_is_numpys_stable_lexsort(low: int, high: int, n_keys: int) -> None:
    rng = np.random.default_rng(n_keys)
    for n in (0, 1, 2, 17, 1000):
        keys = tuple(rng.integers(low, high, n) for _ in range(n_keys))
        assert np.array_equal(lexsort(keys), np.lexsort(keys))


def test_lexsort_takes_the_full_64_bits() -> None:
    # 1,000 rows (10 bits) and keys of 22 + 32 bits: 64 in all, the most a uint64 packs.
    rng = np.random.default_rng(0)
    keys = (rng.integers(0, 2**22, 1000), rng.integers(0, 2**32, 1000))
    keys[1][:3] = [0, 2**32 - 1, 2**32 - 1]  # both ends of the widest key
    assert np.array_equal(lexsort(keys), np.lexsort(keys))


def test_dense_rank_is_the_inverse_of_unique() -> None:
    rng = np.random.default_rng(1)
    for values in (
        np.zeros(0, dtype=np.int64),
        np.array([7]),
        rng.integers(-3, 3, 500),
        rng.integers(-(2**62), 2**62, 500),  # the ranks cannot be packed with the rows
    ):
        _, inverse = np.unique(values, return_inverse=True)
        assert np.array_equal(dense_rank(values), inverse.ravel())


def test_unique_sorted_is_unique() -> None:
    rng = np.random.default_rng(2)
    for values in (
        np.zeros(0, dtype=np.int64),
        np.array([3]),
        rng.integers(-5, 5, 300),
        rng.integers(-(2**62), 2**62, 300),
        np.full(10, 7),
    ):
        assert np.array_equal(unique_sorted(values), np.unique(values))
