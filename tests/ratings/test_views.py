"""Rating endpoints (form POST and fetch JSON), My ratings, sign-up, login and onboarding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from ratings.models import Profile, Rating
from ratings.services import rating_upsert
from tests.catalog.test_views import _fresh_serving_state, build_catalog  # noqa: F401
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}
PASSWORD = "a-long-unusual-passphrase-42"


@pytest.fixture
def member(client):
    user = UserFactory(username="alice")
    client.force_login(user)
    return user


def test_rating_without_javascript_redirects_back(client, member):
    movie = MovieFactory()
    back = reverse("catalog:movie-detail", args=[movie.pk])
    response = client.post(reverse("ratings:rate", args=[movie.pk]), {"score": "4.5", "next": back})
    assert response.status_code == 302
    assert response["Location"] == back
    assert Rating.objects.get(user=member, movie=movie).score == Decimal("4.5")
    movie.refresh_from_db()
    assert (movie.rating_count, movie.rating_mean) == (1, 4.5)


def test_rating_refuses_an_offsite_next(client, member):
    movie = MovieFactory()
    response = client.post(
        reverse("ratings:rate", args=[movie.pk]), {"score": "3", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("catalog:movie-detail", args=[movie.pk])


def test_rating_with_fetch_returns_json_and_updates(client, member):
    movie = MovieFactory()
    url = reverse("ratings:rate", args=[movie.pk])
    first = client.post(url, {"score": "2.0"}, **JSON).json()
    assert first == {
        "movie_id": movie.pk,
        "score": 2.0,
        "rating_count": 1,
        "rating_mean": 2.0,
        "my_rating_count": 1,
    }
    second = client.post(url, {"score": "5"}, **JSON).json()
    assert (second["score"], second["rating_count"], second["my_rating_count"]) == (5.0, 1, 1)


def test_rating_rejects_a_bad_score_with_a_json_error(client, member):
    movie = MovieFactory()
    response = client.post(reverse("ratings:rate", args=[movie.pk]), {"score": "7"}, **JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_score"
    assert not Rating.objects.exists()


def test_rating_requires_csrf_token(member):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    movie = MovieFactory()
    response = strict.post(reverse("ratings:rate", args=[movie.pk]), {"score": "4"}, **JSON)
    assert response.status_code == 403
    assert not Rating.objects.exists()
    page = strict.get(reverse("catalog:movie-detail", args=[movie.pk]))
    token = page.cookies["csrftoken"].value
    ok = strict.post(
        reverse("ratings:rate", args=[movie.pk]),
        {"score": "4"},
        HTTP_X_CSRFTOKEN=token,
        **JSON,
    )
    assert ok.status_code == 200


def test_rating_needs_login(client):
    movie = MovieFactory()
    response = client.post(reverse("ratings:rate", args=[movie.pk]), {"score": "4"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Rating.objects.exists()


def test_rating_only_by_post(client, member):
    movie = MovieFactory()
    assert client.get(reverse("ratings:rate", args=[movie.pk])).status_code == 405


def test_remove_a_rating(client, member):
    movie = MovieFactory()
    rating_upsert(user=member, movie=movie, score="3.0")
    data = client.post(reverse("ratings:unrate", args=[movie.pk]), **JSON).json()
    assert data["removed"] is True
    assert data["rating_count"] == 0
    assert not Rating.objects.filter(user=member).exists()
    again = client.post(reverse("ratings:unrate", args=[movie.pk]))
    assert again.status_code == 302


def test_my_ratings_lists_newest_first_with_widgets(client, member, django_assert_num_queries):
    movies = [MovieFactory(title=f"Mine {i}") for i in range(3)]
    for movie in movies:
        rating_upsert(user=member, movie=movie, score="3.5")
    url = reverse("ratings:my-ratings")
    client.get(url)
    # session, user, count, page of ratings with movies, their genres
    with django_assert_num_queries(5):
        response = client.get(url)
    listed = [r.movie.title for r in response.context["page"]]
    assert listed == ["Mine 2", "Mine 1", "Mine 0"]
    html = response.content.decode()
    assert html.count("data-rating-widget") == 3
    assert html.count(reverse("ratings:unrate", args=[movies[0].pk])) == 1


def test_sign_up_logs_in_and_goes_to_onboarding(client):
    response = client.post(
        reverse("ratings:signup"),
        {"username": "dave", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("ratings:onboarding")
    user = get_user_model().objects.get(username="dave")
    assert Profile.objects.filter(user=user, onboarded=False).exists()
    assert client.get(reverse("ratings:onboarding")).status_code == 200


def test_sign_up_page_shows_the_reserved_name_error(client):
    response = client.post(
        reverse("ratings:signup"),
        {"username": "movielens-1", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 200
    assert "reserved for imported MovieLens raters" in response.content.decode()
    assert not get_user_model().objects.filter(username="movielens-1").exists()


def test_login_logout_and_password_change_pages(client):
    UserFactory(username="erin", password=PASSWORD)
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "erin", "password": PASSWORD})
    assert response["Location"] == reverse("catalog:home")
    page = client.get(reverse("password_change"))
    assert page.status_code == 200
    assert "Change password" in page.content.decode()
    changed = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": PASSWORD + "x",
            "new_password2": PASSWORD + "x",
        },
    )
    assert changed["Location"] == reverse("password_change_done")
    assert client.post(reverse("logout"))["Location"] == reverse("catalog:home")
    assert "_auth_user_id" not in client.session


def test_onboarding_picks_genres_then_needs_five_ratings_or_a_skip(client, member):
    catalog = build_catalog(n_movies=12, n_raters=4)
    action = catalog.genres["Action"]
    response = client.post(reverse("ratings:onboarding"), {"genres": [action.pk]})
    assert response["Location"] == reverse("ratings:onboarding-rate")
    assert list(member.profile.favourite_genres.all()) == [action]
    grid = client.get(reverse("ratings:onboarding-rate"))
    assert len(grid.context["movies"]) == 12
    assert grid.context["can_finish"] is False
    finish = reverse("ratings:onboarding-finish")
    assert client.post(finish, {"action": "done"})["Location"] == reverse("ratings:onboarding-rate")
    member.profile.refresh_from_db()
    assert member.profile.onboarded is False
    for movie in catalog.movies[:5]:
        client.post(reverse("ratings:rate", args=[movie.pk]), {"score": "4"}, **JSON)
    assert client.get(reverse("ratings:onboarding-rate")).context["can_finish"] is True
    assert client.post(finish, {"action": "done"})["Location"] == reverse("catalog:home")
    member.profile.refresh_from_db()
    assert member.profile.onboarded is True


def test_onboarding_can_be_skipped(client, member):
    response = client.post(reverse("ratings:onboarding-finish"), {"action": "skip"})
    assert response["Location"] == reverse("catalog:home")
    assert Profile.objects.get(user=member).onboarded is True


def test_onboarding_grid_query_count(client, member, django_assert_num_queries):
    build_catalog(n_movies=30, n_raters=3)
    url = reverse("ratings:onboarding-rate")
    client.get(url)
    # session, user, films of the picked genres (none picked), the most rated films to fill up,
    # the movies, their genres, rating count
    with django_assert_num_queries(7):
        client.get(url)


def test_top_picks_change_after_rating(client, member):
    catalog = build_catalog()
    before = [i.movie.pk for i in client.get(reverse("catalog:home-rows")).context["rows"][0].items]
    for movie in catalog.movies[:5]:
        client.post(reverse("ratings:rate", args=[movie.pk]), {"score": "5"}, **JSON)
    after = [i.movie.pk for i in client.get(reverse("catalog:home-rows")).context["rows"][0].items]
    assert before != after
    assert not set(after) & {m.pk for m in catalog.movies[:5]}


def test_my_ratings_with_none_says_so_and_offers_films_to_rate(client, member):
    html = client.get(reverse("ratings:my-ratings")).content.decode()
    assert "0 films rated" not in html
    assert "Change a rating with the stars" not in html  # there is nothing to change
    assert "You have not rated any films yet" in html
    assert reverse("ratings:onboarding-rate") in html
    assert reverse("catalog:search") in html
