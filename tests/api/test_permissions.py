"""Who may call what: every endpoint, anonymously, as a rater, as another user and as staff."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from recommender.models import ModelVersion, TrainingRun
from tests.api.conftest import PASSWORD, World, token_client

ROLES = ("anon", "user", "other", "staff")

# (method, path, body, expected status for anon, user, other, staff). {movie} is a movie the
# user rated and the other user did not; "user" means the rater.
MATRIX: list[tuple[str, str, dict[str, Any] | None, tuple[int, int, int, int]]] = [
    ("get", "/api/v1/movies/", None, (200, 200, 200, 200)),
    ("get", "/api/v1/movies/{movie}/", None, (200, 200, 200, 200)),
    ("get", "/api/v1/movies/{movie}/similar/", None, (200, 200, 200, 200)),
    ("post", "/api/v1/movies/", {"title": "x"}, (405, 405, 405, 405)),
    ("get", "/api/v1/genres/", None, (200, 200, 200, 200)),
    ("get", "/api/v1/me/ratings/", None, (401, 200, 200, 200)),
    ("get", "/api/v1/me/ratings/{movie}/", None, (401, 200, 404, 404)),
    ("put", "/api/v1/me/ratings/{movie}/", {"score": 2.5}, (401, 200, 200, 200)),
    ("patch", "/api/v1/me/ratings/{movie}/", {"score": 2.5}, (405, 405, 405, 405)),
    ("delete", "/api/v1/me/ratings/{movie}/", None, (401, 204, 404, 404)),
    ("get", "/api/v1/me/recommendations/", None, (401, 200, 200, 200)),
    ("get", "/api/v1/me/profile/", None, (401, 200, 200, 200)),
    ("put", "/api/v1/me/profile/", {"favourite_genres": ["comedy"]}, (401, 200, 200, 200)),
    (
        "post",
        "/api/v1/auth/token/",
        {"username": "rater", "password": PASSWORD},
        (200, 200, 200, 200),
    ),
    ("delete", "/api/v1/auth/token/", None, (401, 204, 204, 204)),
    (
        "post",
        "/api/v1/auth/signup/",
        {"username": "newbie", "password": "a-l0ng-Unusual-pass"},
        (201, 201, 201, 201),
    ),
    ("get", "/api/v1/staff/training-runs/", None, (401, 403, 403, 200)),
    ("get", "/api/v1/staff/training-runs/{run}/", None, (401, 403, 403, 200)),
    (
        "post",
        "/api/v1/staff/training-runs/",
        {"backend": "numpy", "config": {"epochs": 1}},
        (401, 403, 403, 201),
    ),
    ("post", "/api/v1/staff/training-runs/{run}/cancel/", None, (401, 403, 403, 200)),
    ("get", "/api/v1/staff/model-versions/", None, (401, 403, 403, 200)),
    ("get", "/api/v1/staff/model-versions/{version}/", None, (401, 403, 403, 200)),
    # The version's artifact is not on disk: staff get through to the service, which refuses.
    ("post", "/api/v1/staff/model-versions/{version}/activate/", None, (401, 403, 403, 409)),
    ("post", "/api/v1/staff/model-versions/rollback/", None, (401, 403, 403, 409)),
    ("get", "/api/v1/staff/users/", None, (401, 403, 403, 200)),
    ("get", "/api/v1/no-such-endpoint/", None, (404, 404, 404, 404)),
]


def _finished_run_and_version() -> tuple[TrainingRun, ModelVersion]:
    run = TrainingRun.objects.create(backend="numpy", status=TrainingRun.Status.SUCCEEDED)
    version = ModelVersion.objects.create(
        training_run=run, backend="numpy", artifact_path="missing/v1", checksum="0" * 64
    )
    return run, version


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, *_ in MATRIX]
)
def test_permission_matrix(
    world: World,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    expected: tuple[int, int, int, int],
) -> None:
    run, version = _finished_run_and_version()
    user = {"anon": None, "user": world.rater, "other": world.other, "staff": world.staff}[role]
    url = path.format(movie=world.movies[0].pk, run=run.pk, version=version.pk)
    response = getattr(token_client(user), method)(url, body, format="json")
    assert response.status_code == expected[ROLES.index(role)], response.content
    if response.status_code != 204:
        assert response["Content-Type"] == "application/json"
    if response.status_code >= 400:
        assert set(response.json()) >= {"detail", "code"}
    if response.status_code == 401:
        assert response["WWW-Authenticate"] == "Token"


def test_other_users_cannot_see_or_change_my_ratings(world: World) -> None:
    movie = world.movies[0]
    other = token_client(world.other)

    listed = other.get("/api/v1/me/ratings/").json()
    assert listed["count"] == 0
    assert other.get(f"/api/v1/me/ratings/{movie.pk}/").status_code == 404
    assert other.delete(f"/api/v1/me/ratings/{movie.pk}/").status_code == 404
    assert other.put(f"/api/v1/me/ratings/{movie.pk}/", {"score": 1}, format="json").json()[
        "score"
    ] == pytest.approx(1.0)

    mine = token_client(world.rater).get(f"/api/v1/me/ratings/{movie.pk}/").json()
    assert mine["score"] == pytest.approx(4.5)
    assert token_client(world.rater).get("/api/v1/me/ratings/").json()["count"] == 2


def test_revoked_token_is_refused(world: World) -> None:
    client = token_client(world.rater)
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert not Token.objects.filter(user=world.rater).exists()
    response = client.get("/api/v1/me/ratings/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_browser_session_works_and_needs_csrf_for_writes(world: World) -> None:
    from rest_framework.test import APIClient

    browser = APIClient(enforce_csrf_checks=True)
    assert browser.login(username="rater", password=PASSWORD)
    assert browser.get("/api/v1/me/ratings/").json()["count"] == 2
    refused = browser.put(f"/api/v1/me/ratings/{world.movies[2].pk}/", {"score": 3}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert "CSRF" in refused.json()["detail"]
