"""Top-k over a large catalog by candidate retrieval and rerank: a bilinear surrogate of the NeuMF
logit picks a few hundred items per user with one matrix product per block of users, and the
full model scores only those.

Scoring every item runs the MLP tower once per (user, item) pair: about 700 multiply-adds a pair
for the default config, 17.6 billion pairs at MovieLens-32M's shape. The surrogate is

    s(u, i) = phi_u . A . psi_i,  phi_u = [p_gmf, a1_user, 1],  psi_i = [q_gmf * out_W, a1_item, 1]

the same features the full model's first layer sees (neumf_numpy.ItemTerms), with A fitted by
least squares to the model's own logits on pairs drawn from a sample of users' best items and
from random items. The GMF term is exact in this form; the MLP tower's cross terms are what A
learns. Retrieval ranks by log sigmoid(s) + shift, where shift is the caller's per-user, per-item
term (the product's taste shift, -inf for excluded items), so items the shift lifts are among
the candidates; the rerank returns exact logits, and the caller applies its own final score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recommender.engine.config import NeuMFConfig
from recommender.engine.neumf_numpy import ItemTerms, Towers, item_terms, score_logits

FloatArray = NDArray[np.floating]
F32 = NDArray[np.float32]
IntArray = NDArray[np.int64]

_RETRIEVE_CELLS = 1 << 22  # user x item cells per retrieval block (16 MiB of float32)
_RERANK_CELLS = 1 << 14  # (user, candidate) pairs per rerank block: tower activations in cache
FIT_USERS = 128  # sample users whose exact scores fit the surrogate
FIT_TOP = 400  # of each, its best items by exact logit ...
FIT_RANDOM = 100  # ... and this many random items
RIDGE = 1e-6  # relative ridge on the normal equations (features are nearly collinear)


@dataclass(frozen=True)
class Surrogate:
    """A fitted bilinear surrogate: s = user_features(rows) @ item_vectors.T.

    item_vectors [n_items, D_u] is psi_i @ A.T, computed once per model; D_u = G + l_1 + 1.
    """

    item_vectors: F32
    user_w1: F32 | None  # mlp_W1[:M] [M, l_1], the user half of the first layer (None: no MLP)
    gd: int
    md: int

    def user_features(self, user_rows: FloatArray) -> F32:
        """phi [U, D_u] of user rows [U, G + M]: GMF factors, first-layer user half, 1."""
        return _user_features(user_rows, self.gd, self.md, self.user_w1)

    def scores(self, user_rows: FloatArray) -> F32:
        """Surrogate logits [U, n_items]."""
        out: F32 = self.user_features(user_rows) @ self.item_vectors.T
        return out


def _user_features(rows: FloatArray, gd: int, md: int, user_w1: F32 | None) -> F32:
    rows = np.asarray(rows, dtype=np.float32)
    parts = [rows[:, :gd]] if gd else []
    if md and user_w1 is not None:
        parts.append(rows[:, gd:] @ user_w1)  # [U, l_1] a1_user
    parts.append(np.ones((rows.shape[0], 1), np.float32))
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


def _item_features(terms: ItemTerms) -> F32:
    parts: list[FloatArray] = []
    if terms.gmf is not None:
        parts.append(terms.gmf)  # [n_items, G]
    if terms.a1 is not None:
        parts.append(terms.a1)  # [n_items, l_1]
    elif terms.mlp is not None:
        parts.append(terms.mlp[:, None])  # [n_items, 1] a linear MLP tower
    parts.append(np.ones((terms.n_items, 1), np.float32))
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


def surrogate_fit(
    towers: Towers,
    terms: ItemTerms,
    user_table: FloatArray,
    *,
    seed: int = 0,
    fit_users: int = FIT_USERS,
    fit_top: int = FIT_TOP,
    fit_random: int = FIT_RANDOM,
) -> Surrogate:
    """Fit A to the exact logits of `fit_users` sampled users over their `fit_top` best items
    and `fit_random` random ones. user_table [n_users, G + M]; costs fit_users full scorings."""
    rng = np.random.default_rng(seed)
    gd, md = towers.gd, towers.md
    user_w1 = (
        np.asarray(towers.dense["mlp_W1"][:md], dtype=np.float32)
        if md and towers.n_hidden
        else None
    )
    psi = _item_features(terms)  # [n_items, D_i]
    n_items = terms.n_items
    n_users = int(user_table.shape[0])
    sample = rng.choice(n_users, size=min(fit_users, n_users), replace=False)
    rows = np.asarray(user_table[sample], dtype=np.float32)  # [S, G + M]
    phi = _user_features(rows, gd, md, user_w1)  # [S, D_u]
    z = score_logits(towers, terms, rows).astype(np.float32)  # [S, n_items]
    top = min(fit_top, n_items)
    d_u, d_i = phi.shape[1], psi.shape[1]
    gram = np.zeros((d_u * d_i, d_u * d_i), np.float64)
    rhs = np.zeros(d_u * d_i, np.float64)
    for s in range(phi.shape[0]):
        best = np.argpartition(-z[s], top - 1)[:top] if top < n_items else np.arange(n_items)
        items = np.unique(np.concatenate((best, rng.integers(0, n_items, size=fit_random))))
        design = (phi[s][None, :, None] * psi[items][:, None, :]).reshape(items.shape[0], -1)
        gram += design.T @ design  # float32 products, summed in float64
        rhs += design.T @ z[s, items]
    ridge = RIDGE * float(np.trace(gram)) / gram.shape[0]
    a = np.linalg.solve(gram + ridge * np.eye(gram.shape[0]), rhs).reshape(d_u, d_i)
    item_vectors = np.ascontiguousarray((psi @ a.T.astype(np.float32)).astype(np.float32))
    return Surrogate(item_vectors=item_vectors, user_w1=user_w1, gd=gd, md=md)


def log_sigmoid(z: FloatArray) -> F32:
    """log sigmoid(z) [...] in float32, stable for any z: min(z, 0) - log1p(exp(-|z|))."""
    z32 = np.asarray(z, dtype=np.float32)
    out: F32 = np.minimum(z32, 0.0) - np.log1p(np.exp(-np.abs(z32)))
    return out


def retrieve(
    surrogate: Surrogate,
    user_rows: FloatArray,
    n_candidates: int,
    shift: FloatArray | None = None,
) -> IntArray:
    """Candidate items [U, C] of user rows [U, G + M], unordered: the C best by
    log sigmoid(s) + shift, shift [U, n_items] (None: 0; -inf excludes an item, which then
    appears only when a user has fewer than C others). C = min(n_candidates, n_items)."""
    n_items = surrogate.item_vectors.shape[0]
    c = min(int(n_candidates), n_items)
    n_users = int(user_rows.shape[0])
    out = np.empty((n_users, c), np.int64)
    block = max(1, _RETRIEVE_CELLS // max(n_items, 1))
    for start in range(0, n_users, block):
        stop = min(start + block, n_users)
        s = surrogate.scores(user_rows[start:stop])  # [b, n_items]
        r = log_sigmoid(s)
        if shift is not None:
            r += shift[start:stop]
        if c < n_items:
            out[start:stop] = np.argpartition(-r, c - 1, axis=1)[:, :c]
        else:
            out[start:stop] = np.arange(n_items)[None, :]
    return out


def pair_logits(towers: Towers, terms: ItemTerms, user_rows: FloatArray, items: IntArray) -> F32:
    """Exact logits [U, C] of each user row [U, G + M] with its own items [U, C]: `forward` on
    each pair, with the item half of the first layer taken from `terms`."""
    gd, md, dense = towers.gd, towers.md, towers.dense
    rows = np.asarray(user_rows, dtype=np.float32)
    n_users, c = items.shape
    out_w = np.asarray(dense["out_W"][:, 0], dtype=np.float32)  # [F]
    z = np.empty((n_users, c), np.float32)
    block = max(1, _RERANK_CELLS // max(c, 1))
    for start in range(0, n_users, block):
        eu = rows[start : start + block]  # [b, G + M]
        cand = items[start : start + block]  # [b, C]
        zb = np.full(cand.shape, dense["out_b"][0], np.float32)  # [b, C]
        if terms.gmf is not None:
            zb += np.einsum("bg,bcg->bc", eu[:, :gd], terms.gmf[cand])
        if terms.a1 is not None:
            a1_user = eu[:, gd:] @ dense["mlp_W1"][:md]  # [b, l_1]
            x = terms.a1[cand] + a1_user[:, None, :]  # [b, C, l_1] a_1
            np.maximum(x, 0.0, out=x)
            h = x.reshape(-1, x.shape[2])  # [b * C, l_1] x_1
            for k in range(2, towers.n_hidden + 1):
                a = h @ dense[f"mlp_W{k}"]  # [b * C, l_k]
                a += dense[f"mlp_b{k}"]
                h = np.maximum(a, 0.0, out=a)
            zb += (h @ out_w[gd:]).reshape(cand.shape)
        elif terms.mlp is not None:
            zb += (eu[:, gd:] @ out_w[gd : gd + md])[:, None] + terms.mlp[cand]
        z[start : start + eu.shape[0]] = zb
    return z


def candidate_logits(
    towers: Towers,
    terms: ItemTerms,
    surrogate: Surrogate,
    user_rows: FloatArray,
    n_candidates: int,
    shift: FloatArray | None = None,
) -> tuple[IntArray, F32]:
    """(items [U, C], their exact logits [U, C]) of user rows [U, G + M]: `retrieve`, then the
    full model on the candidates. With C >= n_items every item comes back in order, scored by
    `score_logits` itself, so a caller's top k equals the exhaustive one exactly."""
    rows = np.asarray(user_rows, dtype=np.float32)
    if n_candidates >= terms.n_items:
        items = np.broadcast_to(np.arange(terms.n_items), (rows.shape[0], terms.n_items))
        return np.ascontiguousarray(items), score_logits(towers, terms, rows).astype(np.float32)
    items = retrieve(surrogate, rows, n_candidates, shift)
    return items, pair_logits(towers, terms, rows, items)


