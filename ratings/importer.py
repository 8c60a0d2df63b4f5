"""Imports a MovieLens release into the database: one transaction, streamed, idempotent.

Movies and links are few (at most ~90k) and go through the ORM. Ratings (up to 32M) are streamed
into a temporary staging table (COPY on Postgres, batched inserts elsewhere) and moved into the
real tables with set-based INSERT ... SELECT ... ON CONFLICT DO NOTHING, so memory stays flat and
a second run adds nothing. Any bad line raises MovieLensFormatError and rolls everything back.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Genre, Movie
from ratings.accounts import MOVIELENS_USERNAME_PREFIX
from ratings.models import Profile, Rating
from ratings.movielens import DatasetSource, IteratorFile, MovieLensFormatError, MovieLensReader

logger = logging.getLogger(__name__)

STAGING_TABLE = "recsite_rating_staging"
SQLITE_BATCH = 20_000

_Row = tuple[int, int, int, float, int]  # line number, user, movie, score, unix time
Progress = Callable[[int], None]  # called with the number of rating bytes read since last call


@dataclass(frozen=True)
class ImportSummary:
    movies_added: int
    users_added: int
    ratings_added: int
    ratings_read: int
    seconds: float

    @property
    def nothing_new(self) -> bool:
        return not (self.movies_added or self.users_added or self.ratings_added)


def movielens_import(
    path: Path,
    *,
    replace: bool = False,
    progress: Progress | None = None,
    total_bytes: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import the release at `path` (folder or zip). Raises MovieLensFormatError on bad input."""
    started = time.perf_counter()
    source = DatasetSource(path)
    try:
        reader = MovieLensReader(source)
        if total_bytes is not None:
            total_bytes(source.size(reader.ratings_file))
        with transaction.atomic():
            if replace:
                movielens_data_delete()
            movies_added = _import_movies(reader)
            users_added, ratings_added, ratings_read = _import_ratings(reader, progress)
            _refresh_all_movie_stats()
    finally:
        source.close()
    summary = ImportSummary(
        movies_added=movies_added,
        users_added=users_added,
        ratings_added=ratings_added,
        ratings_read=ratings_read,
        seconds=time.perf_counter() - started,
    )
    logger.info("MovieLens import from %s: %s", path, summary)
    return summary


def movielens_data_delete() -> None:
    """Remove what an import creates: MovieLens raters (and their ratings) and movies."""
    User = get_user_model()
    rater_ids = Profile.objects.filter(movielens_id__isnull=False).values("user_id")
    Rating.objects.filter(user_id__in=rater_ids).delete()
    Rating.objects.filter(movie__movielens_id__isnull=False).delete()
    User.objects.filter(pk__in=rater_ids).delete()
    Movie.objects.filter(movielens_id__isnull=False).delete()


def _batched(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    """itertools.batched arrived in Python 3.12; this project runs on 3.11."""
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _import_movies(reader: MovieLensReader) -> int:
    links = {row.movielens_id: row for row in reader.links()}
    existing = set(
        Movie.objects.filter(movielens_id__isnull=False).values_list("movielens_id", flat=True)
    )
    new_rows = []
    seen: set[int] = set()
    for row in reader.movies():
        if row.movielens_id in seen:
            continue  # some releases list a movie twice; the first row wins
        seen.add(row.movielens_id)
        if row.movielens_id not in existing:
            new_rows.append(row)
    if not new_rows:
        return 0

    genre_names = sorted({g for row in new_rows for g in row.genres})
    genres = {g.name: g for g in Genre.objects.filter(name__in=genre_names)}
    for name in genre_names:
        if name not in genres:
            genres[name] = Genre.objects.create(name=name, slug=slugify(name))

    movies = []
    for row in new_rows:
        link = links.get(row.movielens_id)
        movies.append(
            Movie(
                title=row.title[:300],
                year=row.year,
                movielens_id=row.movielens_id,
                imdb_id=link.imdb_id if link else "",
                tmdb_id=link.tmdb_id if link else None,
            )
        )
    Movie.objects.bulk_create(movies, batch_size=2000)
    ids = dict(
        Movie.objects.filter(movielens_id__in=[r.movielens_id for r in new_rows]).values_list(
            "movielens_id", "pk"
        )
    )
    Through = Movie.genres.through
    Through.objects.bulk_create(
        (
            Through(movie_id=ids[row.movielens_id], genre_id=genres[name].pk)
            for row in new_rows
            for name in row.genres
        ),
        batch_size=5000,
    )
    return len(new_rows)


def _staging_rows(reader: MovieLensReader, progress: Progress | None) -> Iterator[_Row]:
    # Progress is reported every 64k rows to keep tqdm off the hot path.
    source = reader.source
    reported = source.bytes_read
    for count, row in enumerate(reader.ratings(), start=1):
        if progress is not None and count % 65536 == 0:
            progress(source.bytes_read - reported)
            reported = source.bytes_read
        yield row
    if progress is not None:
        progress(source.bytes_read - reported)


def _import_ratings(reader: MovieLensReader, progress: Progress | None) -> tuple[int, int, int]:
    vendor = connection.vendor
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGING_TABLE} ("
            "line_no integer NOT NULL, ml_user integer NOT NULL, ml_movie integer NOT NULL, "
            "score numeric(2, 1) NOT NULL, ts bigint NOT NULL)"
        )
        rows = _staging_rows(reader, progress)
        if vendor == "postgresql":
            read = _copy_postgres(cursor, rows)
        else:
            read = _insert_batches(cursor, rows)

        cursor.execute(
            f"SELECT s.line_no, s.ml_movie FROM {STAGING_TABLE} s "
            "LEFT JOIN catalog_movie m ON m.movielens_id = s.ml_movie "
            "WHERE m.id IS NULL ORDER BY s.line_no LIMIT 1"
        )
        missing = cursor.fetchone()
        if missing:
            raise MovieLensFormatError(
                reader.ratings_file, missing[0], f"movie id {missing[1]} is not in the movies file"
            )

        prefix = MOVIELENS_USERNAME_PREFIX
        _refuse_squatted_raters(cursor, reader)
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) "
            f"SELECT '!', %s, %s || u.ml_user, '', '', '', %s, %s, %s "
            f"FROM (SELECT DISTINCT ml_user FROM {STAGING_TABLE}) u "
            "WHERE NOT EXISTS (SELECT 1 FROM ratings_profile p WHERE p.movielens_id = u.ml_user) "
            "ON CONFLICT (username) DO NOTHING",
            [False, prefix, False, False, now],
        )
        users_added = max(cursor.rowcount, 0)
        cursor.execute(
            "INSERT INTO ratings_profile (user_id, movielens_id, onboarded, created) "
            "SELECT au.id, u.ml_user, %s, %s "
            f"FROM (SELECT DISTINCT ml_user FROM {STAGING_TABLE}) u "
            "JOIN auth_user au ON au.username = %s || u.ml_user "
            "WHERE NOT EXISTS (SELECT 1 FROM ratings_profile p WHERE p.movielens_id = u.ml_user) "
            "ON CONFLICT DO NOTHING",
            [False, now, prefix],
        )
        rated_at = "to_timestamp(s.ts)" if vendor == "postgresql" else "datetime(s.ts, 'unixepoch')"
        cursor.execute(
            "INSERT INTO ratings_rating (user_id, movie_id, score, rated_at, created, updated) "
            f"SELECT p.user_id, m.id, s.score, {rated_at}, %s, %s FROM {STAGING_TABLE} s "
            "JOIN ratings_profile p ON p.movielens_id = s.ml_user "
            "JOIN catalog_movie m ON m.movielens_id = s.ml_movie "
            "WHERE 1 = 1 ORDER BY s.line_no "
            "ON CONFLICT (user_id, movie_id) DO NOTHING",
            [now, now],
        )
        ratings_added = max(cursor.rowcount, 0)
        cursor.execute(f"DROP TABLE {STAGING_TABLE}")
    return users_added, ratings_added, read


