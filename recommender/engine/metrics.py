"""HR@K and NDCG@K on the sampled NCF protocol, and full-catalogue Recall@K and NDCG@K.

Sampled metrics (one held-out item among 99 sampled negatives) flatter every model, about
tenfold against ranking the full catalogue (Krichene and Rendle, KDD 2020), and can even reorder
models; the full-catalogue figures are reported beside them for that reason.

Every comparison with NaN is false, so a NaN-scoring model would rank each held-out item first
and score a perfect HR: the rankers refuse NaN and +inf scores (NonFiniteScores). -inf is allowed
and means "cannot recommend": such an item ranks last (the pipeline scores movies an older
model never saw that way).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
PairScorer = Callable[[IntArray, IntArray], NDArray[np.floating]]
UserScorer = Callable[[IntArray], NDArray[np.floating]]
_FULL_CELLS = 1 << 22  # user x item scores per block of the full-catalogue evaluation


class NonFiniteScores(ValueError):
    """A scorer gave NaN or +inf: its ranking means nothing (a diverged model, most likely)."""


def check_scores(scores: NDArray[np.floating], what: str) -> None:
    """Raise NonFiniteScores if any score is NaN or +inf (-inf is allowed: "never rank")."""
    bad = np.isnan(scores) | np.isposinf(scores)
    if bad.any():
        n_nan = int(np.isnan(scores).sum())
        raise NonFiniteScores(
            f"{what}: {int(bad.sum())} of {scores.size} scores are not finite "
            f"({n_nan} NaN, {int(bad.sum()) - n_nan} +inf)"
        )


@dataclass(frozen=True)
class RankMetrics:
    """Means over the evaluated users (each user weighs the same)."""

    hr: float
    ndcg: float
    n_users: int


def ranks_from_scores(pos: NDArray[np.floating], others: NDArray[np.floating]) -> IntArray:
    """0-based rank of each held-out item: how many other items score at least as high.

    pos: [n], others: [n, m]. Ties count against the held-out item (pessimistic), so a model that
    scores everything alike gets rank m, not 0. Raises NonFiniteScores for NaN or +inf scores.
    """
    check_scores(pos, "held-out item scores")
    check_scores(others, "candidate scores")
    ranks: IntArray = (others >= pos[:, None]).sum(axis=1).astype(np.int64)  # [n]
    return ranks


def hr_ndcg_from_ranks(ranks: IntArray, k: int) -> RankMetrics:
    """HR@K = share of users whose item ranks in the top K; NDCG@K = mean of 1 / log2(rank + 2)
    over those hits (0 otherwise); one relevant item per user, so the ideal DCG is 1."""
    if ranks.shape[0] == 0:
        return RankMetrics(hr=0.0, ndcg=0.0, n_users=0)
    hit = ranks < k
    gains = np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0)
    return RankMetrics(hr=float(hit.mean()), ndcg=float(gains.mean()), n_users=int(ranks.shape[0]))


def sampled_ranks(
    predict: PairScorer, users: IntArray, pos_items: IntArray, candidates: IntArray
) -> IntArray:
    """Rank of each user's held-out item among its candidates. users, pos_items: [n];
    candidates: [n, m]. `predict(users, items)` scores pairs ([p] -> [p])."""
    n, m = candidates.shape
    items = np.concatenate((pos_items[:, None], candidates), axis=1)  # [n, 1 + m]
    flat_users = np.repeat(users, m + 1)  # [n * (1 + m)]
    scores = np.asarray(predict(flat_users, items.ravel())).reshape(n, m + 1)
    return ranks_from_scores(scores[:, 0], scores[:, 1:])


def sampled_metrics(
    predict: PairScorer, users: IntArray, pos_items: IntArray, candidates: IntArray, k: int
) -> RankMetrics:
    """HR@K and NDCG@K of the NCF protocol: the held-out item among its sampled candidates."""
    return hr_ndcg_from_ranks(sampled_ranks(predict, users, pos_items, candidates), k)


class SeenItems:
    """Each user's known items as CSR arrays, to mask them out of full-catalogue rankings."""

    def __init__(self, users: IntArray, items: IntArray, n_users: int) -> None:
        order = np.argsort(users, kind="stable")
        self.items = np.asarray(items, dtype=np.int64)[order]  # [n_pairs] grouped by user
        counts = np.bincount(users, minlength=n_users)  # [n_users]
        self.indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)  # [n_users + 1]

    def pairs(self, users: IntArray) -> tuple[IntArray, IntArray]:
        """(row in `users`, item) for every known item of those users: [n_pairs] each."""
        starts = self.indptr[users]
        lengths = self.indptr[users + 1] - starts  # [n]
        rows = np.repeat(np.arange(users.shape[0]), lengths)  # [n_pairs]
        offsets = np.arange(rows.shape[0]) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return rows, self.items[np.repeat(starts, lengths) + offsets]


