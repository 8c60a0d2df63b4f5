"""Co-rating neighbours on small planted data: clusters, a blockbuster, an item nobody co-rated."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from recommender.engine.similarity import co_rating_neighbours

N_USERS, N_ITEMS = 60, 22
BLOCKBUSTER, LONELY = 20, 21  # rated by nearly everyone; rated by one user only


def planted() -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Users 0-29 rate 7 of items 0-9, users 30-59 7 of items 10-19 (5 stars), and 1-2 items of
    the other cluster (1 star); 45 users rate the blockbuster (4 stars); user 0 alone rates the
    lonely item."""
    rng = np.random.default_rng(1)
    users: list[int] = []
    items: list[int] = []
    scores: list[float] = []

    def rate(u: int, i: int, score: float) -> None:
        users.append(u)
        items.append(i)
        scores.append(score)

    for u in range(N_USERS):
        own = np.arange(10) if u < 30 else np.arange(10, 20)
        other = np.arange(10, 20) if u < 30 else np.arange(10)
        for i in rng.choice(own, size=7, replace=False):
            rate(u, int(i), 5.0)
        for i in rng.choice(other, size=int(rng.integers(1, 3)), replace=False):
            rate(u, int(i), 1.0)
    for u in rng.choice(N_USERS, size=45, replace=False):
        rate(int(u), BLOCKBUSTER, 4.0)
    rate(0, LONELY, 5.0)
    return np.array(users), np.array(items), np.array(scores)


def cluster(item: int) -> int:
    return 0 if item < 10 else 1


def test_neighbours_stay_in_their_cluster() -> None:
    users, items, scores = planted()
    nb, sims = co_rating_neighbours(users, items, N_USERS, N_ITEMS, scores=scores, k=5)
    assert nb.shape == (N_ITEMS, 5)
    assert nb.dtype == np.int64
    assert sims.shape == (N_ITEMS, 5)
    assert sims.dtype == np.float32
    for item in range(20):
        assert all(cluster(int(j)) == cluster(item) for j in nb[item]), (item, nb[item])
        assert item not in nb[item].tolist()
        assert np.all(np.diff(sims[item]) <= 0)
        assert np.all(sims[item] > 0)


def test_a_blockbuster_is_not_everyones_neighbour() -> None:
    users, items, _ = planted()
    nb, _ = co_rating_neighbours(users, items, N_USERS, N_ITEMS, k=3, b=0.8)
    assert BLOCKBUSTER not in nb[:20].ravel().tolist()
    # Plain cosine (b = 0.5, no shrinkage) puts it in several top 3s: the penalty keeps it out.
    plain, _ = co_rating_neighbours(users, items, N_USERS, N_ITEMS, k=3, b=0.5, shrink=0.0)
    assert int(np.sum(plain[:20] == BLOCKBUSTER)) >= 3


def test_an_item_without_co_ratings_gets_no_neighbours() -> None:
    users, items, scores = planted()
    nb, sims = co_rating_neighbours(users, items, N_USERS, N_ITEMS, scores=scores, k=5)
    assert nb[LONELY].tolist() == [-1] * 5
    assert sims[LONELY].tolist() == [0.0] * 5
    assert LONELY not in nb.ravel().tolist()


def test_low_ratings_do_not_count_when_scores_are_given() -> None:
    # Two items rated by the same users, but only 1 star: no liked co-occurrence.
    users = np.repeat(np.arange(5), 2)
    items = np.tile([0, 1], 5)
    binary, _ = co_rating_neighbours(users, items, 5, 2, k=1)
    assert binary[:, 0].tolist() == [1, 0]
    liked, sims = co_rating_neighbours(users, items, 5, 2, k=1, scores=np.ones(10))
    assert liked[:, 0].tolist() == [-1, -1]
    assert not sims.any()


def test_blocks_do_not_change_the_result() -> None:
    users, items, _ = planted()
    whole = co_rating_neighbours(users, items, N_USERS, N_ITEMS, k=8, block=1024)
    sliced = co_rating_neighbours(users, items, N_USERS, N_ITEMS, k=8, block=3)
    np.testing.assert_array_equal(whole[0], sliced[0])
    np.testing.assert_allclose(whole[1], sliced[1], rtol=1e-6)


def test_duplicates_count_once_and_bad_indices_raise() -> None:
    users, items, _ = planted()
    once = co_rating_neighbours(users, items, N_USERS, N_ITEMS, k=4)
    twice = co_rating_neighbours(
        np.concatenate([users, users]), np.concatenate([items, items]), N_USERS, N_ITEMS, k=4
    )
    np.testing.assert_array_equal(once[0], twice[0])
    with pytest.raises(IndexError):
        co_rating_neighbours(np.array([0]), np.array([N_ITEMS]), N_USERS, N_ITEMS)
