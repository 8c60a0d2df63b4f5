"""Reads of recommendations: a user's list, the home page rows and "More like this"."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import Prefetch, prefetch_related_objects
from django.utils.dateparse import parse_datetime
from numpy.typing import NDArray

from catalog.models import Genre, Movie
from ratings.models import Profile, Rating
from recommender.coldstart import (
    AlignedModel,
    CatalogSnapshot,
    aligned_model,
    catalog_snapshot,
    cold_scores_for,
    taste_affinity_for,
)
from recommender.engine import coldstart as cs
from recommender.engine.foldin import fold_in_user
from recommender.models import Recommendation
from recommender.registry import ServingModel, serving_model

logger = logging.getLogger(__name__)

F32 = NDArray[np.float32]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

Source = Literal["ncf", "blend", "cold_start", "popular", "content"]
SOURCES: tuple[str, ...] = ("ncf", "blend", "cold_start", "popular", "content")
ROW_LENGTH = 20
FOLDIN_CACHE_SECONDS = 24 * 3600
# Fold-in settings chosen with benchmarks/bench_foldin.py on held-out ml-latest-small users.
FOLDIN_STEPS = 60
FOLDIN_LR = 0.05
FOLDIN_L2 = 1e-2  # pull toward the mean trained user: few ratings stay close to average taste


class _ResultMemo:
    """The newest lists of this process, in front of the shared cache and under its keys (which
    hold everything a list depends on), expiring like its entries. A shared-cache hit unpickles
    about 80 model instances, measured as the largest single cost of a repeated recommendation
    request (docs/benchmarks.md); a memo hit costs a dict lookup. Bounded by
    RECSITE_RESULT_MEMO_SIZE entries, kept RECSITE_RESULT_CACHE_SECONDS."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, tuple[RecommendedMovie, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[RecommendedMovie, ...] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def set(self, key: str, value: tuple[RecommendedMovie, ...], seconds: float) -> None:
        size = int(settings.RECSITE_RESULT_MEMO_SIZE)
        with self._lock:
            self._entries[key] = (time.monotonic() + seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > max(size, 0):
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class RecommendedMovie:
    """One recommended movie; source is one of SOURCES, reason a short sentence for the card."""

    movie: Movie
    score: float
    source: str
    reason: str


@dataclass(frozen=True)
class HomeRow:
    title: str
    slug: str
    items: tuple[RecommendedMovie, ...]


@dataclass(frozen=True)
class _Pick:
    """A recommendation before its movie is fetched; `reason` may hold {title} of reason_movie."""

    movie_id: int
    score: float
    source: str
    reason: str
    reason_movie_id: int | None = None


@dataclass
class _UserState:
    """What one request knows about one user: ratings, catalog, model, and the blended scores."""

    snapshot: CatalogSnapshot
    served: ServingModel | None
    aligned: AlignedModel | None
    user_id: int | None
    rated_ids: IntArray  # movie ids
    rated_scores: F32
    rated_idx: IntArray  # catalog indices of rated movies (present in the catalog)
    rated_idx_scores: F32
    latest_rated_at: datetime | None
    _favourites: list[int] | None = None
    alpha: float = 0.0
    scores: F32 | None = None  # [n_cat] blended, on [0, 1]
    affinity: F32 | None = None
    source: str = "popular"

    @property
    def favourite_genre_ids(self) -> list[int]:
        """Onboarding genres, read only when a cold score or a genre row needs them."""
        if self._favourites is None:
            self._favourites = (
                []
                if self.user_id is None
                else list(
                    Profile.favourite_genres.through.objects.filter(profile__user_id=self.user_id)
                    .order_by("genre__name")
                    .values_list("genre_id", flat=True)
                )
            )
        return self._favourites

    @property
    def n_ratings(self) -> int:
        return int(self.rated_ids.shape[0])

    def unrated(self) -> BoolArray:
        mask = np.ones(self.snapshot.n, dtype=bool)
        mask[self.rated_idx] = False
        return mask


_result_memo = _ResultMemo()


# -- public selectors ------------------------------------------------------------------------


def recommendations_for_user(
    user: AbstractBaseUser | AnonymousUser, k: int, genre: str | None = None
) -> list[RecommendedMovie]:
    """The user's top k: precomputed when fresh, else scored online (fold-in for new users),
    blended with the cold-start score over the first RECSITE_COLD_START_RATINGS ratings.
    Rated movies never appear. Never raises for a model problem: falls back to popularity."""
    k = max(0, int(k))
    if k == 0:
        return []
    started = time.perf_counter()
    seconds = int(settings.RECSITE_RESULT_CACHE_SECONDS)
    cache_key = _result_cache_key(user, k, genre) if seconds > 0 else None
    if cache_key is not None:
        cached = _result_memo.get(cache_key)
        if cached is None:
            cached = cache.get(cache_key)
            if cached is not None:
                _result_memo.set(cache_key, cached, seconds)
        if cached is not None:
            return list(cached)
    state = _user_state(user)
    mask = state.unrated()
    if genre:
        mask &= state.snapshot.genre_mask(genre)
    try:
        picks = _precomputed_picks(state, k, mask) if state.user_id is not None else None
        if picks is None:
            picks = _online_picks(state, k, mask)
    except DatabaseError:
        raise
    except Exception:
        # A model that loaded but misbehaves (shapes, NaNs, a bug) must not cost the page.
        logger.exception("serving failed for user %s; popular fallback", state.user_id)
        picks = _popular_fallback(state, k, mask)
    result = _materialise([picks])[0][0]
    if cache_key is not None:
        cache.set(cache_key, tuple(result), seconds)
        _result_memo.set(cache_key, tuple(result), seconds)
    logger.debug(
        "recommendations user=%s k=%d source=%s in %.1f ms",
        state.user_id,
        k,
        result[0].source if result else "-",
        (time.perf_counter() - started) * 1000,
    )
    return result


def result_memo_clear() -> None:
    """Forget this process's memorised lists (the shared cache is cleared on its own)."""
    _result_memo.clear()


def home_rows_for_user(user: AbstractBaseUser | AnonymousUser) -> list[HomeRow]:
    """Named rows for the home page; signed-out visitors get popular rows. One movie query."""
    state = _user_state(user)
    try:
        return _home_rows(state)
    except DatabaseError:
        raise
    except Exception:
        logger.exception("home rows failed for user %s; rows without the model", state.user_id)
        return _home_rows(_without_model(state))


def _without_model(state: _UserState) -> _UserState:
    """The same user and catalog with the model dropped: the cold-start path."""
    state.served, state.aligned = None, None
    state.scores, state.affinity, state.alpha, state.source = None, None, 0.0, "popular"
    return state


def _home_rows(state: _UserState) -> list[HomeRow]:
    """The rows top to bottom; a film appears in one row only (the first that picks it), so each
    row below takes the next best of its own kind. Only a catalog too small to fill a row to half
    its length without repeats lets that row repeat films."""
    snap = state.snapshot
    unrated = state.unrated()
    shown = np.zeros(snap.n, dtype=bool)
    rows: list[tuple[str, str, list[_Pick]]] = []
    anchor_ids: list[int] = []

    def fresh(pick: Callable[[BoolArray], list[_Pick]], mask: BoolArray) -> list[_Pick]:
        picks = pick(mask & ~shown)
        return picks if len(picks) >= min(ROW_LENGTH // 2, int(mask.sum())) else pick(mask)

    def add(title: str, slug: str, picks: list[_Pick]) -> None:
        idx = snap.index([p.movie_id for p in picks])
        shown[idx[idx >= 0]] = True
        rows.append((title, slug, picks))

    if state.user_id is None:
        _score(state)
        add("Popular on recsite", "popular", _online_picks(state, ROW_LENGTH, unrated))
    else:
        picks = _precomputed_picks(state, ROW_LENGTH, unrated)
        if picks is None:
            picks = _online_picks(state, ROW_LENGTH, unrated)
        if state.source == "popular":  # no rating and no onboarding genre: nothing personal yet
            add("Popular on recsite", "popular", picks)
        else:
            add("Top picks for you", "top-picks", picks)
        anchor = _liked_anchor(state)
        if anchor is not None:
            similar = fresh(lambda m: _similar_picks(state, anchor, ROW_LENGTH, m), unrated)
            if similar:
                anchor_ids.append(int(snap.movie_ids[anchor]))
                add("Because you liked {title}", "because-you-liked", similar)
    add("Trending now", "trending", fresh(lambda m: _trending_picks(state, ROW_LENGTH, m), unrated))
    add(
        "New arrivals",
        "new-arrivals",
        fresh(lambda m: _new_arrival_picks(state, ROW_LENGTH, m), unrated),
    )
    if state.user_id is not None and state.favourite_genre_ids:
        _score(state)
        for genre_id in state.favourite_genre_ids:
            col = int(np.searchsorted(snap.genre_ids, genre_id))
            if col >= snap.genre_ids.shape[0] or snap.genre_ids[col] != genre_id:
                continue
            mask = unrated & (snap.item_genres[:, col] > 0)
            add(
                snap.genre_names[col],
                f"genre-{snap.genre_slugs[col]}",
                fresh(lambda m: _online_picks(state, ROW_LENGTH, m), mask),
            )
    lists, movies = _materialise([picks for _, _, picks in rows], also=anchor_ids)
    out: list[HomeRow] = []
    for (title, slug, _), items in zip(rows, lists, strict=True):
        if items:
            anchor_movie = movies.get(anchor_ids[0]) if anchor_ids else None
            named = title.format(title=anchor_movie.title if anchor_movie else "a movie you rated")
            out.append(HomeRow(title=named, slug=slug, items=tuple(items)))
    return out


def similar_movies(movie: Movie, k: int) -> list[RecommendedMovie]:
    """More like this: the movie's co-rating neighbours in the active version (item-embedding
    cosine for a version saved without them), filled up by genre overlap, decade and popularity
    when short; by content alone when the movie has too few ratings or no model is active."""
    k = max(0, int(k))
    snap = catalog_snapshot()
    idx = int(snap.index(movie.pk))
    if k == 0 or idx < 0:
        return []
    state = _state_without_user(snap)
    allowed = np.ones(snap.n, dtype=bool)
    allowed[idx] = False
    try:
        picks = _similar_picks(state, idx, k, allowed, anchor_is_rated=False)
    except Exception:
        logger.exception("similar movies of %s failed; content fallback", movie.pk)
        picks = _similar_picks(_without_model(state), idx, k, allowed, anchor_is_rated=False)
    return _materialise([picks])[0][0]


# -- state ----------------------------------------------------------------------------------


def _result_cache_key(user: AbstractBaseUser | AnonymousUser, k: int, genre: str | None) -> str:
    """Everything a list depends on, so a hit is never stale in what matters: the served version
    and its precompute, the catalog, the user's rating count and latest rating (any new, changed
    or deleted rating changes one of them) and, while cold start still weighs, the onboarding
    genres. Popularity may lag by RECSITE_RESULT_CACHE_SECONDS."""
    served = serving_model()
    snap = catalog_snapshot()
    parts: list[object] = [
        served.version_id if served else None,
        served.precomputed_at.timestamp() if served and served.precomputed_at else None,
        snap.key,
        k,
        (genre or "").strip().lower(),
    ]
    if getattr(user, "is_authenticated", False) and user.pk is not None:
        n, at = _rating_stamp(int(user.pk))
        parts += [user.pk, n, at.timestamp() if at else None]
        if n < int(settings.RECSITE_COLD_START_RATINGS):
            parts.append(
                sorted(
                    Profile.favourite_genres.through.objects.filter(
                        profile__user_id=user.pk
                    ).values_list("genre_id", flat=True)
                )
            )
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
    return f"recsite:recs:{digest}"


def _rating_stamp(user_id: int) -> tuple[int, datetime | None]:
    """(count, newest rated_at) of the user's ratings: one index scan on every recommendation
    request, in SQL written once, since building it with the ORM cost more than running it."""
    table = Rating._meta.db_table
    user_col = Rating._meta.get_field("user").column
    at_col = Rating._meta.get_field("rated_at").column
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), MAX({at_col}) FROM {table} WHERE {user_col} = %s", [user_id]
        )
        n, at = cursor.fetchone()
    if isinstance(at, str):  # SQLite hands back text for an aggregate
        at = parse_datetime(at)
    return int(n), at


