"""Training runs from request to worker: queue one, hand it to the broker, cancel it, reap it.

Every trigger (admin, staff page, command, API, schedule, N new ratings) goes through
`training_run_start`; the worker side is `recommender.services.training`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from recommender.engine.config import NeuMFConfig, read_config_file
from recommender.models import IN_FLIGHT_STATUSES, Backend, TrainingRun
from recommender.services.errors import (
    BrokerUnavailable,
    InvalidTrainingConfig,
    TrainingAlreadyRunning,
)
from recommender.services.training_lock import lock_break, stale_seconds, worker_gone

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # deliveries that start training before a run is given up as failing
# How long a publish may retry before the broker counts as unreachable (seconds in total).
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}


def training_config_defaults() -> dict[str, Any]:
    """The site's overrides of the engine's defaults: RECSITE_MODEL_CONFIG's file (a tuned
    configuration), then RECSITE_MIN_RATING. Raises InvalidTrainingConfig for a bad file."""
    defaults: dict[str, Any] = {}
    if settings.RECSITE_MODEL_CONFIG:
        try:
            defaults.update(read_config_file(settings.RECSITE_MODEL_CONFIG))
        except ValueError as exc:
            raise InvalidTrainingConfig(f"RECSITE_MODEL_CONFIG: {exc}") from exc
    min_rating = str(settings.RECSITE_MIN_RATING).strip()
    if min_rating:
        try:
            defaults["min_rating"] = float(min_rating)
        except ValueError as exc:
            raise InvalidTrainingConfig(
                f"RECSITE_MIN_RATING must be a number of stars or empty, not {min_rating!r}."
            ) from exc
    return defaults


def training_config_parse(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The site's defaults with a run's overrides on top, validated; the JSON stored on the
    run, so each run records the whole configuration it trained with."""
    try:
        merged = {**training_config_defaults(), **dict(config or {})}
        return NeuMFConfig.from_overrides(merged).to_dict()
    except ValueError as exc:
        raise InvalidTrainingConfig(str(exc)) from exc


def training_run_create(
    *,
    backend: str,
    config: Mapping[str, Any] | None,
    trigger: str,
    user: AbstractBaseUser | None = None,
    force: bool = False,
) -> TrainingRun:
    """A queued run, refused while another is queued or running (the DB enforces it too); a
    running run whose worker is gone is reaped first."""
    if backend not in Backend.values:
        raise InvalidTrainingConfig(f"Unknown backend {backend!r}; use one of {Backend.values}.")
    if trigger not in TrainingRun.Trigger.values:
        raise InvalidTrainingConfig(f"Unknown trigger {trigger!r}.")
    parsed = training_config_parse(config)
    triggered_by = user if user is not None and getattr(user, "pk", None) else None
    # A dead worker's run: take it back now (queued again, or ended) rather than refuse every
    # trigger until the periodic reaper comes round (one query when there is none).
    training_runs_reap()
    with transaction.atomic():
        busy = TrainingRun.objects.filter(status__in=IN_FLIGHT_STATUSES).values_list("pk").first()
        if busy:
            raise TrainingAlreadyRunning(busy[0])
        try:
            with transaction.atomic():
                run = TrainingRun.objects.create(
                    backend=backend,
                    config=parsed,
                    trigger=trigger,
                    triggered_by=triggered_by,
                    force=bool(force),
                )
        except IntegrityError as exc:  # a concurrent trigger won the race
            raise TrainingAlreadyRunning(None) from exc
    logger.info("training run %s queued (%s, %s, force=%s)", run.pk, backend, trigger, force)
    return run


def training_run_start(
    *,
    backend: str,
    config: Mapping[str, Any] | None = None,
    trigger: str,
    user: AbstractBaseUser | None = None,
    force: bool = False,
) -> TrainingRun:
    """Queue a run and hand it to a worker after commit, followed by the precompute.

    Raises TrainingAlreadyRunning (409), InvalidTrainingConfig (400), BrokerUnavailable (503:
    the run is then marked failed, so it does not block the next trigger)."""
    run = training_run_create(
        backend=backend, config=config, trigger=trigger, user=user, force=force
    )
    transaction.on_commit(lambda: _training_run_enqueue_new(run.pk))
    return run


