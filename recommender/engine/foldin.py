"""Fold-in: fit a new user's GMF and MLP embeddings with the item side frozen, then score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recommender.engine.config import NeuMFConfig
from recommender.engine.neumf_numpy import (
    ItemTerms,
    Towers,
    adam_scalars,
    adam_update,
    backward,
    bce_sum_and_sigmoid,
    forward,
    item_terms,
    score_logits,
    sigmoid,
)

# Fold-in is training restricted to one user's row: the same forward, backward and Adam as
# NeuMFNumpy (neumf_numpy.forward / backward / adam_update), with the item rows and the dense
# layers frozen, and scoring is the trained model's whole-catalogue path (score_logits).

FloatArray = NDArray[np.floating]
F64 = NDArray[np.float64]
IntArray = NDArray[np.int64]
Weights = dict[str, FloatArray]


@dataclass(frozen=True)
class UserVectors:
    """A user's embeddings: gmf [gmf_dim] and mlp [mlp_dim]; None for a tower the model lacks."""

    gmf: NDArray[np.float32] | None
    mlp: NDArray[np.float32] | None


@dataclass(frozen=True)
class ItemSide:
    """Everything of the model that does not depend on the user, prepared once per model, in
    float64: the dense layers, the item rows item_table [n_items, G + M] (gmf_item | mlp_item),
    their scoring terms (neumf_numpy.ItemTerms) and start [G + M], the mean trained user row,
    where every fold-in begins."""

    towers: Towers
    item_table: F64
    terms: ItemTerms
    start: F64

    @property
    def n_items(self) -> int:
        return int(self.item_table.shape[0])


def _side_by_side(weights: Weights, side: str) -> F64:
    """[gmf_<side> | mlp_<side>] as one float64 table [n, G + M], the layout of the models."""
    parts = [weights[f"{tower}_{side}"] for tower in ("gmf", "mlp") if f"{tower}_{side}" in weights]
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts], axis=1)


def prepare_item_side(weights: Weights, config: NeuMFConfig) -> ItemSide:
    """The frozen item side of canonical NeuMF / GMF / MLP weights (see config.NeuMFModel)."""
    towers = Towers.of(weights, config, np.float64)
    item_table = _side_by_side(weights, "item")  # [n_items, G + M]
    return ItemSide(
        towers=towers,
        item_table=item_table,
        terms=item_terms(towers, item_table),
        start=_side_by_side(weights, "user").mean(axis=0),  # [G + M]
    )


def fold_in_loss_and_grad(
    side: ItemSide, user_row: F64, items: IntArray, labels: F64
) -> tuple[float, F64]:
    """Mean BCE of one user, given by user_row [G + M], over items [n] with targets labels [n],
    and its gradient w.r.t. user_row [G + M]: the training forward and backward with the user's
    row in every pair, whose row gradients d_eu [n, G + M] sum to the row's gradient."""
    n = items.shape[0]
    eu = np.broadcast_to(user_row, (n, user_row.shape[0]))  # [n, G + M]
    ei = np.take(side.item_table, items, axis=0)  # [n, G + M]
    z, tape = forward(side.towers, eu, ei)  # [n]
    bce_sum, sig = bce_sum_and_sigmoid(z, labels)
    d_eu, _ = backward(side.towers, tape, (sig - labels) * (1.0 / n))  # dense layers frozen
    return bce_sum / n, d_eu.sum(axis=0)


def fold_in_user(
    weights: Weights,
    config: NeuMFConfig,
    item_idx: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    steps: int = 40,
    lr: float = 0.05,
    negatives: int | None = None,
    l2: float = 1e-3,
    seed: int = 0,
    item_side: ItemSide | None = None,
) -> UserVectors:
    """Embeddings for a user the model has not seen, from the items they interacted with.

    item_idx: [n] dense item indices; labels: [n] targets in [0, 1] (None: all 1, every rating a
    positive as in training). Each step draws `negatives` (default config.negatives) fresh
    negatives per positive among the items not in item_idx, and takes one full-batch Adam step
    on the user's row only; the item side and the dense layers stay frozen. The user starts at
    the mean trained user, so few ratings give a popularity-like start. `l2` pulls the row
    towards that start: the objective is mean BCE + l2 * ||row - start||^2, i.e. torch's Adam
    with weight_decay = 2 * l2 on the offset from the start. Pass `item_side`
    (prepare_item_side) to reuse it across users; `weights` is then not read.
    """
    side = item_side if item_side is not None else prepare_item_side(weights, config)
    items = np.asarray(item_idx, dtype=np.int64).ravel()
    if items.size and (items.min() < 0 or items.max() >= side.n_items):
        raise IndexError("item index out of range")
    y_pos = (
        np.ones(items.shape[0]) if labels is None else np.asarray(labels, dtype=np.float64).ravel()
    )
    if y_pos.shape != items.shape:
        raise ValueError("labels must match item_idx")
    if items.shape[0] == 0:
        return _as_vectors(side, side.start)
    neg_per = config.negatives if negatives is None else negatives
    rng = np.random.default_rng(seed)
    unrated = np.ones(side.n_items, dtype=bool)
    unrated[items] = False
    pool = np.flatnonzero(unrated)  # [n_pool] items the user did not rate, ascending
    n_neg = min(pool.shape[0], neg_per * items.shape[0])
    y = np.concatenate((y_pos, np.zeros(n_neg)))  # [n + n_neg]
    offset = np.zeros_like(side.start)  # [G + M] row - start, what Adam moves
    m = np.zeros_like(offset)
    v = np.zeros_like(offset)
    for t in range(1, steps + 1):
        negs = pool[rng.integers(0, pool.shape[0], size=n_neg)]  # [n_neg]
        batch = np.concatenate((items, negs))  # [n + n_neg]
        _, grad = fold_in_loss_and_grad(side, side.start + offset, batch, y)
        step_size, bc2_sqrt = adam_scalars(lr, t)
        adam_update(offset, m, v, grad, step_size, bc2_sqrt, weight_decay=2.0 * l2)
    return _as_vectors(side, side.start + offset)


def _as_vectors(side: ItemSide, row: F64) -> UserVectors:
    gd, md = side.towers.gd, side.towers.md
    return UserVectors(
        gmf=row[:gd].astype(np.float32) if gd else None,
        mlp=row[gd:].astype(np.float32) if md else None,
    )


def score_items_for_user_vectors(
    weights: Weights,
    config: NeuMFConfig,
    vectors: UserVectors,
    items: ArrayLike | None = None,
    *,
    item_side: ItemSide | None = None,
) -> NDArray[np.float32]:
    """Probabilities of `items` ([n] dense indices; None = every item) for a user given by their
    vectors (from fold_in_user, or a trained user's rows): [n] or [n_items]."""
    side = item_side if item_side is not None else prepare_item_side(weights, config)
    idx = None if items is None else np.asarray(items, dtype=np.int64).ravel()
    parts = [p for p in (vectors.gmf, vectors.mlp) if p is not None]
    row = np.concatenate(parts).astype(np.float64)  # [G + M]
    z = score_logits(side.towers, side.terms, row[None, :], idx)[0]  # [n]
    return sigmoid(z).astype(np.float32)


def user_vectors(weights: Weights, user_idx: int) -> UserVectors:
    """A trained user's vectors, in the form fold_in_user returns."""
    gmf = weights.get("gmf_user")
    mlp = weights.get("mlp_user")
    return UserVectors(
        gmf=None if gmf is None else np.asarray(gmf[user_idx], dtype=np.float32),
        mlp=None if mlp is None else np.asarray(mlp[user_idx], dtype=np.float32),
    )
