"""The recommender's answer to catalog.feeds.page_feed: the rows of the home and movie pages."""

from __future__ import annotations

from catalog.feeds import PageFeed, User
from catalog.models import Movie
from recommender.serving.edge import (
    HomeRow,
    home_rows_for_user,
    recommendations_for_user,
    similar_movies,
)
from recommender.serving.ranking import ROW_LENGTH

SIMILAR_COUNT = 12


def page_feed(user: User, movie: Movie | None) -> PageFeed:
    """Home: the named rows. Movie page: More like this, and the reason the movie is among the
    user's top picks (the card's reason: the liked film nearest to it), if it is."""
    if movie is None:
        return PageFeed(rows=list(home_rows_for_user(user)))
    similar = similar_movies(movie, SIMILAR_COUNT)
    rows = [HomeRow(title="More like this", slug="more-like-this", items=tuple(similar))]
    reason = None
    if getattr(user, "is_authenticated", False):
        picks = recommendations_for_user(user, ROW_LENGTH)
        reason = next((item.reason for item in picks if item.movie.pk == movie.pk), None)
    return PageFeed(rows=rows if similar else [], reason=reason)