def _served_and_aligned(snap: CatalogSnapshot) -> tuple[ServingModel | None, AlignedModel | None]:
    served = serving_model()
    if served is None:
        return None, None
    try:
        return served, aligned_model(served, snap)
    except Exception:
        # A model that does not fit the catalog must not break the page: serve cold start.
        logger.exception("model version %s cannot be aligned; cold start", served.version_id)
        return None, None


def _state_without_user(snap: CatalogSnapshot) -> _UserState:
    served, aligned = _served_and_aligned(snap)
    empty = np.zeros(0, np.int64)
    return _UserState(
        snapshot=snap,
        served=served,
        aligned=aligned,
        user_id=None,
        rated_ids=empty,
        rated_scores=np.zeros(0, np.float32),
        rated_idx=empty,
        rated_idx_scores=np.zeros(0, np.float32),
        latest_rated_at=None,
    )


def _user_state(user: AbstractBaseUser | AnonymousUser) -> _UserState:
    snap = catalog_snapshot()
    state = _state_without_user(snap)
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return state
    rows = list(
        Rating.objects.filter(user_id=user.pk)
        .order_by()
        .values_list("movie_id", "score", "rated_at")
    )
    state.user_id = int(user.pk)
    state.rated_ids = np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
    state.rated_scores = np.fromiter((float(r[1]) for r in rows), np.float32, count=len(rows))
    state.latest_rated_at = max((r[2] for r in rows), default=None)
    idx = snap.index(state.rated_ids)
    state.rated_idx = idx[idx >= 0]
    state.rated_idx_scores = state.rated_scores[idx >= 0]
    return state


