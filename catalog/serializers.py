"""Shapes of the catalog in the API, and validation of the movie list's query string."""

from __future__ import annotations

from django.conf import settings
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


class MovieBriefSerializer(serializers.ModelSerializer):
    """A movie inside another object (a rating): enough to show and link it."""

    class Meta:
        model = Movie
        fields = ("id", "title", "year")
        read_only_fields = fields


class MovieListQuerySerializer(serializers.Serializer):
    search = serializers.CharField(
        required=False, max_length=200, allow_blank=True, help_text="Part of the title."
    )
    genre = serializers.CharField(
        required=False, max_length=64, allow_blank=True, help_text="Genre slug or name."
    )
    # An inverted range is no error: like any filter, it may simply match nothing.
    year_min = serializers.IntegerField(required=False, min_value=0, max_value=9999)
    year_max = serializers.IntegerField(required=False, min_value=0, max_value=9999)
    min_ratings = serializers.IntegerField(
        required=False, min_value=0, max_value=2**31 - 1, help_text="At least this many ratings."
    )
    ordering = serializers.ChoiceField(
        choices=sorted(MOVIE_ORDERINGS), default="popularity", required=False
    )
