"""Every failure answers JSON in one shape with the right status; bad input is never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from rest_framework.test import APIClient, APIRequestFactory

from ratings.models import Rating
from recsite.api_errors import api_exception_handler, server_error
from tests.api.conftest import PASSWORD, World, token_client
from tests.factories import MovieFactory


def assert_error(response: HttpResponse, status: int, code: str) -> dict[str, Any]:
    """The response is the API's error shape, as JSON, with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) <= {"detail", "code", "errors"}
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["code"] == code
    if "errors" in body:
        assert all(
            isinstance(messages, list) and all(isinstance(m, str) for m in messages)
            for messages in body["errors"].values()
        )
    return body


def test_malformed_json_is_a_400_parse_error(world: World) -> None:
    response = token_client(world.rater).generic(
        "PUT",
        f"/api/v1/me/ratings/{world.movies[2].pk}/",
        '{"score": 4.5',
        content_type="application/json",
    )
    assert_error(response, 400, "parse_error")
    assert not Rating.objects.filter(user=world.rater, movie=world.movies[2]).exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"score": "four"}, "invalid"),
        ({"score": None}, "null"),
        ({"score": True}, "invalid"),
        ({"score": [4.5]}, "invalid"),
        ({"score": {"value": 4.5}}, "invalid"),
        ({}, "required"),
        ({"score": 7}, "out_of_range"),
        ({"score": 0}, "out_of_range"),
        ({"score": -1.5}, "out_of_range"),
        ({"score": 4.3}, "out_of_range"),
        ({"score": 1e308}, "out_of_range"),  # a number, far off the scale
        ({"score": "NaN"}, "invalid"),
    ],
    ids=repr,
)
def test_bad_scores_are_400_with_the_field_named(
    world: World, body: dict[str, Any], code: str
) -> None:
    movie = world.movies[0]
    response = token_client(world.rater).put(f"/api/v1/me/ratings/{movie.pk}/", body, format="json")
    error = assert_error(response, 400, code)
    assert list(error["errors"]) == ["score"]
    # The earlier rating of 4.5 stands.
    assert float(Rating.objects.get(user=world.rater, movie=movie).score) == 4.5


def test_a_json_list_instead_of_an_object_is_a_400(world: World) -> None:
    response = token_client(world.rater).put(
        f"/api/v1/me/ratings/{world.movies[0].pk}/", [4.5], format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert "non_field_errors" in error["errors"]


def test_a_body_that_is_not_json_is_a_415(world: World) -> None:
    response = token_client(world.rater).generic(
        "PUT", f"/api/v1/me/ratings/{world.movies[0].pk}/", "score=4.5", content_type="text/plain"
    )
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/movies/{missing}/",
        "/api/v1/movies/{missing}/similar/",
        "/api/v1/me/ratings/{missing}/",
        "/api/v1/movies/abc/",
        "/api/v1/movies/99999999999999999999999999/",
        "/api/v1/movies/-1/",
        "/api/v1/no-such-thing/",
        "/api/v2/movies/",
        "/api/",
    ],
)
def test_unknown_things_are_a_json_404(world: World, path: str) -> None:
    missing = max(m.pk for m in world.movies) + 1000
    response = token_client(world.rater).get(path.format(missing=missing))
    assert_error(response, 404, "not_found")


def test_rating_an_unknown_movie_is_a_404_and_writes_nothing(world: World) -> None:
    missing = max(m.pk for m in world.movies) + 1000
    client = token_client(world.rater)
    response = client.put(f"/api/v1/me/ratings/{missing}/", {"score": 4}, format="json")
    assert_error(response, 404, "not_found")
    assert_error(client.delete(f"/api/v1/me/ratings/{missing}/"), 404, "not_found")
    assert Rating.objects.filter(user=world.rater).count() == 2


def test_unknown_path_is_json_for_every_method_even_without_csrf(world: World) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    browser.login(username="rater", password=PASSWORD)
    for method in ("get", "post", "put", "patch", "delete"):
        assert_error(getattr(browser, method)("/api/v1/nowhere/"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/movies/"),
        ("delete", "/api/v1/movies/{movie}/"),
        ("post", "/api/v1/me/profile/"),
        ("patch", "/api/v1/me/ratings/{movie}/"),
        ("post", "/api/v1/me/ratings/"),
        ("get", "/api/v1/auth/token/"),
        ("get", "/api/v1/auth/signup/"),
        ("put", "/api/v1/me/recommendations/"),
        ("delete", "/api/v1/staff/training-runs/"),
    ],
)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anon", "user"])
def test_a_method_the_endpoint_lacks_is_a_405(
    world: World, method: str, path: str, signed_in: bool
) -> None:
    client = token_client(world.rater if signed_in else None)
    response = getattr(client, method)(path.format(movie=world.movies[0].pk), {}, format="json")
    assert_error(response, 405, "method_not_allowed")
    assert method.upper() not in response["Allow"]