def _user_vector(state: _UserState) -> F32 | None:
    """The user's NeuMF vector: the trained row while it has seen every rating, else a fold-in
    with the item side frozen, cached per (version, user, latest rating, count)."""
    served, aligned = state.served, state.aligned
    if served is None or aligned is None or state.user_id is None:
        return None
    row = served.user_row(state.user_id)
    trained_all = (
        row is not None
        and served.trained_until is not None
        and (state.latest_rated_at is None or state.latest_rated_at <= served.trained_until)
    )
    if row is not None and trained_all:
        return row
    if state.rated_idx.shape[0] == 0:
        return row
    stamp = int(state.latest_rated_at.timestamp() * 1e6) if state.latest_rated_at else 0
    key = f"recsite:foldin:{served.version_id}:{state.user_id}:{stamp}:{state.n_ratings}"
    cached = cache.get(key)
    if cached is not None:
        return np.frombuffer(cached, dtype=np.float32)
    started = time.perf_counter()
    folded = fold_in_user(
        served.weights,
        served.config,
        state.rated_idx,
        steps=FOLDIN_STEPS,
        lr=FOLDIN_LR,
        l2=FOLDIN_L2,
        seed=state.user_id,
        item_side=aligned.foldin_side,
    )
    vector = np.concatenate([v for v in (folded.gmf, folded.mlp) if v is not None])
    cache.set(key, vector.astype(np.float32).tobytes(), FOLDIN_CACHE_SECONDS)
    logger.info(
        "fold-in user=%s version=%s ratings=%d in %.1f ms",
        state.user_id,
        served.version_id,
        state.n_ratings,
        (time.perf_counter() - started) * 1000,
    )
    return vector


