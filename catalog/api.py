"""Catalog API: movies (list with search, filters and ordering; detail) and genres, for anyone."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny

from catalog.models import Genre, Movie
from catalog.selectors import genre_list, movie_get, movie_list
from catalog.serializers import (
    MAX_ID_DIGITS,
    GenreSerializer,
    MovieListQuerySerializer,
    MovieSerializer,
)
from recsite.api_views import ApiViewMixin

# Examples of lists show one item: drf-spectacular wraps it in the list or the page itself.
MOVIE_EXAMPLE = {
    "id": 1,
    "title": "Toy Story",
    "year": 1995,
    "genres": [{"name": "Animation", "slug": "animation"}, {"name": "Comedy", "slug": "comedy"}],
    "overview": "A cowboy doll is threatened by a new spaceman figure.",
    "poster_url": "https://image.tmdb.org/t/p/w342/uXDfjJbdP4ijW5hWSBrPrlKpxab.jpg",
    "rating_count": 215,
    "rating_mean": 3.92,
    "movielens_id": 1,
    "imdb_id": "tt0114709",
    "tmdb_id": 862,
}


@extend_schema_view(
    list=extend_schema(
        summary="List movies",
        description="Paginated; filter by title, genre, year range and rating count.",
        parameters=[MovieListQuerySerializer],
        examples=[OpenApiExample("A page of movies", value=MOVIE_EXAMPLE, response_only=True)],
        tags=["movies"],
    ),
    retrieve=extend_schema(
        summary="One movie",
        examples=[OpenApiExample("A movie", value=MOVIE_EXAMPLE, response_only=True)],
        tags=["movies"],
    ),
)
class MovieViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    """Anyone may read the catalog."""

    permission_classes = [AllowAny]
    serializer_class = MovieSerializer
    queryset = Movie.objects.none()  # for the schema's path types; get_queryset serves
    lookup_value_regex = rf"[0-9]{{1,{MAX_ID_DIGITS}}}"

    def get_queryset(self) -> QuerySet[Movie]:
        query = MovieListQuerySerializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        return movie_list(**query.validated_data)

    def get_object(self) -> Movie:
        movie = movie_get(movie_id=int(self.kwargs["pk"]))
        if movie is None:
            raise NotFound("No movie with this id.")
        return movie


@extend_schema_view(
    list=extend_schema(
        summary="List genres",
        description="All genres; their slugs are what profiles and filters take.",
        examples=[
            OpenApiExample("Genres", value={"name": "Comedy", "slug": "comedy"}, response_only=True)
        ],
        tags=["movies"],
    ),
)
class GenreViewSet(ApiViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [AllowAny]
    serializer_class = GenreSerializer
    pagination_class = None  # a few dozen rows

    def get_queryset(self) -> QuerySet[Genre]:
        return genre_list()
