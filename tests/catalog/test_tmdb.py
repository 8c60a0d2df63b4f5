"""TMDB client against a local fake TMDB (pytest-httpserver): lookups, auth, retries, 429, junk."""

from __future__ import annotations

import json
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from catalog.tmdb import (
    RateLimiter,
    TmdbClient,
    TmdbError,
    TmdbNotConfigured,
    TokenBucket,
    imdb_id_normalise,
    search_title,
)

MATRIX = {"id": 603, "poster_path": "/matrix.jpg", "overview": "A hacker learns the truth."}


def client_for(server: HTTPServer, **options: object) -> TmdbClient:
    defaults: dict[str, object] = {
        "api_key": "k3y",
        "base_url": server.url_for("/3"),
        "backoff": 0.01,
        "max_retries": 3,
    }
    defaults.update(options)
    return TmdbClient(**defaults)  # type: ignore[arg-type]


def test_lookup_by_tmdb_id_sends_the_api_key_as_a_query_parameter(httpserver: HTTPServer):
    httpserver.expect_oneshot_request(
        "/3/movie/603", query_string={"api_key": "k3y"}
    ).respond_with_json(MATRIX)
    found = client_for(httpserver).lookup(tmdb_id=603, imdb_id="", title="Matrix", year=1999)
    assert found is not None
    assert (found.tmdb_id, found.poster_path, found.overview) == (
        603,
        "/matrix.jpg",
        "A hacker learns the truth.",
    )
    httpserver.check_assertions()


def test_read_token_goes_in_the_authorization_header_not_the_url(httpserver: HTTPServer):
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(json.dumps(MATRIX), content_type="application/json")

    httpserver.expect_request("/3/movie/603").respond_with_handler(handler)
    client = client_for(httpserver, api_key="", read_token="t0ken")
    assert client.movie(603) is not None
    assert seen[0].headers["Authorization"] == "Bearer t0ken"
    assert "api_key" not in seen[0].args


def test_falls_back_to_imdb_then_title_search(httpserver: HTTPServer):
    httpserver.expect_request("/3/movie/1").respond_with_json({"status_code": 34}, status=404)
    httpserver.expect_request(
        "/3/find/tt0133093", query_string={"external_source": "imdb_id", "api_key": "k3y"}
    ).respond_with_json({"movie_results": [], "tv_results": []})
    httpserver.expect_request(
        "/3/search/movie",
        query_string={
            "query": "The Matrix",
            "include_adult": "false",
            "year": "1999",
            "api_key": "k3y",
        },
    ).respond_with_json({"results": [MATRIX], "total_results": 1})
    found = client_for(httpserver).lookup(
        tmdb_id=1, imdb_id="0133093", title="Matrix, The", year=1999
    )
    assert found is not None
    assert found.poster_path == "/matrix.jpg"
    paths = [request.path for request, _ in httpserver.log]
    assert paths == ["/3/movie/1", "/3/find/tt0133093", "/3/search/movie"]


def test_imdb_match_is_used(httpserver: HTTPServer):
    httpserver.expect_request("/3/find/tt0114709").respond_with_json(
        {"movie_results": [{"id": 862, "poster_path": "/toy.jpg", "overview": "Toys."}]}
    )
    found = client_for(httpserver).lookup(tmdb_id=None, imdb_id="114709", title="", year=None)
    assert found is not None
    assert (found.tmdb_id, found.poster_path) == (862, "/toy.jpg")


def test_not_found_anywhere_is_none(httpserver: HTTPServer):
    httpserver.expect_request("/3/search/movie").respond_with_json({"results": []})
    assert client_for(httpserver).lookup(tmdb_id=None, imdb_id="", title="Nope", year=None) is None


def test_404_is_none_not_an_error(httpserver: HTTPServer):
    httpserver.expect_request("/3/movie/9").respond_with_json({"status_code": 34}, status=404)
    assert client_for(httpserver).movie(9) is None


def test_429_honours_retry_after(httpserver: HTTPServer):
    httpserver.expect_ordered_request("/3/movie/603").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "1"})
    )
    httpserver.expect_ordered_request("/3/movie/603").respond_with_json(MATRIX)
    started = time.monotonic()
    found = client_for(httpserver).movie(603)
    waited = time.monotonic() - started
    assert found is not None
    assert found.poster_path == "/matrix.jpg"
    assert waited >= 1.0  # the header said one second; the client backoff alone is 0.01 s
    assert len(httpserver.log) == 2


