"""The precomputed top-k lists of a model version.

A version's users are cut into chunks (one Celery task each, in a chord); a chunk scores its
users against every movie (or, in a large catalog, against candidates a cheap surrogate
retrieves, reranked by the model: recommender.engine.retrieval), applies the same taste shift
as online serving, drops what they rated and writes their lists in one transaction; the
chord's finish makes the lists visible.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from catalog.models import Movie
from ratings.models import Profile, Rating
from recommender.coldstart import catalog_snapshot, taste_affinities
from recommender.engine import coldstart as cs
from recommender.engine.artifacts import read_meta
from recommender.engine.neumf_numpy import sigmoid
from recommender.engine.retrieval import Retriever
from recommender.models import ModelVersion, Recommendation
from recommender.registry import artifact_directory, load_version
from recommender.services.training_runs import PUBLISH_RETRY

logger = logging.getLogger(__name__)

KEEP_PRECOMPUTED_VERSIONS = 2  # the active version and the one before it keep their lists


def precompute_enqueue(model_version_id: int) -> None:
    from recommender import tasks

    try:
        tasks.model_version_precompute.apply_async(
            (model_version_id,), retry=True, retry_policy=PUBLISH_RETRY
        )
    except (BrokerError, OSError):
        # The version is active and serves online scores; the lists can be built later
        # (manage.py precompute), so activation does not fail for this.
        logger.exception("could not queue the precompute of version %s", model_version_id)


_PRECOMPUTE_CACHE: dict[tuple[int, str], tuple[Any, np.ndarray]] = {}
_RETRIEVER_CACHE: dict[tuple[int, str], Retriever] = {}


def _precompute_model(version: ModelVersion) -> tuple[Any, np.ndarray]:
    """The loaded version and a mask of its items still in the catalog, once per process. Keyed
    on the artifact's checksum as well as the id: a database restored from a backup (or SQLite
    after a rolled-back transaction) can give a new version the id of one already loaded."""
    key = (version.pk, version.checksum)
    cached = _PRECOMPUTE_CACHE.get(key)
    if cached is not None:
        return cached
    served = load_version(version)
    present = set(
        Movie.objects.filter(pk__in=served.items.ids.tolist()).values_list("pk", flat=True)
    )
    in_catalog = np.fromiter((int(i) in present for i in served.items.ids), bool, len(served.items))
    _PRECOMPUTE_CACHE.clear()  # one version at a time: a worker precomputes the newest
    _PRECOMPUTE_CACHE[key] = (served, in_catalog)
    return served, in_catalog


def precompute_caches_clear() -> None:
    """Forget the loaded version and its surrogate (tests; a worker keeps the newest)."""
    _PRECOMPUTE_CACHE.clear()
    _RETRIEVER_CACHE.clear()


def _precompute_candidates(n_items: int) -> int:
    """Candidates per user for a catalog of n_items; 0 scores every item (see settings)."""
    n_candidates = int(settings.RECSITE_PRECOMPUTE_CANDIDATES)
    if n_candidates <= 0 or n_items <= int(settings.RECSITE_PRECOMPUTE_RETRIEVAL_ITEMS):
        return 0
    return n_candidates


def _precompute_retriever(version: ModelVersion, served: Any) -> Retriever:
    """The version's surrogate, fitted once per process (seconds at MovieLens-32M's shape)."""
    key = (version.pk, version.checksum)
    retriever = _RETRIEVER_CACHE.get(key)
    if retriever is None:
        started = time.perf_counter()
        retriever = Retriever.of(
            served.weights, served.config, served.item_table, served.user_table
        )
        _RETRIEVER_CACHE.clear()
        _RETRIEVER_CACHE[key] = retriever
        logger.info(
            "version %s: retrieval surrogate fitted in %.1f s", version.pk,
            time.perf_counter() - started,
        )  # fmt: skip
    return retriever


def model_version_precompute_chunks(*, model_version_id: int) -> list[list[int]]:
    """The version's trained users (DB ids) in chunks, read from meta.json without the weights."""
    version = ModelVersion.objects.get(pk=model_version_id)
    users = [int(u) for u in read_meta(artifact_directory(version))["users"]]
    size = max(1, int(settings.RECSITE_PRECOMPUTE_CHUNK_USERS))
    return [users[i : i + size] for i in range(0, len(users), size)]


