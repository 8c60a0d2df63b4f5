"""What the endpoints answer: filters, ordering, pages, rating round trips, recommendations,
profiles and accounts; list pages run a fixed number of queries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ratings.models import Rating
from ratings.services import rating_upsert
from recommender.serving.edge import SOURCES
from tests.api.conftest import PASSWORD, World, token_client
from tests.factories import MovieFactory, UserFactory


def _titles(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [movie["title"] for movie in response.json()["results"]]


# -- movies ------------------------------------------------------------------------------------


def test_movies_are_filtered_by_title_genre_years_and_rating_count(world: World) -> None:
    client = APIClient()
    assert _titles(client.get("/api/v1/movies/?search=film 3")) == ["Film 3"]
    assert _titles(client.get("/api/v1/movies/?search=FILM&ordering=title")) == [
        f"Film {i}" for i in range(6)
    ]
    assert _titles(client.get("/api/v1/movies/?genre=comedy&ordering=title")) == [
        "Film 1",
        "Film 3",
        "Film 5",
    ]
    assert _titles(client.get("/api/v1/movies/?year_min=1992&year_max=1993&ordering=year")) == [
        "Film 2",
        "Film 3",
    ]
    # Only movies 0 and 1 have a rating.
    assert _titles(client.get("/api/v1/movies/?min_ratings=1&ordering=title")) == [
        "Film 0",
        "Film 1",
    ]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("title", [0, 1, 2, 3, 4, 5]),
        ("-title", [5, 4, 3, 2, 1, 0]),
        ("-year", [5, 4, 3, 2, 1, 0]),
        # Popularity: rated ones first; rating: the better mean first.
        ("popularity", [0, 1, 2, 3, 4, 5]),
        ("rating", [0, 1, 2, 3, 4, 5]),
    ],
)
def test_movies_are_ordered(world: World, ordering: str, expected: list[int]) -> None:
    got = _titles(APIClient().get(f"/api/v1/movies/?ordering={ordering}"))
    assert got == [f"Film {i}" for i in expected]


def test_movie_pages_link_to_each_other(world: World) -> None:
    client = APIClient()
    first = client.get("/api/v1/movies/?ordering=title&page_size=4").json()
    assert first["count"] == 6
    assert first["previous"] is None
    assert [m["title"] for m in first["results"]] == ["Film 0", "Film 1", "Film 2", "Film 3"]
    second = client.get(first["next"]).json()
    assert [m["title"] for m in second["results"]] == ["Film 4", "Film 5"]
    assert second["next"] is None
    assert second["previous"] is not None


def test_movie_detail_shows_genres_and_rating_stats(world: World) -> None:
    movie = world.movies[0]
    body = APIClient().get(f"/api/v1/movies/{movie.pk}/").json()
    assert body["id"] == movie.pk
    assert body["title"] == "Film 0"
    assert body["year"] == 1990
    assert body["genres"] == [{"name": "Drama", "slug": "drama"}]
    assert body["rating_count"] == 1
    assert body["rating_mean"] == pytest.approx(4.5)
    assert body["poster_url"] is None


def test_movie_list_runs_a_fixed_number_of_queries(
    world: World, django_assert_num_queries: Any
) -> None:
    MovieFactory.create_batch(30, genres=[world.comedy, world.drama])
    client = APIClient()
    # count, page, genres prefetch: the same for 24 movies as it would be for 2.
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/movies/").json()["results"]) == 24


def test_similar_movies_never_include_the_movie_itself(world: World) -> None:
    movie = world.movies[2]
    picks = APIClient().get(f"/api/v1/movies/{movie.pk}/similar/?k=3").json()
    assert 0 < len(picks) <= 3
    assert movie.pk not in {pick["movie"]["id"] for pick in picks}
    assert all(pick["source"] in SOURCES and pick["reason"] for pick in picks)


def test_genres_are_listed_by_name(world: World) -> None:
    assert APIClient().get("/api/v1/genres/").json() == [
        {"name": "Comedy", "slug": "comedy"},
        {"name": "Drama", "slug": "drama"},
    ]


# -- my ratings ----------------------------------------------------------------------------------


def test_rating_twice_replaces_the_score(world: World) -> None:
    client = token_client(world.other)
    movie = world.movies[3]
    url = f"/api/v1/me/ratings/{movie.pk}/"
    first = client.put(url, {"score": 2}, format="json")
    assert first.status_code == 200
    assert first.json()["movie"] == {"id": movie.pk, "title": "Film 3", "year": 1993}
    assert first.json()["score"] == 2.0
    assert client.put(url, {"score": 4.5}, format="json").json()["score"] == 4.5
    assert Rating.objects.filter(user=world.other, movie=movie).count() == 1
    assert client.get(url).json()["score"] == 4.5
    # The movie's stats follow the rating.
    assert APIClient().get(f"/api/v1/movies/{movie.pk}/").json()["rating_count"] == 1

    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert APIClient().get(f"/api/v1/movies/{movie.pk}/").json()["rating_count"] == 0


def test_my_ratings_are_newest_first_with_their_movies(world: World) -> None:
    rating_upsert(user=world.rater, movie=world.movies[4], score=Decimal("1.5"))
    body = token_client(world.rater).get("/api/v1/me/ratings/").json()
    assert body["count"] == 3
    assert [(r["movie"]["title"], r["score"]) for r in body["results"]] == [
        ("Film 4", 1.5),
        ("Film 1", 3.0),
        ("Film 0", 4.5),
    ]


def test_my_ratings_list_runs_a_fixed_number_of_queries(
    world: World, django_assert_num_queries: Any
) -> None:
    for movie in MovieFactory.create_batch(20):
        rating_upsert(user=world.rater, movie=movie, score=Decimal("3.5"))
    client = token_client(world.rater)
    client.get("/api/v1/me/ratings/")  # on Postgres, prepares the token lookup on a new connection
    # token with its user, count, page with its movies joined, the selector's genres prefetch.
    with django_assert_num_queries(4):
        assert len(client.get("/api/v1/me/ratings/").json()["results"]) == 22


# -- recommendations and profile ------------------------------------------------------------------


def test_recommendations_skip_rated_movies_and_honour_k(world: World) -> None:
    rated = {world.movies[0].pk, world.movies[1].pk}
    picks = token_client(world.rater).get("/api/v1/me/recommendations/?k=3").json()
    assert len(picks) == 3
    ids = [pick["movie"]["id"] for pick in picks]
    assert len(set(ids)) == 3
    assert not set(ids) & rated
    for pick in picks:
        assert pick["source"] in SOURCES
        assert pick["reason"]
        assert isinstance(pick["score"], float)
        assert set(pick["movie"]) >= {"id", "title", "year", "genres"}


def test_recommendations_keep_to_the_genre(world: World) -> None:
    picks = token_client(world.rater).get("/api/v1/me/recommendations/?k=10&genre=comedy").json()
    # Comedies are movies 1, 3 and 5; the rater rated movie 1.
    assert sorted(pick["movie"]["title"] for pick in picks) == ["Film 3", "Film 5"]
    assert all("comedy" in {genre["slug"] for genre in pick["movie"]["genres"]} for pick in picks)


def test_profile_round_trip(world: World) -> None:
    client = token_client(world.other)
    assert client.get("/api/v1/me/profile/").json() == {
        "username": "other",
        "favourite_genres": [],
        "onboarded": False,
    }
    saved = client.put(
        "/api/v1/me/profile/", {"favourite_genres": ["drama", "comedy"]}, format="json"
    )
    assert saved.json()["favourite_genres"] == ["comedy", "drama"]
    assert client.get("/api/v1/me/profile/").json()["favourite_genres"] == ["comedy", "drama"]
    cleared = client.put("/api/v1/me/profile/", {"favourite_genres": []}, format="json")
    assert cleared.json()["favourite_genres"] == []


def test_an_unknown_genre_in_the_profile_is_refused(world: World) -> None:
    client = token_client(world.other)
    response = client.put(
        "/api/v1/me/profile/", {"favourite_genres": ["comedy", "no-such-genre"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_genre"
    assert "no-such-genre" in response.json()["errors"]["favourite_genres"][0]
    assert client.get("/api/v1/me/profile/").json()["favourite_genres"] == []


# -- accounts --------------------------------------------------------------------------------------


def test_sign_up_gives_a_working_token_and_a_usable_account(world: World) -> None:
    client = APIClient()
    created = client.post(
        "/api/v1/auth/signup/",
        {"username": "newbie", "email": "new@example.com", "password": "a-l0ng-Unusual-pass"},
        format="json",
    )
    assert created.status_code == 201
    account = created.json()
    user = get_user_model().objects.get(username="newbie")
    assert account == {
        "id": user.pk,
        "username": "newbie",
        "token": Token.objects.get(user=user).key,
    }
    assert user.email == "new@example.com"
    assert user.check_password("a-l0ng-Unusual-pass")
    assert not user.is_staff

    client.credentials(HTTP_AUTHORIZATION=f"Token {account['token']}")
    assert client.get("/api/v1/me/profile/").json()["username"] == "newbie"
    # The password works for the site's session login too.
    assert APIClient().login(username="newbie", password="a-l0ng-Unusual-pass")


def test_token_obtain_returns_the_same_key_until_revoked(world: World) -> None:
    client = APIClient()
    creds = {"username": "rater", "password": PASSWORD}
    first = client.post("/api/v1/auth/token/", creds, format="json").json()["token"]
    assert client.post("/api/v1/auth/token/", creds, format="json").json()["token"] == first

    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert client.delete("/api/v1/auth/token/").status_code == 204
    client.credentials()
    fresh = client.post("/api/v1/auth/token/", creds, format="json").json()["token"]
    assert fresh != first


def test_an_inactive_user_gets_no_token(world: World) -> None:
    UserFactory(username="gone", password=PASSWORD, is_active=False)
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "gone", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "authorization"
