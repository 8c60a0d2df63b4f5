"""Fold-in: fit a new user's GMF and MLP embeddings with the item side frozen, then score."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recommender.engine.config import NeuMFConfig

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
    """Everything of the model that does not depend on the user, computed once per model.

    gmf: [n_items, gmf_dim], the item embedding times the GMF output weights; a1: [n_items, l1],
    the item's share of the first MLP layer plus its bias; w1_user: [mlp_dim, l1], the user's
    share of it. Without hidden layers the MLP is linear: mlp_item_out: [n_items] and
    mlp_user_out: [mlp_dim].
    """

    n_items: int
    gmf: F64 | None
    a1: F64 | None
    w1_user: F64 | None
    hidden: tuple[tuple[F64, F64], ...]  # (W_k, b_k) for k >= 2
    out_mlp: F64 | None  # [layers[-1]]
    mlp_item_out: F64 | None
    mlp_user_out: F64 | None
    out_b: float
    user_gmf_mean: F64 | None
    user_mlp_mean: F64 | None


def prepare_item_side(weights: Weights, config: NeuMFConfig) -> ItemSide:
    """The frozen item side of canonical NeuMF / GMF / MLP weights (see config.NeuMFModel)."""
    f64 = {name: np.asarray(value, dtype=np.float64) for name, value in weights.items()}
    out_w = f64["out_W"][:, 0]  # [gmf_dim + layers[-1]]
    has_gmf = "gmf_item" in f64
    has_mlp = "mlp_item" in f64
    gd = f64["gmf_item"].shape[1] if has_gmf else 0
    md = f64["mlp_item"].shape[1] if has_mlp else 0
    n_hidden = len(config.mlp_layers) - 1 if has_mlp else 0
    a1 = w1_user = mlp_item_out = mlp_user_out = out_mlp = None
    hidden: list[tuple[F64, F64]] = []
    if has_mlp and n_hidden:
        w1 = f64["mlp_W1"]  # [2 * mlp_dim, l1]
        a1 = f64["mlp_item"] @ w1[md:] + f64["mlp_b1"]  # [n_items, l1]
        w1_user = w1[:md]  # [mlp_dim, l1]
        hidden = [(f64[f"mlp_W{k}"], f64[f"mlp_b{k}"]) for k in range(2, n_hidden + 1)]
        out_mlp = out_w[gd:]  # [layers[-1]]
    elif has_mlp:
        mlp_user_out = out_w[gd : gd + md]  # [mlp_dim]
        mlp_item_out = f64["mlp_item"] @ out_w[gd + md :]  # [n_items]
    n_items = int((f64["gmf_item"] if has_gmf else f64["mlp_item"]).shape[0])
    return ItemSide(
        n_items=n_items,
        gmf=f64["gmf_item"] * out_w[:gd] if has_gmf else None,  # [n_items, gmf_dim]
        a1=a1,
        w1_user=w1_user,
        hidden=tuple(hidden),
        out_mlp=out_mlp,
        mlp_item_out=mlp_item_out,
        mlp_user_out=mlp_user_out,
        out_b=float(f64["out_b"][0]),
        user_gmf_mean=f64["gmf_user"].mean(axis=0) if has_gmf else None,
        user_mlp_mean=f64["mlp_user"].mean(axis=0) if has_mlp else None,
    )


def _forward_backward(
    side: ItemSide, pu_g: F64 | None, pu_m: F64 | None, items: IntArray, y: F64 | None
) -> tuple[F64, F64 | None, F64 | None]:
    """Logits z [n] for one user over `items` [n] and, when targets y [n] are given, the
    gradients of the mean BCE w.r.t. pu_g and pu_m (d_pu_g [gmf_dim], d_pu_m [mlp_dim])."""
    n = items.shape[0]
    z = np.full(n, side.out_b)  # [n]
    acts: list[F64] = []
    if side.gmf is not None and pu_g is not None:
        g_rows = side.gmf[items]  # [n, gmf_dim]
        z += g_rows @ pu_g
    if side.a1 is not None and side.w1_user is not None and pu_m is not None:
        x = np.maximum(side.a1[items] + pu_m @ side.w1_user, 0.0)  # [n, l1]
        acts.append(x)
        for w, b in side.hidden:
            x = np.maximum(x @ w + b, 0.0)  # [n, l_k]
            acts.append(x)
        assert side.out_mlp is not None
        z += x @ side.out_mlp
    elif side.mlp_item_out is not None and side.mlp_user_out is not None and pu_m is not None:
        z += side.mlp_item_out[items] + pu_m @ side.mlp_user_out
    if y is None:
        return z, None, None
    dz = (1.0 / (1.0 + np.exp(-z)) - y) / n  # [n]
    d_g = g_rows.T @ dz if side.gmf is not None and pu_g is not None else None  # [gmf_dim]
    d_m: F64 | None = None
    if acts and side.w1_user is not None and side.out_mlp is not None:
        dx = dz[:, None] * side.out_mlp[None, :]  # [n, layers[-1]]
        for k in range(len(acts) - 1, 0, -1):
            da = dx * (acts[k] > 0)  # through the ReLU of layer k + 1
            dx = da @ side.hidden[k - 1][0].T  # [n, l_k]
        da1 = dx * (acts[0] > 0)  # [n, l1]
        d_m = side.w1_user @ da1.sum(axis=0)  # [mlp_dim]
    elif side.mlp_user_out is not None and pu_m is not None:
        d_m = side.mlp_user_out * dz.sum()
    return z, d_g, d_m


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
    on the user's vectors only; the item side and the dense layers stay frozen. The user starts
    at the mean trained user, so few ratings give a popularity-like start. `l2` pulls the
    vectors towards that start. Pass `item_side` (prepare_item_side) to reuse it across users.
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
    start_g = None if side.user_gmf_mean is None else side.user_gmf_mean.copy()
    start_m = None if side.user_mlp_mean is None else side.user_mlp_mean.copy()
    if items.shape[0] == 0:
        return _as_vectors(start_g, start_m)
    neg_per = config.negatives if negatives is None else negatives
    rng = np.random.default_rng(seed)
    pool = np.setdiff1d(np.arange(side.n_items), items)  # [n_pool] items the user did not rate
    n_neg = min(pool.shape[0], neg_per * items.shape[0])
    pu_g = None if start_g is None else start_g.copy()
    pu_m = None if start_m is None else start_m.copy()
    params = [p for p in (pu_g, pu_m) if p is not None]
    starts = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        negs = pool[rng.integers(0, pool.shape[0], size=n_neg)]  # [n_neg]
        batch = np.concatenate((items, negs))  # [n + n_neg]
        y = np.concatenate((y_pos, np.zeros(n_neg)))
        _, d_g, d_m = _forward_backward(side, pu_g, pu_m, batch, y)
        grads = [g for g in (d_g, d_m) if g is not None]
        step = lr * math.sqrt(1.0 - 0.999**t) / (1.0 - 0.9**t)
        for p, g, p0, m_k, v_k in zip(params, grads, starts, m, v, strict=True):
            g = g + 2.0 * l2 * (p - p0)
            m_k += 0.1 * (g - m_k)
            v_k += 0.001 * (g * g - v_k)
            p -= step * m_k / (np.sqrt(v_k) + 1e-8)
    return _as_vectors(pu_g, pu_m)


def _as_vectors(pu_g: F64 | None, pu_m: F64 | None) -> UserVectors:
    return UserVectors(
        gmf=None if pu_g is None else pu_g.astype(np.float32),
        mlp=None if pu_m is None else pu_m.astype(np.float32),
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
    idx = np.arange(side.n_items) if items is None else np.asarray(items, dtype=np.int64).ravel()
    pu_g = None if vectors.gmf is None else vectors.gmf.astype(np.float64)
    pu_m = None if vectors.mlp is None else vectors.mlp.astype(np.float64)
    z, _, _ = _forward_backward(side, pu_g, pu_m, idx, None)
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def user_vectors(weights: Weights, user_idx: int) -> UserVectors:
    """A trained user's vectors, in the form fold_in_user returns."""
    gmf = weights.get("gmf_user")
    mlp = weights.get("mlp_user")
    return UserVectors(
        gmf=None if gmf is None else np.asarray(gmf[user_idx], dtype=np.float32),
        mlp=None if mlp is None else np.asarray(mlp[user_idx], dtype=np.float32),
    )
