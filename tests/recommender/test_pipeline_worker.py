"""A real `celery worker` process on Redis and the Postgres test database runs the pipeline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ratings.models import Rating
from recommender import tasks
from recommender.engine.artifacts import load_artifact
from recommender.models import ModelVersion, Recommendation, TrainingRun
from recommender.services import errors, training_runs
from tests.recommender.conftest import GOOD_CONFIG, build_rating_world, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# About 0.1 s an epoch on the test world: long enough to act on a run while it trains.
SLOW_CONFIG = {**GOOD_CONFIG, "epochs": 120, "batch_size": 8}


def _status(run_id: int) -> str:
    return TrainingRun.objects.values_list("status", flat=True).get(pk=run_id)


def _finished(run_id: int) -> TrainingRun | None:
    run = TrainingRun.objects.get(pk=run_id)
    return run if run.status in ("succeeded", "failed", "cancelled") else None


def _epochs_done(run_id: int) -> int:
    return len(TrainingRun.objects.values_list("epochs", flat=True).get(pk=run_id))


def _artifacts_complete(root: Path) -> list[str]:
    """Names in ARTIFACT_DIR; every one must load (checksums verified) and none be a temp dir."""
    names = sorted(p.name for p in root.iterdir()) if root.exists() else []
    for name in names:
        assert not name.startswith("."), f"half-written artifact left behind: {name}"
        load_artifact(root / name)
    return names


def test_retrain_runs_on_the_worker_activates_and_precomputes(celery_worker, pipeline_settings):
    world = build_rating_world()
    run = training_runs.training_run_start(backend="numpy", config=GOOD_CONFIG, trigger="api")
    assert run.status == TrainingRun.Status.QUEUED

    seen: list[str] = []

    def observe() -> TrainingRun | None:
        status = _status(run.pk)
        if not seen or seen[-1] != status:
            seen.append(status)
        return _finished(run.pk)

    done = wait_for(observe, timeout=60, what="the run", worker=celery_worker)
    assert done.status == TrainingRun.Status.SUCCEEDED, done.error
    # Polled every 0.2 s, so a short "running" may slip between two looks.
    assert seen in (["queued", "running", "succeeded"], ["queued", "succeeded"])
    assert len(done.epochs) == GOOD_CONFIG["epochs"]
    assert done.celery_task_id
    version = ModelVersion.objects.get(training_run=done)
    assert version.is_active

    # The chained precompute fans out over chunk tasks; precomputed_at comes last.
    wait_for(
        lambda: ModelVersion.objects.filter(pk=version.pk, precomputed_at__isnull=False).exists(),
        timeout=60,
        what="the precompute",
        worker=celery_worker,
    )
    k = pipeline_settings.RECSITE_TOP_K
    for user in world.users:
        movies = list(
            Recommendation.objects.filter(model_version=version, user=user)
            .order_by("rank")
            .values_list("movie_id", flat=True)
        )
        assert len(movies) == k
        assert len(set(movies)) == k
        rated = set(Rating.objects.filter(user=user).values_list("movie_id", flat=True))
        assert not rated & set(movies)
    assert _artifacts_complete(Path(pipeline_settings.ARTIFACT_DIR)) == [version.artifact_path]


def test_failing_run_leaves_the_previous_model_active(celery_worker):
    build_rating_world()
    first = training_runs.training_run_start(backend="numpy", config=GOOD_CONFIG, trigger="api")
    first = wait_for(lambda: _finished(first.pk), timeout=60, what="run 1", worker=celery_worker)
    assert first.status == TrainingRun.Status.SUCCEEDED, first.error
    Rating.objects.all().delete()  # nothing left to learn from

    second = training_runs.training_run_start(backend="numpy", config=GOOD_CONFIG, trigger="api")
    second = wait_for(lambda: _finished(second.pk), timeout=60, what="run 2", worker=celery_worker)

    assert second.status == TrainingRun.Status.FAILED
    assert "no ratings" in second.error
    assert ModelVersion.objects.get(is_active=True).training_run_id == first.pk
    assert not ModelVersion.objects.filter(training_run=second).exists()


def test_second_trigger_while_one_runs_starts_no_parallel_training(celery_worker):
    build_rating_world()
    run = training_runs.training_run_start(backend="numpy", config=SLOW_CONFIG, trigger="api")
    wait_for(lambda: _epochs_done(run.pk) >= 2, timeout=60, what="epochs", worker=celery_worker)

    with pytest.raises(errors.TrainingAlreadyRunning):
        training_runs.training_run_start(backend="numpy", config=GOOD_CONFIG, trigger="admin")
    # A duplicate delivery of the same run (a broker redelivery) reaches the second pool
    # process while the first trains: it must not train the run again.
    tasks.training_run_execute.delay(run.pk)
    time.sleep(2)
    assert TrainingRun.objects.get(pk=run.pk).attempts == 1

    training_runs.training_run_cancel(training_run=run)
    done = wait_for(lambda: _finished(run.pk), timeout=60, what="cancel", worker=celery_worker)
    assert done.status == TrainingRun.Status.CANCELLED
    assert done.attempts == 1
    assert TrainingRun.objects.count() == 1
    assert not ModelVersion.objects.exists()
    # Epochs are numbered once: no second training appended to the same run.
    assert [e["epoch"] for e in done.epochs] == list(range(1, len(done.epochs) + 1))


def test_worker_killed_mid_run_recovers_to_one_finished_run(celery_worker, pipeline_settings):
    build_rating_world()
    config = {**SLOW_CONFIG, "epochs": 40}
    run = training_runs.training_run_start(backend="numpy", config=config, trigger="api")
    wait_for(lambda: _epochs_done(run.pk) >= 3, timeout=60, what="epochs", worker=celery_worker)

    celery_worker.kill()  # SIGKILL to the worker and its pool: no cleanup of any kind
    assert _status(run.pk) == TrainingRun.Status.RUNNING
    time.sleep(pipeline_settings.RECSITE_TRAINING_LOCK_SECONDS + 1)  # its lock lapses
    celery_worker.start()  # the new worker's start-up reaper queues the run again

    done = wait_for(lambda: _finished(run.pk), timeout=90, what="recovery", worker=celery_worker)
    assert done.status == TrainingRun.Status.SUCCEEDED, done.error
    assert done.attempts == 2
    assert len(done.epochs) == config["epochs"]  # the second attempt trained from the start
    assert TrainingRun.objects.count() == 1
    version = ModelVersion.objects.get()
    assert version.training_run_id == run.pk
    assert version.is_active
    assert _artifacts_complete(Path(pipeline_settings.ARTIFACT_DIR)) == [version.artifact_path]
