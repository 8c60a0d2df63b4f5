"""NeuMF (He et al., WWW 2017) in pure NumPy: hand-written forward, backward and lazy Adam."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recommender.engine.config import NeuMFConfig
from recommender.engine.sorting import unique_sorted

# Symbols follow docs/ncf-backprop.md: eu / ei are the gathered user / item rows of the merged
# tables, h_gmf / h_mlp the tower outputs, z the logit, dz_out its gradient, and so on.

ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8
EMBEDDING_STD = 0.01  # N(0, 0.01) as in the paper's released code
_PREDICT_CHUNK = 1 << 12  # pairs per predict block: the tape of a block stays in the CPU cache
_SCORE_CELLS = 1 << 14  # user x item pairs per scoring block: keeps blocks inside the CPU cache

FloatArray = NDArray[np.floating]
Weights = dict[str, FloatArray]


def tower_dims(config: NeuMFConfig) -> tuple[int, int]:
    """(GMF factors, MLP embedding size per side) of a config; 0 for an absent tower."""
    gmf = config.gmf_dim if config.model in ("neumf", "gmf") else 0
    mlp = config.mlp_dim if config.model in ("neumf", "mlp") else 0
    if config.model in ("neumf", "mlp") and (
        len(config.mlp_layers) < 1 or config.mlp_layers[0] % 2 or min(config.mlp_layers) < 1
    ):
        raise ValueError(f"mlp_layers must start with an even width: {config.mlp_layers}")
    return gmf, mlp


def weight_shapes(n_users: int, n_items: int, config: NeuMFConfig) -> dict[str, tuple[int, ...]]:
    """Canonical weight names and shapes (see NeuMFModel), in a fixed order."""
    gmf, mlp = tower_dims(config)
    shapes: dict[str, tuple[int, ...]] = {}
    if gmf:
        shapes["gmf_user"] = (n_users, gmf)
        shapes["gmf_item"] = (n_items, gmf)
    if mlp:
        shapes["mlp_user"] = (n_users, mlp)
        shapes["mlp_item"] = (n_items, mlp)
        layers = config.mlp_layers
        for k in range(1, len(layers)):
            shapes[f"mlp_W{k}"] = (layers[k - 1], layers[k])
            shapes[f"mlp_b{k}"] = (layers[k],)
    shapes["out_W"] = (gmf + (config.mlp_layers[-1] if mlp else 0), 1)
    shapes["out_b"] = (1,)
    return shapes


def dense_names(config: NeuMFConfig) -> list[str]:
    """Names of the dense (non-embedding) weights, in the order of the flat parameter buffer."""
    shapes = weight_shapes(1, 1, config)
    return [name for name in shapes if name.startswith(("mlp_W", "mlp_b", "out_"))]


def dense_decay(config: NeuMFConfig) -> NDArray[np.float64] | None:
    """Per entry of the flat dense buffer (dense_names' order), the weight decay of torch's
    coupled rule: config.weight_decay on the MLP's weight matrices, zero on the biases and the
    output layer. [n_dense]; None without weight decay. Both backends take it from here."""
    if not config.weight_decay:
        return None
    shapes = weight_shapes(1, 1, config)
    return np.concatenate(
        [
            np.full(
                math.prod(shapes[name]), config.weight_decay if name.startswith("mlp_W") else 0.0
            )
            for name in dense_names(config)
        ]
    )


def init_weights(n_users: int, n_items: int, config: NeuMFConfig, *, seed: int) -> Weights:
    """Paper initialisation: embeddings N(0, 0.01), Glorot-uniform hidden layers, LeCun-uniform
    output layer, zero biases. Both backends start from this, so equal seeds give equal models."""
    rng = np.random.default_rng(seed)
    weights: Weights = {}
    for name, shape in weight_shapes(n_users, n_items, config).items():
        if name.startswith(("gmf_", "mlp_user", "mlp_item")):
            weights[name] = rng.normal(0.0, EMBEDDING_STD, size=shape)
        elif name.startswith("mlp_W"):
            limit = math.sqrt(6.0 / (shape[0] + shape[1]))
            weights[name] = rng.uniform(-limit, limit, size=shape)
        elif name == "out_W":
            limit = math.sqrt(3.0 / shape[0])
            weights[name] = rng.uniform(-limit, limit, size=shape)
        else:
            weights[name] = np.zeros(shape)
    return weights


def check_weights(
    weights: Mapping[str, NDArray[Any]], shapes: Mapping[str, tuple[int, ...]]
) -> None:
    """Raise ValueError unless `weights` has exactly the names and shapes in `shapes`."""
    missing = sorted(set(shapes) - set(weights))
    extra = sorted(set(weights) - set(shapes))
    if missing or extra:
        raise ValueError(f"weight names differ: missing {missing}, unexpected {extra}")
    for name, shape in shapes.items():
        if tuple(np.shape(weights[name])) != shape:
            raise ValueError(f"{name}: shape {np.shape(weights[name])}, expected {shape}")


def fuse_pretrained(
    gmf_weights: Mapping[str, NDArray[Any]], mlp_weights: Mapping[str, NDArray[Any]], alpha: float
) -> Weights:
    """NeuMF weights from a pre-trained GMF and MLP (He et al., section 3.4.1).

    out_W = [alpha * h_gmf ; (1 - alpha) * h_mlp] and out_b = alpha * b_gmf + (1 - alpha) * b_mlp,
    so the fused logit is alpha * z_gmf + (1 - alpha) * z_mlp. Backend-neutral: canonical dicts.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if any(k.startswith("mlp_") for k in gmf_weights) or any(
        k.startswith("gmf_") for k in mlp_weights
    ):
        raise ValueError("fuse_pretrained needs a GMF-only and an MLP-only model, in that order")
    fused: Weights = {k: np.array(v, copy=True) for k, v in gmf_weights.items() if k[:4] == "gmf_"}
    fused.update({k: np.array(v, copy=True) for k, v in mlp_weights.items() if k[:4] == "mlp_"})
    fused["out_W"] = np.concatenate(
        (alpha * gmf_weights["out_W"], (1.0 - alpha) * mlp_weights["out_W"]), axis=0
    )  # [gmf_dim + layers[-1], 1]
    fused["out_b"] = alpha * gmf_weights["out_b"] + (1.0 - alpha) * mlp_weights["out_b"]  # [1]
    return fused


def sample_negatives(
    pos_users: NDArray[np.int64],
    pos_items: NDArray[np.int64],
    n_items: int,
    negatives: int,
    rng: np.random.Generator,
) -> NDArray[np.int64]:
    """Items drawn uniformly for each positive, `negatives` per row, none of them a positive of
    that user: [len(pos_users) * negatives], user order = np.repeat(pos_users, negatives).

    No rejection loop (a user who rated nearly everything would make one spin): draw the rank r
    among the user's non-positive items, then map it to an item id with one searchsorted. With
    the user's positives sorted, p_0 < p_1 < ..., the gaps g_m = p_m - m never decrease, and the
    r-th non-positive item is r + #{m : g_m <= r}."""
    keys = unique_sorted(pos_users * n_items + pos_items)  # [n_pos] sorted by user, then item
    key_users = keys // n_items  # [n_pos]
    counts = np.bincount(key_users)  # [max user + 1] positives per user
    if keys.size and counts.max() >= n_items:
        raise ValueError("a user has every item as a positive: no negative can be drawn")
    starts = np.cumsum(counts) - counts  # [max user + 1] first key of each user
    gaps = keys - (np.arange(keys.shape[0]) - starts[key_users])  # [n_pos] u * n + g_m, sorted
    users = np.repeat(pos_users, negatives)  # [n_pos * negatives]
    rank = rng.integers(0, n_items - counts[users])  # [n_pos * negatives] r
    below = np.searchsorted(gaps, users * n_items + rank, side="right") - starts[users]
    return (rank + below).astype(np.int64)


def sigmoid(z: FloatArray) -> FloatArray:
    """sigmoid(z), elementwise, with no overflow for any z."""
    e = np.exp(-np.abs(z))
    r = 1.0 / (1.0 + e)
    return np.where(z >= 0, r, e * r)


def _row_sums(idx: NDArray[np.int64], grads: FloatArray) -> tuple[NDArray[np.int64], FloatArray]:
    """Distinct rows of `idx` and the sum of `grads` over each: sort + reduceat, O(B log B),
    instead of np.add.at, whose unbuffered loop is ~20x slower."""
    order = np.argsort(idx, kind="stable")  # [batch]
    ordered = idx[order]  # [batch]
    first = np.empty(ordered.shape[0], dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    starts = np.flatnonzero(first)  # [n_rows]
    return ordered[starts], np.add.reduceat(grads[order], starts, axis=0)  # [n_rows, dim]


# -- the one forward and backward pass -----------------------------------------------------------
#
# Training (NeuMFNumpy), pair and whole-catalogue scoring (NeuMFNumpy, coldstart.VectorScorer)
# and fold-in (foldin.py) all run the functions below; they differ only in where the embedding
# rows come from (a table, a served item table, one user vector being fitted).


@dataclass(frozen=True)
class Towers:
    """The dense layers of one NeuMF / GMF / MLP and its tower sizes: everything a forward pass
    needs besides the embedding rows. `dense` maps the canonical dense names (mlp_W{k} [l_{k-1},
    l_k], mlp_b{k} [l_k], out_W [F, 1], out_b [1]) to arrays; NeuMFNumpy hands in views of its
    flat buffer, so its one Towers follows every Adam step."""

    gd: int  # G, GMF factors (0: no GMF tower)
    md: int  # M, MLP embedding size per side (0: no MLP tower)
    n_hidden: int  # L, hidden layers
    dense: Mapping[str, FloatArray]

    @classmethod
    def of(
        cls,
        weights: Mapping[str, NDArray[Any]],
        config: NeuMFConfig,
        dtype: type[np.floating] | np.dtype[Any] | None = None,
    ) -> Towers:
        """The dense layers of canonical weights (cast to `dtype` when given)."""
        gd, md = tower_dims(config)
        dense = {name: np.asarray(weights[name], dtype=dtype) for name in dense_names(config)}
        return cls(gd=gd, md=md, n_hidden=len(config.mlp_layers) - 1 if md else 0, dense=dense)


@dataclass(frozen=True)
class Tape:
    """What `backward` needs from `forward`: the rows, h [B, F] and the MLP activations
    xs = [x_0 [B, 2M], x_1 [B, l_1], ..., x_L [B, l_L]]."""

    eu: FloatArray
    ei: FloatArray
    h: FloatArray
    xs: list[FloatArray]


def _mlp_layers(towers: Towers, x: FloatArray, first: int) -> list[FloatArray]:
    """x_k = relu(x_{k-1} @ mlp_W{k} + mlp_b{k}) for k = first..L, from x = x_{first-1}
    [..., l_{first-1}]; returns [x_first, ..., x_L]. a_k is overwritten by x_k in place."""
    xs: list[FloatArray] = []
    for k in range(first, towers.n_hidden + 1):
        a = x @ towers.dense[f"mlp_W{k}"]  # [..., l_k]
        a += towers.dense[f"mlp_b{k}"]
        x = np.maximum(a, 0.0, out=a)
        xs.append(x)
    return xs


def forward(towers: Towers, eu: FloatArray, ei: FloatArray) -> tuple[FloatArray, Tape]:
    """Logits z [B] of (user, item) pairs given their rows eu, ei [B, G + M], and the tape for
    `backward`. eu may be one user's row broadcast to [B, G + M] (fold-in)."""
    gd, md = towers.gd, towers.md
    h_parts: list[FloatArray] = []
    if gd:
        h_parts.append(eu[:, :gd] * ei[:, :gd])  # [B, G] h_gmf = p_gmf * q_gmf
    xs: list[FloatArray] = []
    if md:
        x0 = np.concatenate((eu[:, gd:], ei[:, gd:]), axis=1)  # [B, 2M]
        xs = [x0, *_mlp_layers(towers, x0, 1)]
        h_parts.append(xs[-1])  # [B, l_L] h_mlp = x_L
    h = h_parts[0] if len(h_parts) == 1 else np.concatenate(h_parts, axis=1)  # [B, F]
    z = h @ towers.dense["out_W"][:, 0] + towers.dense["out_b"][0]  # [B]
    return z, Tape(eu=eu, ei=ei, h=h, xs=xs)


def bce_sum_and_sigmoid(z: FloatArray, y: FloatArray) -> tuple[float, FloatArray]:
    """Sum over the batch of bce(z, y) = max(z, 0) - y z + log(1 + exp(-|z|)), and sigmoid(z)
    [B]; e = exp(-|z|) gives both and never overflows."""
    e = np.exp(-np.abs(z))  # [B]
    bce_sum = float(np.sum(np.maximum(z, 0.0) - y * z + np.log1p(e)))
    r = 1.0 / (1.0 + e)
    return bce_sum, np.where(z >= 0, r, e * r)


def backward(
    towers: Towers,
    tape: Tape,
    dz_out: FloatArray,
    grads: Mapping[str, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """d_eu, d_ei [B, G + M], the gradients w.r.t. the rows of `forward`, given dz_out [B] (the
    objective's gradient w.r.t. z). The dense gradients are written into `grads` (arrays of the
    dense shapes) when it is given; fold-in, whose dense layers are frozen, passes None."""
    gd, md = towers.gd, towers.md
    eu, ei, xs = tape.eu, tape.ei, tape.xs
    out_w = towers.dense["out_W"][:, 0]  # [F]
    if grads is not None:
        grads["out_W"][:, 0] = dz_out @ tape.h  # [F]
        grads["out_b"][0] = dz_out.sum()
    dh = np.multiply.outer(dz_out, out_w)  # [B, F]
    d_eu = np.empty(eu.shape, eu.dtype)  # [B, G + M] (eu may be a broadcast view)
    d_ei = np.empty(ei.shape, ei.dtype)  # [B, G + M]
    if gd:
        dh_gmf = dh[:, :gd]  # [B, G]
        np.multiply(dh_gmf, ei[:, :gd], out=d_eu[:, :gd])  # dp_gmf = dh_gmf * q_gmf
        np.multiply(dh_gmf, eu[:, :gd], out=d_ei[:, :gd])  # dq_gmf = dh_gmf * p_gmf
    if md:
        dx = dh[:, gd:]  # [B, l_L] dh_mlp
        for k in range(towers.n_hidden, 0, -1):
            da = dx * (xs[k] > 0)  # [B, l_k]  relu'(a_k) = [x_k > 0]
            if grads is not None:
                np.matmul(xs[k - 1].T, da, out=grads[f"mlp_W{k}"])
                np.sum(da, axis=0, out=grads[f"mlp_b{k}"])
            dx = da @ towers.dense[f"mlp_W{k}"].T  # [B, l_{k-1}]
        d_eu[:, gd:] = dx[:, :md]  # dx_0 split: user half
        d_ei[:, gd:] = dx[:, md:]  # item half
    return d_eu, d_ei


@dataclass(frozen=True)
class ItemTerms:
    """The per-item part of scoring, shared by every user (see docs/ncf-backprop.md, "Scoring
    every item"): gmf = q_gmf * out_W[:G] [n_items, G]; a1 = q_mlp @ mlp_W1[M:] + mlp_b1
    [n_items, l_1], the item half of the first MLP layer; with no hidden layer the MLP is linear
    and mlp = q_mlp @ out_W[G + M:] [n_items] instead."""

    n_items: int
    gmf: FloatArray | None
    a1: FloatArray | None
    mlp: FloatArray | None


def item_terms(towers: Towers, item_table: FloatArray) -> ItemTerms:
    """ItemTerms of item rows item_table [n_items, G + M]."""
    gd, md = towers.gd, towers.md
    out_w = towers.dense["out_W"][:, 0]  # [F]
    a1 = mlp = None
    if md and towers.n_hidden:
        w1 = towers.dense["mlp_W1"]  # [2M, l_1]
        a1 = item_table[:, gd:] @ w1[md:] + towers.dense["mlp_b1"]  # [n_items, l_1]
    elif md:
        mlp = item_table[:, gd:] @ out_w[gd + md :]  # [n_items]
    return ItemTerms(
        n_items=int(item_table.shape[0]),
        gmf=item_table[:, :gd] * out_w[:gd] if gd else None,  # [n_items, G]
        a1=a1,
        mlp=mlp,
    )


def score_logits(
    towers: Towers,
    terms: ItemTerms,
    user_rows: FloatArray,
    items: NDArray[np.int64] | None = None,
) -> FloatArray:
    """Logits [U, n] of users given by their rows user_rows [U, G + M] for every item of `terms`
    (n = n_items) or for `items` [n]. Equals `forward` on each (user, item) pair; since
    x_0 @ mlp_W1 = p_mlp @ mlp_W1[:M] + q_mlp @ mlp_W1[M:], the item half comes precomputed and
    only the layers after the first run once per pair."""
    gd, md, dense = towers.gd, towers.md, towers.dense
    sel: slice | NDArray[np.int64] = slice(None) if items is None else items
    n_cols = terms.n_items if items is None else int(items.shape[0])
    out_w = dense["out_W"][:, 0]  # [F]
    gmf = terms.gmf[sel] if terms.gmf is not None else None  # [n, G]
    a1_item = terms.a1[sel] if terms.a1 is not None else None  # [n, l_1]
    z = np.empty((user_rows.shape[0], n_cols), dense["out_W"].dtype)  # [U, n]
    block = max(1, _SCORE_CELLS // max(n_cols, 1))
    for start in range(0, user_rows.shape[0], block):
        eu = user_rows[start : start + block]  # [b, G + M]
        zb = np.full((eu.shape[0], n_cols), dense["out_b"][0], z.dtype)  # [b, n]
        if gmf is not None:
            zb += eu[:, :gd] @ gmf.T  # [b, n]
        if a1_item is not None:
            a1_user = eu[:, gd:] @ dense["mlp_W1"][:md]  # [b, l_1]
            x1 = a1_item[None, :, :] + a1_user[:, None, :]  # [b, n, l_1] a_1
            np.maximum(x1, 0.0, out=x1)
            x: FloatArray = x1.reshape(-1, x1.shape[2])  # [b * n, l_1] x_1
            later = _mlp_layers(towers, x, 2)  # [x_2, ..., x_L]
            h_mlp = later[-1] if later else x  # [b * n, l_L]
            zb += (h_mlp @ out_w[gd:]).reshape(eu.shape[0], n_cols)
        elif terms.mlp is not None:
            zb += (eu[:, gd:] @ out_w[gd : gd + md])[:, None] + terms.mlp[sel][None, :]
        z[start : start + eu.shape[0]] = zb
    return z


# -- Adam ----------------------------------------------------------------------------------------


def adam_scalars(lr: float, t: int) -> tuple[float, float]:
    """(step_size, bc2_sqrt) of Adam step t >= 1: lr / (1 - beta1^t) and sqrt(1 - beta2^t)."""
    return lr / (1.0 - ADAM_BETA1**t), math.sqrt(1.0 - ADAM_BETA2**t)


def adam_update(
    param: FloatArray,
    m: FloatArray,
    v: FloatArray,
    g: FloatArray,
    step_size: float,
    bc2_sqrt: float,
    weight_decay: float = 0.0,
) -> None:
    """One torch.optim.Adam step (default betas and eps, amsgrad off), in place on param, m, v;
    step_size, bc2_sqrt from adam_scalars. weight_decay adds weight_decay * param to the gradient
    first, as torch's (coupled, L2) weight_decay does."""
    if weight_decay:
        g = g + weight_decay * param
    m += (1.0 - ADAM_BETA1) * (g - m)  # = beta1 * m + (1 - beta1) * g, torch's lerp form
    v += (1.0 - ADAM_BETA2) * (g * g - v)
    denom = np.sqrt(v)
    denom /= bc2_sqrt
    denom += ADAM_EPS
    update = np.divide(m, denom, out=denom)  # m / (sqrt(v) / bc2_sqrt + eps), in denom's buffer
    update *= step_size
    param -= update


def lazy_adam_update(
    table: FloatArray,
    m: FloatArray,
    v: FloatArray,
    rows: NDArray[np.int64],
    g: FloatArray,
    step_size: float,
    bc2_sqrt: float,
) -> None:
    """adam_update on the given distinct rows only (LazyAdam): other rows keep their moments and
    values. g: [n_rows, dim], the summed gradient of each row."""
    m_r = np.take(m, rows, axis=0)  # [n_rows, dim]
    v_r = np.take(v, rows, axis=0)  # [n_rows, dim]
    p_r = np.take(table, rows, axis=0)  # [n_rows, dim]
    adam_update(p_r, m_r, v_r, g, step_size, bc2_sqrt)
    m[rows] = m_r
    v[rows] = v_r
    table[rows] = p_r


class NeuMFNumpy:
    """NeuMF / GMF / MLP with a hand-written backward pass and lazy Adam (see docs/ncf-backprop.md).

    The user-side GMF and MLP embeddings live side by side in one table (`[n_users, gmf + mlp]`),
    likewise the item side, so a batch needs one gather and one scatter per side. The dense
    weights are views into one flat buffer, so dense Adam is a handful of vector operations.
    """

    def __init__(self, n_users: int, n_items: int, config: NeuMFConfig, *, seed: int) -> None:
        self.config = config
        self.n_users = n_users
        self.n_items = n_items
        self.dtype = np.dtype(config.dtype)
        self._gd, self._md = tower_dims(config)
        self._shapes = weight_shapes(n_users, n_items, config)
        width = self._gd + self._md
        self._user_table = np.zeros((n_users, width), self.dtype)  # [n_users, gmf + mlp]
        self._item_table = np.zeros((n_items, width), self.dtype)  # [n_items, gmf + mlp]
        self._dense, self._views = self._flat_buffer()
        self._dense_grad, self._grad_views = self._flat_buffer()
        n_hidden = len(config.mlp_layers) - 1 if self._md else 0
        self._towers = Towers(gd=self._gd, md=self._md, n_hidden=n_hidden, dense=self._views)
        self._dense_m = np.zeros_like(self._dense)
        self._dense_v = np.zeros_like(self._dense)
        decay = dense_decay(config)
        self._decay = None if decay is None else decay.astype(self.dtype)  # [n_dense]
        self.lr = config.lr
        self._t = 0
        self._version = 0
        self._score_cache: tuple[int, ItemTerms] | None = None
        self.set_weights(init_weights(n_users, n_items, config, seed=seed))

    def _flat_buffer(self) -> tuple[FloatArray, dict[str, FloatArray]]:
        names = dense_names(self.config)
        sizes = [math.prod(self._shapes[n]) for n in names]
        flat = np.zeros(sum(sizes), self.dtype)
        views: dict[str, FloatArray] = {}
        start = 0
        for name, size in zip(names, sizes, strict=True):
            views[name] = flat[start : start + size].reshape(self._shapes[name])
            start += size
        return flat, views

    # -- weights -------------------------------------------------------------------------------

    def get_weights(self) -> dict[str, FloatArray]:
        gd = self._gd
        weights: dict[str, FloatArray] = {}
        if gd:
            weights["gmf_user"] = self._user_table[:, :gd].copy()
            weights["gmf_item"] = self._item_table[:, :gd].copy()
        if self._md:
            weights["mlp_user"] = self._user_table[:, gd:].copy()
            weights["mlp_item"] = self._item_table[:, gd:].copy()
        weights.update({name: view.copy() for name, view in self._views.items()})
        return {name: weights[name] for name in self._shapes}

    def set_weights(self, weights: Mapping[str, NDArray[Any]]) -> None:
        """Load canonical weights (cast to config.dtype) and restart the optimizer state."""
        check_weights(weights, self._shapes)
        gd = self._gd
        if gd:
            self._user_table[:, :gd] = weights["gmf_user"]
            self._item_table[:, :gd] = weights["gmf_item"]
        if self._md:
            self._user_table[:, gd:] = weights["mlp_user"]
            self._item_table[:, gd:] = weights["mlp_item"]
        for name, view in self._views.items():
            view[...] = weights[name]
        # Fresh zeroed moments rather than fill(0): the embedding moments are as large as the
        # tables, and pages of a new zeroed array take no memory until a training step writes
        # them, so a model loaded only to score (a web process) never holds them.
        users, items = self._user_table, self._item_table
        self._user_m = np.zeros(users.shape, users.dtype)  # np.zeros, not zeros_like, which
        self._user_v = np.zeros(users.shape, users.dtype)  # writes every page
        self._item_m = np.zeros(items.shape, items.dtype)
        self._item_v = np.zeros(items.shape, items.dtype)
        self._dense_m.fill(0.0)
        self._dense_v.fill(0.0)
        self._t = 0
        self._version += 1

    # -- forward and backward ------------------------------------------------------------------

    def _forward_backward(
        self, u: NDArray[np.int64], i: NDArray[np.int64], y: FloatArray
    ) -> tuple[float, float, FloatArray, FloatArray]:
        """Sum of BCE over the batch, the L2 term, and d_eu / d_ei, the gradients of the batch
        objective (mean BCE + L2) w.r.t. the gathered rows; dense gradients go to _grad_views."""
        n = u.shape[0]
        eu = np.take(self._user_table, u, axis=0)  # [batch, gmf + mlp]
        ei = np.take(self._item_table, i, axis=0)  # [batch, gmf + mlp]
        z, tape = forward(self._towers, eu, ei)  # [batch]
        bce_sum, sig = bce_sum_and_sigmoid(z, y)
        dz_out = (sig - y) * (1.0 / n)  # [batch]
        d_eu, d_ei = backward(self._towers, tape, dz_out, self._grad_views)
        reg = 0.0
        l2 = self.config.l2
        if l2:
            reg = l2 / n * float(np.vdot(eu, eu) + np.vdot(ei, ei))
            d_eu += (2.0 * l2 / n) * eu
            d_ei += (2.0 * l2 / n) * ei
        return bce_sum, reg, d_eu, d_ei

    # -- optimizer -----------------------------------------------------------------------------

    def set_lr(self, lr: float) -> None:
        """The learning rate of the steps from now on (config.lr until set)."""
        self.lr = lr

    def _adam_step(
        self, u: NDArray[np.int64], i: NDArray[np.int64], d_eu: FloatArray, d_ei: FloatArray
    ) -> None:
        self._t += 1
        step_size, bc2_sqrt = adam_scalars(self.lr, self._t)
        if self._decay is not None:  # torch's coupled weight_decay, on the MLP weights only
            self._dense_grad += self._decay * self._dense
        rows_u, g_u = _row_sums(u, d_eu)
        rows_i, g_i = _row_sums(i, d_ei)
        lazy_adam_update(
            self._user_table, self._user_m, self._user_v, rows_u, g_u, step_size, bc2_sqrt
        )
        lazy_adam_update(
            self._item_table, self._item_m, self._item_v, rows_i, g_i, step_size, bc2_sqrt
        )
        adam_update(
            self._dense, self._dense_m, self._dense_v, self._dense_grad, step_size, bc2_sqrt
        )

    # -- protocol ------------------------------------------------------------------------------

    def _inputs(
        self, users: NDArray[np.int64], items: NDArray[np.int64], labels: FloatArray | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], FloatArray]:
        u = np.ascontiguousarray(users, dtype=np.int64)
        i = np.ascontiguousarray(items, dtype=np.int64)
        y = np.ascontiguousarray(labels if labels is not None else [], dtype=self.dtype)
        if u.ndim != 1 or u.shape != i.shape or (labels is not None and y.shape != u.shape):
            raise ValueError("users, items (and labels) must be 1-D arrays of one length")
        if u.size and (u.min() < 0 or u.max() >= self.n_users):
            raise IndexError("user index out of range")
        if i.size and (i.min() < 0 or i.max() >= self.n_items):
            raise IndexError("item index out of range")
        return u, i, y

    def train_epoch(
        self,
        users: NDArray[np.int64],
        items: NDArray[np.int64],
        labels: NDArray[np.floating],
        *,
        batch_size: int,
    ) -> float:
        """One pass over the rows in the order given, one Adam step per batch; mean BCE
        (without the L2 term) over all rows."""
        u, i, y = self._inputs(users, items, labels)
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        n = int(u.shape[0])
        total = 0.0
        for start in range(0, n, batch_size):
            stop = start + batch_size
            bu, bi = u[start:stop], i[start:stop]
            bce_sum, _, d_eu, d_ei = self._forward_backward(bu, bi, y[start:stop])
            self._adam_step(bu, bi, d_eu, d_ei)
            total += bce_sum
        self._version += 1
        return total / max(n, 1)

    def train_epoch_sampled(
        self,
        pos_users: NDArray[np.int64],
        pos_items: NDArray[np.int64],
        *,
        negatives: int,
        batch_size: int,
        seed: int,
    ) -> float:
        """Draw `negatives` non-positive items per positive, shuffle, and train one epoch.

        pos_users, pos_items: [n_pos], all training positives (negatives never hit one).
        Returns the mean BCE of the epoch's n_pos * (1 + negatives) rows.
        """
        u, i, _ = self._inputs(pos_users, pos_items)
        rng = np.random.default_rng(seed)
        neg_items = sample_negatives(u, i, self.n_items, negatives, rng)
        users = np.concatenate((u, np.repeat(u, negatives)))  # [n_pos * (1 + negatives)]
        items = np.concatenate((i, neg_items))
        labels = np.zeros(users.shape[0], self.dtype)
        labels[: u.shape[0]] = 1.0
        order = rng.permutation(users.shape[0])
        return self.train_epoch(users[order], items[order], labels[order], batch_size=batch_size)

    def loss_and_grads(
        self, users: NDArray[np.int64], items: NDArray[np.int64], labels: NDArray[np.floating]
    ) -> tuple[float, dict[str, FloatArray]]:
        """Batch objective (mean BCE + L2 term) and its gradient per canonical weight, without
        stepping. Embedding gradients are full tables, zero outside the batch's rows."""
        u, i, y = self._inputs(users, items, labels)
        bce_sum, reg, d_eu, d_ei = self._forward_backward(u, i, y)
        rows_u, g_u = _row_sums(u, d_eu)
        rows_i, g_i = _row_sums(i, d_ei)
        table_u = np.zeros_like(self._user_table)
        table_i = np.zeros_like(self._item_table)
        table_u[rows_u] = g_u
        table_i[rows_i] = g_i
        gd = self._gd
        grads: dict[str, FloatArray] = {}
        if gd:
            grads["gmf_user"], grads["gmf_item"] = table_u[:, :gd], table_i[:, :gd]
        if self._md:
            grads["mlp_user"], grads["mlp_item"] = table_u[:, gd:], table_i[:, gd:]
        grads.update({name: view.copy() for name, view in self._grad_views.items()})
        return bce_sum / u.shape[0] + reg, {name: grads[name] for name in self._shapes}

    def _logits(self, u: NDArray[np.int64], i: NDArray[np.int64]) -> FloatArray:
        eu = np.take(self._user_table, u, axis=0)  # [n, gmf + mlp]
        ei = np.take(self._item_table, i, axis=0)  # [n, gmf + mlp]
        return forward(self._towers, eu, ei)[0]

    def logits(self, users: NDArray[np.int64], items: NDArray[np.int64]) -> FloatArray:
        """Logits z in config.dtype for (user, item) pairs. users, items: [n]; returns [n]."""
        u, i, _ = self._inputs(users, items)
        out = np.empty(u.shape[0], self.dtype)
        for start in range(0, u.shape[0], _PREDICT_CHUNK):
            stop = start + _PREDICT_CHUNK
            out[start:stop] = self._logits(u[start:stop], i[start:stop])
        return out

    def predict(self, users: NDArray[np.int64], items: NDArray[np.int64]) -> NDArray[np.float32]:
        """Probabilities for (user, item) pairs. users, items: [n]; returns [n]."""
        return sigmoid(self.logits(users, items)).astype(np.float32)

    def _item_terms(self) -> ItemTerms:
        """Per-item work shared by every user, cached until the weights change."""
        if self._score_cache is None or self._score_cache[0] != self._version:
            self._score_cache = (self._version, item_terms(self._towers, self._item_table))
        return self._score_cache[1]

    def score_users(self, users: NDArray[np.int64]) -> NDArray[np.float32]:
        """Scores of every item for each user: [len(users), n_items]; item side computed once."""
        u, _, _ = self._inputs(users, np.zeros_like(np.asarray(users, dtype=np.int64)))
        terms = self._item_terms()
        out = np.empty((u.shape[0], self.n_items), np.float32)
        block = max(1, _SCORE_CELLS // max(self.n_items, 1))
        for start in range(0, u.shape[0], block):
            eu = np.take(self._user_table, u[start : start + block], axis=0)  # [block, gmf + mlp]
            out[start : start + eu.shape[0]] = sigmoid(score_logits(self._towers, terms, eu))
        return out
