"""Leave-one-out split by time, ties broken at random with the seed, and the 99 candidates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recommender.engine.data import Interactions
from recommender.engine.sorting import PACKED_BITS, bit_width, lexsort, unique_sorted

IntArray = NDArray[np.int64]
MIN_INTERACTIONS = 3  # one for test, one for validation, at least one to learn the user from
# The tie-breaking order has its own stream of the seed, so the candidates drawn with `seed`
# are the same as without it.
_TIE_STREAM = 1


@dataclass(frozen=True, eq=False)
class Split:
    """Train pairs, and per evaluated user one held-out item plus its sampled candidates.

    train_users, train_items: [n_train]. val_users, val_items: [n_val], val_candidates:
    [n_val, n_candidates]; test_* likewise. Users with fewer than MIN_INTERACTIONS interactions
    are in train only: holding one out would leave nothing to learn them from.
    """

    n_users: int
    n_items: int
    train_users: IntArray
    train_items: IntArray
    val_users: IntArray
    val_items: IntArray
    val_candidates: IntArray
    test_users: IntArray
    test_items: IntArray
    test_candidates: IntArray

    @property
    def n_candidates(self) -> int:
        return int(self.test_candidates.shape[1])

    def arrays(self) -> dict[str, IntArray]:
        """Every array by field name, for saving."""
        return {
            name: getattr(self, name)
            for name in (
                "train_users",
                "train_items",
                "val_users",
                "val_items",
                "val_candidates",
                "test_users",
                "test_items",
                "test_candidates",
            )
        }

    @classmethod
    def from_arrays(cls, n_users: int, n_items: int, arrays: dict[str, IntArray]) -> Split:
        return cls(
            n_users=n_users, n_items=n_items, **{k: np.asarray(v) for k, v in arrays.items()}
        )


def sorted_keys(users: IntArray, items: IntArray, n_items: int) -> IntArray:
    """Distinct user * n_items + item keys, sorted, for membership tests with np.searchsorted."""
    return unique_sorted(users.astype(np.int64) * n_items + items.astype(np.int64))  # [n_pairs]


def is_member(keys: IntArray, candidates: IntArray) -> NDArray[np.bool_]:
    """Which of `candidates` (any shape) are in the sorted `keys`."""
    if keys.shape[0] == 0:
        return np.zeros(candidates.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(keys, candidates), keys.shape[0] - 1)
    return keys[pos] == candidates  # type: ignore[no-any-return]


def sample_candidates(
    users: IntArray,
    exclude_keys: IntArray,
    n_items: int,
    n_candidates: int,
    rng: np.random.Generator,
) -> IntArray:
    """For each user, `n_candidates` distinct items drawn uniformly among those whose key
    (user * n_items + item) is not in `exclude_keys`: [len(users), n_candidates]. Draws all
    at once and redraws only the collisions (an excluded item or a repeat within the row)."""
    if users.shape[0] == 0:
        return np.zeros((0, n_candidates), dtype=np.int64)
    seen = np.bincount(exclude_keys // n_items, minlength=int(users.max()) + 1)[users]
    if n_candidates > n_items - int(seen.max()):
        raise ValueError(
            f"cannot draw {n_candidates} unseen items: a user has seen {int(seen.max())} of "
            f"{n_items}"
        )
    out = rng.integers(0, n_items, size=(users.shape[0], n_candidates), dtype=np.int64)
    bad_rows = np.arange(users.shape[0])
    while bad_rows.shape[0]:
        sub = out[bad_rows]  # [r, n_candidates]
        keys = users[bad_rows, None] * n_items + sub
        clash = is_member(exclude_keys, keys)
        # A repeat within a row: keep its first occurrence, redraw the later ones.
        order = np.argsort(sub, axis=1, kind="stable")
        sorted_sub = np.take_along_axis(sub, order, axis=1)
        repeat_sorted = np.zeros(sub.shape, dtype=bool)
        repeat_sorted[:, 1:] = sorted_sub[:, 1:] == sorted_sub[:, :-1]
        repeat = np.zeros(sub.shape, dtype=bool)
        np.put_along_axis(repeat, order, repeat_sorted, axis=1)
        bad_sub = clash | repeat
        redraw = rng.integers(0, n_items, size=int(bad_sub.sum()), dtype=np.int64)
        sub[bad_sub] = redraw
        out[bad_rows] = sub
        bad_rows = bad_rows[bad_sub.any(axis=1)]
    return out


def _by_user_time_at_random(users: IntArray, timestamps: IntArray, tie_key: IntArray) -> IntArray:
    """The order by user, timestamp, then `tie_key` (a permutation of the rows): [n].

    Interactions come sorted by user and timestamp, so only each run of equal (user, timestamp)
    needs reordering: the run's number and the tie key (distinct) packed in one uint64 and
    sorted once, the row found again through the permutation's inverse. np.lexsort otherwise."""
    n = users.shape[0]
    step = np.ones(n, dtype=bool)  # [n] a row that starts a new (user, timestamp) run
    if n:
        step[1:] = (users[1:] != users[:-1]) | (timestamps[1:] != timestamps[:-1])
    later_user = users[1:] > users[:-1]
    later_time = (users[1:] == users[:-1]) & (timestamps[1:] >= timestamps[:-1])
    in_order = bool(np.all(later_user | later_time))
    run = np.cumsum(step) - 1  # [n]
    key_bits = max(n - 1, 0).bit_length()
    if not in_order or bit_width(run) + key_bits > PACKED_BITS:
        return np.lexsort((tie_key, timestamps, users))
    packed = run.view(np.uint64) << np.uint64(key_bits)  # [n]
    packed |= tie_key.view(np.uint64)
    packed.sort()
    packed &= np.uint64((1 << key_bits) - 1)
    row_of_key = np.empty(n, dtype=np.int64)  # [n] the inverse permutation
    row_of_key[tie_key] = np.arange(n, dtype=np.int64)
    return row_of_key[packed.view(np.int64)]


