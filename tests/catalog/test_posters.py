"""Poster caching: services, the Celery task and `manage.py fetch_posters`, against a fake TMDB."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from pytest_httpserver import HTTPServer

from catalog.models import Movie
from catalog.services import FAILED, FOUND, MISSING, SKIPPED, movie_poster_fetch
from catalog.tasks import movie_posters_fetch_task
from catalog.tmdb import TmdbClient
from tests.factories import MovieFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tmdb(httpserver: HTTPServer, settings) -> HTTPServer:
    settings.TMDB_API_URL = httpserver.url_for("/3")
    settings.TMDB_API_KEY = "k3y"
    settings.TMDB_READ_TOKEN = ""
    return httpserver


def _client(server: HTTPServer) -> TmdbClient:
    return TmdbClient(api_key="k3y", base_url=server.url_for("/3"), backoff=0.01, max_retries=1)


def test_fetch_caches_poster_overview_and_tmdb_id_then_skips(tmdb: HTTPServer):
    movie = MovieFactory(title="Heat", year=1995, imdb_id="0113277")
    tmdb.expect_request("/3/find/tt0113277").respond_with_json(
        {"movie_results": [{"id": 949, "poster_path": "/heat.jpg", "overview": "A heist."}]}
    )
    assert movie_poster_fetch(movie_id=movie.pk, client=_client(tmdb)) == FOUND
    movie.refresh_from_db()
    assert (movie.poster_path, movie.overview, movie.tmdb_id) == ("/heat.jpg", "A heist.", 949)
    assert movie.poster_checked_at is not None
    requests_made = len(tmdb.log)
    assert movie_poster_fetch(movie_id=movie.pk, client=_client(tmdb)) == SKIPPED
    assert len(tmdb.log) == requests_made  # idempotent: no second request


def test_a_miss_is_remembered(tmdb: HTTPServer):
    movie = MovieFactory(title="Obscure", year=1911)
    tmdb.expect_request("/3/search/movie").respond_with_json({"results": []})
    assert movie_poster_fetch(movie_id=movie.pk, client=_client(tmdb)) == MISSING
    movie.refresh_from_db()
    assert movie.poster_checked_at is not None
    assert movie.poster_path == ""


def test_a_failure_leaves_the_movie_for_the_next_run(tmdb: HTTPServer):
    movie = MovieFactory(title="Flaky", year=2001)
    tmdb.expect_request("/3/search/movie").respond_with_data("{broken", status=200)
    assert movie_poster_fetch(movie_id=movie.pk, client=_client(tmdb)) == FAILED
    movie.refresh_from_db()
    assert movie.poster_checked_at is None


def test_a_later_miss_keeps_an_earlier_poster(tmdb: HTTPServer):
    movie = MovieFactory(title="Kept", poster_path="/kept.jpg", overview="Old.")
    tmdb.expect_request("/3/search/movie").respond_with_json({"results": []})
    assert movie_poster_fetch(movie_id=movie.pk, client=_client(tmdb), force=True) == MISSING
    movie.refresh_from_db()
    assert (movie.poster_path, movie.overview) == ("/kept.jpg", "Old.")


def test_celery_task_is_idempotent(tmdb: HTTPServer):
    movies = [MovieFactory(title=f"T{i}", tmdb_id=100 + i) for i in range(3)]
    for i in range(3):
        tmdb.expect_request(f"/3/movie/{100 + i}").respond_with_json(
            {"id": 100 + i, "poster_path": f"/p{i}.jpg", "overview": ""}
        )
    ids = [m.pk for m in movies]
    first = movie_posters_fetch_task.apply(args=[ids]).get()
    assert first == {FOUND: 3}
    second = movie_posters_fetch_task.apply(args=[ids]).get()
    assert second == {SKIPPED: 3}
    assert len(tmdb.log) == 3
    assert sorted(Movie.objects.values_list("poster_path", flat=True)) == [
        "/p0.jpg",
        "/p1.jpg",
        "/p2.jpg",
    ]


def test_command_is_resumable_and_most_rated_first(tmdb: HTTPServer):
    popular = MovieFactory(title="Popular", tmdb_id=1, rating_count=50)
    middling = MovieFactory(title="Middling", tmdb_id=2, rating_count=10)
    unknown = MovieFactory(title="Unknown", tmdb_id=3, rating_count=0)
    for movie in (popular, middling, unknown):
        tmdb.expect_request(f"/3/movie/{movie.tmdb_id}").respond_with_json(
            {"id": movie.tmdb_id, "poster_path": f"/{movie.tmdb_id}.jpg", "overview": "x"}
        )
    out = StringIO()
    call_command("fetch_posters", "--limit", "2", stdout=out, stderr=StringIO())
    assert "2 found" in out.getvalue()
    assert [r.path for r, _ in tmdb.log] == ["/3/movie/1", "/3/movie/2"]
    call_command("fetch_posters", stdout=StringIO(), stderr=StringIO())
    assert [r.path for r, _ in tmdb.log][2:] == ["/3/movie/3"]  # only what was left
    call_command("fetch_posters", "--force", "--limit", "1", stdout=StringIO(), stderr=StringIO())
    assert [r.path for r, _ in tmdb.log][3:] == ["/3/movie/1"]


def test_command_refuses_without_credentials(settings):
    settings.TMDB_API_KEY = ""
    settings.TMDB_READ_TOKEN = ""
    with pytest.raises(CommandError, match="TMDB_API_KEY"):
        call_command("fetch_posters", stdout=StringIO())


def test_fetched_poster_is_shown_from_the_tmdb_image_url(tmdb: HTTPServer, client, settings):
    settings.TMDB_IMAGE_URL = "https://image.tmdb.org/t/p/"
    movie = MovieFactory(title="Alien", tmdb_id=348)
    tmdb.expect_request("/3/movie/348").respond_with_json(
        {"id": 348, "poster_path": "/alien.jpg", "overview": "In space."}
    )
    movie_posters_fetch_task.apply(args=[[movie.pk]]).get()
    html = client.get(reverse("catalog:movie-detail", args=[movie.pk])).content.decode()
    assert "https://image.tmdb.org/t/p/w342/alien.jpg" in html
    assert "In space." in html
    assert "k3y" not in html