def recommendations_precompute_chunk(*, model_version_id: int, user_ids: Iterable[int]) -> int:
    """Write the top-k unrated movies of these users for one version: the chunk's old rows are
    deleted and the new ones inserted in one transaction, so running it twice is harmless, also
    at the same time (a redelivered task): the second waits on the first's user locks."""
    version = ModelVersion.objects.get(pk=model_version_id)
    served, in_catalog = _precompute_model(version)
    wanted = np.unique(np.asarray(list(user_ids), dtype=np.int64))
    existing = set(
        get_user_model().objects.filter(pk__in=wanted.tolist()).values_list("pk", flat=True)
    )
    ids = np.array([u for u in wanted.tolist() if u in existing], dtype=np.int64)  # sorted
    idx = served.users.index(ids)
    ids, idx = ids[idx >= 0], idx[idx >= 0]
    k = min(int(settings.RECSITE_TOP_K), len(served.items))
    movie_ids = np.empty((0, 0), dtype=np.int64)
    top_scores = np.empty((0, 0), dtype=np.float32)
    if ids.shape[0] and k > 0:
        ratings = np.array(
            Rating.objects.filter(user_id__in=ids.tolist()).values_list(
                "user_id", "movie_id", "score"
            ),
            dtype=np.float64,
        ).reshape(-1, 3)
        # The same taste shift as online scoring (recommender.selectors._score), so a fresh
        # precomputed list and an online one agree.
        rated = ratings[:, :2].astype(np.int64)
        r_item = served.items.index(rated[:, 1])
        keep = r_item >= 0
        r_row, r_item = np.searchsorted(ids, rated[keep, 0]), r_item[keep]
        n_candidates = _precompute_candidates(len(served.items))
        if n_candidates:
            # A thousand candidates per user by a cheap surrogate, reranked by the model; the
            # taste shift is part of the retrieval score, so the items it lifts are candidates.
            profiles, item_side = _taste_factors(served.items.ids, ids, ratings)
            shift = profiles @ item_side.T  # [n, n_items] the users' genre affinities
            affinity_of = shift.copy() if n_candidates >= len(served.items) else None
            shift *= cs.TASTE_GAIN
            shift[:, ~in_catalog] = -np.inf
            shift[r_row, r_item] = -np.inf
            retriever = _precompute_retriever(version, served)
            items, z = retriever.candidate_logits(served.user_table[idx], n_candidates, shift)
            excluded = np.take_along_axis(shift, items, axis=1) == -np.inf  # [n, C]
            if affinity_of is None:  # the candidates' affinities, [n, C]
                affinity = np.einsum("ng,ncg->nc", profiles, item_side[items])
            else:
                affinity = np.take_along_axis(affinity_of, items, axis=1)
            probs = sigmoid(z)  # as score_users would give them
        else:
            items = None
            affinity = taste_affinities(
                catalog_snapshot(), served.items.ids, ids, ratings, _favourite_genres(ids)
            )
            excluded = np.broadcast_to(~in_catalog, affinity.shape).copy()  # [n, n_items]
            excluded[r_row, r_item] = True
            probs = served.loaded.score_users(idx)  # [n, n_items]
        scores = cs.with_taste(cs.logits_from_probabilities(probs), affinity)
        scores[excluded] = -np.inf
        k = min(k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # [n, k] unordered
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        if items is not None:
            top = np.take_along_axis(items, top, axis=1)  # candidate columns to item indices
        movie_ids = served.items.ids[top]  # [n, k]
    with transaction.atomic():
        user_rows = get_user_model().objects.filter(pk__in=wanted.tolist()).order_by("pk")
        list(user_rows.select_for_update(no_key=True).values_list("pk", flat=True))
        Recommendation.objects.filter(
            model_version_id=version.pk, user_id__in=wanted.tolist()
        ).delete()
        return _recommendations_insert(version.pk, ids, movie_ids, top_scores)


def _taste_factors(
    movie_ids: np.ndarray, user_ids: np.ndarray, ratings: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The taste_affinities of these users as a product of two factors: (unit genre profiles
    [n_users, n_genres], zero without a genre signal; the model's movies' genres over the
    square root of their count [n_items, n_genres], zero for a movie gone from the catalog).
    profiles @ items.T equals taste_affinities up to float rounding; one matrix product instead
    of a pass over the catalog per user."""
    snapshot = catalog_snapshot()
    genres = snapshot.item_genres  # [n_catalog, n_genres]
    cat = snapshot.index(movie_ids)  # [n_items]
    if genres.shape[0] == 0:  # an empty catalog: no genre to weigh
        cat = np.full(cat.shape, -1, np.int64)
        genres = np.zeros((1, genres.shape[1]), np.float32)
    sizes = np.sqrt(np.maximum(genres.sum(axis=1), 1.0))  # as cs.genre_affinity
    item_side = np.where((cat >= 0)[:, None], genres[np.maximum(cat, 0)], 0.0)
    item_side = (item_side / sizes[np.maximum(cat, 0)][:, None]).astype(np.float32)
    favourites = _favourite_genres(user_ids)
    profiles = np.zeros((user_ids.shape[0], genres.shape[1]), np.float32)
    order = np.argsort(ratings[:, 0], kind="stable")
    by_user = ratings[order]
    starts = np.searchsorted(by_user[:, 0], user_ids, side="left")
    stops = np.searchsorted(by_user[:, 0], user_ids, side="right")
    for row, user_id in enumerate(user_ids.tolist()):
        mine = by_user[starts[row] : stops[row]]
        idx = snapshot.index(mine[:, 1].astype(np.int64))
        keep = idx >= 0
        favourite = snapshot.genre_vector(favourites.get(user_id, []))
        if favourite.any() or keep.any():  # as taste_affinity_for
            scores = mine[keep, 2].astype(np.float32)
            profiles[row] = cs.genre_profile(genres, favourite, idx[keep], scores)
    return profiles, item_side


def _favourite_genres(user_ids: np.ndarray) -> dict[int, list[int]]:
    favourites: dict[int, list[int]] = {}
    pairs = Profile.favourite_genres.through.objects.filter(
        profile__user_id__in=user_ids.tolist()
    ).values_list("profile__user_id", "genre_id")
    for user_id, genre_id in pairs:
        favourites.setdefault(int(user_id), []).append(int(genre_id))
    return favourites


def _recommendations_insert(
    version_id: int, user_ids: np.ndarray, movie_ids: np.ndarray, scores: np.ndarray
) -> int:
    """Insert ranked lists: user_ids [n], movie_ids and scores [n, k] best first. A -inf score
    (the user rated every remaining movie) ends that user's list. COPY on PostgreSQL, where the
    ORM's per-row objects cost several times the scoring; bulk_create elsewhere."""
    rank = np.broadcast_to(np.arange(1, scores.shape[1] + 1), scores.shape)
    user = np.broadcast_to(user_ids[:, None], scores.shape)
    keep = scores != -np.inf  # [n, k]
    columns = (user[keep].tolist(), movie_ids[keep].tolist(), rank[keep].tolist())
    rows = list(zip(*columns, scores[keep].tolist(), strict=True))
    if connection.vendor == "postgresql":
        table = Recommendation._meta.db_table
        data = io.StringIO("".join(f"{version_id}\t{u}\t{m}\t{r}\t{s!r}\n" for u, m, r, s in rows))
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f"COPY {table} (model_version_id, user_id, movie_id, rank, score) FROM STDIN",
                data,
            )
    else:
        Recommendation.objects.bulk_create(
            (
                Recommendation(model_version_id=version_id, user_id=u, movie_id=m, rank=r, score=s)
                for u, m, r, s in rows
            ),
            batch_size=5000,
        )
    return len(rows)


def model_version_precompute_finish(*, model_version_id: int) -> None:
    """Every chunk is written: serving may read this version's lists. Lists of versions that
    are neither active nor among the newest KEEP_PRECOMPUTED_VERSIONS are dropped.

    Lists already marked stay as marked. After a worker is killed mid-chord, the reaper's new
    chord finishes the lists; hours later the broker hands out the dead worker's unacknowledged
    chunks, they complete the old chord, and its finish arrives a second time. Moving
    precomputed_at then would serve lists computed before ratings made in between as fresh,
    where the selectors must score those users online."""
    marked = ModelVersion.objects.filter(pk=model_version_id, precomputed_at__isnull=True).update(
        precomputed_at=timezone.now()
    )
    if not marked:
        logger.info("version %s: its lists were marked already", model_version_id)
        return
    keep = set(
        ModelVersion.objects.filter(precomputed_at__isnull=False)
        .order_by("-precomputed_at", "-pk")
        .values_list("pk", flat=True)[:KEEP_PRECOMPUTED_VERSIONS]
    )
    keep |= set(ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True))
    keep.add(model_version_id)
    stale = list(
        ModelVersion.objects.filter(precomputed_at__isnull=False)
        .exclude(pk__in=keep)
        .values_list("pk", flat=True)
    )
    if stale:
        with transaction.atomic():
            ModelVersion.objects.filter(pk__in=stale).update(precomputed_at=None)
            Recommendation.objects.filter(model_version_id__in=stale).delete()
    logger.info("version %s precomputed; dropped the lists of %s", model_version_id, stale)


