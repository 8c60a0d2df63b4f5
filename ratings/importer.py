"""Imports a MovieLens release into the database: one transaction, streamed, idempotent.

Movies and links are few (at most ~90k) and go through the ORM. Ratings (up to 32M) are staged
in a temporary table and moved into the real tables with set-based INSERT ... SELECT ... ON
CONFLICT DO NOTHING, so memory stays flat and a second run adds nothing. Any bad line raises
MovieLensFormatError naming the file and line, and rolls everything back.

On Postgres a csv ratings file goes to the server as it is: COPY ... (FORMAT csv) parses it and
types every field, a line-number identity column keeps each row's line, and SQL checks the
values. Should COPY or the checks refuse the file, the Python reader reads it again to name the
first bad line with the same message as everywhere else (a file it accepts but COPY does not,
with blank lines say, is then staged row by row). Other layouts, and SQLite, stage rows parsed
by the Python reader. An import that more than doubles the ratings table is a bulk load: its
secondary indexes and foreign keys are dropped inside the transaction and rebuilt in one pass
each afterwards, which is several times faster than maintaining them row by row, at the price
of locking the table against readers until the import commits. `ImportSummary.phases` says
where the time went.
"""

from __future__ import annotations

import itertools
import logging
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Genre, Movie
from ratings.accounts import MOVIELENS_USERNAME_PREFIX
from ratings.models import Profile, Rating
from ratings.movielens import (
    VALID_SCORES,
    DatasetSource,
    IteratorFile,
    MovieLensFormatError,
    MovieLensReader,
)

logger = logging.getLogger(__name__)

STAGING_TABLE = "recsite_rating_staging"
RATERS_TABLE = "recsite_rater_staging"
SQLITE_BATCH = 20_000
COPY_READ_BYTES = 1 << 20
# Server memory for the joins, sorts and index builds of one import (not this process's).
POSTGRES_SETTINGS = {
    "work_mem": "256MB",
    "maintenance_work_mem": "512MB",
    "synchronous_commit": "off",
}

_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError)  # a truncated or corrupt zip member
_Row = tuple[int, int, int, float, int]  # line number, user, movie, score, unix time
Progress = Callable[[int], None]  # called with the number of rating bytes read since last call


@dataclass(frozen=True)
class ImportSummary:
    movies_added: int
    users_added: int
    ratings_added: int
    ratings_read: int
    seconds: float
    # Wall seconds per phase, in the order they ran: movies, stage, check, raters, ratings, ...
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def nothing_new(self) -> bool:
        return not (self.movies_added or self.users_added or self.ratings_added)


class _Phases(dict[str, float]):
    """Wall seconds per named phase of one import."""

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - started


