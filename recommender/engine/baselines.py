"""Baselines scored by the same evaluator as NeuMF: popularity, item-kNN and dot-product MF."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recommender.engine.sampling import NegativeSampler

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float32]
_KNN_BLOCK_CELLS = 1 << 23  # item x item similarities computed per block


class Popularity:
    """Scores every item by its number of training interactions, the same for every user."""

    def __init__(self, train_users: IntArray, train_items: IntArray, n_users: int, n_items: int):
        self.n_users = n_users
        self.n_items = n_items
        self.counts = np.bincount(train_items, minlength=n_items).astype(np.float32)  # [n_items]

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """users, items: [n]; returns [n]."""
        return self.counts[items]

    def score_users(self, users: IntArray) -> FloatArray:
        """[len(users), n_items]."""
        return np.broadcast_to(self.counts, (users.shape[0], self.n_items)).copy()


class ItemKNN:
    """Item-based k-nearest neighbours (Deshpande and Karypis 2004) on the binary train matrix.

    sim(i, j) = cosine of the item columns, each item keeping its `k` most similar others;
    score(u, i) = sum of sim(j, i) over the user's items j. NumPy only (no SciPy in the project):
    the user x item matrix is held dense, which suits ML-1M-sized data, not ML-25M.
    """

    def __init__(
        self,
        train_users: IntArray,
        train_items: IntArray,
        n_users: int,
        n_items: int,
        *,
        k: int = 100,
    ) -> None:
        self.n_users = n_users
        self.n_items = n_items
        self.k = min(k, max(n_items - 1, 1))
        x = np.zeros((n_users, n_items), dtype=np.float32)  # [n_users, n_items]
        x[train_users, train_items] = 1.0
        self.user_items = x
        norms = np.sqrt(x.sum(axis=0))  # [n_items]
        norms[norms == 0] = 1.0
        xn = x / norms  # [n_users, n_items], unit columns
        self.neighbours = np.zeros((n_items, self.k), dtype=np.int64)  # [n_items, k]
        self.sims = np.zeros((n_items, self.k), dtype=np.float32)  # [n_items, k]
        block = max(1, _KNN_BLOCK_CELLS // max(n_items, 1))
        for start in range(0, n_items, block):
            stop = min(n_items, start + block)
            s = xn[:, start:stop].T @ xn  # [block, n_items]
            s[np.arange(stop - start), np.arange(start, stop)] = -np.inf  # not its own neighbour
            top = np.argpartition(-s, self.k - 1, axis=1)[:, : self.k]  # [block, k]
            self.neighbours[start:stop] = top
            self.sims[start:stop] = np.maximum(np.take_along_axis(s, top, axis=1), 0.0)

    def score_users(self, users: IntArray) -> FloatArray:
        """[len(users), n_items]: each of the user's items adds its neighbours' similarities."""
        rows, items = np.nonzero(self.user_items[users])  # [n_pairs]
        targets = rows[:, None] * self.n_items + self.neighbours[items]  # [n_pairs, k]
        flat = np.bincount(
            targets.ravel(),
            weights=self.sims[items].ravel(),
            minlength=users.shape[0] * self.n_items,
        )
        return flat.reshape(users.shape[0], self.n_items).astype(np.float32)

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """users, items: [n]; returns [n]. Scores per distinct user, then picks the pairs."""
        distinct, inverse = np.unique(users, return_inverse=True)
        out = np.empty(users.shape[0], dtype=np.float32)
        block = max(1, _KNN_BLOCK_CELLS // max(self.n_items, 1))
        for start in range(0, distinct.shape[0], block):
            stop = start + block
            scores = self.score_users(distinct[start:stop])  # [block, n_items]
            mask = (inverse >= start) & (inverse < stop)
            out[mask] = scores[inverse[mask] - start, items[mask]]
        return out


@dataclass(frozen=True)
class MFConfig:
    """Dot-product MF trained with BCE on the same sampled negatives as NeuMF (Rendle et al.,
    RecSys 2020, argue a tuned MF matches NeuMF); Adam with lazy updates on the touched rows."""

    dim: int = 32
    lr: float = 0.005
    l2: float = 1e-6
    epochs: int = 20
    batch_size: int = 256
    negatives: int = 4


class DotMF:
    """score(u, i) = sigmoid(p_u . q_i + b_i); trained by minibatch BCE."""

    def __init__(self, n_users: int, n_items: int, config: MFConfig, *, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n_users = n_users
        self.n_items = n_items
        self.config = config
        self.user = rng.normal(0.0, 0.01, (n_users, config.dim)).astype(np.float32)
        self.item = rng.normal(0.0, 0.01, (n_items, config.dim + 1)).astype(np.float32)
        self.item[:, -1] = 0.0  # the last column is the item bias
        self._state = {
            name: (np.zeros_like(table), np.zeros_like(table))
            for name, table in (("user", self.user), ("item", self.item))
        }
        self._t = 0
        self.history: list[tuple[float, float]] = []  # (loss, seconds) per epoch

    def _logits(self, users: IntArray, items: IntArray) -> FloatArray:
        q = self.item[items]  # [n, dim + 1]
        z: FloatArray = np.einsum("nd,nd->n", self.user[users], q[:, :-1]) + q[:, -1]  # [n]
        return z

    def predict(self, users: IntArray, items: IntArray) -> FloatArray:
        """users, items: [n]; returns [n] probabilities."""
        return (1.0 / (1.0 + np.exp(-self._logits(users, items)))).astype(np.float32)

    def score_users(self, users: IntArray) -> FloatArray:
        """[len(users), n_items] logits (monotone in the probabilities)."""
        return (self.user[users] @ self.item[:, :-1].T + self.item[:, -1]).astype(np.float32)

    def _adam(self, name: str, rows: IntArray, grad: FloatArray) -> None:
        table = self.user if name == "user" else self.item
        m, v = self._state[name]
        # Sort + reduceat sums the rows' gradients ~20x faster than np.add.at.
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        uniq = ordered[starts]  # [n_rows]
        g = np.add.reduceat(grad[order], starts, axis=0)  # [n_rows, width]
        m[uniq] = 0.9 * m[uniq] + 0.1 * g
        v[uniq] = 0.999 * v[uniq] + 0.001 * g * g
        step = self.config.lr * math.sqrt(1.0 - 0.999**self._t) / (1.0 - 0.9**self._t)
        table[uniq] -= step * m[uniq] / (np.sqrt(v[uniq]) + 1e-8)

    def train_epoch(
        self, users: IntArray, items: IntArray, labels: NDArray[np.floating], *, batch_size: int
    ) -> float:
        """One pass over the rows in the given order; mean BCE."""
        total = 0.0
        l2 = self.config.l2
        for start in range(0, users.shape[0], batch_size):
            u = users[start : start + batch_size]
            i = items[start : start + batch_size]
            y = labels[start : start + batch_size].astype(np.float32)
            z = self._logits(u, i)  # [batch]
            p = 1.0 / (1.0 + np.exp(-z))
            total += float(np.sum(np.logaddexp(0.0, z) - y * z))
            dz = ((p - y) / u.shape[0]).astype(np.float32)[:, None]  # [batch, 1]
            pu, qi = self.user[u], self.item[i]
            d_user = dz * qi[:, :-1] + 2.0 * l2 * pu  # [batch, dim]
            d_item = np.concatenate((dz * pu, dz), axis=1) + 2.0 * l2 * qi  # [batch, dim + 1]
            self._t += 1
            self._adam("user", u, d_user)
            self._adam("item", i, d_item)
        return total / max(int(users.shape[0]), 1)

    def fit(
        self, train_users: IntArray, train_items: IntArray, *, seed: int = 0
    ) -> list[tuple[float, float]]:
        """Train config.epochs epochs with fresh negatives each; (loss, seconds) per epoch."""
        sampler = NegativeSampler(train_users, train_items, self.n_items, self.config.negatives)
        rng = np.random.default_rng(seed)
        for _ in range(self.config.epochs):
            started = time.perf_counter()
            rows = sampler.epoch(rng)
            loss = self.train_epoch(
                rows.users, rows.items, rows.labels, batch_size=self.config.batch_size
            )
            self.history.append((loss, time.perf_counter() - started))
        return self.history