def _refuse_squatted_raters(cursor: CursorWrapper, reader: MovieLensReader) -> None:
    """A new rater's name (movielens-<id>, any case) held by an account that is not that rater
    (one made before sign-up refused the prefix): refuse, rather than skip the rater's ratings
    or hand them to the account."""
    cursor.execute(
        f"SELECT s.line_no, s.ml_user, au.username FROM {STAGING_TABLE} s "
        "JOIN auth_user au ON lower(au.username) = lower(%s || s.ml_user) "
        "WHERE NOT EXISTS (SELECT 1 FROM ratings_profile p WHERE p.movielens_id = s.ml_user) "
        "ORDER BY s.line_no LIMIT 1",
        [MOVIELENS_USERNAME_PREFIX],
    )
    squatted = cursor.fetchone()
    if squatted:
        line, rater, username = squatted
        raise MovieLensFormatError(
            reader.ratings_file,
            line,
            f"rater {rater} would be {MOVIELENS_USERNAME_PREFIX}{rater}, but the account "
            f"{username!r} exists and is not an imported rater; rename or remove that "
            "account first",
        )


def _copy_postgres(cursor: CursorWrapper, rows: Iterator[_Row]) -> int:
    count = 0

    def chunks() -> Iterator[str]:
        nonlocal count
        for batch in _batched(rows, 8192):
            count += len(batch)
            yield "".join(f"{a}\t{b}\t{c}\t{d}\t{e}\n" for a, b, c, d, e in batch)

    raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
    source = IteratorFile(chunks())
    try:
        raw.copy_expert(
            f"COPY {STAGING_TABLE} (line_no, ml_user, ml_movie, score, ts) FROM STDIN",
            source,
            size=1 << 16,
        )
    except Exception:
        if source.error is not None:
            raise source.error from None
        raise
    return count


def _insert_batches(cursor: CursorWrapper, rows: Iterator[_Row]) -> int:
    count = 0
    sql = (
        f"INSERT INTO {STAGING_TABLE} (line_no, ml_user, ml_movie, score, ts) "
        "VALUES (%s, %s, %s, %s, %s)"
    )
    for batch in _batched(rows, SQLITE_BATCH):
        cursor.executemany(sql, batch)
        count += len(batch)
    return count


def _refresh_all_movie_stats() -> None:
    """rating_count and rating_mean of every movie from the ratings table, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_movie SET rating_count = 0, rating_mean = 0 "
            "WHERE rating_count <> 0 AND id NOT IN (SELECT DISTINCT movie_id FROM ratings_rating)"
        )
        cursor.execute(
            "UPDATE catalog_movie SET rating_count = agg.n, rating_mean = agg.m "
            "FROM (SELECT movie_id, COUNT(*) AS n, AVG(score) AS m FROM ratings_rating "
            "GROUP BY movie_id) agg WHERE catalog_movie.id = agg.movie_id"
        )