def _training_run_enqueue_new(training_run_id: int) -> None:
    """Publish a new run; if the broker does not take it, the run fails so it blocks nothing."""
    try:
        task_id = training_run_enqueue(training_run_id)
    except BrokerUnavailable as exc:
        logger.error("training run %s marked failed: %s", training_run_id, exc)
        TrainingRun.objects.filter(pk=training_run_id, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.FAILED, error=str(exc), finished=timezone.now()
        )
        raise
    TrainingRun.objects.filter(pk=training_run_id).update(celery_task_id=task_id)


def training_run_enqueue(training_run_id: int) -> str:
    """Publish the run's chain (train, then precompute); returns the training task's id.
    Raises BrokerUnavailable when the broker does not take it."""
    from recommender import tasks  # tasks import the services

    flow = tasks.training_run_execute.si(
        training_run_id
    ) | tasks.model_version_precompute_for_run.si(training_run_id)
    try:
        result = flow.apply_async(retry=True, retry_policy=PUBLISH_RETRY)
    except (BrokerError, OSError) as exc:
        raise BrokerUnavailable(f"The task broker is unreachable: {exc}") from exc
    except Exception as exc:  # whatever else keeps the broker from taking it: not a 500
        logger.exception("publishing training run %s failed", training_run_id)
        raise BrokerUnavailable(f"The task broker did not take the run: {exc}") from exc
    first = result.parent if result.parent is not None else result
    return str(first.id or "")


def run_finish(training_run_id: int, status: str, **values: Any) -> None:
    TrainingRun.objects.filter(pk=training_run_id).update(
        status=status, finished=timezone.now(), **values
    )


def training_run_cancel(*, training_run: TrainingRun) -> TrainingRun:
    """Cancel a queued run at once, and a running one whose worker is gone (no heartbeat for
    stale_seconds()): it ends now and its lock is freed for the next run. A running one with a
    live worker is asked to stop before its next epoch."""
    now = timezone.now()
    runs = TrainingRun.objects.filter(pk=training_run.pk)
    with transaction.atomic():
        stopped = runs.filter(status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.CANCELLED, cancel_requested=True, finished=now, error=""
        )
        # One conditional UPDATE: a worker whose heartbeat lands first keeps its run.
        gone = not stopped and runs.filter(worker_gone(now)).update(
            status=TrainingRun.Status.CANCELLED,
            cancel_requested=True,
            finished=now,
            error=_gone_message("cancelled"),
        )
        if gone:
            # A worker that was only stalled loses the lock: it stops at its next renewal or
            # heartbeat, and its final writes need the lock (see services.training).
            lock_break(training_run_id=training_run.pk)
            logger.warning("training run %s cancelled: its worker was gone", training_run.pk)
        elif not stopped:
            runs.filter(status=TrainingRun.Status.RUNNING).update(cancel_requested=True)
    training_run.refresh_from_db()
    return training_run


def _gone_message(ending: str) -> str:
    return f"The worker stopped sending heartbeats (over {stale_seconds():g} s); {ending}."


def training_runs_reap() -> list[int]:
    """Runs whose worker is gone (no heartbeat for stale_seconds(), whatever is left on its
    lock): free the lock, then end the run if its cancel was asked, fail it after MAX_ATTEMPTS,
    or queue it again. Called by beat and when a worker starts. Returns the run ids touched."""
    touched = []
    for run in TrainingRun.objects.filter(worker_gone()).order_by("pk"):
        now = timezone.now()
        with transaction.atomic():
            # Claimed in one conditional UPDATE (the heartbeat moves on to now), so a worker
            # that beat meanwhile keeps its run and two reapers queue it once.
            claimed = TrainingRun.objects.filter(worker_gone(now), pk=run.pk)
            if not claimed.update(heartbeat_at=now):
                continue
            lock_break(training_run_id=run.pk)
        touched.append(run.pk)
        if run.cancel_requested:
            run_finish(run.pk, TrainingRun.Status.CANCELLED, error=_gone_message("cancelled"))
            continue
        if run.attempts >= MAX_ATTEMPTS:
            run_finish(
                run.pk,
                TrainingRun.Status.FAILED,
                error=f"The worker was lost {run.attempts} times; giving up.",
            )
            continue
        logger.warning("training run %s lost its worker; queued again", run.pk)
        try:
            training_run_enqueue(run.pk)
        except BrokerUnavailable:
            logger.exception("could not queue training run %s again", run.pk)
    return touched