def test_5xx_is_retried_with_backoff_then_succeeds(httpserver: HTTPServer):
    for _ in range(2):
        httpserver.expect_ordered_request("/3/movie/603").respond_with_data("oops", status=502)
    httpserver.expect_ordered_request("/3/movie/603").respond_with_json(MATRIX)
    sleeps: list[float] = []
    client = client_for(httpserver, sleep=sleeps.append, rate=0)
    assert client.movie(603) is not None
    assert sleeps == [0.01, 0.02]  # exponential


def test_gives_up_after_max_retries(httpserver: HTTPServer):
    httpserver.expect_request("/3/movie/603").respond_with_data("down", status=503)
    client = client_for(httpserver, max_retries=2, sleep=lambda s: None)
    with pytest.raises(TmdbError, match="server error 503"):
        client.movie(603)
    assert len(httpserver.log) == 3


def test_connection_errors_are_retried_then_reported():
    sleeps: list[float] = []
    # Port 9 on loopback: nothing listens there, so every attempt is refused.
    client = TmdbClient(
        api_key="k",
        base_url="http://127.0.0.1:9/3",
        max_retries=2,
        backoff=0.1,
        sleep=sleeps.append,
        rate=0,
    )
    with pytest.raises(TmdbError, match="unreachable"):
        client.movie(1)
    assert sleeps == [0.1, 0.2]


def test_malformed_json_is_an_error(httpserver: HTTPServer):
    httpserver.expect_request("/3/movie/603").respond_with_data(
        "{not json", content_type="application/json"
    )
    with pytest.raises(TmdbError, match="malformed JSON"):
        client_for(httpserver).movie(603)


def test_unexpected_json_shapes_are_safe(httpserver: HTTPServer):
    httpserver.expect_request("/3/movie/1").respond_with_json(["a", "list"])
    httpserver.expect_request("/3/movie/2").respond_with_json(
        {"id": 2, "poster_path": "javascript:alert(1)", "overview": 7}
    )
    client = client_for(httpserver)
    with pytest.raises(TmdbError, match="unexpected JSON"):
        client.movie(1)
    odd = client.movie(2)
    assert odd is not None
    assert (odd.poster_path, odd.overview) == ("", "")


def test_401_is_not_retried(httpserver: HTTPServer):
    httpserver.expect_request("/3/movie/603").respond_with_json({"status_code": 7}, status=401)
    with pytest.raises(TmdbError, match="HTTP 401"):
        client_for(httpserver).movie(603)
    assert len(httpserver.log) == 1


def test_without_credentials_nothing_is_sent(httpserver: HTTPServer):
    client = client_for(httpserver, api_key="", read_token="")
    assert not client.configured
    with pytest.raises(TmdbNotConfigured):
        client.movie(603)
    assert httpserver.log == []


def test_rate_limiter_spaces_calls_to_the_rate():
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(40, clock=lambda: clock[0], sleep=sleep)
    for _ in range(81):
        limiter.wait()
    # 81 calls at 40/s need 2 s: the first is free, each later one waits its 25 ms slot.
    assert clock[0] == pytest.approx(2.0)
    assert all(s == pytest.approx(0.025) for s in slept)


def test_token_bucket_allows_its_burst_then_refills_at_the_rate():
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    bucket = TokenBucket(10, capacity=5, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        bucket.wait()
    assert slept == []  # a full bucket: five calls at once
    bucket.wait()
    assert slept == [pytest.approx(0.1)]  # then one token per 1/rate seconds
    clock[0] += 1.0  # idle a second: 10 tokens accrue, but the bucket holds only 5
    for _ in range(5):
        bucket.wait()
    assert len(slept) == 1
    bucket.wait()
    assert slept[-1] == pytest.approx(0.1)


def test_rate_limiter_keeps_real_requests_under_40_per_second(httpserver: HTTPServer):
    httpserver.expect_request("/3/movie/603").respond_with_json(MATRIX)
    client = client_for(httpserver)
    started = time.monotonic()
    for _ in range(21):
        client.movie(603)
    assert time.monotonic() - started >= 0.5  # 21 requests at 40/s span at least 0.5 s


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0114709", "tt0114709"),
        ("114709", "tt0114709"),
        ("tt0133093", "tt0133093"),
        ("", ""),
        ("x", ""),
    ],
)
def test_imdb_id_normalise(raw: str, expected: str):
    assert imdb_id_normalise(raw) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Matrix, The", "The Matrix"),
        ("Amelie (Fabuleux destin d'Amélie Poulain, Le)", "Amelie"),
        ("Toy Story", "Toy Story"),
        ("City of Lost Children, The (Cité des enfants perdus, La)", "The City of Lost Children"),
    ],
)
def test_search_title_undoes_movielens_article_suffixes(title: str, expected: str):
    assert search_title(title) == expected
