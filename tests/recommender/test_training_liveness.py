"""A training worker proves it is alive with a heartbeat every few seconds, however long an epoch
takes; a running run whose heartbeat stopped is taken back by the reaper and ended by cancel at
once, even while its dead worker's lock has minutes left, and a worker that was only thought
dead changes nothing when it wakes."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from recommender.models import ModelVersion, TrainingRun
from recommender.services import training, training_lock, training_runs
from tests.recommender.conftest import GOOD_CONFIG, RatingWorld, build_rating_world, wait_for

STALE = 30  # seconds without a heartbeat after which a worker counts as gone


@pytest.fixture
def liveness(pipeline_settings):
    """The lock of production length, a heartbeat every 5 s, gone after 30 s."""
    pipeline_settings.RECSITE_TRAINING_LOCK_SECONDS = 900
    pipeline_settings.RECSITE_TRAINING_HEARTBEAT_SECONDS = 5
    pipeline_settings.RECSITE_TRAINING_STALE_SECONDS = STALE
    return pipeline_settings


def _left_by_a_killed_worker(*, beat_seconds_ago: float) -> TrainingRun:
    """What a SIGKILLed worker leaves: the run running, its lock held with most of its period
    left, and a heartbeat that stopped `beat_seconds_ago`."""
    run = training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="api")
    assert training_lock.lock_acquire(training_run_id=run.pk, token="killed-worker")
    beat = timezone.now() - timedelta(seconds=beat_seconds_ago)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.RUNNING, attempts=1, started=beat, heartbeat_at=beat
    )
    holder, left = training_lock.lock_holder()
    assert holder == run.pk
    assert left > 800  # the lock alone would keep the run for another 13 minutes
    return run


def test_the_reaper_takes_back_a_run_whose_heartbeat_stopped_while_its_lock_is_unexpired(
    rating_world: RatingWorld, liveness, eager_celery
) -> None:
    run = _left_by_a_killed_worker(beat_seconds_ago=STALE + 5)

    assert training_runs.training_runs_reap() == [run.pk]  # queued again, trained here (eager)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.attempts == 2
    assert ModelVersion.objects.get(training_run=run).is_active
    assert training_lock.lock_holder() == (None, 0.0)


def test_the_reaper_leaves_a_run_with_a_recent_heartbeat_alone(
    rating_world: RatingWorld, liveness, eager_celery
) -> None:
    run = _left_by_a_killed_worker(beat_seconds_ago=STALE - 10)

    assert training_runs.training_runs_reap() == []
    run.refresh_from_db()
    assert (run.status, run.attempts) == (TrainingRun.Status.RUNNING, 1)
    assert training_lock.lock_holder()[0] == run.pk


def test_the_reaper_ends_a_dead_run_whose_cancel_was_asked_instead_of_training_it_again(
    rating_world: RatingWorld, liveness, eager_celery
) -> None:
    run = _left_by_a_killed_worker(beat_seconds_ago=STALE + 5)
    TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)  # asked, then it died

    assert training_runs.training_runs_reap() == [run.pk]
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert run.attempts == 1
    assert not ModelVersion.objects.exists()
    assert training_lock.lock_holder() == (None, 0.0)


def test_cancel_ends_a_running_run_whose_worker_is_gone_and_the_next_trigger_trains(
    rating_world: RatingWorld, liveness, eager_celery, django_capture_on_commit_callbacks
) -> None:
    run = _left_by_a_killed_worker(beat_seconds_ago=STALE + 5)

    cancelled = training_runs.training_run_cancel(training_run=run)
    assert cancelled.status == TrainingRun.Status.CANCELLED
    assert cancelled.cancel_requested
    assert cancelled.finished is not None
    assert "worker" in cancelled.error
    assert training_lock.lock_holder() == (None, 0.0)

    # A new trigger is accepted and trains at once: nothing waits for the dead worker's lock.
    with django_capture_on_commit_callbacks(execute=True):
        new = training_runs.training_run_start(backend="numpy", config=GOOD_CONFIG, trigger="api")
    new.refresh_from_db()
    assert new.status == TrainingRun.Status.SUCCEEDED, new.error
    assert TrainingRun.objects.get(pk=run.pk).status == TrainingRun.Status.CANCELLED


def test_cancel_asks_a_run_with_a_live_worker_to_stop(rating_world: RatingWorld, liveness) -> None:
    run = _left_by_a_killed_worker(beat_seconds_ago=1)

    asked = training_runs.training_run_cancel(training_run=run)
    assert (asked.status, asked.cancel_requested, asked.finished) == ("running", True, None)
    assert training_lock.lock_holder()[0] == run.pk


@pytest.mark.parametrize("at_epoch", [2, GOOD_CONFIG["epochs"]])
def test_a_worker_thought_dead_that_wakes_changes_nothing(
    rating_world: RatingWorld, liveness, at_epoch: int
) -> None:
    """The worker stalls (a long GC pause, a stopped VM) until its heartbeat is stale; cancel
    ends the run; when the worker goes on, mid-training or after its last epoch, it must not
    record an epoch, a version or an ending of its own."""
    run = training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="api")
    ended: list[TrainingRun] = []

    def stall_and_get_cancelled(report) -> None:
        if report.epoch == at_epoch:
            stale = timezone.now() - timedelta(seconds=STALE + 5)
            TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=stale)
            ended.append(training_runs.training_run_cancel(training_run=run))

    assert (
        training.training_run_execute(training_run_id=run.pk, on_epoch=stall_and_get_cancelled)
        is None
    )
    [cancelled] = ended
    assert cancelled.status == TrainingRun.Status.CANCELLED
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert (run.finished, run.error) == (cancelled.finished, cancelled.error)
    assert len(run.epochs) == at_epoch
    assert not ModelVersion.objects.exists()
    assert training_lock.lock_holder() == (None, 0.0)


def _heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("training-heartbeat")]


def _other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_beats_through_a_long_epoch_and_stops_with_the_run(
    pipeline_settings,
) -> None:
    """An epoch can take minutes on real data; the heartbeat must not wait for it."""
    pipeline_settings.RECSITE_TRAINING_LOCK_SECONDS = 900
    pipeline_settings.RECSITE_TRAINING_HEARTBEAT_SECONDS = 0.05
    pipeline_settings.RECSITE_TRAINING_STALE_SECONDS = 1
    build_rating_world()
    postgres = connection.vendor == "postgresql"
    connections_before = _other_connections() if postgres else 0
    run = training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="api")
    beats: list[tuple] = []

    def long_first_epoch(report) -> None:
        if report.epoch == 1:
            before = TrainingRun.objects.values_list("heartbeat_at", flat=True).get(pk=run.pk)
            time.sleep(0.6)  # twelve heartbeats long
            after = TrainingRun.objects.values_list("heartbeat_at", flat=True).get(pk=run.pk)
            beats.append((before, after))
            assert training_runs.training_runs_reap() == []  # alive, though the epoch is slow

    assert training.training_run_execute(training_run_id=run.pk, on_epoch=long_first_epoch)
    [(before, after)] = beats
    assert after > before

    # It stopped with the run and gave its database connection back.
    assert not _heartbeat_threads()
    if postgres:
        wait_for(
            lambda: _other_connections() == connections_before,
            timeout=5,
            what="the heartbeat's connection to close",
        )


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_stops_when_the_run_fails(pipeline_settings) -> None:
    pipeline_settings.RECSITE_TRAINING_HEARTBEAT_SECONDS = 0.05
    pipeline_settings.RECSITE_TRAINING_STALE_SECONDS = 1
    run = training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="api")

    assert training.training_run_execute(training_run_id=run.pk) is None  # no ratings at all
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert not _heartbeat_threads()
    finished_beat = run.heartbeat_at
    time.sleep(0.2)
    assert TrainingRun.objects.get(pk=run.pk).heartbeat_at == finished_beat


def test_a_trigger_takes_back_a_dead_workers_run_without_waiting_for_the_reaper(
    rating_world: RatingWorld, liveness, eager_celery
) -> None:
    """Before, the dead run stayed running until beat's reaper (every 10 minutes) and every
    trigger got 409. Now the trigger reaps it first: queued again, it trains (here, eagerly),
    and the trigger's own run is queued after it."""
    dead = _left_by_a_killed_worker(beat_seconds_ago=STALE + 5)

    new = training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="api")

    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == (TrainingRun.Status.SUCCEEDED, 2)
    assert new.status == TrainingRun.Status.QUEUED
    assert new.pk != dead.pk
