"""A Celery worker SIGKILLed mid-training, with the production lock period (15 minutes) still
on its lock: seconds after its heartbeat stops, the next worker's start-up reaper trains the run
again, or cancel ends it and a new trigger trains at once (both waited for the lock before)."""

from __future__ import annotations

import time

import pytest

from recommender.models import ModelVersion, TrainingRun
from recommender.services import training_lock, training_runs
from tests.faults.conftest import GOOD_CONFIG
from tests.recommender.conftest import WorkerProcess, build_rating_world, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LOCK = 900
HEARTBEAT = 0.5
STALE = 3
# About 0.1 s an epoch on the test world: killed after two, it would run for seconds more.
SLOW_CONFIG = {**GOOD_CONFIG, "epochs": 60, "batch_size": 8}


@pytest.fixture
def worker(celery_worker: WorkerProcess, pipeline_settings) -> WorkerProcess:
    """The worker (and this process) with a 15-minute lock, a heartbeat every 0.5 s, and a
    worker counted as gone after 3 s without one."""
    celery_worker.stop()
    celery_worker.env.update(
        RECSITE_TRAINING_LOCK_SECONDS=str(LOCK),
        RECSITE_TRAINING_HEARTBEAT_SECONDS=str(HEARTBEAT),
        RECSITE_TRAINING_STALE_SECONDS=str(STALE),
    )
    pipeline_settings.RECSITE_TRAINING_LOCK_SECONDS = LOCK
    pipeline_settings.RECSITE_TRAINING_HEARTBEAT_SECONDS = HEARTBEAT
    pipeline_settings.RECSITE_TRAINING_STALE_SECONDS = STALE
    celery_worker.start()
    return celery_worker


def _epochs_done(run_id: int) -> int:
    return len(TrainingRun.objects.values_list("epochs", flat=True).get(pk=run_id))


def _finished(run_id: int) -> TrainingRun | None:
    run = TrainingRun.objects.get(pk=run_id)
    return run if run.status in ("succeeded", "failed", "cancelled") else None


def _kill_mid_training(worker: WorkerProcess, config: dict) -> TrainingRun:
    run = training_runs.training_run_start(backend="numpy", config=config, trigger="api")
    wait_for(lambda: _epochs_done(run.pk) >= 2, timeout=60, what="epochs", worker=worker)
    worker.kill()  # SIGKILL to the worker and its pool: no cleanup of any kind
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING
    holder, left = training_lock.lock_holder()
    assert holder == run.pk
    assert left > LOCK - 60  # the lock alone would hold the next run off for ~15 minutes
    time.sleep(STALE + 1)  # its heartbeat goes stale
    return run


def test_the_next_worker_trains_a_killed_workers_run_again_within_seconds(worker) -> None:
    build_rating_world()
    run = _kill_mid_training(worker, SLOW_CONFIG)
    since = len(worker.output())

    worker.start()  # its start-up reaper frees the dead worker's lock and queues the run again
    done = wait_for(lambda: _finished(run.pk), timeout=45, what="the retrain", worker=worker)
    assert done.status == TrainingRun.Status.SUCCEEDED, done.error
    assert done.attempts == 2
    assert len(done.epochs) == SLOW_CONFIG["epochs"]  # trained from the start, once
    assert ModelVersion.objects.get().training_run_id == run.pk
    assert "lost its worker" in worker.output()[since:]


def test_cancel_ends_a_killed_workers_run_and_a_new_trigger_trains_at_once(worker) -> None:
    build_rating_world()
    run = _kill_mid_training(worker, {**SLOW_CONFIG, "epochs": 400})

    cancelled = training_runs.training_run_cancel(training_run=run)
    assert cancelled.status == TrainingRun.Status.CANCELLED
    assert training_lock.lock_holder() == (None, 0.0)

    worker.start()
    new = training_runs.training_run_start(backend="numpy", config=GOOD_CONFIG, trigger="api")
    done = wait_for(lambda: _finished(new.pk), timeout=45, what="the new run", worker=worker)
    assert done.status == TrainingRun.Status.SUCCEEDED, done.error
    assert done.attempts == 1
    assert ModelVersion.objects.get(is_active=True).training_run_id == new.pk
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.CANCELLED