def _score(state: _UserState) -> F32:
    """Blended scores over the catalog (computed once per state)."""
    if state.scores is not None:
        return state.scores
    ncf: F32 | None = None
    try:
        vector = _user_vector(state)
        if vector is not None and state.aligned is not None:
            ncf = state.aligned.scorer.logits(vector)[0]
            if not np.all(np.isfinite(ncf)):
                raise ValueError(
                    f"model version {state.aligned.version_id} gives non-finite scores"
                )
    except Exception:
        logger.exception("online scoring failed for user %s; cold start", state.user_id)
        ncf = None
    ramp = int(settings.RECSITE_COLD_START_RATINGS)
    state.alpha = cs.blend_alpha(state.n_ratings, ramp) if ncf is not None else 0.0
    taste = {
        "favourite_genre_ids": state.favourite_genre_ids,
        "rated_idx": state.rated_idx,
        "rated_scores": state.rated_idx_scores,
    }
    if ncf is not None and state.alpha >= 1.0:
        # The cold score has no weight left: only the taste shift is needed.
        state.affinity = taste_affinity_for(state.snapshot, **taste)
        state.scores = cs.normalise(cs.with_taste(ncf, state.affinity))
    else:
        cold, state.affinity = cold_scores_for(state.snapshot, **taste)
        if ncf is not None:
            ncf = cs.with_taste(ncf, state.affinity)  # the user's genres weigh at every stage
        state.scores = cs.blend(ncf, cold, state.alpha)
    if state.alpha >= 1.0:
        state.source = "ncf"
    elif state.alpha > 0.0:
        state.source = "blend"
    elif state.affinity is not None:
        state.source = "cold_start"
    else:
        state.source = "popular"
    return state.scores


