"""Admin for catalog management: search by title, filter by genre and year, genres inline."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from catalog.models import Genre, Movie, MovieGenre


class MovieGenreInline(admin.TabularInline):
    model = MovieGenre  # the link table, named "Toy Story (1995): Comedy" on its rows
    extra = 1
    autocomplete_fields = ("genre",)
    verbose_name = "genre"
    verbose_name_plural = "genres"

    def get_queryset(self, request: HttpRequest) -> QuerySet[MovieGenre]:
        return super().get_queryset(request).select_related("movie", "genre")


class DecadeListFilter(admin.SimpleListFilter):
    title = "decade"
    parameter_name = "decade"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(str(d), f"{d}s") for d in range(2020, 1890, -10)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Movie]) -> QuerySet[Movie]:
        if self.value():
            start = int(self.value())
            return queryset.filter(year__gte=start, year__lt=start + 10)
        return queryset


@admin.register(Genre)
class GenreAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Movie)
class MovieAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "year",
        "genre_names",
        "rating_count",
        "rating_mean_display",
        "movielens_id",
        "ratings_link",
    )
    list_filter = ("genres", DecadeListFilter, "year")
    search_fields = ("title", "=movielens_id", "=imdb_id")
    ordering = ("-rating_count", "title")
    readonly_fields = (
        "rating_count",
        "rating_mean_display",
        "created",
        "updated",
        "poster_checked_at",
    )
    exclude = ("genres",)
    inlines = (MovieGenreInline,)
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over 60k movies on every page is wasted work
    fieldsets = (
        (None, {"fields": ("title", "year")}),
        ("Identifiers", {"fields": ("movielens_id", "imdb_id", "tmdb_id")}),
        ("TMDB", {"fields": ("poster_path", "overview", "poster_checked_at")}),
        ("Ratings", {"fields": ("rating_count", "rating_mean_display", "created", "updated")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Movie]:
        return super().get_queryset(request).prefetch_related("genres")

    @admin.display(description="genres")
    def genre_names(self, movie: Movie) -> str:
        return ", ".join(g.name for g in movie.genres.all())

    @admin.display(description="mean rating", ordering="rating_mean")
    def rating_mean_display(self, movie: Movie) -> str:
        return f"{movie.rating_mean:.2f}" if movie.rating_count else "-"

    @admin.display(description="ratings")
    def ratings_link(self, movie: Movie) -> str:
        url = reverse("admin:ratings_rating_changelist") + f"?movie__id__exact={movie.pk}"
        return format_html('<a href="{}">browse</a>', url)
