"""Writes of ratings and profiles; movie rating counts and means are kept correct here."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Avg, Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Genre, Movie
from ratings.models import ALLOWED_SCORES, Profile, Rating


def score_parse(value: object) -> Decimal:
    """A score from user input: exactly 0.5 to 5.0 in half steps, else ValidationError.

    Off-grid values are refused, never rounded (4.96 is not 5.0). Decimal comparisons are exact,
    so no precision of the arithmetic context can round a near miss onto the grid."""
    try:
        score = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError("A score must be a number from 0.5 to 5.0.", code="invalid") from exc
    if not score.is_finite():
        raise ValidationError("A score must be a number from 0.5 to 5.0.", code="invalid")
    off_grid = ValidationError(
        "A score must be from 0.5 to 5.0 in half-star steps.", code="out_of_range"
    )
    if not ALLOWED_SCORES[0] <= score <= ALLOWED_SCORES[-1]:
        raise off_grid
    one_place = score.quantize(Decimal("0.1"))
    if one_place != score or one_place not in ALLOWED_SCORES:
        raise off_grid
    return one_place


def movie_stats_refresh(*, movie_ids: Iterable[int]) -> None:
    """Recompute rating_count and rating_mean from the ratings table (exact, idempotent)."""
    ids = list(movie_ids)
    if not ids:
        return
    ratings = Rating.objects.filter(movie=OuterRef("pk")).order_by().values("movie")
    Movie.objects.filter(pk__in=ids).update(
        rating_count=Coalesce(Subquery(ratings.annotate(n=Count("pk")).values("n")), Value(0)),
        rating_mean=Coalesce(Subquery(ratings.annotate(m=Avg("score")).values("m")), Value(0.0)),
    )


def _after_rating_change(user_id: int) -> None:
    # Imported lazily: the recommender depends on ratings, not the other way round.
    from recommender.services.triggers import ratings_changed

    ratings_changed(user_id=user_id)


@transaction.atomic
def rating_upsert(*, user: AbstractBaseUser, movie: Movie, score: object) -> Rating:
    """Create or update the user's one rating of the movie."""
    parsed = score_parse(score)
    # Lock the movie row: ratings of one movie serialise, so counts and the unique pair hold.
    Movie.objects.select_for_update().filter(pk=movie.pk).values_list("pk").first()
    rating, _ = Rating.objects.update_or_create(
        user=user, movie=movie, defaults={"score": parsed, "rated_at": timezone.now()}
    )
    movie_stats_refresh(movie_ids=[movie.pk])
    transaction.on_commit(lambda: _after_rating_change(user.pk))
    return rating


@transaction.atomic
def rating_delete(*, user: AbstractBaseUser, movie: Movie) -> bool:
    """Remove the user's rating of the movie; False when there was none."""
    Movie.objects.select_for_update().filter(pk=movie.pk).values_list("pk").first()
    deleted, _ = Rating.objects.filter(user=user, movie=movie).delete()
    if deleted:
        movie_stats_refresh(movie_ids=[movie.pk])
        transaction.on_commit(lambda: _after_rating_change(user.pk))
    return bool(deleted)


def profile_get_or_create(*, user: AbstractBaseUser) -> Profile:
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


@transaction.atomic
def profile_set_favourite_genres(*, user: AbstractBaseUser, genres: Iterable[Genre]) -> Profile:
    profile = profile_get_or_create(user=user)
    profile.favourite_genres.set(list(genres))
    return profile


def profile_mark_onboarded(*, user: AbstractBaseUser) -> Profile:
    profile = profile_get_or_create(user=user)
    if not profile.onboarded:
        profile.onboarded = True
        profile.save(update_fields=["onboarded"])
    return profile
