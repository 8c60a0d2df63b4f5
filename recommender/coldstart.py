"""Hybrid cold start, Django side: a cached catalog snapshot, cold scores, new-movie vectors."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db.models import Count, Max
from numpy.typing import NDArray

from catalog.models import Genre, Movie
from ratings.models import Rating
from recommender.engine import coldstart as cs
from recommender.engine.foldin import ItemSide, prepare_item_side

if TYPE_CHECKING:
    from recommender.registry import ServingModel

logger = logging.getLogger(__name__)

F32 = NDArray[np.float32]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

RECENT_RATINGS = 2000  # "recent activity" = the latest this many ratings, whatever their age
SNAPSHOT_TTL_SECONDS = 60.0  # counts and means may lag this long; new movies appear at once


@dataclass(frozen=True, eq=False)
class CatalogSnapshot:
    """Every movie as a dense index (ascending id), with the columns cold start needs."""

    key: tuple[int | None, int]  # (newest movie id, movie count): a new or deleted movie changes it
    movie_ids: IntArray  # [n] ascending
    counts: F32  # [n] rating count
    means: F32  # [n] rating mean
    recent: F32  # [n] ratings among the latest RECENT_RATINGS
    decades: IntArray  # [n] 1990 for 1994; -1 unknown
    newest_first: IntArray  # [n] indices, most recently added first
    genre_ids: IntArray  # [G] ascending
    genre_slugs: tuple[str, ...]
    genre_names: tuple[str, ...]
    item_genres: F32  # [n, G] 0/1
    popularity: F32  # [n] on [0, 1]
    built_at: float = field(default_factory=time.monotonic)

    @property
    def n(self) -> int:
        return int(self.movie_ids.shape[0])

    def index(self, movie_ids: object) -> IntArray:
        """Dense indices of movie ids, -1 where unknown."""
        raw = np.asarray(movie_ids, dtype=np.int64)
        if self.n == 0:
            return np.full(raw.shape, -1, np.int64)
        pos = np.minimum(np.searchsorted(self.movie_ids, raw), self.n - 1)
        return np.where(self.movie_ids[pos] == raw, pos, -1).astype(np.int64)

    def genre_column(self, genre: str) -> int:
        """Column of a genre given by slug or name (case-insensitive); -1 when unknown."""
        wanted = genre.strip().lower()
        for col, (slug, name) in enumerate(zip(self.genre_slugs, self.genre_names, strict=True)):
            if wanted in (slug.lower(), name.lower()):
                return col
        return -1

    def genre_mask(self, genre: str) -> BoolArray:
        col = self.genre_column(genre)
        if col < 0:
            return np.zeros(self.n, dtype=bool)
        return self.item_genres[:, col] > 0

    def genre_vector(self, genre_ids: list[int]) -> BoolArray:
        """[G] mask of the given genre ids."""
        return np.isin(self.genre_ids, np.asarray(genre_ids, dtype=np.int64))


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


def taste_affinity_for(
    snapshot: CatalogSnapshot,
    *,
    favourite_genre_ids: list[int],
    rated_idx: IntArray,
    rated_scores: F32,
) -> F32 | None:
    """The user's genre affinity to every catalog movie [n], or None without a genre signal."""
    favourite = snapshot.genre_vector(favourite_genre_ids)
    if not favourite.any() and not rated_idx.shape[0]:
        return None
    profile = cs.genre_profile(snapshot.item_genres, favourite, rated_idx, rated_scores)
    return cs.genre_affinity(snapshot.item_genres, profile) if np.any(profile) else None


def cold_scores_for(
    snapshot: CatalogSnapshot,
    *,
    favourite_genre_ids: list[int],
    rated_idx: IntArray,
    rated_scores: F32,
) -> tuple[F32, F32 | None]:
    """(cold score [n] on [0, 1], genre affinity [n] or None when the user gave no genre signal)."""
    affinity = taste_affinity_for(
        snapshot,
        favourite_genre_ids=favourite_genre_ids,
        rated_idx=rated_idx,
        rated_scores=rated_scores,
    )
    return cs.cold_scores(snapshot.popularity, affinity), affinity


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


