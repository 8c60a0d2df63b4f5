"""CSRF on every state-changing endpoint, password rules, own data only, staff-only pages."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from ratings.models import Rating
from recommender.models import ModelVersion, TrainingRun
from tests.security.conftest import PASSWORD, Site

pytestmark = pytest.mark.django_db


def _csrf_client(user=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


def _state_changing_posts(site: Site) -> dict[str, list[tuple[str, dict[str, str]]]]:
    movie = site.movies[3].pk
    version = ModelVersion.objects.create(
        training_run=TrainingRun.objects.create(backend="numpy", status="succeeded"),
        backend="numpy",
        artifact_path="x",
        checksum="0" * 64,
    )
    return {
        "anonymous": [
            (reverse("login"), {"username": "member", "password": PASSWORD}),
            (reverse("ratings:signup"), {"username": "eve", "password1": "x", "password2": "x"}),
            (reverse("password_reset"), {"email": "member@example.com"}),
        ],
        "member": [
            (reverse("ratings:rate", args=[movie]), {"score": "4"}),
            (reverse("ratings:unrate", args=[site.movies[1].pk]), {}),
            (reverse("ratings:onboarding"), {"genres": str(site.genre.pk)}),
            (reverse("ratings:onboarding-finish"), {"action": "skip"}),
            (reverse("password_change"), {"old_password": PASSWORD}),
            (reverse("logout"), {}),
        ],
        "staff": [
            (reverse("recommender:retrain"), {"backend": "numpy"}),
            (reverse("recommender:run-cancel", args=[version.training_run_id]), {}),
            (reverse("recommender:version-activate", args=[version.pk]), {}),
            (reverse("recommender:version-rollback"), {}),
        ],
    }


def test_every_state_changing_form_refuses_a_post_without_the_csrf_token(site: Site) -> None:
    before = (Rating.objects.count(), TrainingRun.objects.count(), get_user_model().objects.count())
    users = {"anonymous": None, "member": site.member, "staff": site.staff}
    posts = _state_changing_posts(site)
    runs_before = TrainingRun.objects.count()
    for who, requests in posts.items():
        for url, data in requests:
            response = _csrf_client(users[who]).post(url, data)
            assert response.status_code == 403, (who, url, response.status_code)
            # The fetch() path of the rating widget is refused the same way.
            ajax = _csrf_client(users[who]).post(url, data, HTTP_ACCEPT="application/json")
            assert ajax.status_code == 403, (who, url)
    assert (Rating.objects.count(), get_user_model().objects.count()) == before[::2]
    assert TrainingRun.objects.count() == runs_before
    assert not ModelVersion.objects.filter(is_active=True).exists()


def test_the_same_post_with_the_token_goes_through(site: Site) -> None:
    """The 403s above are CSRF, not something else: with the token the rating is saved."""
    client = _csrf_client(site.member)
    page = client.get(reverse("catalog:movie-detail", args=[site.movies[3].pk]))
    token = page.cookies["csrftoken"].value
    response = client.post(
        reverse("ratings:rate", args=[site.movies[3].pk]),
        {"score": "4"},
        HTTP_X_CSRFTOKEN=token,
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert Rating.objects.filter(user=site.member, movie=site.movies[3]).exists()


def test_api_writes_with_a_session_cookie_need_the_csrf_token(site: Site) -> None:
    """Token clients are immune to CSRF; a browser session using the API is not exempt."""
    client = _csrf_client(site.member)
    movie = site.movies[4].pk
    put = client.put(
        f"/api/v1/me/ratings/{movie}/", {"score": "4.0"}, content_type="application/json"
    )
    delete = client.delete(f"/api/v1/me/ratings/{site.movies[1].pk}/")
    staff = _csrf_client(site.staff).post(
        "/api/v1/staff/training-runs/", {"backend": "numpy"}, content_type="application/json"
    )
    for response in (put, delete, staff):
        assert response.status_code == 403, response.content
        assert "csrf" in response.json()["detail"].lower()
    assert not Rating.objects.filter(user=site.member, movie_id=movie).exists()
    assert Rating.objects.filter(user=site.member, movie=site.movies[1]).exists()
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("8403917265", "entirely numeric"),
        ("newcomer-zz", "too similar"),
    ],
)
def test_sign_up_refuses_weak_passwords(client: Client, password: str, reason: str) -> None:
    response = client.post(
        reverse("ratings:signup"),
        {"username": "newcomer-zz", "password1": password, "password2": password},
    )
    assert response.status_code == 200  # the form again, with the error
    assert reason in response.content.decode()
    assert not get_user_model().objects.filter(username="newcomer-zz").exists()


def test_my_ratings_shows_only_my_own_whatever_the_query_string(site: Site) -> None:
    client = Client()
    client.force_login(site.other)
    for query in ("", f"?user={site.member.pk}", f"?user_id={site.member.pk}&username=member"):
        html = client.get(reverse("ratings:my-ratings") + query).content.decode()
        assert site.movies[2].title in html
        assert site.movies[1].title not in html
        assert "alert(1)" not in html
    assert "1 film rated" in html


def test_removing_a_rating_only_touches_my_own(site: Site) -> None:
    client = Client()
    client.force_login(site.other)
    response = client.post(reverse("ratings:unrate", args=[site.movies[1].pk]))
    assert response.status_code == 302
    assert Rating.objects.filter(user=site.member, movie=site.movies[1]).exists()


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_staff_pages_and_actions_are_refused_to_non_staff(site: Site, who: str) -> None:
    client = Client()
    if who == "member":
        client.force_login(site.member)
    posts = dict(_state_changing_posts(site))["staff"]
    active_before = list(ModelVersion.objects.filter(is_active=True))
    for url in (reverse("recommender:dashboard"), reverse("recommender:runs-plot")):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert reverse("admin:login") in response["Location"]
    assert TrainingRun.objects.count() == 1  # only the fixture's own run
    assert list(ModelVersion.objects.filter(is_active=True)) == active_before
    api = client.post(
        "/api/v1/staff/training-runs/", {"backend": "numpy"}, content_type="application/json"
    )
    assert api.status_code == (403 if who == "member" else 401)
    assert TrainingRun.objects.count() == 1