def leave_one_out(data: Interactions, *, n_candidates: int = 99, seed: int = 0) -> Split:
    """Leave-one-out split of He et al. (2017) with a validation item.

    Each user's interactions are ordered by timestamp; the last is the test item, the one before
    it the validation item, the rest train. Equal timestamps are common in MovieLens (ratings
    entered in one sitting: 42 % of ML-1M users and 15 % of ml-latest-small's have several at
    their latest second), so ties are broken at random with the split's seed: a user's tied
    items come in a uniformly random order. (Breaking them by item index held out the highest
    movie id of each sitting and biased the test set.) The random order is drawn over the
    (user, item) pairs in sorted order, so the split depends only on the data and the seed:
    same seed, same split, whatever order the rows came in. Users with fewer than 3
    interactions keep all of them in train and are not evaluated.

    Candidates: for each test (validation) user, `n_candidates` distinct items the user never
    interacted with in any split, drawn uniformly with `seed` and fixed for the run.
    """
    u = np.asarray(data.user_idx, dtype=np.int64)
    i = np.asarray(data.item_idx, dtype=np.int64)
    ts = np.asarray(data.timestamps, dtype=np.int64)
    canonical = lexsort((i, u))  # by user, item: a fixed order of the distinct pairs
    tie_key = np.empty(u.shape[0], dtype=np.int64)  # [n] random rank of each pair
    tie_key[canonical] = np.random.default_rng((seed, _TIE_STREAM)).permutation(u.shape[0])
    order = _by_user_time_at_random(u, ts, tie_key)
    u, i = u[order], i[order]
    counts = np.bincount(u, minlength=data.n_users)  # [n_users]
    ends = np.cumsum(counts)  # [n_users] one past each user's last row
    evaluated = np.flatnonzero(counts >= MIN_INTERACTIONS)  # [n_eval]
    test_rows = ends[evaluated] - 1
    val_rows = ends[evaluated] - 2
    in_train = np.ones(u.shape[0], dtype=bool)
    in_train[test_rows] = False
    in_train[val_rows] = False

    all_keys = sorted_keys(u, i, data.n_items)
    rng = np.random.default_rng(seed)
    test_candidates = sample_candidates(evaluated, all_keys, data.n_items, n_candidates, rng)
    val_candidates = sample_candidates(evaluated, all_keys, data.n_items, n_candidates, rng)
    return Split(
        n_users=data.n_users,
        n_items=data.n_items,
        train_users=u[in_train],
        train_items=i[in_train],
        val_users=evaluated,
        val_items=i[val_rows],
        val_candidates=val_candidates,
        test_users=evaluated.copy(),
        test_items=i[test_rows],
        test_candidates=test_candidates,
    )
