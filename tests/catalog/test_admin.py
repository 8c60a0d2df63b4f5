"""The catalog admin: title search, genre and year filters, counts shown, ratings browsable."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ratings.services import rating_upsert
from tests.factories import GenreFactory, MovieFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


@pytest.fixture
def catalog():
    drama, comedy = GenreFactory(name="Drama"), GenreFactory(name="Comedy")
    return {
        "alien": MovieFactory(title="Alien", year=1979, genres=[drama]),
        "aliens": MovieFactory(title="Aliens", year=1986, genres=[drama, comedy]),
        "amelie": MovieFactory(title="Amelie", year=2001, genres=[comedy]),
        "drama": drama,
        "comedy": comedy,
    }


def _listed_titles(response) -> set[str]:
    return {movie.title for movie in response.context["cl"].result_list}


def test_search_by_title(staff_client, catalog) -> None:
    response = staff_client.get(reverse("admin:catalog_movie_changelist"), {"q": "alien"})
    assert response.status_code == 200
    assert _listed_titles(response) == {"Alien", "Aliens"}


def test_filter_by_genre(staff_client, catalog) -> None:
    url = reverse("admin:catalog_movie_changelist")
    response = staff_client.get(url, {"genres__id__exact": catalog["comedy"].pk})
    assert _listed_titles(response) == {"Aliens", "Amelie"}


def test_filter_by_year_and_decade(staff_client, catalog) -> None:
    url = reverse("admin:catalog_movie_changelist")
    assert _listed_titles(staff_client.get(url, {"year": 1979})) == {"Alien"}
    assert _listed_titles(staff_client.get(url, {"decade": "1980"})) == {"Aliens"}


def test_rating_count_and_mean_are_shown(staff_client, catalog) -> None:
    rating_upsert(user=UserFactory(), movie=catalog["amelie"], score="4.5")
    rating_upsert(user=UserFactory(), movie=catalog["amelie"], score="3.5")
    response = staff_client.get(reverse("admin:catalog_movie_changelist"), {"q": "amelie"})
    html = response.content.decode()
    assert "4.00" in html
    assert ">2<" in html


def test_ratings_are_browsable_per_movie_and_per_user(staff_client, catalog) -> None:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    rating_upsert(user=alice, movie=catalog["alien"], score="5.0")
    rating_upsert(user=bob, movie=catalog["alien"], score="3.0")
    rating_upsert(user=alice, movie=catalog["amelie"], score="4.0")
    url = reverse("admin:ratings_rating_changelist")

    per_movie = staff_client.get(url, {"movie__id__exact": catalog["alien"].pk})
    per_user = staff_client.get(url, {"user__id__exact": alice.pk})

    assert {(r.user.username, r.movie.title) for r in per_movie.context["cl"].result_list} == {
        ("alice", "Alien"),
        ("bob", "Alien"),
    }
    assert {r.movie.title for r in per_user.context["cl"].result_list} == {"Alien", "Amelie"}


def test_genres_are_editable_inline(staff_client, catalog) -> None:
    response = staff_client.get(reverse("admin:catalog_movie_change", args=[catalog["alien"].pk]))
    assert response.status_code == 200
    assert "Movie_genres-TOTAL_FORMS" in response.content.decode()


def test_admin_requires_staff(client, catalog) -> None:
    client.force_login(UserFactory())
    response = client.get(reverse("admin:catalog_movie_changelist"))
    assert response.status_code == 302


def test_the_movie_page_names_its_genre_rows_and_rounds_the_mean(staff_client, catalog) -> None:
    for score in ("4.5", "3.5", "3.0"):  # mean 3.666...: a float with 15 decimals
        rating_upsert(user=UserFactory(), movie=catalog["aliens"], score=score)
    url = reverse("admin:catalog_movie_change", args=[catalog["aliens"].pk])
    html = staff_client.get(url).content.decode()
    assert "Movie_genres object" not in html
    assert "Aliens (1986): Drama" in html
    assert "Aliens (1986): Comedy" in html
    assert "3.67" in html
    assert "3.666" not in html
