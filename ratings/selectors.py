"""Reads of ratings and profiles."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from ratings.models import Profile, Rating


def rating_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Rating]:
    return (
        Rating.objects.filter(user=user)
        .select_related("movie")
        .prefetch_related("movie__genres")
        .order_by("-rated_at", "-id")
    )


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