@pytest.mark.parametrize(
    "path", ["/api/v1/me/ratings/", "/api/v1/me/profile/", "/api/v1/me/recommendations/"]
)
def test_unauthenticated_is_a_401_with_a_challenge(world: World, path: str) -> None:
    response = APIClient().get(path)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_is_a_401_even_where_anyone_may_read(world: World) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get("/api/v1/movies/"), 401, "authentication_failed")
    client.credentials(HTTP_AUTHORIZATION="Token")
    assert_error(client.get("/api/v1/movies/"), 401, "authentication_failed")


def test_staff_endpoints_are_a_403_for_users(world: World) -> None:
    response = token_client(world.rater).get("/api/v1/staff/users/")
    assert_error(response, 403, "permission_denied")


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("year_min=nineteen", "year_min", "invalid"),
        ("year_max=10000", "year_max", "max_value"),
        ("min_ratings=-1", "min_ratings", "min_value"),
        ("ordering=random()", "ordering", "invalid_choice"),
        ("search=" + "x" * 201, "search", "max_length"),
        ("page_size=0", "page_size", "invalid"),
        ("page_size=abc", "page_size", "invalid"),
    ],
)
def test_bad_movie_list_queries_are_400_naming_the_parameter(
    world: World, query: str, field: str, code: str
) -> None:
    error = assert_error(APIClient().get(f"/api/v1/movies/?{query}"), 400, code)
    assert field in error["errors"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/v1/me/recommendations/?k=0", "min_value"),
        ("/api/v1/me/recommendations/?k=100000", "max_value"),
        ("/api/v1/me/recommendations/?k=ten", "invalid"),
        ("/api/v1/movies/{movie}/similar/?k=-3", "min_value"),
    ],
)
def test_bad_k_is_a_400(world: World, path: str, code: str) -> None:
    response = token_client(world.rater).get(path.format(movie=world.movies[0].pk))
    assert list(assert_error(response, 400, code)["errors"]) == ["k"]


def test_filters_that_match_nothing_are_an_empty_page_not_an_error(world: World) -> None:
    page = APIClient().get("/api/v1/movies/?year_min=2000&year_max=1990&genre=no-such-genre")
    assert page.status_code == 200
    assert page.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_a_page_past_the_end_is_a_json_404(world: World) -> None:
    assert_error(APIClient().get("/api/v1/movies/?page=999"), 404, "not_found")


def test_page_size_is_bounded(world: World) -> None:
    MovieFactory.create_batch(101)
    client = APIClient()
    full = client.get("/api/v1/movies/?page_size=100").json()
    assert full["count"] == 107
    assert len(full["results"]) == 100
    assert len(client.get("/api/v1/movies/").json()["results"]) == 24
    response = client.get("/api/v1/movies/?page_size=101")
    assert response.status_code == 400
    assert "page_size" in response.json()["errors"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"username": "movielens-7", "password": "a-l0ng-Unusual-pass"}, "username", "reserved"),
        ({"username": "MovieLens-7", "password": "a-l0ng-Unusual-pass"}, "username", "reserved"),
        ({"username": "rater", "password": "a-l0ng-Unusual-pass"}, "username", "unique"),
        ({"username": "RATER", "password": "a-l0ng-Unusual-pass"}, "username", "unique"),
        ({"username": "bad name!", "password": "a-l0ng-Unusual-pass"}, "username", "invalid"),
        ({"username": "newbie", "password": "password"}, "password", "password_too_common"),
        ({"username": "newbie", "password": "short"}, "password", "password_too_short"),
        (
            {"username": "newbie", "password": "40917362581734"},
            "password",
            "password_entirely_numeric",
        ),
        ({"username": "newbie"}, "password", "required"),
    ],
    ids=repr,
)
def test_sign_up_refusals_name_the_field(
    world: World, body: dict[str, Any], field: str, code: str
) -> None:
    from django.contrib.auth import get_user_model

    before = get_user_model().objects.count()
    error = assert_error(APIClient().post("/api/v1/auth/signup/", body, format="json"), 400, code)
    assert field in error["errors"]
    assert get_user_model().objects.count() == before


