"""Writes of the catalog: TMDB poster and overview caching on movies."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable

from django.db import transaction
from django.utils import timezone

from catalog.models import Movie
from catalog.tmdb import TmdbClient, TmdbError, TmdbMovie, TmdbNotConfigured

logger = logging.getLogger(__name__)

FOUND, MISSING, SKIPPED, FAILED = "found", "missing", "skipped", "failed"


def movie_poster_update(*, movie: Movie, found: TmdbMovie | None) -> Movie:
    """Cache what TMDB said about the movie; a miss is cached too, so it is not asked again."""
    movie.poster_checked_at = timezone.now()
    fields = ["poster_checked_at", "updated"]
    if found is not None:
        if found.poster_path:
            movie.poster_path = found.poster_path
            fields.append("poster_path")
        if found.overview:
            movie.overview = found.overview
            fields.append("overview")
        if found.tmdb_id and not movie.tmdb_id:
            movie.tmdb_id = found.tmdb_id
            fields.append("tmdb_id")
    movie.save(update_fields=fields)
    return movie


def movie_poster_fetch(*, movie_id: int, client: TmdbClient, force: bool = False) -> str:
    """Look one movie up on TMDB and cache the answer; idempotent unless forced.

    Returns FOUND, MISSING (TMDB has no poster), SKIPPED (already checked or gone) or FAILED
    (TMDB unreachable or malformed: left unchecked, so a later run tries again)."""
    movie = Movie.objects.filter(pk=movie_id).first()
    if movie is None or (movie.poster_checked_at is not None and not force):
        return SKIPPED
    try:
        found = client.lookup(
            tmdb_id=movie.tmdb_id, imdb_id=movie.imdb_id, title=movie.title, year=movie.year
        )
    except TmdbNotConfigured:
        raise
    except TmdbError as exc:
        logger.warning("TMDB lookup of movie %s failed: %s", movie_id, exc)
        return FAILED
    with transaction.atomic():
        # Re-read under a lock: a concurrent worker may have cached it meanwhile.
        locked = Movie.objects.select_for_update().filter(pk=movie_id).first()
        if locked is None:
            return SKIPPED
        if locked.poster_checked_at is not None and not force:
            return SKIPPED
        movie_poster_update(movie=locked, found=found)
    return FOUND if found is not None and found.poster_path else MISSING


def movie_posters_fetch(
    *,
    movie_ids: Iterable[int],
    client: TmdbClient | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Counter[str]:
    """Fetch posters of many movies; counts of each outcome."""
    client = client or TmdbClient.from_settings()
    if not client.configured:
        raise TmdbNotConfigured("Set TMDB_API_KEY or TMDB_READ_TOKEN to fetch posters.")
    outcomes: Counter[str] = Counter()
    for movie_id in movie_ids:
        outcome = movie_poster_fetch(movie_id=int(movie_id), client=client, force=force)
        outcomes[outcome] += 1
        if progress is not None:
            progress(outcome)
    return outcomes


def movie_ids_for_posters(*, limit: int | None = None, force: bool = False) -> list[int]:
    """Movies still to look up, most rated first so a partial run helps the most pages."""
    movies = Movie.objects.all() if force else Movie.objects.filter(poster_checked_at__isnull=True)
    ids = movies.order_by("-rating_count", "id").values_list("pk", flat=True)
    return list(ids[:limit] if limit else ids)
