"""Co-rating neighbours and the More like this blend on small planted data: clusters, a
blockbuster, an item nobody co-rated, a rarely rated film between two kinds."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from recommender.engine.similarity import (
    blended_similarity,
    co_rating_neighbours,
    content_similarity,
    content_weight,
)

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


def test_an_item_below_min_ratings_gets_no_neighbours() -> None:
    users, items, scores = planted()
    nb, sims = co_rating_neighbours(
        users, items, N_USERS, N_ITEMS, scores=scores, k=5, min_ratings=2
    )
    assert nb[LONELY].tolist() == [-1] * 5
    assert sims[LONELY].tolist() == [0.0] * 5
    assert LONELY not in nb.ravel().tolist()


def test_an_item_liked_once_gets_its_raters_other_likes_by_default() -> None:
    users, items, scores = planted()
    nb, _ = co_rating_neighbours(users, items, N_USERS, N_ITEMS, scores=scores, k=10)
    liked_by_user_0 = set(items[(users == 0) & (scores >= 3.5)].tolist()) - {LONELY}
    found = nb[LONELY][nb[LONELY] >= 0].tolist()
    assert set(found) == liked_by_user_0
    # Shrinkage keeps one shared rater from making it anybody's close neighbour.
    assert all(LONELY not in nb[i, :5].tolist() for i in range(20))


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


# -- More like this: co-ratings blended with content ------------------------------------------

ANIMATION, HORROR, ACTION = 0, 1, 2
RARE = 22  # Animation and Horror, liked by two Animation fans only


def planted_catalog() -> tuple[
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float32],
    NDArray[np.int64],
]:
    """The planted ratings with items 0-9 Animation (users 0-29 like them), 10-19 Horror, the
    blockbuster Action, the lonely item Horror, and a rare film (both kinds) liked by users 1
    and 2. Returns users, items, scores, item genres [n, 3], decades [n]."""
    users, items, scores = planted()
    users = np.concatenate([users, [1, 2]])
    items = np.concatenate([items, [RARE, RARE]])
    scores = np.concatenate([scores, [5.0, 4.5]])
    genres = np.zeros((N_ITEMS + 1, 3), np.float32)
    genres[:10, ANIMATION] = 1.0
    genres[10:20, HORROR] = 1.0
    genres[BLOCKBUSTER, ACTION] = 1.0
    genres[LONELY, HORROR] = 1.0
    genres[RARE, [ANIMATION, HORROR]] = 1.0
    decades = np.full(N_ITEMS + 1, 2000, np.int64)
    return users, items, scores, genres, decades


def more_like_this(anchors: list[int], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Top k of the blend for each anchor (itself left out) and the full score rows."""
    users, items, scores, genres, decades = planted_catalog()
    n = N_ITEMS + 1
    nb, sims = co_rating_neighbours(users, items, N_USERS, n, scores=scores, k=10)
    counts = np.bincount(items, minlength=n).astype(np.float32)
    popularity = counts / counts.max()
    content, _ = content_similarity(genres, decades, popularity, anchors)
    blended = blended_similarity(anchors, nb, sims, content, counts[anchors])
    blended[np.arange(len(anchors)), anchors] = -np.inf
    order = np.argsort(-blended, axis=1, kind="stable")[:, :k]
    return order, blended


def test_content_weighs_fully_without_ratings_and_down_to_the_floor_with_many() -> None:
    w = content_weight(np.array([0, 2, 20, 200, 20000]))
    assert w[0] == pytest.approx(1.0)
    assert w[2] == pytest.approx(0.5)
    assert np.all(np.diff(w) < 0)
    assert w[-1] == pytest.approx(0.0, abs=0.01)
    assert content_weight(20000, floor=0.3) == pytest.approx(0.3, abs=0.01)


def test_a_rarely_rated_film_mixes_its_co_ratings_with_content_neighbours() -> None:
    users, items, scores, genres, _ = planted_catalog()
    co_rated = set(items[np.isin(users, [1, 2]) & (scores >= 3.5)].tolist()) - {RARE}
    top, _ = more_like_this([RARE], 10)
    picks = top[0].tolist()
    from_co_ratings = [i for i in picks if i in co_rated]
    from_content = [i for i in picks if i not in co_rated]
    # Its raters' likes (Animation) lead; Horror films, which only its genres point to, join.
    assert len(from_co_ratings) >= 3
    assert picks[0] in co_rated
    assert any(genres[i, HORROR] for i in from_content)
    assert all(genres[i] @ genres[RARE] > 0 for i in picks)
    # Co-ratings alone would give Animation only; content alone would ignore who liked it.
    content_only, _ = content_similarity(*planted_catalog()[3:], np.ones(N_ITEMS + 1), [RARE])
    assert not all(i in co_rated for i in picks)
    assert set(picks) != set(np.argsort(-content_only[0], kind="stable")[1:11].tolist())


def test_a_popular_film_does_not_dominate_every_list() -> None:
    top, _ = more_like_this(list(range(20)), 5)
    assert int(np.sum(top == BLOCKBUSTER)) == 0, top
    for anchor in range(20):
        assert all(cluster(int(j)) == cluster(anchor) for j in top[anchor] if j < 20)
    # Even over plain cosine neighbours (in 12 of the 20 top 5s), the content share keeps the
    # blockbuster, which shares no genre with them, out of every list.
    users, items, _, genres, decades = planted_catalog()
    n, anchors = N_ITEMS + 1, list(range(20))
    nb, sims = co_rating_neighbours(users, items, N_USERS, n, k=10, b=0.5, shrink=0.0)
    assert int(np.sum(nb[:20, :5] == BLOCKBUSTER)) >= 10
    counts = np.bincount(items, minlength=n).astype(np.float32)
    content, _ = content_similarity(genres, decades, counts / counts.max(), anchors)
    blended = blended_similarity(anchors, nb, sims, content, counts[anchors])
    blended[np.arange(20), anchors] = -np.inf
    assert int(np.sum(np.argsort(-blended, axis=1)[:, :5] == BLOCKBUSTER)) == 0


def test_a_much_rated_film_is_placed_by_who_liked_it() -> None:
    # Item 3 is liked by about 21 Animation fans: its co-rated cluster leads, not the Animation
    # and Horror film that shares its genre but that two people liked.
    top, blended = more_like_this([3], 5)
    assert all(cluster(int(j)) == 0 and j < 10 for j in top[0])
    assert blended[0, RARE] < blended[0, top[0, -1]]


def test_an_anchor_without_co_ratings_is_ranked_by_content_alone() -> None:
    *_, genres, decades = planted_catalog()
    n = N_ITEMS + 1
    nb = np.full((n, 4), -1, np.int64)
    sims = np.zeros((n, 4), np.float32)
    content, _ = content_similarity(genres, decades, np.zeros(n), [RARE])
    blended = blended_similarity([RARE], nb, sims, content, [2.0])
    np.testing.assert_allclose(blended[0], content[0] / content[0].max(), rtol=1e-6)