# -- picks ----------------------------------------------------------------------------------


def _precomputed_picks(state: _UserState, k: int, mask: BoolArray) -> list[_Pick] | None:
    """The precomputed list when it is fresh and pure NCF applies; None to score online."""
    served = state.served
    if served is None or served.precomputed_at is None or state.user_id is None:
        return None
    if cs.blend_alpha(state.n_ratings, int(settings.RECSITE_COLD_START_RATINGS)) < 1.0:
        return None
    if state.latest_rated_at is not None and state.latest_rated_at > served.precomputed_at:
        return None
    rows = list(
        Recommendation.objects.filter(model_version_id=served.version_id, user_id=state.user_id)
        .order_by("rank")
        .values_list("movie_id", "score")
    )
    if not rows:
        return None
    ids = np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
    idx = state.snapshot.index(ids)
    keep = np.flatnonzero((idx >= 0) & mask[np.maximum(idx, 0)])
    if keep.shape[0] < min(k, int(mask.sum())):
        return None  # a genre filter or new ratings thinned the list: score everything instead
    chosen = keep[:k]
    state.source = "ncf"
    reasons = _because_reasons(state, idx[chosen])
    return [
        _Pick(int(ids[j]), float(rows[j][1]), "ncf", text, ref)
        for j, (text, ref) in zip(chosen, reasons, strict=True)
    ]


def _online_picks(state: _UserState, k: int, mask: BoolArray) -> list[_Pick]:
    scores = _score(state)
    chosen = cs.top_k(scores, k, mask)
    if state.source in ("ncf", "blend") and state.alpha >= 0.5:
        reasons = _because_reasons(state, chosen)
    else:
        reasons = [(_cold_reason(state, int(i)), None) for i in chosen]
    return [
        _Pick(int(state.snapshot.movie_ids[i]), float(scores[i]), state.source, text, ref)
        for i, (text, ref) in zip(chosen, reasons, strict=True)
    ]


def _popular_fallback(state: _UserState, k: int, mask: BoolArray) -> list[_Pick]:
    """Popularity alone, with no model involved: the last resort of a broken model."""
    snap = state.snapshot
    return [
        _Pick(int(snap.movie_ids[i]), float(snap.popularity[i]), "popular", "Popular on recsite")
        for i in cs.top_k(snap.popularity, k, mask)
    ]


def _trending_picks(state: _UserState, k: int, mask: BoolArray) -> list[_Pick]:
    snap = state.snapshot
    trend = snap.recent + 1e-3 * cs.normalise(snap.popularity)  # popularity breaks ties
    if snap.recent.any():
        chosen = cs.top_k(trend, k, mask & (snap.recent > 0))
    else:
        chosen = cs.top_k(snap.popularity, k, mask)
    peak = float(trend[chosen[0]]) if chosen.shape[0] else 1.0
    return [
        _Pick(
            int(snap.movie_ids[i]),
            float(trend[i]) / max(peak, 1e-9),
            "popular",
            f"{int(snap.recent[i])} recent ratings" if snap.recent[i] else "Popular on recsite",
        )
        for i in chosen
    ]


def _new_arrival_picks(state: _UserState, k: int, mask: BoolArray) -> list[_Pick]:
    """The most recently added movies (rated or not); for a signed-in user the newest few times
    k, ranked by that user's score, so new movies with no ratings surface for the right people."""
    snap = state.snapshot
    newest = snap.newest_first[mask[snap.newest_first]]
    if state.user_id is None:
        return [_Pick(int(snap.movie_ids[i]), 0.0, "popular", "New on recsite") for i in newest[:k]]
    pool = newest[: k * 5]
    scores = _score(state)
    order = pool[np.argsort(-scores[pool], kind="stable")][:k]
    return [
        _Pick(int(snap.movie_ids[i]), float(scores[i]), state.source, "New on recsite")
        for i in order
    ]


