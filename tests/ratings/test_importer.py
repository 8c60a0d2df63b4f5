"""import_movielens on small files of every layout: content, idempotence, bad input."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from catalog.models import Genre, Movie
from ratings.importer import movielens_import
from ratings.models import Profile, Rating
from ratings.movielens import MovieLensFormatError
from tests.conftest import require_postgres
from tests.ratings import movielens_files as files

pytestmark = pytest.mark.django_db
User = get_user_model()


def _counts() -> tuple[int, int, int, int]:
    return (
        Movie.objects.count(),
        Rating.objects.count(),
        User.objects.count(),
        Profile.objects.count(),
    )


def test_csv_release_imports_movies_links_genres_users_and_ratings(tmp_path: Path) -> None:
    summary = movielens_import(files.write_csv_release(tmp_path / "small"))

    expected_ratings = len(files.RATINGS) + len(files.HALF_STAR_RATINGS)
    assert (summary.movies_added, summary.users_added, summary.ratings_added) == (
        len(files.MOVIES),
        3,
        expected_ratings,
    )
    matrix = Movie.objects.get(movielens_id=2)
    assert (matrix.title, matrix.year, matrix.imdb_id, matrix.tmdb_id) == (
        "The Matrix",
        1999,
        "tt0133093",
        603,
    )
    assert sorted(matrix.genres.values_list("name", flat=True)) == ["Action", "Sci-Fi"]
    assert Movie.objects.get(movielens_id=3).title == 'Café "Noir"'
    assert Movie.objects.get(movielens_id=4).year is None
    assert not Movie.objects.get(movielens_id=4).genres.exists()
    assert Rating.objects.get(user__profile__movielens_id=3, movie__movielens_id=3).score == (
        Decimal("3.5")
    )
    toy = Movie.objects.get(movielens_id=1)
    assert (toy.rating_count, toy.rating_mean) == (2, pytest.approx(3.5))


def test_imported_raters_are_inactive_users_who_cannot_log_in(client, tmp_path: Path) -> None:
    movielens_import(files.write_csv_release(tmp_path / "small"))

    rater = User.objects.get(profile__movielens_id=1)
    assert not rater.is_active
    assert not rater.has_usable_password()
    assert rater.username == "movielens-1"
    assert not client.login(username=rater.username, password="")


def test_rating_timestamps_are_kept(tmp_path: Path) -> None:
    movielens_import(files.write_csv_release(tmp_path / "small"))

    rating = Rating.objects.get(user__profile__movielens_id=1, movie__movielens_id=1)
    assert int(rating.rated_at.timestamp()) == files.RATINGS[0][3]


def test_second_run_adds_nothing_and_says_so(tmp_path: Path) -> None:
    folder = files.write_csv_release(tmp_path / "small")
    call_command("import_movielens", str(folder), verbosity=0)
    before = _counts()

    out = StringIO()
    call_command("import_movielens", str(folder), stdout=out, verbosity=0)

    assert _counts() == before
    assert "Nothing new" in out.getvalue()


def test_replace_starts_over(tmp_path: Path) -> None:
    folder = files.write_csv_release(tmp_path / "small")
    movielens_import(folder)
    first_ids = set(Movie.objects.values_list("pk", flat=True))

    summary = movielens_import(folder, replace=True)

    assert summary.movies_added == len(files.MOVIES)
    assert set(Movie.objects.values_list("pk", flat=True)).isdisjoint(first_ids)
    assert Rating.objects.count() == len(files.RATINGS) + len(files.HALF_STAR_RATINGS)


def test_1m_dat_release_in_latin1(tmp_path: Path) -> None:
    summary = movielens_import(files.write_1m_release(tmp_path / "ml-1m"))

    assert summary.ratings_added == len(files.RATINGS)
    assert Movie.objects.get(movielens_id=3).title == 'Café "Noir"'
    # 1M spells the genre "Children's"; it joins the same genre as later releases.
    assert Genre.objects.filter(name="Children").exists()
    assert not Genre.objects.filter(name="Children's").exists()


def test_100k_release(tmp_path: Path) -> None:
    summary = movielens_import(files.write_100k_release(tmp_path / "ml-100k"))

    assert (summary.movies_added, summary.ratings_added) == (len(files.MOVIES), len(files.RATINGS))
    assert sorted(Movie.objects.get(movielens_id=2).genres.values_list("name", flat=True)) == [
        "Action",
        "Sci-Fi",
    ]


def test_grouplens_zip_is_read_directly(tmp_path: Path) -> None:
    folder = files.write_1m_release(tmp_path / "ml-1m")
    archive = files.zip_release(folder, tmp_path / "ml-1m.zip", "ml-1m")

    summary = movielens_import(archive)

    assert summary.ratings_added == len(files.RATINGS)


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("1,2,abc,964982703", "rating 'abc' is not a number"),
        ("1,2,6.0,964982703", "not 0.5 to 5.0"),
        ("1,2,0.3,964982703", "not 0.5 to 5.0"),
        ("1,2,4.0", "expected 4 fields"),
        ("x,2,4.0,964982703", "user id 'x' is not an integer"),
        ("1,999,4.0,964982703", "movie id 999 is not in the movies file"),
    ],
)
def test_malformed_line_names_file_and_line_and_changes_nothing(
    tmp_path: Path, bad_line: str, reason: str
) -> None:
    movielens_import(files.write_csv_release(tmp_path / "good"))
    before = _counts()
    good = [f"{u},{m},{s},{t}" for u, m, s, t in files.RATINGS]
    # New users and movies precede the bad line, so a partial import would be visible.
    folder = files.write_csv_release(
        tmp_path / "bad", ratings=[*good, "7,1,4.0,964982703", bad_line]
    )

    with pytest.raises(CommandError) as excinfo:
        call_command("import_movielens", str(folder), "--replace", verbosity=0)

    message = str(excinfo.value)
    assert "ratings.csv line 8" in message
    assert reason in message
    assert _counts() == before
    assert not User.objects.filter(username="movielens-7").exists()


def test_undecodable_bytes_are_reported_with_line(tmp_path: Path) -> None:
    folder = files.write_csv_release(tmp_path / "small")
    with open(folder / "ratings.csv", "ab") as handle:
        handle.write(b"1,4,4.0,96498\xff2703\n")

    with pytest.raises(MovieLensFormatError, match=r"ratings.csv line 8: not valid utf-8"):
        movielens_import(folder)
    assert _counts() == (0, 0, 0, 0)


def test_folder_without_movielens_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MovieLensFormatError, match="no MovieLens files found"):
        movielens_import(tmp_path / "empty")


def test_download_fetches_verifies_and_imports(httpserver, settings, tmp_path: Path) -> None:
    folder = files.write_1m_release(tmp_path / "ml-1m")
    archive = files.zip_release(folder, tmp_path / "served.zip", "ml-1m").read_bytes()
    httpserver.expect_request("/datasets/ml-1m.zip").respond_with_data(
        archive, content_type="application/zip"
    )
    md5 = hashlib.md5(archive, usedforsecurity=False).hexdigest()
    httpserver.expect_request("/datasets/ml-1m.zip.md5").respond_with_data(f"MD5 ({md5})\n")
    settings.MOVIELENS_DOWNLOAD_URL = httpserver.url_for("/datasets/")
    settings.VAR_DIR = tmp_path / "var"

    call_command("import_movielens", "--download", "ml-1m", verbosity=0)

    assert (tmp_path / "var" / "datasets" / "ml-1m.zip").exists()
    assert Rating.objects.count() == len(files.RATINGS)


def test_download_rejects_a_corrupt_archive(httpserver, settings, tmp_path: Path) -> None:
    httpserver.expect_request("/datasets/ml-1m.zip").respond_with_data(b"not a zip")
    httpserver.expect_request("/datasets/ml-1m.zip.md5").respond_with_data("", status=404)
    settings.MOVIELENS_DOWNLOAD_URL = httpserver.url_for("/datasets/")
    settings.VAR_DIR = tmp_path / "var"

    with pytest.raises(CommandError, match="did not return a zip file"):
        call_command("import_movielens", "--download", "ml-1m", verbosity=0)
    assert not (tmp_path / "var" / "datasets" / "ml-1m.zip").exists()


def test_download_reports_http_errors(httpserver, settings, tmp_path: Path) -> None:
    httpserver.expect_request("/datasets/ml-1m.zip").respond_with_data("gone", status=404)
    settings.MOVIELENS_DOWNLOAD_URL = httpserver.url_for("/datasets/")
    settings.VAR_DIR = tmp_path / "var"

    with pytest.raises(CommandError, match="HTTP 404"):
        call_command("import_movielens", "--download", "ml-1m", verbosity=0)


def test_a_huge_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    folder = files.write_csv_release(tmp_path / "small")
    with open(folder / "ratings.csv", "a") as handle:
        handle.write("1," + "9" * 200_000 + ",4.0,964982703\n")

    with pytest.raises(MovieLensFormatError, match=r"ratings.csv line 8: line is longer than"):
        movielens_import(folder)
    assert _counts() == (0, 0, 0, 0)


def test_a_truncated_zip_is_reported_and_changes_nothing(tmp_path: Path) -> None:
    folder = files.write_csv_release(tmp_path / "small")
    archive = files.zip_release(folder, tmp_path / "full.zip", "ml-latest-small").read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(archive[: len(archive) * 2 // 3])

    with pytest.raises(MovieLensFormatError):
        movielens_import(truncated)
    assert _counts() == (0, 0, 0, 0)


def test_a_file_in_the_wrong_format_is_named(tmp_path: Path) -> None:
    folder = files.write_csv_release(tmp_path / "small")
    (folder / "movies.csv").write_text("id;name;kind\n1;Toy Story;Comedy\n")

    with pytest.raises(MovieLensFormatError, match=r"movies.csv line 1: unexpected header"):
        movielens_import(folder)
    assert _counts() == (0, 0, 0, 0)


def test_a_csv_cut_off_mid_line_names_the_last_line(tmp_path: Path) -> None:
    folder = files.write_csv_release(tmp_path / "small")
    with open(folder / "ratings.csv", "a") as handle:
        handle.write("3,1,4.")

    with pytest.raises(MovieLensFormatError, match=r"ratings.csv line 8: expected 4 fields"):
        movielens_import(folder)


def _rating_structures() -> set[tuple[str, str]]:
    """ratings_rating's indexes and constraints on Postgres, by name and definition."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ratings_rating' "
            "UNION SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'ratings_rating'::regclass"
        )
        return set(cursor.fetchall())


