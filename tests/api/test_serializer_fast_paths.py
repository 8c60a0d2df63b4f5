"""The hand-written to_representation of the movie and recommendation serializers must build
exactly what DRF's generic field-by-field path builds from the declared fields (which also
drive the OpenAPI schema), for every shape of movie."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from catalog.models import Genre, Movie
from catalog.serializers import MovieSerializer
from recommender.serializers import RecommendedMovieSerializer
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