def _liked_anchor(state: _UserState) -> int | None:
    """Catalog index of the user's best-rated movie (latest among ties), 3.5 stars or more."""
    if state.rated_idx.shape[0] == 0:
        return None
    best = float(state.rated_idx_scores.max())
    if best < cs.LIKED_SCORE:
        return None
    candidates = state.rated_idx[state.rated_idx_scores == best]
    aligned = state.aligned
    if aligned is not None:
        in_model = candidates[aligned.in_model[candidates]]
        if in_model.shape[0]:
            candidates = in_model
    # The rating query is unordered; the highest movie id is a stable, cheap tie-break.
    return int(candidates.max())


def _similar_picks(
    state: _UserState, idx: int, k: int, allowed: BoolArray, *, anchor_is_rated: bool = True
) -> list[_Pick]:
    """The k movies most like catalog index `idx`: its co-rating neighbours (who liked it also
    liked), filled up from content (genres, decade) when they are fewer than k or the movie has
    too few ratings; the item-embedding cosine for a version saved without neighbours."""
    snap, aligned = state.snapshot, state.aligned
    title_ref = int(snap.movie_ids[idx])
    text = (
        "Because you liked {title}"
        if anchor_is_rated
        else "Viewers who liked {title} also liked this"
    )
    picks: list[_Pick] = []
    if (
        aligned is not None
        and aligned.neighbours is not None
        and aligned.neighbour_sims is not None
    ):
        row, row_sims = aligned.neighbours[idx], aligned.neighbour_sims[idx]  # [K] each
        ok = row >= 0
        ok[ok] = allowed[row[ok]]
        picks = [
            _Pick(int(snap.movie_ids[i]), float(sim), "ncf", text, title_ref)
            for i, sim in zip(row[ok][:k].tolist(), row_sims[ok][:k].tolist(), strict=True)
        ]
        if len(picks) >= k:
            return picks
        allowed = allowed.copy()
        allowed[row[ok][:k]] = False
    elif aligned is not None and aligned.in_model[idx]:
        sims = aligned.unit @ aligned.unit[idx]  # [n_cat] cosine
        if not np.all(np.isfinite(sims)):
            raise ValueError(f"model version {aligned.version_id} has non-finite item vectors")
        chosen = cs.top_k(sims, k, allowed)
        return [
            _Pick(int(snap.movie_ids[i]), float(sims[i]), "ncf", text, title_ref) for i in chosen
        ]
    # Content: Jaccard genre overlap, popularity breaks ties; after co-rating picks, below them.
    score, inter = _content_similarity(snap, idx)
    chosen = cs.top_k(score, k - len(picks), allowed & (inter > 0) if inter.any() else allowed)
    return picks + [
        _Pick(
            int(snap.movie_ids[i]),
            float(score[i]),
            "content",
            "Shares genres with {title}",
            title_ref,
        )
        for i in chosen
    ]


def _content_similarity(snap: CatalogSnapshot, idx: int) -> tuple[F32, F32]:
    """Genre Jaccard + 0.1 same decade + 0.2 popularity of every movie to `idx`, and the genre
    overlap counts: [n_cat] each."""
    genres = snap.item_genres
    inter = genres @ genres[idx]  # [n_cat]
    union = genres.sum(axis=1) + genres[idx].sum() - inter
    jaccard = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    same_decade = (snap.decades == snap.decades[idx]) & (snap.decades >= 0)
    score = jaccard + 0.1 * same_decade + 0.2 * snap.popularity
    return score.astype(np.float32), inter


# -- reasons --------------------------------------------------------------------------------


def _stars(score: float) -> str:
    return f"{score:g} star" + ("" if score == 1 else "s")


