"""The hand-written to_representation of the movie and recommendation serializers must build
exactly what DRF's generic field-by-field path builds from the declared fields (which also
drive the OpenAPI schema), for every shape of movie; and the direct reading of `?k=` must give
what the query serializers give."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from catalog.models import Genre, Movie
from catalog.serializers import MovieSerializer
from recommender.serializers import (
    RecommendationQuerySerializer,
    RecommendedMovieSerializer,
    SimilarQuerySerializer,
    recommended_movies_data,
    validated_k_query,
)
from recommender.serving.edge import RecommendedMovie
from tests.factories import MovieFactory

pytestmark = pytest.mark.django_db


def _generic(serializer: serializers.Serializer, instance: object) -> dict:
    """What DRF's own Serializer.to_representation makes of the declared fields."""
    return dict(serializers.Serializer.to_representation(serializer, instance))


@pytest.fixture
def movies() -> list[Movie]:
    drama = Genre.objects.create(name="Drama", slug="drama")
    horror = Genre.objects.create(name="Horror", slug="horror")
    return [
        MovieFactory(genres=[horror, drama], overview="Dark & <stormy>", poster_path="/p.jpg"),
        MovieFactory(
            year=None, movielens_id=None, tmdb_id=None, imdb_id="", poster_path="", genres=[]
        ),
        MovieFactory(
            title="Ünïcode \u2603",
            tmdb_id=603,
            imdb_id="tt0133093",
            rating_count=7,
            rating_mean=4.25,
        ),
    ]


def test_the_movie_fast_path_equals_the_generic_path(movies: list[Movie], settings) -> None:
    settings.TMDB_IMAGE_URL = "https://images.example/t/p/"
    serializer = MovieSerializer()
    for movie in Movie.objects.filter(pk__in=[m.pk for m in movies]).prefetch_related("genres"):
        fast = serializer.to_representation(movie)
        assert fast == _generic(serializer, movie)
        assert list(fast) == list(serializer.fields)  # same keys, same order
    assert MovieSerializer(movies[0]).data["poster_url"] == "https://images.example/t/p/w342/p.jpg"


def test_the_recommendation_fast_path_equals_the_generic_path(movies: list[Movie]) -> None:
    serializer = RecommendedMovieSerializer()
    for source, movie in zip(("ncf", "cold_start", "popular"), movies, strict=True):
        item = RecommendedMovie(movie=movie, score=0.25, source=source, reason="Because")
        fast = serializer.to_representation(item)
        assert fast == _generic(serializer, item)
        assert list(fast) == list(serializer.fields)


QUERIES = [
    {},
    *({"k": str(k)} for k in range(0, 103)),
    *({"k": raw} for raw in ("", "007", "-1", "+5", " 5", "5 ", "1.0", "1e2", "²", "٣", "abc")),
    {"k": "9" * 9},
    {"k": "9" * 12},
    {"k": "5", "genre": "comedy"},
    {"genre": ""},
    {"k": "5", "other": "1"},
]


@pytest.mark.parametrize(
    "serializer_class", [RecommendationQuerySerializer, SimilarQuerySerializer]
)
def test_the_k_query_fast_path_equals_the_serializer(serializer_class: type) -> None:
    """Every query read directly gives what the serializer gives, and every query it cannot
    read fails with the serializer's own error."""
    for query in QUERIES:
        params = QueryDict(mutable=True)
        params.update(query)
        serializer = serializer_class(data=dict(query))
        if serializer.is_valid():
            assert validated_k_query(serializer_class, params) == dict(serializer.validated_data)
        else:
            with pytest.raises(ValidationError) as refused:
                validated_k_query(serializer_class, params)
            assert refused.value.detail == serializer.errors, query


def test_the_list_fast_path_equals_the_list_serializer(movies: list[Movie]) -> None:
    items = [
        RecommendedMovie(movie=movie, score=0.5 - i / 10, source="ncf", reason=f"Because {i}")
        for i, movie in enumerate(movies)
    ]
    fast = recommended_movies_data(items)
    assert fast == RecommendedMovieSerializer(items, many=True).data
    assert [row["movie"]["id"] for row in fast] == [m.pk for m in movies]  # order kept
    assert recommended_movies_data([]) == []


def test_an_item_served_again_reuses_its_dict_and_a_new_item_gets_its_own(
    movies: list[Movie],
) -> None:
    item = RecommendedMovie(movie=movies[0], score=0.5, source="ncf", reason="Because")
    first = recommended_movies_data([item])
    again = recommended_movies_data([item])
    assert again[0] is first[0]  # the memo's item: built once
    assert again == RecommendedMovieSerializer([item], many=True).data

    movies[0].title = "Renamed"  # a later list materialises new items from the database
    renewed = RecommendedMovie(movie=movies[0], score=0.5, source="ncf", reason="Because")
    assert recommended_movies_data([renewed])[0]["movie"]["title"] == "Renamed"
    assert first[0]["movie"]["title"] != "Renamed"


@pytest.mark.django_db
def test_a_repeated_request_answers_the_same_json_and_a_new_rating_changes_it(
    movies: list[Movie], settings
) -> None:
    from rest_framework.test import APIClient

    from ratings.services import rating_upsert
    from tests.factories import UserFactory

    settings.RECSITE_RESULT_CACHE_SECONDS = 300
    user = UserFactory()
    client = APIClient()
    client.force_authenticate(user)
    first = client.get("/api/v1/me/recommendations/?k=3")
    again = client.get("/api/v1/me/recommendations/?k=3")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    top = first.json()[0]["movie"]["id"]
    rating_upsert(user=user, movie=Movie.objects.get(pk=top), score=5)
    after = client.get("/api/v1/me/recommendations/?k=3")
    assert top not in [row["movie"]["id"] for row in after.json()]  # rated: never recommended
