"""Ratings (one per user and movie, half stars 0.5 to 5.0) and user profiles."""

from decimal import Decimal

from django.conf import settings
from django.db import models

from catalog.models import Genre, Movie

ALLOWED_SCORES = tuple(Decimal(n) / 2 for n in range(1, 11))  # 0.5, 1.0, ..., 5.0


class Rating(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings"
    )
    movie = models.ForeignKey(Movie, on_delete=models.CASCADE, related_name="ratings")
    score = models.DecimalField(max_digits=2, decimal_places=1)
    # When the rating was given: MovieLens timestamps for imported data, now for live ratings.
    rated_at = models.DateTimeField(db_index=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-rated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "movie"], name="one_rating_per_user_and_movie"),
            models.CheckConstraint(
                condition=models.Q(score__in=ALLOWED_SCORES), name="rating_score_half_stars"
            ),
        ]
        indexes = [models.Index(fields=["movie", "user"], name="rating_movie_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.movie_id}: {self.score}"


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    favourite_genres = models.ManyToManyField(Genre, related_name="fans", blank=True)
    # Set for raters imported from MovieLens; those users are inactive and cannot log in.
    movielens_id = models.PositiveIntegerField(unique=True, null=True, blank=True)
    onboarded = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Profile of {self.user_id}"
