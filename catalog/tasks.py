"""Celery tasks of the catalog: bulk TMDB poster fetching."""

from __future__ import annotations

from celery import shared_task

from catalog.services import movie_posters_fetch


@shared_task(acks_late=True, ignore_result=False)
def movie_posters_fetch_task(movie_ids: list[int], force: bool = False) -> dict[str, int]:
    """Idempotent: movies already checked are skipped, so a redelivered message is harmless."""
    return dict(movie_posters_fetch(movie_ids=movie_ids, force=force))
