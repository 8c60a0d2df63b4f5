"""Writes of the recommender: training runs, activation, retrain triggers."""

from __future__ import annotations


def ratings_changed(*, user_id: int) -> None:
    """Called after a user's ratings change (commit): invalidation and auto-retrain hook."""
    # The pipeline (issue #4) counts new ratings here and enqueues a retrain past the threshold.
    return None