def movielens_import(
    path: Path,
    *,
    replace: bool = False,
    progress: Progress | None = None,
    total_bytes: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import the release at `path` (folder or zip). Raises MovieLensFormatError on bad input."""
    started = time.perf_counter()
    phases = _Phases()
    source = DatasetSource(path)
    try:
        reader = MovieLensReader(source)
        if total_bytes is not None:
            total_bytes(source.size(reader.ratings_file))
        with transaction.atomic():
            _tune_postgres_for_bulk_work()
            if replace:
                with phases.timed("delete"):
                    movielens_data_delete()
            with phases.timed("movies"):
                movies_added = _import_movies(reader)
            users_added, ratings_added, ratings_read = _import_ratings(reader, progress, phases)
            with phases.timed("movie_stats"):
                _refresh_all_movie_stats()
            with phases.timed("analyze"):
                _analyze_imported_tables()
    finally:
        source.close()
    summary = ImportSummary(
        movies_added=movies_added,
        users_added=users_added,
        ratings_added=ratings_added,
        ratings_read=ratings_read,
        seconds=time.perf_counter() - started,
        phases=dict(phases),
    )
    logger.info("MovieLens import from %s: %s", path, summary)
    return summary


def _analyze_imported_tables() -> None:
    """Fresh planner statistics for the tables an import fills (Postgres). Until autovacuum
    gets to them, plans follow the old row counts: after importing 87,585 movies, the genres of
    20 movies were read by a parallel scan, 15 ms instead of 0.3 ms, on every page."""
    if connection.vendor != "postgresql":
        return
    tables = [
        Movie._meta.db_table,
        Movie.genres.through._meta.db_table,
        Rating._meta.db_table,
        Profile._meta.db_table,
        get_user_model()._meta.db_table,
    ]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'ANALYZE "{table}"')


def movielens_data_delete() -> None:
    """Remove what an import creates: MovieLens raters (and their ratings) and movies."""
    User = get_user_model()
    rater_ids = Profile.objects.filter(movielens_id__isnull=False).values("user_id")
    Rating.objects.filter(user_id__in=rater_ids).delete()
    Rating.objects.filter(movie__movielens_id__isnull=False).delete()
    User.objects.filter(pk__in=rater_ids).delete()
    Movie.objects.filter(movielens_id__isnull=False).delete()


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


def _tune_postgres_for_bulk_work() -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name, value in POSTGRES_SETTINGS.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])  # SET LOCAL


def _batched(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    """itertools.batched arrived in Python 3.12; this project runs on 3.11."""
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _import_ratings(
    reader: MovieLensReader, progress: Progress | None, phases: _Phases
) -> tuple[int, int, int]:
    """Stage the ratings file, check it, add the new raters, then the new ratings."""
    with connection.cursor() as cursor:
        with phases.timed("stage"):
            read = _stage_ratings(cursor, reader, progress)
        with phases.timed("check"):
            _check_staged_movies(cursor, reader)
            _collect_staged_raters(cursor)
            _refuse_squatted_raters(cursor, reader)
        with phases.timed("raters"):
            users_added = _insert_raters(cursor)
        ratings_added = _insert_ratings(cursor, read, phases)
        cursor.execute(f"DROP TABLE {STAGING_TABLE}")
        cursor.execute(f"DROP TABLE {RATERS_TABLE}")
    return users_added, ratings_added, read


def _stage_ratings(
    cursor: CursorWrapper, reader: MovieLensReader, progress: Progress | None
) -> int:
    """Fill the staging table with every rating of the file; returns how many were read."""
    postgres = connection.vendor == "postgresql"
    cursor.execute(f"DROP TABLE IF EXISTS {STAGING_TABLE}")
    # line_no counts from 2 on the COPY path: line 1 is the csv header.
    line_no = "bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 2)" if postgres else "integer"
    cursor.execute(
        f"CREATE TEMPORARY TABLE {STAGING_TABLE} (line_no {line_no} NOT NULL, "
        "ml_user integer NOT NULL, ml_movie integer NOT NULL, "
        f"score {'double precision' if postgres else 'numeric(2, 1)'} NOT NULL, "
        "ts bigint NOT NULL)"
    )
    if postgres and reader.layout == "csv":
        read = _copy_csv_or_none(cursor, reader, progress)
        if read is not None:
            return read
    rows = _staging_rows(reader, progress)
    return _copy_rows(cursor, rows) if postgres else _insert_batches(cursor, rows)


def _copy_csv_or_none(
    cursor: CursorWrapper, reader: MovieLensReader, progress: Progress | None
) -> int | None:
    """COPY the csv file's bytes into staging and check the values in SQL. A file refused by
    COPY or by the checks is read again by the Python reader, which raises at its first bad
    line; None when the reader finds nothing wrong (the file must then be staged row by row)."""
    name = reader.ratings_file
    _check_csv_header(reader)
    try:
        with transaction.atomic():  # a savepoint: a refused COPY leaves staging empty
            read = _copy_csv(cursor, reader.source, name, progress)
    except (connection.Database.Error, *_READ_ERRORS) as exc:
        logger.info("COPY refused %s (%s); reading it again to name the bad line", name, exc)
        _raise_first_bad_rating(reader)
        return None
    cursor.execute(
        f"SELECT min(line_no) FROM {STAGING_TABLE} WHERE ml_user <= 0 OR ml_movie <= 0 "
        f"OR ts < 0 OR score NOT IN ({', '.join(str(s) for s in sorted(VALID_SCORES))})"
    )
    (bad_line,) = cursor.fetchone()
    if bad_line is not None:
        _raise_first_bad_rating(reader)
        raise MovieLensFormatError(name, bad_line, "a value is out of range")
    return read


def _check_csv_header(reader: MovieLensReader) -> None:
    """The reader's check of the header (and first rating), before COPY skips the header."""
    with closing(reader.ratings()) as rows:
        next(rows, None)


def _copy_csv(
    cursor: CursorWrapper, source: DatasetSource, name: str, progress: Progress | None
) -> int:
    raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
    with source.open_binary(name) as handle:
        stream = _ProgressFile(handle, progress)
        try:
            raw.copy_expert(
                f"COPY {STAGING_TABLE} (ml_user, ml_movie, score, ts) FROM STDIN "
                "WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')",
                stream,
                size=COPY_READ_BYTES,
            )
        except connection.Database.Error:
            if stream.error is not None:  # the zip could not be read: the reader will say so
                raise stream.error from None
            raise
    return max(raw.rowcount, 0)


class _ProgressFile:
    """A binary file for COPY FROM STDIN that reports progress and keeps its own read errors
    (the database driver wraps errors raised inside read())."""

    def __init__(self, handle: IO[bytes], progress: Progress | None) -> None:
        self._handle = handle
        self._progress = progress
        self.error: Exception | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._handle.read(size)
        except Exception as exc:
            self.error = exc
            raise
        if self._progress is not None:
            self._progress(len(data))
        return data


def _raise_first_bad_rating(reader: MovieLensReader) -> None:
    """Read the ratings file with the Python reader, which raises MovieLensFormatError at the
    first bad line with the message every layout and database gives."""
    for _ in reader.ratings():
        pass


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


def _copy_rows(cursor: CursorWrapper, rows: Iterator[_Row]) -> int:
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


def _check_staged_movies(cursor: CursorWrapper, reader: MovieLensReader) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {STAGING_TABLE}")  # temporary tables get no autovacuum
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


def _collect_staged_raters(cursor: CursorWrapper) -> None:
    """The raters of the file not imported before, with the line of their first rating, so that
    the steps after read a few hundred thousand rows instead of every rating again."""
    cursor.execute(f"DROP TABLE IF EXISTS {RATERS_TABLE}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {RATERS_TABLE} AS "
        f"SELECT s.ml_user, MIN(s.line_no) AS first_line FROM {STAGING_TABLE} s "
        "WHERE NOT EXISTS (SELECT 1 FROM ratings_profile p WHERE p.movielens_id = s.ml_user) "
        "GROUP BY s.ml_user"
    )


def _refuse_squatted_raters(cursor: CursorWrapper, reader: MovieLensReader) -> None:
    """A new rater's name (movielens-<id>, any case) held by an account that is not that rater
    (one made before sign-up refused the prefix): refuse, rather than skip the rater's ratings
    or hand them to the account."""
    cursor.execute(
        f"SELECT r.first_line, r.ml_user, au.username FROM {RATERS_TABLE} r "
        "JOIN auth_user au ON lower(au.username) = lower(%s || r.ml_user) "
        "ORDER BY r.first_line LIMIT 1",
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


def _insert_raters(cursor: CursorWrapper) -> int:
    """An inactive user and a profile for each new rater, in MovieLens id order: user ids then
    rise with the file's (sorted) rater ids, and the ratings insert appends to its indexes."""
    now = timezone.now()
    prefix = MOVIELENS_USERNAME_PREFIX
    cursor.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
        "email, is_staff, is_active, date_joined) "
        f"SELECT '!', %s, %s || r.ml_user, '', '', '', %s, %s, %s FROM {RATERS_TABLE} r "
        "ORDER BY r.ml_user "
        "ON CONFLICT (username) DO NOTHING",
        [False, prefix, False, False, now],
    )
    users_added = max(cursor.rowcount, 0)
    cursor.execute(
        "INSERT INTO ratings_profile (user_id, movielens_id, onboarded, created) "
        f"SELECT au.id, r.ml_user, %s, %s FROM {RATERS_TABLE} r "
        "JOIN auth_user au ON au.username = %s || r.ml_user "
        "ON CONFLICT DO NOTHING",
        [False, now, prefix],
    )
    return users_added


def _insert_ratings(cursor: CursorWrapper, staged: int, phases: _Phases) -> int:
    """Move the staged ratings into ratings_rating; of two ratings of one pair the file's first
    wins. A bulk load (see the module's docstring) goes without the table's indexes and keys;
    should the file rate one pair twice, it is undone and the ratings go in the ordinary way."""
    if connection.vendor == "postgresql" and _fewer_rows_than(cursor, "ratings_rating", staged):
        added = _insert_ratings_bulk(cursor, phases)
        if added is not None:
            return added
    with phases.timed("ratings"):
        cursor.execute(
            "INSERT INTO ratings_rating (user_id, movie_id, score, rated_at, created, updated) "
            f"{_staged_ratings_select()} ORDER BY s.line_no "
            "ON CONFLICT (user_id, movie_id) DO NOTHING",
            _timestamps(),
        )
        return max(cursor.rowcount, 0)


def _insert_ratings_bulk(cursor: CursorWrapper, phases: _Phases) -> int | None:
    """Plain INSERT of the staged ratings that are not in the table yet, with no index but the
    primary key to maintain, then the indexes and keys built again; None (and nothing changed)
    when the file rates one pair twice, which the unique constraint's rebuild finds."""
    try:
        with (
            transaction.atomic(),  # a savepoint, for a file that rates a pair twice
            _without_indexes_and_keys(cursor, "ratings_rating", phases),
            phases.timed("ratings"),
        ):
            cursor.execute(
                "INSERT INTO ratings_rating (user_id, movie_id, score, rated_at, created, updated) "
                f"{_staged_ratings_select()} AND NOT EXISTS (SELECT 1 FROM ratings_rating r "
                "WHERE r.user_id = p.user_id AND r.movie_id = m.id)",
                _timestamps(),
            )
            added = max(cursor.rowcount, 0)
    except IntegrityError:
        logger.info("the ratings file rates a pair twice: inserting row by row instead")
        phases.pop("ratings", None)
        return None
    return added


def _staged_ratings_select() -> str:
    rated_at = (
        "to_timestamp(s.ts)" if connection.vendor == "postgresql" else "datetime(s.ts, 'unixepoch')"
    )
    return (
        f"SELECT p.user_id, m.id, s.score, {rated_at}, %s, %s FROM {STAGING_TABLE} s "
        "JOIN ratings_profile p ON p.movielens_id = s.ml_user "
        "JOIN catalog_movie m ON m.movielens_id = s.ml_movie WHERE 1 = 1"
    )


def _timestamps() -> list[datetime]:
    now = timezone.now()
    return [now, now]  # created, updated


def _fewer_rows_than(cursor: CursorWrapper, table: str, limit: int) -> bool:
    """Whether `table` holds fewer than `limit` rows, counting no further than that."""
    cursor.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT %s) AS head", [limit])
    return int(cursor.fetchone()[0]) < limit


@contextmanager
def _without_indexes_and_keys(cursor: CursorWrapper, table: str, phases: _Phases) -> Iterator[None]:
    """Drop `table`'s indexes and constraints but the primary key and checks for the body, and
    build them again after it: unique constraints first (timed as "unique"), then the other
    indexes ("indexes") and the foreign keys, each checked in one pass ("foreign_keys")."""
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC, conname",
        [table],
    )
    constraints = cursor.fetchall()  # unique ones first
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisunique ORDER BY i.relname",
        [table],
    )
    indexes = cursor.fetchall()
    # A table with deferred checks pending (movies deleted by --replace) cannot gain a foreign
    # key: run those checks now, as the commit would.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    for name, _, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    for name, kind, definition in constraints:
        if kind == "u":
            with phases.timed("unique"):
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    with phases.timed("indexes"):
        for _, definition in indexes:
            cursor.execute(definition)
    with phases.timed("foreign_keys"):
        for name, kind, definition in constraints:
            if kind == "f":
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


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