def full_catalogue_ranks(
    score_users: UserScorer,
    users: IntArray,
    pos_items: IntArray,
    seen: SeenItems,
    n_items: int,
    *,
    top: IntArray | None = None,
) -> IntArray:
    """Rank of each user's held-out item among all items the user has not seen (the seen items
    masked to -inf). `score_users(users)` gives [len(users), n_items]. Ties pessimistic.
    `top` ([len(users), k], optional) receives each user's k best unseen items, best first.
    Raises NonFiniteScores for NaN or +inf scores."""
    ranks = np.empty(users.shape[0], dtype=np.int64)
    block = max(1, _FULL_CELLS // max(n_items, 1))
    for start in range(0, users.shape[0], block):
        bu = users[start : start + block]
        scores = np.array(score_users(bu), dtype=np.float32, copy=True)  # [block, n_items]
        check_scores(scores, "full-catalogue scores")
        rows, items = seen.pairs(bu)
        scores[rows, items] = -np.inf
        pos = scores[np.arange(bu.shape[0]), pos_items[start : start + block]]  # [block]
        # The held-out item scores >= itself, hence the -1.
        ranks[start : start + bu.shape[0]] = (scores >= pos[:, None]).sum(axis=1) - 1
        if top is not None:
            top[start : start + bu.shape[0]] = top_k_items(scores, top.shape[1])
    return ranks


def top_k_items(scores: NDArray[np.floating], k: int) -> IntArray:
    """The k highest-scoring columns of each row, best first: [n, n_items] -> [n, k]."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # [n, k], unordered
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


@dataclass(frozen=True)
class Personalisation:
    """How far a model's top-K lists leave the best-sellers: coverage = share of the catalogue in
    at least one user's top K; popularity = mean percentile (0 = least, 100 = most rated in
    training) of the recommended items, over all recommendations."""

    coverage: float
    popularity_percentile: float


def personalisation(top: IntArray, item_counts: NDArray[np.integer]) -> Personalisation:
    """top: [n_users, k] recommended item indices; item_counts: [n_items] training ratings each."""
    n_items = item_counts.shape[0]
    if top.size == 0 or n_items == 0:
        return Personalisation(coverage=0.0, popularity_percentile=0.0)
    # Percentile of each item's count: the share of items rated less often (ties share a rank).
    order = np.sort(item_counts)
    percentile = 100.0 * np.searchsorted(order, item_counts, side="left") / max(n_items - 1, 1)
    return Personalisation(
        coverage=float(np.unique(top).shape[0] / n_items),
        popularity_percentile=float(percentile[top].mean()),
    )


def full_catalogue_metrics(
    score_users: UserScorer,
    users: IntArray,
    pos_items: IntArray,
    seen: SeenItems,
    n_items: int,
    k: int,
) -> RankMetrics:
    """Recall@K and NDCG@K over the full catalogue, the user's known items excluded. With one
    held-out item per user Recall@K equals HR@K; RankMetrics.hr holds it."""
    return hr_ndcg_from_ranks(full_catalogue_ranks(score_users, users, pos_items, seen, n_items), k)
