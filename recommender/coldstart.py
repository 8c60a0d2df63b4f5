"""The catalog snapshot serving and the precompute rank over (read from the database, cached per
process), and the precompute's batch of users' genre affinities."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from django.conf import settings
from django.db.models import Count, Max
from numpy.typing import NDArray

from catalog.models import Genre, Movie
from ratings.models import Rating
from recommender.engine import coldstart as cs
from recommender.serving.taste import taste_affinity_for
from recommender.serving.types import CatalogSnapshot

logger = logging.getLogger(__name__)

F32 = NDArray[np.float32]
IntArray = NDArray[np.int64]

RECENT_RATINGS = 2000  # "recent activity" = the latest this many ratings, whatever their age
SNAPSHOT_TTL_SECONDS = 60.0  # counts and means may lag this long; new movies appear at once


_lock = threading.Lock()
_snapshot: CatalogSnapshot | None = None
_checked_at = 0.0


def catalog_snapshot_clear() -> None:
    """Forget the cached snapshot (tests, and after a bulk import in this process)."""
    global _snapshot, _checked_at
    with _lock:
        _snapshot = None
        _checked_at = 0.0


def _catalog_key() -> tuple[int | None, int]:
    # One aggregate over the primary key, at most once a second per process.
    row = Movie.objects.order_by().aggregate(newest=Max("id"), n=Count("id"))
    return row["newest"], int(row["n"])


def catalog_snapshot() -> CatalogSnapshot:
    """The cached snapshot; rebuilt when a movie was added or removed, or after the TTL."""
    global _snapshot, _checked_at
    check_every = float(getattr(settings, "RECSITE_CATALOG_CHECK_SECONDS", 1.0))
    now = time.monotonic()
    current = _snapshot
    if current is not None and now - _checked_at < check_every:
        return current
    key = _catalog_key()
    with _lock:
        current = _snapshot
        if (
            current is not None
            and current.key == key
            and time.monotonic() - current.built_at < SNAPSHOT_TTL_SECONDS
        ):
            _checked_at = now
            return current
        _snapshot = _build_snapshot(key)
        _checked_at = now
        return _snapshot


def _build_snapshot(key: tuple[int | None, int]) -> CatalogSnapshot:
    started = time.perf_counter()
    rows = list(
        Movie.objects.order_by("id").values_list(
            "id", "rating_count", "rating_mean", "year", "created"
        )
    )
    n = len(rows)
    movie_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    counts = np.fromiter((r[1] for r in rows), dtype=np.float32, count=n)
    means = np.fromiter((r[2] for r in rows), dtype=np.float32, count=n)
    decades = np.fromiter(((r[3] // 10) * 10 if r[3] else -1 for r in rows), np.int64, count=n)
    created = np.fromiter((r[4].timestamp() for r in rows), dtype=np.float64, count=n)
    newest_first = np.lexsort((-movie_ids, -created)).astype(np.int64)

    genres = list(Genre.objects.order_by("id").values_list("id", "slug", "name"))
    genre_ids = np.asarray([g[0] for g in genres], dtype=np.int64)
    item_genres = np.zeros((n, len(genres)), np.float32)
    links = Movie.genres.through.objects.values_list("movie_id", "genre_id")
    if n and genres:
        pairs = np.asarray(list(links), dtype=np.int64).reshape(-1, 2)
        if pairs.shape[0]:
            rows_idx = np.searchsorted(movie_ids, pairs[:, 0])
            cols_idx = np.searchsorted(genre_ids, pairs[:, 1])
            ok = (rows_idx < n) & (cols_idx < len(genres))
            item_genres[rows_idx[ok], cols_idx[ok]] = 1.0

    recent_ids = np.asarray(
        list(
            Rating.objects.order_by("-rated_at").values_list("movie_id", flat=True)[:RECENT_RATINGS]
        ),
        dtype=np.int64,
    )
    recent = np.zeros(n, np.float32)
    if recent_ids.size and n:
        pos = np.minimum(np.searchsorted(movie_ids, recent_ids), n - 1)
        np.add.at(recent, pos[movie_ids[pos] == recent_ids], 1.0)

    snapshot = CatalogSnapshot(
        key=key,
        movie_ids=movie_ids,
        counts=counts,
        means=means,
        recent=recent,
        decades=decades,
        newest_first=newest_first,
        genre_ids=genre_ids,
        genre_slugs=tuple(g[1] for g in genres),
        genre_names=tuple(g[2] for g in genres),
        item_genres=item_genres,
        popularity=cs.popularity_scores(counts, means, recent),
    )
    logger.info(
        "catalog snapshot: %d movies, %d genres in %.0f ms",
        n,
        len(genres),
        (time.perf_counter() - started) * 1000,
    )
    return snapshot


def taste_affinities(
    snapshot: CatalogSnapshot,
    movie_ids: IntArray,
    user_ids: IntArray,
    ratings: NDArray[np.float64],
    favourites: dict[int, list[int]],
) -> F32:
    """taste_affinity_for of a batch of users (the precompute), laid over the model's movies:
    [n_users, len(movie_ids)], 0 where a user gave no signal or a movie left the catalog.

    movie_ids: [n_items] in the model's order; user_ids: [n_users]; ratings: [m, 3] rows of
    (user id, movie id, score); favourites: onboarding genre ids by user id.
    """
    cat = snapshot.index(movie_ids)  # [n_items], -1 for a movie gone from the catalog
    out = np.zeros((user_ids.shape[0], movie_ids.shape[0]), np.float32)
    order = np.argsort(ratings[:, 0], kind="stable")
    by_user = ratings[order]
    starts = np.searchsorted(by_user[:, 0], user_ids, side="left")
    stops = np.searchsorted(by_user[:, 0], user_ids, side="right")
    for row, user_id in enumerate(user_ids.tolist()):
        mine = by_user[starts[row] : stops[row]]
        idx = snapshot.index(mine[:, 1].astype(np.int64))
        keep = idx >= 0
        affinity = taste_affinity_for(
            snapshot,
            favourite_genre_ids=favourites.get(user_id, []),
            rated_idx=idx[keep],
            rated_scores=mine[keep, 2].astype(np.float32),
        )
        if affinity is not None:
            out[row] = np.where(cat >= 0, affinity[np.maximum(cat, 0)], 0.0)
    return out
