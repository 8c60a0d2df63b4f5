"""Shapes of the catalog in the API, and validation of the movie list's query string."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from rest_framework import serializers

from catalog.models import Genre, Movie
from catalog.selectors import MOVIE_ORDERINGS

MAX_ID_DIGITS = 18  # fits a bigint: a longer id in a path is simply not found, never a DB error


class GenreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Genre
        fields = ("name", "slug")
        read_only_fields = fields


class MovieSerializer(serializers.ModelSerializer):
    genres = GenreSerializer(many=True, read_only=True)
    poster_url = serializers.SerializerMethodField(
        help_text="TMDB poster image, or null when the movie has none cached."
    )

    class Meta:
        model = Movie
        fields = (
            "id",
            "title",
            "year",
            "genres",
            "overview",
            "poster_url",
            "rating_count",
            "rating_mean",
            "movielens_id",
            "imdb_id",
            "tmdb_id",
        )
        read_only_fields = fields

    def get_poster_url(self, movie: Movie) -> str | None:
        if not movie.poster_path:
            return None
        return f"{settings.TMDB_IMAGE_URL.rstrip('/')}/w342/{movie.poster_path.lstrip('/')}"

    def to_representation(self, movie: Movie) -> dict[str, Any]:
        """The dict DRF's generic path builds from the fields above (a test holds them equal),
        written out: lists of recommendations render 20 to 100 movies per request, and the
        generic path was 40 % of the recommendation endpoint's time."""
        return {
            "id": movie.pk,
            "title": movie.title,
            "year": movie.year,
            "genres": [{"name": g.name, "slug": g.slug} for g in _genres(movie)],
            "overview": movie.overview,
            "poster_url": self.get_poster_url(movie),
            "rating_count": movie.rating_count,
            "rating_mean": None if movie.rating_mean is None else float(movie.rating_mean),
            "movielens_id": movie.movielens_id,
            "imdb_id": movie.imdb_id,
            "tmdb_id": movie.tmdb_id,
        }


def _genres(movie: Movie) -> Any:
    """The movie's genres: the prefetched list when the query prefetched them (Django keeps it
    in `_prefetched_objects_cache`), else `movie.genres.all()`. Going through the manager built
    a related manager per movie, a sixth of the recommendation endpoint's time per request."""
    cached = getattr(movie, "_prefetched_objects_cache", None)
    if cached is not None and "genres" in cached:
        return cached["genres"]
    return movie.genres.all()


class MovieBriefSerializer(serializers.ModelSerializer):
    """A movie inside another object (a rating): enough to show and link it."""

    class Meta:
        model = Movie
        fields = ("id", "title", "year")
        read_only_fields = fields


class QueryTextField(serializers.CharField):
    """Free text in a query string. NUL is refused (Postgres cannot compare it), and the schema
    says so with a pattern, so clients and the fuzzer know it is not valid input."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # "+", not "*": the schema adds "or empty" itself, in a oneOf that must not match twice.
        self.validators.append(RegexValidator(r"^[^\x00]+$", "Null characters are not allowed."))


class QueryIntegerField(serializers.IntegerField):
    """A whole number in a query string: digits only (DRF would also read "1.0" as 1)."""

    def to_internal_value(self, data: Any) -> int:
        if not (isinstance(data, str) and re.fullmatch(r"-?[0-9]+", data)):
            self.fail("invalid")
        return super().to_internal_value(data)


class MovieListQuerySerializer(serializers.Serializer):
    search = QueryTextField(
        required=False, max_length=200, allow_blank=True, help_text="Part of the title."
    )
    genre = QueryTextField(
        required=False, max_length=64, allow_blank=True, help_text="Genre slug or name."
    )
    # An inverted range is no error: like any filter, it may simply match nothing.
    year_min = QueryIntegerField(required=False, min_value=0, max_value=9999)
    year_max = QueryIntegerField(required=False, min_value=0, max_value=9999)
    min_ratings = QueryIntegerField(
        required=False, min_value=0, max_value=2**31 - 1, help_text="At least this many ratings."
    )
    ordering = serializers.ChoiceField(
        choices=sorted(MOVIE_ORDERINGS), default="popularity", required=False
    )
