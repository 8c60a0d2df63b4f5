"""The Django edge of serving: gathers a user's state from the database and the caches, calls
the NumPy core (recommender/serving/ranking.py) once, and materialises the Movie objects.

Public: recommendations_for_user (the API and the movie page), home_rows_for_user (the home
page), similar_movies (More like this), serving_warm_up, result_memo_clear."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db import DatabaseError

from catalog.models import Movie
from recommender import selectors
from recommender.coldstart import catalog_snapshot
from recommender.engine import coldstart as cs
from recommender.engine.foldin import fold_in_user
from recommender.registry import ServingModel, serving_model
from recommender.serving import ranking
from recommender.serving.alignment import aligned_model
from recommender.serving.types import F32, AlignedModel, CatalogSnapshot, Pick, UserState

logger = logging.getLogger(__name__)

SOURCES = ranking.SOURCES
FOLDIN_CACHE_SECONDS = 24 * 3600
# Fold-in settings chosen with benchmarks/bench_foldin.py on held-out ml-latest-small users.
FOLDIN_STEPS = 60
FOLDIN_LR = 0.05
FOLDIN_L2 = 1e-2  # pull toward the mean trained user: few ratings stay close to average taste

User = AbstractBaseUser | AnonymousUser


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


_result_memo = _ResultMemo()


# -- public -----------------------------------------------------------------------------------


def recommendations_for_user(
    user: User, k: int, genre: str | None = None
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
    state, served, latest = user_state(user)
    mask = state.unrated()
    if genre:
        mask &= state.snapshot.genre_mask(genre)
    try:
        _add_precomputed(state, served, latest)
        picks = ranking.precomputed_picks(state, k, mask)
        if picks is None:  # the list is stale, missing, or thinned by the filter: score online
            _add_online_inputs(state, served, latest)
            picks = ranking.online_picks(state, k, mask)
    except DatabaseError:
        raise
    except Exception:
        # A model that loaded but misbehaves (shapes, NaNs, a bug) must not cost the page.
        logger.exception("serving failed for user %s; popular fallback", state.user_id)
        picks = ranking.popular_fallback(state, k, mask)
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


def serving_warm_up() -> None:
    """Load what a process's first request would otherwise wait for: the catalog snapshot, the
    active model version and its view over the catalog. gunicorn calls it in each worker before
    the worker takes traffic (gunicorn.conf.py). Never raises: a database that is not there yet
    leaves the loading to the first request, as without a warm-up."""
    started = time.perf_counter()
    try:
        served, _ = _served_and_aligned(catalog_snapshot())
    except DatabaseError:
        logger.exception("warm-up: the database is not reachable; the first request loads")
        return
    logger.info(
        "warm-up: model version %s and the catalog ready in %.0f ms",
        served.version_id if served else "-",
        (time.perf_counter() - started) * 1000,
    )


def result_memo_clear() -> None:
    """Forget this process's memorised lists (the shared cache is cleared on its own)."""
    _result_memo.clear()


def home_rows_for_user(user: User) -> list[HomeRow]:
    """Named rows for the home page; signed-out visitors get popular rows. One movie query."""
    state, served, latest = user_state(user)
    if state.user_id is not None:
        state.favourite_genre_ids = selectors.user_favourite_genre_ids(user_id=state.user_id)
    try:
        _add_precomputed(state, served, latest)
        _add_online_inputs(state, served, latest)
        rows, anchor_id = ranking.home_rows(state)
    except DatabaseError:
        raise
    except Exception:
        logger.exception("home rows failed for user %s; rows without the model", state.user_id)
        rows, anchor_id = ranking.home_rows(_without_model(state))
    anchors = [anchor_id] if anchor_id is not None else []
    lists, movies = _materialise([picks for _, _, picks in rows], also=anchors)
    anchor_movie = movies.get(anchor_id) if anchor_id is not None else None
    named = anchor_movie.title if anchor_movie else "a movie you rated"
    return [
        HomeRow(title=title.format(title=named), slug=slug, items=tuple(items))
        for (title, slug, _), items in zip(rows, lists, strict=True)
        if items
    ]


def similar_movies(movie: Movie, k: int) -> list[RecommendedMovie]:
    """More like this: the movie's co-rating neighbours in the active version blended with
    content (item-embedding cosine for a version saved without them), filled up by genre
    overlap, decade and popularity when short; by content alone when the movie has too few
    ratings or no model is active."""
    k = max(0, int(k))
    snap = catalog_snapshot()
    idx = int(snap.index(movie.pk))
    if k == 0 or idx < 0:
        return []
    state = _anonymous_state(snap, _served_and_aligned(snap)[1])
    try:
        picks = ranking.similar_list(state, idx, k)
    except Exception:
        logger.exception("similar movies of %s failed; content fallback", movie.pk)
        picks = ranking.similar_list(_without_model(state), idx, k)
    return _materialise([picks])[0][0]


