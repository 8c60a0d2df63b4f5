"""Serving math without Django: cold-start scores, blending, content vectors, vector scoring."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from recommender.engine.config import NeuMFConfig
from recommender.engine.neumf_numpy import Towers, item_terms, score_logits

FloatArray = NDArray[np.floating]
F32 = NDArray[np.float32]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# Popularity: a Bayesian (damped) mean needs this many pseudo-ratings at the global mean, so a
# movie with two 5-star ratings does not outrank one with a thousand 4.3s.
DAMPING_COUNT = 10.0
POPULARITY_WEIGHTS = (0.45, 0.35, 0.20)  # damped mean, log count, recent activity
GENRE_WEIGHT = 0.5  # share of genre affinity in the cold score when the user gave any signal
LIKED_SCORE = 3.5  # ratings at or above this count as "liked" for reasons and genre affinity
# Log-probability shift per unit of genre affinity (a cosine in [-1, 1]) added to the model's
# scores at every stage: NeuMF trained on implicit feedback ranks a user with a dozen ratings
# mostly by popularity; this keeps the picks on the user's own kinds of film. The smallest gain
# that met the taste test's targets (benchmarks/taste.py; 1.0 left a user at 4 of 10), at a cost
# in held-out recall that docs/benchmarks.md records (benchmarks/taste_cost.py).
TASTE_GAIN = 2.0


def blend_alpha(n_ratings: int, ramp: int) -> float:
    """NCF weight: 0 with no ratings, rising linearly to 1 at `ramp` ratings (He et al. cold start
    as in the source preprint)."""
    if ramp <= 0:
        return 1.0
    return float(min(max(n_ratings, 0), ramp)) / float(ramp)


def normalise(scores: FloatArray) -> F32:
    """Dense-rank scores onto [0, 1] (ties share a value): NCF probabilities crowd near 0 and
    popularity is heavy-tailed, so ranks are the one scale on which the two can be averaged.
    scores: [n]; returns [n] float32; a constant vector maps to all 0.5."""
    values = np.asarray(scores)
    if values.dtype != np.float32:  # float32 scores sort as they are: the same ranks, faster
        values = values.astype(np.float64)
    if values.size == 0:
        return np.zeros(0, np.float32)
    finite = np.isfinite(values)
    if not finite.all():  # -inf marks "never": below every real score
        floor = float(values[finite].min()) - 1.0 if finite.any() else 0.0
        values = np.where(finite, values, np.asarray(floor, values.dtype))
    # np.unique(return_inverse=True) written out: one argsort, a gather and a cumsum over the
    # catalogue (half its time at 87,585 movies, where it ran twice per online request).
    order = np.argsort(values)  # [n]
    ordered = values[order]
    new = np.empty(values.shape[0], dtype=bool)  # [n] a value unlike the one before it
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    dense = np.cumsum(new) - 1  # [n] dense rank in sorted order
    top = int(dense[-1])
    if top == 0:
        return np.full(values.shape[0], 0.5, np.float32)
    out: F32 = np.empty(values.shape[0], np.float32)
    out[order] = dense / top
    return out


def blend(ncf: FloatArray | None, cold: FloatArray, alpha: float) -> F32:
    """alpha * normalised NCF + (1 - alpha) * normalised cold score; both [n], returns [n]."""
    cold_n = normalise(cold)
    if ncf is None or alpha <= 0.0:
        return cold_n
    ncf_n = normalise(ncf)
    if alpha >= 1.0:
        return ncf_n
    return (alpha * ncf_n + (1.0 - alpha) * cold_n).astype(np.float32)


def popularity_scores(
    counts: FloatArray, means: FloatArray, recent: FloatArray, *, damping: float = DAMPING_COUNT
) -> F32:
    """Popularity on [0, 1]: damped mean rating, log rating count and recent activity.

    counts, means, recent: [n_items] (rating count, mean rating, ratings in the recent window).
    """
    counts = np.asarray(counts, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    total = counts.sum()
    global_mean = float((counts * means).sum() / total) if total > 0 else 3.5
    damped = (counts * means + damping * global_mean) / (counts + damping)  # [n_items]
    w_mean, w_count, w_recent = POPULARITY_WEIGHTS
    score = (
        w_mean * normalise(damped)
        + w_count * normalise(np.log1p(counts))
        + w_recent * normalise(np.log1p(np.asarray(recent, dtype=np.float64)))
    )
    result: F32 = score.astype(np.float32)
    return result


def genre_profile(
    item_genres: FloatArray,
    favourite: BoolArray,
    rated_items: IntArray,
    rated_scores: FloatArray,
) -> F32:
    """A user's taste over genres: onboarding favourites plus rated movies' genres, each rating
    centred on 2.75 stars so disliked genres count against. Returns [n_genres], unit length or 0.

    item_genres: [n_items, n_genres] 0/1; favourite: [n_genres]; rated_*: [n_rated].
    """
    profile = np.asarray(favourite, dtype=np.float64).copy()  # [n_genres]
    if rated_items.shape[0]:
        centred = (np.asarray(rated_scores, dtype=np.float64) - 2.75) / 2.25  # [n_rated] in [-1, 1]
        profile += centred @ item_genres[rated_items] / math.sqrt(rated_items.shape[0])
    norm = float(np.linalg.norm(profile))
    return (profile / norm if norm > 0 else profile).astype(np.float32)


def genre_affinity(item_genres: FloatArray, profile: FloatArray) -> F32:
    """Cosine of each item's genre set with the user's genre profile: [n_items]."""
    sizes = np.sqrt(np.maximum(item_genres.sum(axis=1), 1.0))  # [n_items]
    affinity: F32 = ((item_genres @ profile) / sizes).astype(np.float32)
    return affinity


def with_taste(logits: FloatArray, affinity: FloatArray | None, gain: float | None = None) -> F32:
    """The user's ranking score: log sigmoid(logits) + gain * affinity, so the model's probability
    is multiplied by exp(gain * affinity) (a product of the model and a genre-taste expert).
    In log-probability, films the model is near-certain of (the all-time popular ones, p close
    to 1) no longer tower over the rest as their logits do. logits, affinity: [..., n]; affinity
    None scores by the model alone. The order is the model's own wherever affinity is equal.
    gain None: TASTE_GAIN."""
    gain = TASTE_GAIN if gain is None else gain
    z = np.asarray(logits, dtype=np.float64)
    log_p = -np.logaddexp(0.0, -z)  # log sigmoid(z), stable for any z
    if affinity is not None and gain != 0.0:
        log_p = log_p + gain * np.asarray(affinity, dtype=np.float64)
    out: F32 = log_p.astype(np.float32)
    return out


def logits_from_probabilities(probs: FloatArray) -> F32:
    """The inverse sigmoid of model probabilities [...], clipped so 0 and 1 stay finite."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0 - 1e-7)
    out: F32 = np.log(p / (1.0 - p)).astype(np.float32)
    return out