@dataclass(frozen=True)
class Retriever:
    """What retrieval needs of one model, built once per process: dense layers, item terms and
    the fitted surrogate."""

    towers: Towers
    terms: ItemTerms
    surrogate: Surrogate

    @classmethod
    def of(
        cls,
        weights: Mapping[str, FloatArray],
        config: NeuMFConfig,
        item_table: FloatArray,
        user_table: FloatArray,
        *,
        seed: int = 0,
    ) -> Retriever:
        """From canonical weights and the merged tables [n_items | n_users, G + M]."""
        towers = Towers.of(weights, config, np.float32)
        terms = item_terms(towers, np.asarray(item_table, dtype=np.float32))
        return cls(towers, terms, surrogate_fit(towers, terms, user_table, seed=seed))

    def candidate_logits(
        self, user_rows: FloatArray, n_candidates: int, shift: FloatArray | None = None
    ) -> tuple[IntArray, F32]:
        """`candidate_logits` of this model: (items [U, C], exact logits [U, C])."""
        return candidate_logits(
            self.towers, self.terms, self.surrogate, user_rows, n_candidates, shift
        )


def recall_at(exhaustive: IntArray, retrieved: IntArray) -> float:
    """Share of each row of exhaustive [U, k] (item ids, -1 padding) found in the same row of
    retrieved [U, k'], over all rows: 1.0 = nothing missed."""
    found = total = 0
    for want, got in zip(exhaustive, retrieved, strict=True):
        want = want[want >= 0]
        found += int(np.isin(want, got).sum())
        total += int(want.shape[0])
    return found / total if total else 1.0
