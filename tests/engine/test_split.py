"""Leave-one-out split by timestamp and the sampled evaluation candidates."""

from __future__ import annotations

import numpy as np

from recommender.engine.data import Interactions, synthetic_planted
from recommender.engine.split import _by_user_time_at_random, leave_one_out


def test_latest_item_is_test_and_the_one_before_is_validation() -> None:
    data = Interactions.from_arrays(
        [1, 1, 1, 1, 2, 2, 2], [10, 11, 12, 13, 10, 11, 12], [4, 1, 3, 2, 7, 9, 8]
    )
    split = leave_one_out(data, n_candidates=0, seed=0)
    test = dict(
        zip(split.test_users.tolist(), data.items.raw(split.test_items).tolist(), strict=True)
    )
    val = dict(zip(split.val_users.tolist(), data.items.raw(split.val_items).tolist(), strict=True))
    assert test == {0: 10, 1: 11}
    assert val == {0: 12, 1: 12}
    train = sorted(
        zip(split.train_users.tolist(), data.items.raw(split.train_items).tolist(), strict=True)
    )
    assert train == [(0, 11), (0, 13), (1, 10)]


def _held_out(data: Interactions, seed: int) -> tuple[int, int]:
    """(test item, validation item) raw ids of the one user in `data`."""
    split = leave_one_out(data, n_candidates=0, seed=seed)
    return data.items.raw_of(int(split.test_items[0])), data.items.raw_of(int(split.val_items[0]))


def test_timestamp_ties_are_broken_at_random_with_the_seed() -> None:
    # Items 20, 30 and 40 share the latest second; 10 came earlier and always stays in train.
    data = Interactions.from_arrays([1, 1, 1, 1], [40, 30, 20, 10], [5, 5, 5, 1])
    held = {seed: _held_out(data, seed) for seed in range(30)}
    assert all(test in (20, 30, 40) and val in (20, 30, 40) for test, val in held.values())
    assert all(test != val for test, val in held.values())
    tests = [test for test, _ in held.values()]
    # Every tied item is held out for some seed: not always the highest id (40), as before.
    assert set(tests) == {20, 30, 40}
    assert max(tests.count(item) for item in (20, 30, 40)) < 20  # about 10 each
    # A fixed seed gives the same split every time, whatever order the rows come in.
    shuffled = Interactions.from_arrays([1, 1, 1, 1], [20, 10, 40, 30], [5, 1, 5, 5])
    for seed in range(30):
        assert _held_out(data, seed) == held[seed] == _held_out(shuffled, seed)


def test_users_without_ties_keep_their_latest_items_held_out_for_every_seed() -> None:
    data = Interactions.from_arrays([1, 1, 1, 2, 2, 2], [1, 2, 3, 1, 2, 3], [5, 5, 5, 1, 2, 3])
    for seed in range(10):
        split = leave_one_out(data, n_candidates=0, seed=seed)
        assert data.items.raw_of(int(split.test_items[1])) == 3  # user 2's latest
        assert data.items.raw_of(int(split.val_items[1])) == 2


def test_users_with_fewer_than_three_interactions_stay_in_train() -> None:
    data = Interactions.from_arrays([1, 1, 2, 3, 3, 3], [1, 2, 1, 1, 2, 3], [1, 2, 1, 1, 2, 3])
    split = leave_one_out(data, n_candidates=0, seed=0)
    assert split.test_users.tolist() == [2]
    assert np.bincount(split.train_users, minlength=3).tolist() == [2, 1, 1]


def test_candidates_are_distinct_items_the_user_never_touched() -> None:
    data = synthetic_planted(n_users=60, n_items=150, per_user=30, seed=2)
    split = leave_one_out(data, n_candidates=99, seed=5)
    seen = {(u, i) for u, i in zip(data.user_idx.tolist(), data.item_idx.tolist(), strict=True)}
    for cands in (split.test_candidates, split.val_candidates):
        assert cands.shape == (60, 99)
        assert all(len(set(row)) == 99 for row in cands.tolist())
        users = split.test_users
        assert not any(
            (int(u), int(i)) in seen for u, row in zip(users, cands, strict=True) for i in row
        )


def test_split_is_reproducible_for_a_seed_and_varies_with_it() -> None:
    data = synthetic_planted(n_users=40, n_items=150, seed=2)
    a = leave_one_out(data, seed=1)
    b = leave_one_out(data, seed=1)
    c = leave_one_out(data, seed=2)
    assert all(np.array_equal(a.arrays()[k], b.arrays()[k]) for k in a.arrays())
    assert np.array_equal(a.test_items, c.test_items)
    assert not np.array_equal(a.test_candidates, c.test_candidates)


def test_ties_are_ordered_the_same_from_sorted_and_unsorted_rows() -> None:
    # Interactions come sorted by (user, time): ties are reordered within each run, packed; rows
    # in any other order take np.lexsort. Both give np.lexsort's order.
    rng = np.random.default_rng(5)
    data = Interactions.from_arrays(
        rng.integers(0, 30, 3000), rng.integers(0, 400, 3000), rng.integers(0, 6, 3000)
    )
    users, times = data.user_idx, data.timestamps
    tie_key = rng.permutation(len(data))
    expected = np.lexsort((tie_key, times, users))
    assert np.array_equal(_by_user_time_at_random(users, times, tie_key), expected)
    shuffle = rng.permutation(len(data))
    assert np.array_equal(
        _by_user_time_at_random(users[shuffle], times[shuffle], tie_key[shuffle]),
        np.lexsort((tie_key[shuffle], times[shuffle], users[shuffle])),
    )