def model_versions_precompute_reap(*, min_age_seconds: float) -> list[int]:
    """The active version's lists when their precompute was lost (a worker killed mid-chord: its
    unacknowledged chunks come back only after the broker's visibility timeout, hours on Redis,
    and the chord never finishes): queued again once the version has been active this long
    without them. Chunks replace their users' rows, so a second pass is only extra work.
    Called when a worker starts (age 0) and by the periodic reaper. Returns the version ids."""
    activated_before = timezone.now() - timedelta(seconds=min_age_seconds)
    lost = list(
        ModelVersion.objects.filter(
            is_active=True, precomputed_at__isnull=True, activated_at__lte=activated_before
        ).values_list("pk", flat=True)
    )
    for version_id in lost:
        logger.warning("version %s is active without its lists; precompute again", version_id)
        precompute_enqueue(version_id)
    return lost


def model_version_precompute(*, model_version_id: int) -> int:
    """Every chunk in this process, then the finish: for commands and tests. Returns rows. A
    version precomputed before is written and marked afresh (served online meanwhile)."""
    ModelVersion.objects.filter(pk=model_version_id).update(precomputed_at=None)
    total = 0
    for chunk in model_version_precompute_chunks(model_version_id=model_version_id):
        total += recommendations_precompute_chunk(model_version_id=model_version_id, user_ids=chunk)
    model_version_precompute_finish(model_version_id=model_version_id)
    return total
