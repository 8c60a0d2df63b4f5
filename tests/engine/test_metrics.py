"""HR@K and NDCG@K, sampled and full-catalogue, on cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.engine.metrics import (
    NonFiniteScores,
    SeenItems,
    full_catalogue_metrics,
    hr_ndcg_from_ranks,
    ranks_from_scores,
    sampled_metrics,
)


def test_ranks_count_ties_against_the_held_out_item() -> None:
    pos = np.array([0.5, 0.5, 0.9])
    others = np.array([[0.1, 0.2, 0.3], [0.5, 0.6, 0.1], [0.9, 0.9, 0.9]])
    assert ranks_from_scores(pos, others).tolist() == [0, 2, 3]


def test_hr_and_ndcg_from_ranks_by_hand() -> None:
    result = hr_ndcg_from_ranks(np.array([0, 1, 2, 5]), k=3)
    assert result.hr == pytest.approx(3 / 4)
    assert result.ndcg == pytest.approx((1.0 + 1 / math.log2(3) + 1 / math.log2(4)) / 4)
    assert hr_ndcg_from_ranks(np.array([], dtype=np.int64), k=3).n_users == 0


def test_sampled_metrics_rank_the_positive_among_its_candidates() -> None:
    table = np.array([[0.0, 0.9, 0.1, 0.2, 0.3], [0.0, 0.1, 0.5, 0.6, 0.7]])

    def predict(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        scores: np.ndarray = table[users, items]
        return scores

    users = np.array([0, 1])
    pos = np.array([1, 2])
    cands = np.array([[2, 3, 4], [1, 3, 4]])
    result = sampled_metrics(predict, users, pos, cands, k=2)
    # user 0: 0.9 beats all -> rank 0; user 1: 0.5 below 0.6 and 0.7 -> rank 2, a miss at K=2
    assert result.hr == pytest.approx(0.5)
    assert result.ndcg == pytest.approx(0.5)


def test_full_catalogue_excludes_seen_items() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.1], [0.2, 0.9, 0.3, 0.4]], dtype=np.float32)
    seen = SeenItems(np.array([0, 1]), np.array([0, 1]), n_users=2)
    users = np.array([0, 1])
    pos = np.array([2, 3])
    result = full_catalogue_metrics(lambda u: scores[u], users, pos, seen, n_items=4, k=1)
    # user 0: item 0 (0.9) is seen, item 1 (0.8) beats item 2 -> rank 1; user 1: rank 0
    assert result.hr == pytest.approx(0.5)
    assert result.ndcg == pytest.approx(0.5)


def test_seen_items_pairs_follow_the_requested_users() -> None:
    seen = SeenItems(np.array([2, 0, 2, 1]), np.array([7, 8, 9, 6]), n_users=3)
    rows, items = seen.pairs(np.array([2, 1]))
    assert sorted(zip(rows.tolist(), items.tolist(), strict=True)) == [(0, 7), (0, 9), (1, 6)]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_infinite_scores_are_refused_not_ranked_first(bad: float) -> None:
    # Every comparison with NaN is false: counted as "others >= pos", a NaN positive would rank
    # 0 and score a perfect HR.
    with pytest.raises(NonFiniteScores, match="not finite"):
        ranks_from_scores(np.array([bad, 0.5]), np.array([[0.1, 0.2], [0.3, 0.4]]))
    with pytest.raises(NonFiniteScores, match="candidate scores"):
        ranks_from_scores(np.array([0.5, 0.5]), np.array([[0.1, bad], [0.3, 0.4]]))

    def predict(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.full(users.shape[0], bad)

    with pytest.raises(NonFiniteScores):
        sampled_metrics(predict, np.array([0]), np.array([1]), np.array([[2, 3]]), k=1)
    seen = SeenItems(np.array([0]), np.array([0]), n_users=1)
    scores = np.array([[0.9, bad, 0.1]], dtype=np.float32)
    with pytest.raises(NonFiniteScores, match="full-catalogue"):
        full_catalogue_metrics(lambda u: scores[u], np.array([0]), np.array([1]), seen, 3, k=1)


def test_minus_infinity_means_cannot_recommend_and_ranks_last() -> None:
    # The pipeline scores movies an older model never saw -inf: they rank behind everything.
    pos = np.array([-np.inf, 0.5])
    others = np.array([[0.1, -np.inf], [-np.inf, 0.9]])
    assert ranks_from_scores(pos, others).tolist() == [2, 1]
