"""Reads of ratings and profiles."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Prefetch, QuerySet, Window
from django.db.models.functions import RowNumber

from catalog.models import Genre, Movie
from catalog.selectors import MOVIE_ORDERINGS
from ratings.models import Profile, Rating


def rating_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Rating]:
    return (
        Rating.objects.filter(user=user)
        .select_related("movie")
        .prefetch_related("movie__genres")
        .order_by("-rated_at", "-id")
    )


def rating_count_for_user(*, user: AbstractBaseUser) -> int:
    """How many films the user has rated; 0 for a visitor."""
    if not user.is_authenticated:
        return 0
    return Rating.objects.filter(user=user).count()


def rating_get(*, user: AbstractBaseUser, movie_id: int) -> Rating | None:
    if not user.is_authenticated:
        return None
    return Rating.objects.filter(user=user, movie_id=movie_id).first()


def rating_scores_for_user(*, user: AbstractBaseUser, movie_ids: list[int]) -> dict[int, float]:
    """The user's scores of the given movies, for rendering many cards with one query."""
    if not user.is_authenticated or not movie_ids:
        return {}
    rows = Rating.objects.filter(user=user, movie_id__in=movie_ids).values_list("movie_id", "score")
    return {movie_id: float(score) for movie_id, score in rows}


def profile_for_user(*, user: AbstractBaseUser) -> Profile | None:
    if not user.is_authenticated:
        return None
    return Profile.objects.prefetch_related("favourite_genres").filter(user=user).first()


def _round_robin(columns: list[list[int]], limit: int) -> list[int]:
    """Take one id from each column in turn, skipping ids already taken, up to limit."""
    taken: list[int] = []
    seen: set[int] = set()
    cursors = [0] * len(columns)
    while len(taken) < limit and any(c < len(col) for c, col in zip(cursors, columns, strict=True)):
        for i, column in enumerate(columns):
            while cursors[i] < len(column) and column[cursors[i]] in seen:
                cursors[i] += 1
            if cursors[i] < len(column) and len(taken) < limit:
                seen.add(column[cursors[i]])
                taken.append(column[cursors[i]])
                cursors[i] += 1
    return taken


def onboarding_movies_for_user(*, user: AbstractBaseUser, limit: int) -> list[Movie]:
    """Starter films for onboarding: the most rated of the user's favourite genres, taken in turn
    from each genre, then the most rated films overall to fill up; never a film already rated."""
    rated = Rating.objects.filter(user=user).values("movie_id")
    picked = Profile.favourite_genres.through.objects.filter(profile__user=user).values("genre_id")
    movie_genre = Movie.genres.through
    rows = (
        movie_genre.objects.filter(genre_id__in=picked)
        .exclude(movie_id__in=rated)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("genre_id")],
                order_by=[F("movie__rating_count").desc(), F("movie_id").asc()],
            )
        )
        .filter(rank__lte=limit)
        .order_by("genre__name", "genre_id", "rank")
        .values_list("genre_id", "movie_id")
    )
    columns: dict[int, list[int]] = {}
    for genre_id, movie_id in rows:
        columns.setdefault(genre_id, []).append(movie_id)
    ids = _round_robin(list(columns.values()), limit)
    if len(ids) < limit:
        fill = (
            Movie.objects.exclude(pk__in=rated)
            .exclude(pk__in=ids)
            .order_by(*MOVIE_ORDERINGS["popularity"])
            .values_list("pk", flat=True)[: limit - len(ids)]
        )
        ids += list(fill)
    movies = Movie.objects.filter(pk__in=ids).prefetch_related(
        Prefetch("genres", queryset=Genre.objects.order_by("name"))
    )
    by_id = {movie.pk: movie for movie in movies}
    return [by_id[pk] for pk in ids if pk in by_id]