def test_a_bulk_load_ends_with_every_index_and_key_of_the_ratings_table(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        require_postgres("the bulk load is Postgres only (set DATABASE_URL)")
    before = _rating_structures()

    summary = movielens_import(files.write_csv_release(tmp_path / "small"))

    assert {"unique", "indexes", "foreign_keys"} <= set(summary.phases)  # it was a bulk load
    assert _rating_structures() == before
    assert len(before) >= 9  # pk, unique pair, 5 indexes, 2 foreign keys, score check


def test_phases_say_where_the_time_went(tmp_path: Path) -> None:
    out = StringIO()
    call_command(
        "import_movielens", str(files.write_csv_release(tmp_path / "s")), stdout=out, verbosity=1
    )

    summary = movielens_import(files.write_csv_release(tmp_path / "s"))
    assert {"movies", "stage", "check", "raters", "ratings", "movie_stats"} <= set(summary.phases)
    assert all(seconds >= 0 for seconds in summary.phases.values())
    assert "Phases: movies " in out.getvalue()


def test_an_import_leaves_fresh_planner_statistics(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        require_postgres("planner statistics are Postgres's (set DATABASE_URL)")
    with connection.cursor() as cursor:  # statistics of the empty tables to start from
        for table in ("catalog_movie", "catalog_movie_genres", "ratings_rating"):
            cursor.execute(f"ANALYZE {table}")
    summary = movielens_import(files.write_csv_release(tmp_path / "s"))
    assert "analyze" in summary.phases
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN "
            "('catalog_movie', 'catalog_movie_genres', 'ratings_rating')"
        )
        estimates = dict(cursor.fetchall())
    assert estimates["catalog_movie"] == Movie.objects.count()
    assert estimates["catalog_movie_genres"] == Movie.genres.through.objects.count()
    assert estimates["ratings_rating"] == Rating.objects.count()


def test_a_pair_rated_twice_in_a_file_keeps_the_first_rating(tmp_path: Path) -> None:
    good = [f"{u},{m},{s},{t}" for u, m, s, t in files.RATINGS]
    folder = files.write_csv_release(tmp_path / "twice", ratings=[*good, "1,1,0.5,964990000"])

    summary = movielens_import(folder)

    assert summary.ratings_added == len(files.RATINGS)
    first = Rating.objects.get(user__profile__movielens_id=1, movie__movielens_id=1)
    assert first.score == Decimal("4.0")
    assert Movie.objects.get(movielens_id=1).rating_count == 2


def test_blank_lines_in_a_csv_are_skipped_as_the_reader_skips_them(tmp_path: Path) -> None:
    good = [f"{u},{m},{s},{t}" for u, m, s, t in files.RATINGS]
    folder = files.write_csv_release(tmp_path / "blank", ratings=[*good[:2], "", *good[2:], ""])

    summary = movielens_import(folder)

    assert summary.ratings_added == len(files.RATINGS)


def test_a_csv_release_in_a_zip_is_read_directly(tmp_path: Path) -> None:
    folder = files.write_csv_release(tmp_path / "small")
    archive = files.zip_release(folder, tmp_path / "small.zip", "ml-latest-small")

    summary = movielens_import(archive)

    assert summary.ratings_added == len(files.RATINGS) + len(files.HALF_STAR_RATINGS)


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("1,2,4.0,96498x703", "timestamp '96498x703' is not an integer"),
        ("1,2,4.0,964982703,7", "expected 4 fields"),
        ("1,2,4.25,964982703", "not 0.5 to 5.0"),
        ("0,2,4.0,964982703", "ids must be positive"),
        ('1,2,"4.0,964982703', "rating '\"4.0' is not a number"),
    ],
)
def test_a_bad_line_deep_in_a_large_file_is_named_and_changes_nothing(
    tmp_path: Path, bad_line: str, reason: str
) -> None:
    """Past COPY's first buffers, on Postgres; to COPY a quote that never closes would swallow
    the rest of the file."""
    good = [f"{u},{m},3.0,{964982703 + u}" for u in range(1, 3001) for m in (1, 2, 3, 4)]
    folder = files.write_csv_release(tmp_path / "large", ratings=[*good, bad_line, *good[:50]])

    with pytest.raises(MovieLensFormatError) as excinfo:
        movielens_import(folder)

    assert f"ratings.csv line {len(good) + 2}: " in str(excinfo.value)
    assert reason in str(excinfo.value)
    assert _counts() == (0, 0, 0, 0)
