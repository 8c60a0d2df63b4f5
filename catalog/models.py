"""Catalog: genres and movies (MovieLens, IMDb and TMDB ids, cached poster fields)."""

from django.db import models


class Genre(models.Model):
    name = models.CharField(max_length=64, unique=True)
    slug = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Movie(models.Model):
    title = models.CharField(max_length=300, db_index=True)
    year = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    genres = models.ManyToManyField(Genre, related_name="movies", blank=True)
    movielens_id = models.PositiveIntegerField(unique=True, null=True, blank=True)
    imdb_id = models.CharField(max_length=16, blank=True, db_index=True)
    tmdb_id = models.PositiveIntegerField(null=True, blank=True, db_index=True)
    poster_path = models.CharField(max_length=200, blank=True)
    overview = models.TextField(blank=True)
    poster_checked_at = models.DateTimeField(null=True, blank=True)
    # Denormalised for listing and popularity; kept correct by ratings.services.
    rating_count = models.PositiveIntegerField(default=0, db_index=True)
    rating_mean = models.FloatField(default=0.0)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating_mean__gte=0) & models.Q(rating_mean__lte=5),
                name="movie_rating_mean_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title


class MovieGenre(Movie.genres.through):  # type: ignore[misc, name-defined]
    """One genre of one movie: the link table Django made for Movie.genres, with a name fit for
    the admin's genre rows ("Toy Story (1995): Comedy", not "Movie_genres object (14264)")."""

    class Meta:
        proxy = True
        verbose_name = "genre"
        verbose_name_plural = "genres"

    def __str__(self) -> str:
        return f"{self.movie}: {self.genre}"
