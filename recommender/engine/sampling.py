"""Training negatives, drawn afresh every epoch, and the shuffled rows of one epoch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recommender.engine.split import is_member, sorted_keys

IntArray = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class EpochRows:
    """One epoch's training rows, shuffled: users, items [n_pos * (1 + negatives)] int64 and
    labels of the same length (1 for a positive, 0 for a sampled negative)."""

    users: IntArray
    items: IntArray
    labels: NDArray[np.float32]


class NegativeSampler:
    """Draws `negatives` items per training positive, uniformly among the items that are not one
    of that user's training positives (He et al. 2017, section 4.1).

    Vectorised: draw everything at once, test membership against the sorted keys
    user * n_items + item with np.searchsorted, and redraw only the collisions.
    """

    def __init__(
        self, train_users: IntArray, train_items: IntArray, n_items: int, negatives: int
    ) -> None:
        if negatives < 0:
            raise ValueError("negatives must be >= 0")
        self.users = np.ascontiguousarray(train_users, dtype=np.int64)  # [n_pos]
        self.items = np.ascontiguousarray(train_items, dtype=np.int64)  # [n_pos]
        if self.users.shape != self.items.shape:
            raise ValueError("train_users and train_items must have one length")
        self.n_items = n_items
        self.negatives = negatives
        self.keys = sorted_keys(self.users, self.items, n_items)  # [n_distinct_pos]
        if self.keys.shape[0] and negatives:
            per_user = np.bincount(self.keys // n_items)
            if int(per_user.max()) >= n_items:
                raise ValueError("a user has every item as a positive: no negative exists")

    def draw(self, rng: np.random.Generator) -> IntArray:
        """Negative items, user order np.repeat(users, negatives): [n_pos * negatives]."""
        users = np.repeat(self.users, self.negatives)  # [n_pos * negatives]
        drawn = rng.integers(0, self.n_items, size=users.shape[0], dtype=np.int64)
        todo = np.flatnonzero(is_member(self.keys, users * self.n_items + drawn))
        while todo.shape[0]:
            drawn[todo] = rng.integers(0, self.n_items, size=todo.shape[0], dtype=np.int64)
            clash = is_member(self.keys, users[todo] * self.n_items + drawn[todo])
            todo = todo[clash]
        return drawn

    def epoch(self, rng: np.random.Generator) -> EpochRows:
        """Positives plus fresh negatives, in one random order."""
        neg_items = self.draw(rng)
        users = np.concatenate((self.users, np.repeat(self.users, self.negatives)))
        items = np.concatenate((self.items, neg_items))  # [n_pos * (1 + negatives)]
        labels = np.zeros(users.shape[0], dtype=np.float32)
        labels[: self.users.shape[0]] = 1.0
        order = rng.permutation(users.shape[0])
        return EpochRows(users=users[order], items=items[order], labels=labels[order])
