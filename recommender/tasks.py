"""Celery tasks of the recommender: ids in, the services re-read the world; all idempotent."""

from __future__ import annotations

import logging
from typing import Any

from celery import chord, group, shared_task
from celery.app.task import Task
from celery.signals import worker_ready
from django.conf import settings
from django.db import OperationalError

from recommender.models import ModelVersion
from recommender.services import errors, training, training_runs, triggers
from recommender.services import precompute as precomputing

logger = logging.getLogger(__name__)

# Idempotent tasks acknowledge after they finish: a worker killed mid-run leaves the message to
# be delivered again, and the services make a second delivery harmless.
IDEMPOTENT: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": 5,
}
# Tasks whose return value nobody reads store none. Only the precompute chord needs the result
# store (its chunks' results count towards the finish); publishing any other task must not
# depend on it: with Redis as the result store, a publish that keeps a result first subscribes
# to it, and with Redis down that took 20 s of retries and ended in a RuntimeError (a 500).
NO_RESULT: dict[str, Any] = {**IDEMPOTENT, "ignore_result": True}


@shared_task(bind=True, **{**NO_RESULT, "max_retries": 100})
def training_run_execute(self: Task, training_run_id: int) -> int | None:
    """Train one run; the chain's next task precomputes if it activated a version."""
    try:
        return training.training_run_execute(training_run_id=training_run_id)
    except errors.TrainingLockBusy as busy:
        # Another run trains now (only after a crash can that happen): retry once its lock
        # could have lapsed; a dead holder's lock is then taken over.
        logger.info("training run %s waits for run %s", training_run_id, busy.holder_id)
        raise self.retry(countdown=busy.retry_in, exc=busy) from busy


@shared_task(**NO_RESULT)
def model_version_precompute_for_run(training_run_id: int) -> None:
    """The follow-up of a training: precompute the run's version if it is active and not done."""
    version = ModelVersion.objects.filter(training_run_id=training_run_id).first()
    if version is None or not version.is_active or version.precomputed_at is not None:
        return
    model_version_precompute.delay(version.pk)


@shared_task(**NO_RESULT)
def model_version_precompute(model_version_id: int) -> int:
    """Fan the version's users out over chunk tasks; a chord sets precomputed_at at the end."""
    version = ModelVersion.objects.filter(pk=model_version_id).first()
    if version is None or version.precomputed_at is not None:
        return 0
    chunks = precomputing.model_version_precompute_chunks(model_version_id=model_version_id)
    if not chunks:
        precomputing.model_version_precompute_finish(model_version_id=model_version_id)
        return 0
    parts = group(recommendations_precompute_chunk.si(model_version_id, c) for c in chunks)
    chord(parts)(model_version_precompute_finish.si(model_version_id))
    return len(chunks)


@shared_task(**IDEMPOTENT)
def recommendations_precompute_chunk(model_version_id: int, user_ids: list[int]) -> int:
    return precomputing.recommendations_precompute_chunk(
        model_version_id=model_version_id, user_ids=user_ids
    )


@shared_task(**IDEMPOTENT)
def model_version_precompute_finish(model_version_id: int) -> None:
    precomputing.model_version_precompute_finish(model_version_id=model_version_id)


@shared_task(**NO_RESULT)
def training_run_scheduled() -> int | None:
    """Run by beat (the weekly PeriodicTask); skipped while a run is in flight."""
    run = triggers.training_run_scheduled()
    return run.pk if run is not None else None


@shared_task(**NO_RESULT)
def training_runs_reap(precompute: bool = True) -> list[int]:
    """The periodic reaper (beat): lost training runs, and lists whose precompute stalled (not
    when a starting worker asks: it reaps those at once, whatever their age)."""
    if precompute:
        precomputing.model_versions_precompute_reap(
            min_age_seconds=float(settings.RECSITE_PRECOMPUTE_STALL_SECONDS)
        )
    return training_runs.training_runs_reap()


@shared_task(**NO_RESULT)
def model_versions_precompute_reap(min_age_seconds: float) -> list[int]:
    return precomputing.model_versions_precompute_reap(min_age_seconds=min_age_seconds)


@worker_ready.connect
def _reap_on_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts after a crash picks up the runs and the precompute chunks the dead
    one left behind (its unacknowledged chunks would otherwise wait for the visibility timeout)."""
    try:
        training_runs_reap.delay(precompute=False)
        model_versions_precompute_reap.delay(0.0)
    except Exception:
        logger.exception("could not queue the reapers at worker start")
