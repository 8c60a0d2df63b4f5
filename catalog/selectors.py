"""Reads of the catalog: listing, filtering, search and popularity."""

from __future__ import annotations

from django.db.models import (
    Case,
    ExpressionWrapper,
    F,
    FloatField,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)

from catalog.models import Genre, Movie

MOVIE_ORDERINGS = {
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
    "year": (F("year").asc(nulls_last=True), "id"),
    "-year": (F("year").desc(nulls_last=True), "id"),
    "popularity": ("-rating_count", "id"),
    # damped_mean is annotated by movie_list, None for an unrated movie: those come last.
    "rating": (F("damped_mean").desc(nulls_last=True), "-rating_count", "id"),
    "newest": ("-created", "-id"),
}


# "Top rated" ranks by a Bayesian (damped) mean: this many pseudo-ratings at the catalog's mean,
# so a film rated 5.0 by two people does not lead one rated 4.3 by a thousand.
DAMPING_COUNT = 10.0


def damped_mean_expression() -> Case:
    """(count x mean + DAMPING_COUNT x catalog mean) / (count + DAMPING_COUNT), per rated movie;
    None for a movie nobody rated."""
    totals = Movie.objects.aggregate(
        weighted=Sum(F("rating_count") * F("rating_mean"), output_field=FloatField()),
        n=Sum("rating_count"),
    )
    catalog_mean = (totals["weighted"] or 0.0) / totals["n"] if totals["n"] else 3.5
    damped = ExpressionWrapper(
        (F("rating_count") * F("rating_mean") + Value(DAMPING_COUNT * catalog_mean))
        / (F("rating_count") + Value(DAMPING_COUNT)),
        output_field=FloatField(),
    )
    return Case(When(rating_count__gt=0, then=damped), default=None, output_field=FloatField())


def genre_list() -> QuerySet[Genre]:
    return Genre.objects.order_by("name")


def movie_list(
    *,
    search: str | None = None,
    genre: str | None = None,
    year_min: int | None = None,
    year_max: int | None = None,
    min_ratings: int | None = None,
    ordering: str = "popularity",
) -> QuerySet[Movie]:
    """Movies filtered by title search, genre slug or name, year range and rating count."""
    movies = Movie.objects.all()
    if search:
        movies = movies.filter(title__icontains=search.strip())
    if genre:
        movies = movies.filter(Q(genres__slug=genre) | Q(genres__name__iexact=genre))
    if year_min is not None:
        movies = movies.filter(year__gte=year_min)
    if year_max is not None:
        movies = movies.filter(year__lte=year_max)
    if min_ratings is not None:
        movies = movies.filter(rating_count__gte=min_ratings)
    order = MOVIE_ORDERINGS.get(ordering, MOVIE_ORDERINGS["popularity"])
    if ordering == "rating":
        movies = movies.annotate(damped_mean=damped_mean_expression())
    return movies.order_by(*order).prefetch_related(
        Prefetch("genres", queryset=Genre.objects.order_by("name"))
    )


def movie_get(*, movie_id: int) -> Movie | None:
    return (
        Movie.objects.prefetch_related(Prefetch("genres", queryset=Genre.objects.order_by("name")))
        .filter(pk=movie_id)
        .first()
    )


def movie_popular(*, limit: int = 24, genre: str | None = None) -> QuerySet[Movie]:
    """Most rated movies; the signed-out rows and the onboarding grid use this."""
    return movie_list(genre=genre, ordering="popularity")[:limit]
