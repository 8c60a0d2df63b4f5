"""Top-k over a large catalog by candidate retrieval and rerank: a linear surrogate of the NeuMF
logit picks a few hundred items per user with one matrix product per block of users, and the
full model scores only those.

Scoring every item runs the MLP tower once per (user, item) pair: about 700 multiply-adds a pair
for the default config, 17.6 billion pairs at MovieLens-32M's shape. The surrogate is

    s(u, i) = f_u . b_i,   f_u = [p_gmf, a1_user, 1, z(u, probe_1), ..., z(u, probe_P)]

the user's GMF factors and first-layer half (neumf_numpy.ItemTerms) and the full model's own
logits on P fixed probe items, with each item's coefficients b_i fitted by ridge least squares
to the model's logits of a sample of users. The GMF term is exact in this form; the probes carry
what the MLP tower adds for a user (on a trained model they lift the share of its top 50 found
among the first C far above the first layer's features alone). Retrieval ranks by
log sigmoid(s) + shift, where shift is the caller's per-user, per-item term (the product's taste
shift, -inf for excluded items), so items the shift lifts are candidates too; the rerank returns
exact logits, and the caller applies its own final score.
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
FIT_USERS = 384  # sample users whose exact scores fit the surrogate (3 x its features)
PROBES = 64  # items whose exact logits are user features
RIDGE = 1e-4  # ridge on the normal equations, relative to their mean diagonal


@dataclass(frozen=True)
class Surrogate:
    """A fitted surrogate: s = user_features(rows) @ item_vectors.T.

    A user's features (D of them) are phi_u = [p_gmf, a1_user, 1] and the full model's logits
    of the `probes` items; item_vectors [n_items, D] holds each item's regression coefficients.
    """

    item_vectors: F32
    probes: IntArray  # [P]
    towers: Towers
    terms: ItemTerms

    def user_features(self, user_rows: FloatArray) -> F32:
        """Features [U, D] of user rows [U, G + M]."""
        return _user_features(self.towers, self.terms, user_rows, self.probes)

    def scores(self, user_rows: FloatArray) -> F32:
        """Surrogate logits [U, n_items]."""
        out: F32 = self.user_features(user_rows) @ self.item_vectors.T
        return out


def _user_features(towers: Towers, terms: ItemTerms, rows: FloatArray, probes: IntArray) -> F32:
    gd, md = towers.gd, towers.md
    rows = np.asarray(rows, dtype=np.float32)
    parts = [rows[:, :gd]] if gd else []
    if md and towers.n_hidden:
        parts.append(rows[:, gd:] @ towers.dense["mlp_W1"][:md])  # [U, l_1] a1_user
    parts.append(np.ones((rows.shape[0], 1), np.float32))
    if probes.shape[0]:
        parts.append(score_logits(towers, terms, rows, probes))  # [U, P]
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


def surrogate_fit(
    towers: Towers,
    terms: ItemTerms,
    user_table: FloatArray,
    *,
    seed: int = 0,
    fit_users: int = FIT_USERS,
    probes: int = PROBES,
) -> Surrogate:
    """Regress every item's exact logit on the user features, over `fit_users` sampled users
    (ridge least squares, one solve for all items). user_table [n_users, G + M]; costs
    fit_users full scorings. The GMF term and the bias are linear in the features, so a GMF
    model's surrogate is exact; the probes' logits carry what the MLP tower adds per user."""
    rng = np.random.default_rng(seed)
    n_items = terms.n_items
    n_users = int(user_table.shape[0])
    probe_items = np.sort(rng.choice(n_items, size=min(probes, n_items), replace=False))
    if towers.md == 0:
        probe_items = probe_items[:0]  # GMF: phi alone is exact
    sample = np.sort(rng.choice(n_users, size=min(fit_users, n_users), replace=False))
    rows = np.asarray(user_table[sample], dtype=np.float32)  # [S, G + M]
    phi = _user_features(towers, terms, rows, probe_items).astype(np.float64)  # [S, D]
    gram = phi.T @ phi  # [D, D]
    ridge = RIDGE * float(np.trace(gram)) / gram.shape[0]
    inverse = np.linalg.inv(gram + ridge * np.eye(gram.shape[0]))  # [D, D]
    solve = (inverse @ phi.T).astype(np.float32)  # [D, S]
    item_vectors = np.empty((n_items, phi.shape[1]), np.float32)
    block = max(1, _RETRIEVE_CELLS // max(rows.shape[0], 1))
    for start in range(0, n_items, block):
        items = np.arange(start, min(start + block, n_items))
        z = score_logits(towers, terms, rows, items)  # [S, b]
        item_vectors[start : start + items.shape[0]] = (solve @ z).T
    return Surrogate(item_vectors=item_vectors, probes=probe_items, towers=towers, terms=terms)


def log_sigmoid(z: FloatArray, out: F32 | None = None) -> F32:
    """log sigmoid(z) [...] in float32, stable for any z: min(z, 0) - log1p(exp(-|z|)).
    out: where to write it (may be z itself, a float32 array), to spare two temporaries."""
    z32 = np.asarray(z, dtype=np.float32)
    t = np.abs(z32)  # [...]
    np.negative(t, out=t)
    np.exp(t, out=t)
    np.log1p(t, out=t)
    result: F32 = np.minimum(z32, np.float32(0.0), out=out)
    result -= t
    return result


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
        r = log_sigmoid(s, out=s)
        if shift is not None:
            r += shift[start:stop]
        if c < n_items:
            np.negative(r, out=r)
            out[start:stop] = np.argpartition(r, c - 1, axis=1)[:, :c]
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
