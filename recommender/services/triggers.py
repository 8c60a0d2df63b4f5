"""What starts a retrain besides a person: the schedule, and N new ratings."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ratings.models import Rating
from recommender.models import IN_FLIGHT_STATUSES, TrainingRun
from recommender.services.errors import TrainingAlreadyRunning
from recommender.services.training_runs import training_run_start

logger = logging.getLogger(__name__)


def training_run_scheduled() -> TrainingRun | None:
    """The periodic retrain: skipped, not failed, while another run is in flight."""
    try:
        return training_run_start(
            backend=settings.RECSITE_DEFAULT_BACKEND,
            config=None,
            trigger=TrainingRun.Trigger.SCHEDULE,
        )
    except TrainingAlreadyRunning as exc:
        logger.info("scheduled retrain skipped: %s", exc)
        return None


def ratings_changed(*, user_id: int) -> None:
    """After a rating commits: retrain once RECSITE_RETRAIN_AFTER_RATINGS new ratings (rows
    created, not re-rated) came in since the last run started, and no automatic run started in
    the last RECSITE_AUTO_RETRAIN_MIN_SECONDS, so re-rating the same films, or one busy user,
    cannot keep the workers training. One indexed, LIMIT-bounded count per rating; never
    raises, since the rating itself is already saved."""
    threshold = int(settings.RECSITE_RETRAIN_AFTER_RATINGS)
    if threshold <= 0:
        return
    last = TrainingRun.objects.order_by("-created").values_list("created", "status").first()
    if last is not None and last[1] in IN_FLIGHT_STATUSES:
        return
    gap = timedelta(seconds=int(settings.RECSITE_AUTO_RETRAIN_MIN_SECONDS))
    if TrainingRun.objects.filter(
        trigger=TrainingRun.Trigger.AUTO, created__gt=timezone.now() - gap
    ).exists():
        return
    ratings = Rating.objects.order_by()
    if last is not None:
        ratings = ratings.filter(created__gt=last[0])
    if ratings[:threshold].count() < threshold:
        return
    try:
        run = training_run_start(
            backend=settings.RECSITE_DEFAULT_BACKEND, config=None, trigger=TrainingRun.Trigger.AUTO
        )
        logger.info("retrain %s started after %d new ratings (user %s)", run.pk, threshold, user_id)
    except TrainingAlreadyRunning:
        return
    except Exception:  # the rating is saved: a retrain that cannot start must not fail it
        logger.exception("automatic retrain could not start")
