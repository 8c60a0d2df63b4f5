"""Training negatives: never a training positive, fresh every epoch, `negatives` per positive."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.data import synthetic_planted
from recommender.engine.sampling import NegativeSampler
from recommender.engine.split import leave_one_out


def _sampler(negatives: int = 4) -> NegativeSampler:
    # Dense users (60 of 80 items each) make collisions common, so the redraw path runs.
    data = synthetic_planted(n_users=50, n_items=80, per_user=60, seed=4)
    split = leave_one_out(data, n_candidates=10, seed=0)
    return NegativeSampler(split.train_users, split.train_items, split.n_items, negatives)


def test_negatives_never_hit_a_training_positive() -> None:
    sampler = _sampler()
    positives = set(zip(sampler.users.tolist(), sampler.items.tolist(), strict=True))
    rows = sampler.epoch(np.random.default_rng(0))
    negatives = rows.labels == 0
    pairs = zip(rows.users[negatives].tolist(), rows.items[negatives].tolist(), strict=True)
    assert not any(pair in positives for pair in pairs)


def test_each_positive_gets_four_negatives_of_its_own_user() -> None:
    sampler = _sampler()
    rng = np.random.default_rng(1)
    drawn = sampler.draw(rng)
    assert drawn.shape == (4 * sampler.users.shape[0],)
    rows = sampler.epoch(rng)
    assert rows.users.shape == (5 * sampler.users.shape[0],)
    assert int(rows.labels.sum()) == sampler.users.shape[0]
    pos_per_user = np.bincount(rows.users[rows.labels == 1])
    neg_per_user = np.bincount(rows.users[rows.labels == 0])
    assert np.array_equal(neg_per_user, 4 * pos_per_user)


def test_negatives_are_fresh_each_epoch_and_rows_shuffled() -> None:
    sampler = _sampler()
    rng = np.random.default_rng(2)
    first, second = sampler.draw(rng), sampler.draw(rng)
    assert np.mean(first != second) > 0.5
    rows = sampler.epoch(rng)
    assert 0 < rows.labels[: len(rows.labels) // 2].mean() < 1  # positives not all up front


def test_a_user_with_every_item_positive_is_refused() -> None:
    users = np.zeros(3, dtype=np.int64)
    with pytest.raises(ValueError, match="every item"):
        NegativeSampler(users, np.arange(3, dtype=np.int64), 3, 4)
