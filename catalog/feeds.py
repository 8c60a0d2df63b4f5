"""The one hook through which catalog pages get recommendations, without importing them.

catalog is the base app: recommender depends on it, never the reverse. The recommender
registers its provider when Django starts (RecommenderConfig.ready); without one (catalog
alone) the pages show no personal rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from catalog.models import Movie

User = AbstractBaseUser | AnonymousUser


class FeedItem(Protocol):
    movie: Movie
    score: float
    source: str
    reason: str


class FeedRow(Protocol):
    title: str
    slug: str
    items: Sequence[Any]  # FeedItems


@dataclass(frozen=True)
class PageFeed:
    """What a page shows from the recommender: rows top to bottom (the home page's, or the
    movie page's "More like this"), and for a movie page why that movie is recommended to the
    user ("Because you rated Up 5 stars"), None when it is not among the user's picks."""

    rows: list[Any] = field(default_factory=list)  # FeedRows
    reason: str | None = None


Provider = Callable[[User, Movie | None], PageFeed]


def _no_recommender(user: User, movie: Movie | None) -> PageFeed:
    return PageFeed()


_provider: Provider = _no_recommender


def feed_provider_register(provider: Provider) -> None:
    """Install the function that answers page_feed (the recommender's, at start-up)."""
    global _provider
    _provider = provider


def page_feed(user: User, movie: Movie | None = None) -> PageFeed:
    """The home page's rows (movie None) or a movie page's rows and reason."""
    return _provider(user, movie)