# -- state ------------------------------------------------------------------------------------


def _result_cache_key(user: User, k: int, genre: str | None) -> str:
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
        n, at = selectors.user_rating_stamp(user_id=int(user.pk))
        parts += [user.pk, n, at.timestamp() if at else None]
        if n < int(settings.RECSITE_COLD_START_RATINGS):
            parts.append(sorted(selectors.user_favourite_genre_ids(user_id=int(user.pk))))
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
    return f"recsite:recs:{digest}"


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


def _anonymous_state(snap: CatalogSnapshot, aligned: AlignedModel | None) -> UserState:
    return UserState(
        snapshot=snap,
        aligned=aligned,
        user_id=None,
        rated_idx=np.zeros(0, np.int64),
        rated_idx_scores=np.zeros(0, np.float32),
        n_ratings=0,
        ramp=int(settings.RECSITE_COLD_START_RATINGS),
    )


def user_state(user: User) -> tuple[UserState, ServingModel | None, datetime | None]:
    """The user's ratings over the catalog and the model in service (not yet the precomputed
    list, the onboarding genres or the user vector: the caller adds what it needs), and the
    user's latest rated_at."""
    snap = catalog_snapshot()
    served, aligned = _served_and_aligned(snap)
    state = _anonymous_state(snap, aligned)
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return state, (served if aligned is not None else None), None
    rows = selectors.user_ratings(user_id=int(user.pk))
    ids = np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
    scores = np.fromiter((r[1] for r in rows), np.float32, count=len(rows))
    idx = snap.index(ids)
    state.user_id = int(user.pk)
    state.n_ratings = len(rows)
    state.rated_idx = idx[idx >= 0]
    state.rated_idx_scores = scores[idx >= 0]
    latest = max((r[2] for r in rows), default=None)
    return state, (served if aligned is not None else None), latest


def _add_precomputed(
    state: UserState, served: ServingModel | None, latest: datetime | None
) -> None:
    """The precomputed list, when it is fresh and pure NCF applies (the model weighs fully)."""
    if served is None or served.precomputed_at is None or state.user_id is None:
        return
    if cs.blend_alpha(state.n_ratings, state.ramp) < 1.0:
        return
    if latest is not None and latest > served.precomputed_at:
        return
    rows = selectors.precomputed_list(version_id=served.version_id, user_id=state.user_id)
    if rows:
        ids = np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
        scores = np.fromiter((r[1] for r in rows), np.float32, count=len(rows))
        state.precomputed = (ids, scores)


def _add_online_inputs(
    state: UserState, served: ServingModel | None, latest: datetime | None
) -> None:
    """What online scoring needs: the onboarding genres and the model's user vector (a failed
    fold-in leaves the vector out: cold start)."""
    if state.user_id is None:
        return
    if not state.favourite_genre_ids:
        state.favourite_genre_ids = selectors.user_favourite_genre_ids(user_id=state.user_id)
    try:
        state.vector = user_vector(state, served, latest)
    except Exception:
        logger.exception("online scoring failed for user %s; cold start", state.user_id)
        state.vector = None


def user_vector(
    state: UserState, served: ServingModel | None, latest: datetime | None
) -> F32 | None:
    """The user's NeuMF vector: the trained row while it has seen every rating, else a fold-in
    with the item side frozen, cached per (version, user, latest rating, count)."""
    aligned = state.aligned
    if served is None or aligned is None or state.user_id is None:
        return None
    row = served.user_row(state.user_id)
    trained_all = (
        row is not None
        and served.trained_until is not None
        and (latest is None or latest <= served.trained_until)
    )
    if row is not None and trained_all:
        return row
    if state.rated_idx.shape[0] == 0:
        return row
    stamp = int(latest.timestamp() * 1e6) if latest else 0
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


def _without_model(state: UserState) -> UserState:
    """The same user and catalog with the model dropped: the cold-start path."""
    state.aligned, state.vector, state.precomputed = None, None, None
    state.scores, state.affinity, state.alpha, state.source = None, None, 0.0, "popular"
    return state


# -- movies -----------------------------------------------------------------------------------


def _materialise(
    lists: list[list[Pick]], also: list[int] | None = None
) -> tuple[list[list[RecommendedMovie]], dict[int, Movie]]:
    """Fetch every movie of every list (and every reason's movie, and `also`) in one query,
    the listed movies' genres prefetched, and fill in the reasons' titles."""
    listed = {p.movie_id for picks in lists for p in picks}
    ids = listed | set(also or [])
    ids |= {p.reason_movie_id for picks in lists for p in picks if p.reason_movie_id is not None}
    movies = selectors.movies_by_id(movie_ids=ids, with_genres=listed)
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