def cold_scores(popularity: FloatArray, affinity: FloatArray | None) -> F32:
    """Cold-start score on [0, 1]: popularity, mixed with genre affinity when there is any."""
    if affinity is None or not np.any(affinity):
        return normalise(popularity)
    mixed = (1.0 - GENRE_WEIGHT) * normalise(popularity) + GENRE_WEIGHT * normalise(affinity)
    return mixed.astype(np.float32)


def content_weights(
    known_genres: FloatArray,
    known_decades: IntArray,
    new_genres: FloatArray,
    new_decades: IntArray,
) -> F32:
    """Row-stochastic weights [n_new, n_known] over trained items for items the model never saw:
    the share of the new item's genres each trained item covers, squared, doubled within the same
    decade. A new item with no genre overlap at all gets the uniform mean of every trained item.

    known_genres: [n_known, n_genres] 0/1; known_decades: [n_known] (-1 unknown); new_*: alike.
    """
    n_new, n_known = new_genres.shape[0], known_genres.shape[0]
    out = np.empty((n_new, n_known), np.float32)
    if n_known == 0:
        return out
    overlap = np.asarray(new_genres, np.float32) @ np.asarray(known_genres, np.float32).T
    size = np.maximum(np.asarray(new_genres, np.float32).sum(axis=1, keepdims=True), 1.0)
    w = (overlap / size) ** 2  # [n_new, n_known]
    same_decade = (new_decades[:, None] == known_decades[None, :]) & (new_decades[:, None] >= 0)
    w *= np.where(same_decade, 2.0, 1.0).astype(np.float32)
    totals = w.sum(axis=1, keepdims=True)  # [n_new, 1]
    np.divide(w, totals, out=out, where=totals > 0)
    out[totals[:, 0] <= 0] = 1.0 / n_known
    return out


class VectorScorer:
    """NeuMF scores of user rows against a fixed item table (trained rows plus content vectors
    for new items), in float32. The trained model's own whole-catalogue path
    (neumf_numpy.score_logits): the item side of the GMF product and of the first MLP layer is
    computed once, so one user costs one [n_items, layers[1]] pass through the tower."""

    def __init__(
        self, weights: Mapping[str, FloatArray], config: NeuMFConfig, item_table: FloatArray
    ) -> None:
        self.config = config
        self.towers = Towers.of(weights, config, np.float32)
        table = np.asarray(item_table, dtype=np.float32)  # [n_items, gd + md]
        self.terms = item_terms(self.towers, table)
        self.n_items = self.terms.n_items

    def logits(self, user_vectors: FloatArray, items: IntArray | None = None) -> F32:
        """Logits [n_users, n_items] (or [n_users, len(items)]) for user rows [n_users, gd + md]."""
        users = np.atleast_2d(np.asarray(user_vectors, dtype=np.float32))
        idx = None if items is None else np.asarray(items, dtype=np.int64)
        z: F32 = score_logits(self.towers, self.terms, users, idx).astype(np.float32, copy=False)
        return z

    def scores(self, user_vectors: FloatArray) -> F32:
        """Probabilities [n_users, n_items]."""
        z = self.logits(user_vectors)
        probs: F32 = (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)  # sigmoid, no overflow
        return probs


def unit_rows(vectors: FloatArray) -> F32:
    """Rows scaled to unit length (zero rows stay zero), for cosine similarity: [n, d]."""
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    unit: F32 = np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)
    return unit


def top_k(scores: FloatArray, k: int, allowed: BoolArray | None = None) -> IntArray:
    """Indices of the k highest scores among allowed entries, best first: [<= k]."""
    values = np.asarray(scores, dtype=np.float64).copy()
    if allowed is not None:
        values[~allowed] = -np.inf
    n_ok = int(np.isfinite(values).sum())
    k = min(k, n_ok)
    if k <= 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-values, k - 1)[:k]
    return part[np.argsort(-values[part], kind="stable")].astype(np.int64)