def _because_reasons(state: _UserState, chosen: IntArray) -> list[tuple[str, int | None]]:
    """For each recommended catalog index, the movie the user liked (3.5 stars or more; never a
    low-rated one) nearest to it: by co-rating similarity when the version has neighbours (by
    genres and decade where no liked movie is co-rated with it), else by item embedding:
    ("Because you rated {title} 5 stars", that movie's id)."""
    aligned, snap = state.aligned, state.snapshot
    liked = state.rated_idx_scores >= cs.LIKED_SCORE
    if aligned is None or not liked.any() or chosen.shape[0] == 0:
        return [(_cold_reason(state, int(i)), None) for i in chosen]
    pool, pool_scores = state.rated_idx[liked], state.rated_idx_scores[liked]
    if aligned.neighbours is not None and aligned.neighbour_sims is not None:
        sims = _co_rating_sims(aligned.neighbours, aligned.neighbour_sims, chosen, pool)
        for row in np.flatnonzero(~(sims > 0).any(axis=1)):
            sims[row] = _content_similarity(snap, int(chosen[row]))[0][pool]
    else:
        sims = aligned.unit[chosen] @ aligned.unit[pool].T  # [k, n_pool]
    sims = sims + 0.02 * (pool_scores - cs.LIKED_SCORE)  # near-ties go to the higher rating
    best = np.argmax(sims, axis=1)  # [k]
    return [
        (
            f"Because you rated {{title}} {_stars(float(pool_scores[b]))}",
            int(snap.movie_ids[pool[b]]),
        )
        for b in best
    ]


def _co_rating_sims(neighbours: IntArray, sims: F32, chosen: IntArray, pool: IntArray) -> F32:
    """Co-rating similarity of each chosen movie to each pool movie, either way round (the
    larger of "pool movie in chosen's neighbours" and the reverse): [len(chosen), len(pool)]."""
    forward = neighbours[chosen][:, :, None] == pool[None, None, :]  # [k, K, n_pool]
    out = np.max(np.where(forward, sims[chosen][:, :, None], 0.0), axis=1)  # [k, n_pool]
    backward = neighbours[pool][:, :, None] == chosen[None, None, :]  # [n_pool, K, k]
    back = np.max(np.where(backward, sims[pool][:, :, None], 0.0), axis=1)  # [n_pool, k]
    result: F32 = np.maximum(out, back.T).astype(np.float32)
    return result


def _cold_reason(state: _UserState, idx: int) -> str:
    snap = state.snapshot
    if state.affinity is not None and state.affinity[idx] > 0:
        fav = snap.genre_vector(state.favourite_genre_ids)
        cols = np.flatnonzero(snap.item_genres[idx] > 0)
        liked_cols = [c for c in cols if fav[c]] or list(cols)
        if liked_cols:
            return f"Popular in {snap.genre_names[liked_cols[0]]}, a genre you like"
    if snap.recent[idx] > 0 and snap.recent[idx] >= np.percentile(snap.recent, 99):
        return "Trending now"
    if snap.counts[idx] > 0:
        return f"Popular: {int(snap.counts[idx])} ratings, {float(snap.means[idx]):.1f} average"
    return "New on recsite"


# -- movies ---------------------------------------------------------------------------------


def _materialise(
    lists: list[list[_Pick]], also: list[int] | None = None
) -> tuple[list[list[RecommendedMovie]], dict[int, Movie]]:
    """Fetch every movie of every list (and every reason's movie, and `also`) in one query,
    the listed movies' genres prefetched, and fill in the reasons' titles."""
    listed = {p.movie_id for picks in lists for p in picks}
    ids = listed | set(also or [])
    ids |= {p.reason_movie_id for picks in lists for p in picks if p.reason_movie_id is not None}
    if not ids:
        return [[] for _ in lists], {}
    movies = {m.pk: m for m in Movie.objects.filter(pk__in=ids)}
    # Reason movies only lend a title: genres for the listed ones alone halve the objects built.
    prefetch_related_objects(
        [m for pk, m in movies.items() if pk in listed],
        Prefetch("genres", queryset=Genre.objects.order_by("name")),
    )
    out: list[list[RecommendedMovie]] = []
    for picks in lists:
        items: list[RecommendedMovie] = []
        for p in picks:
            movie = movies.get(p.movie_id)
            if movie is None:
                continue  # deleted since the snapshot
            reason = p.reason
            if p.reason_movie_id is not None:
                ref = movies.get(p.reason_movie_id)
                reason = reason.format(title=ref.title if ref is not None else "a movie you rated")
            items.append(
                RecommendedMovie(movie=movie, score=p.score, source=p.source, reason=reason)
            )
        out.append(items)
    return out, movies