@dataclass(frozen=True, eq=False)
class AlignedModel:
    """A model version laid over the catalog snapshot: every movie gets an item row, the trained
    one or, for a movie the model never saw, a content vector from its genres and decade."""

    version_id: int
    snapshot_key: tuple[int | None, int]
    in_model: BoolArray  # [n_cat]
    scorer: cs.VectorScorer  # over catalog indices
    foldin_side: ItemSide  # the frozen item side for the engine's fold-in, catalog indices
    unit: F32  # [n_cat, d] unit item vectors for cosine similarity
    # Co-rating neighbours as catalog indices ([n_cat, k], -1 padding: a neighbour gone from the
    # catalog, or none) and their similarities; None when the version has none (older artifact).
    neighbours: IntArray | None = None
    neighbour_sims: F32 | None = None


def aligned_model(served: ServingModel, snapshot: CatalogSnapshot) -> AlignedModel:
    """The catalog-aligned view of a loaded version, cached on it per snapshot key."""
    cached = served.aligned
    if cached is not None and cached.snapshot_key == snapshot.key:
        return cached
    with served.lock:
        cached = served.aligned
        if cached is not None and cached.snapshot_key == snapshot.key:
            return cached
        started = time.perf_counter()
        model_rows = served.items.index(snapshot.movie_ids)  # [n_cat] row or -1
        in_model = model_rows >= 0
        table = np.zeros((snapshot.n, served.item_table.shape[1]), np.float32)
        vectors = np.zeros((snapshot.n, served.item_vectors.shape[1]), np.float32)
        table[in_model] = served.item_table[model_rows[in_model]]
        vectors[in_model] = served.item_vectors[model_rows[in_model]]
        new = np.flatnonzero(~in_model)
        known = np.flatnonzero(in_model)
        if new.shape[0] and known.shape[0]:
            for start in range(0, new.shape[0], 512):  # bounded [512, n_known] weight blocks
                chunk = new[start : start + 512]
                w = cs.content_weights(
                    snapshot.item_genres[known],
                    snapshot.decades[known],
                    snapshot.item_genres[chunk],
                    snapshot.decades[chunk],
                )  # [chunk, n_known]
                table[chunk] = w @ table[known]
                vectors[chunk] = w @ vectors[known]
        gd = served.weights["gmf_item"].shape[1] if "gmf_item" in served.weights else 0
        catalog_weights = dict(served.weights)
        if gd:
            catalog_weights["gmf_item"] = table[:, :gd]
        if "mlp_item" in served.weights:
            catalog_weights["mlp_item"] = table[:, gd:]
        neighbours, neighbour_sims = _aligned_neighbours(served, snapshot, model_rows)
        aligned = AlignedModel(
            version_id=served.version_id,
            snapshot_key=snapshot.key,
            in_model=in_model,
            scorer=cs.VectorScorer(served.weights, served.config, table),
            foldin_side=prepare_item_side(catalog_weights, served.config),
            unit=cs.unit_rows(vectors),
            neighbours=neighbours,
            neighbour_sims=neighbour_sims,
        )
        served.aligned = aligned
        logger.info(
            "model version %s aligned to %d movies (%d from content) in %.0f ms",
            served.version_id,
            snapshot.n,
            new.shape[0],
            (time.perf_counter() - started) * 1000,
        )
        return aligned


def _aligned_neighbours(
    served: ServingModel, snapshot: CatalogSnapshot, model_rows: IntArray
) -> tuple[IntArray | None, F32 | None]:
    """The version's co-rating neighbours moved onto catalog indices: [n_cat, k] each, a movie
    not in the model (or a neighbour gone from the catalog) left at -1 / 0."""
    nb, sims = served.neighbours, served.neighbour_sims
    if nb is None or sims is None:
        return None, None
    cat_of_row = snapshot.index(served.items.ids)  # [n_items] catalog index or -1
    out = np.full((snapshot.n, nb.shape[1]), -1, np.int64)
    out_sims = np.zeros((snapshot.n, nb.shape[1]), np.float32)
    in_model = model_rows >= 0
    rows = nb[model_rows[in_model]]  # [n_in, k] model rows
    mapped = np.where(rows >= 0, cat_of_row[np.maximum(rows, 0)], -1)
    out[in_model] = mapped
    out_sims[in_model] = np.where(mapped >= 0, sims[model_rows[in_model]], 0.0)
    return out, out_sims