def test_wrong_credentials_are_a_400_without_saying_which_part(world: World) -> None:
    client = APIClient()
    wrong_password = client.post(
        "/api/v1/auth/token/", {"username": "rater", "password": "nope"}, format="json"
    )
    no_user = client.post(
        "/api/v1/auth/token/", {"username": "ghost", "password": "nope"}, format="json"
    )
    assert assert_error(wrong_password, 400, "authorization") == assert_error(
        no_user, 400, "authorization"
    )


def test_sign_up_and_token_share_a_stricter_throttle(world: World, settings: Any) -> None:
    attempts = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"].split("/")[0])
    client = APIClient()
    # A new name each time: one name is locked out sooner (LOGIN_FAILURES_PER_NAME).
    for n in range(attempts):
        bad = {"username": f"rater{n}", "password": "wrong"}
        assert client.post("/api/v1/auth/token/", bad, format="json").status_code == 400
    throttled = client.post("/api/v1/auth/token/", bad, format="json")
    assert_error(throttled, 429, "throttled")
    assert int(throttled["Retry-After"]) > 0
    # Sign-up counts against the same scope, so it is throttled too; reading movies is not.
    signup = {"username": "newbie", "password": "a-l0ng-Unusual-pass"}
    assert_error(client.post("/api/v1/auth/signup/", signup, format="json"), 429, "throttled")
    assert client.get("/api/v1/movies/").status_code == 200


def test_a_forged_forwarded_for_header_does_not_escape_the_throttle(world: World) -> None:
    # Each guess claims another client address; the limit still counts the real peer.
    client = APIClient(REMOTE_ADDR="10.0.0.9")
    bad = {"username": "rater", "password": "wrong"}
    statuses = [
        client.post(
            "/api/v1/auth/token/", bad, format="json", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}"
        ).status_code
        for i in range(30)
    ]
    assert 429 in statuses
    assert statuses.index(429) == statuses.count(400)


def test_anonymous_reads_are_throttled_per_client(world: World, settings: Any) -> None:
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    limit = int(rates["anon"].split("/")[0])
    first, second = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")
    for _ in range(limit):
        assert first.get("/api/v1/genres/").status_code == 200
    assert_error(first.get("/api/v1/genres/"), 429, "throttled")
    assert second.get("/api/v1/genres/").status_code == 200
    # A signed-in client is counted by user, not by address, under its larger allowance.
    signed_in = token_client(world.rater)
    signed_in.defaults["REMOTE_ADDR"] = "10.0.0.1"
    assert signed_in.get("/api/v1/genres/").status_code == 200


def test_an_unexpected_failure_is_a_json_500_in_the_error_shape() -> None:
    # The handler itself, given an exception no view expects (a bug): no traceback leaks out.
    request = APIRequestFactory().get("/api/v1/movies/")
    response = api_exception_handler(RuntimeError("secret internals"), {"request": request})
    assert response.status_code == 500
    assert response.data == {"detail": "Server error.", "code": "server_error"}


def test_a_body_over_the_upload_limit_is_a_413(world: World, settings: Any) -> None:
    movie = world.movies[0]
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = token_client(world.rater).generic(
        "PUT",
        f"/api/v1/me/ratings/{movie.pk}/",
        f'{{"score": 1.0, "pad": "{padding}"}}',
        content_type="application/json",
    )
    assert_error(response, 413, "payload_too_large")
    assert float(Rating.objects.get(user=world.rater, movie=movie).score) == 4.5


def test_too_many_query_parameters_is_a_400(world: World, settings: Any) -> None:
    query = "&".join(f"p{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    assert_error(APIClient().get(f"/api/v1/movies/?{query}"), 400, "bad_request")


def test_a_bad_host_header_is_json_under_the_api_and_html_elsewhere(world: World) -> None:
    client = APIClient(SERVER_NAME="evil.example")
    assert_error(client.get("/api/v1/movies/"), 400, "bad_request")
    page = client.get("/")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")


def test_the_server_error_handler_answers_json_only_under_the_api() -> None:
    # handler500 runs after a crash no view caught; called here as Django would call it.
    api = server_error(RequestFactory().get("/api/v1/movies/"))
    assert api.status_code == 500
    assert api["Content-Type"] == "application/json"
    assert json.loads(api.content) == {"detail": "Server error.", "code": "server_error"}
    page = server_error(RequestFactory().get("/movies/1/"))
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")
