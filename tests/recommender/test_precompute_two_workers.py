"""Two Celery workers, separate processes on one broker, share one precompute chord: each
writes some of its chunks, the finish runs once, and every user's list is complete."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from ratings.models import Rating
from recommender import tasks
from recommender.models import ModelVersion, Recommendation, TrainingRun
from recommender.services import precompute, training, training_runs
from recsite.celery import app as celery_app
from tests.recommender.conftest import (
    GOOD_CONFIG,
    ROOT,
    WorkerProcess,
    build_rating_world,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CHUNK = "recommender.tasks.recommendations_precompute_chunk"
FINISH = "recommender.tasks.model_version_precompute_finish"
REAP = "recommender.tasks.model_versions_precompute_reap"


class NamedWorker(WorkerProcess):
    """A worker with a node name of its own and one pool process, so its log is its work."""

    def __init__(self, *, name: str, env: dict[str, str], log: Path) -> None:
        super().__init__(env=env, log=log)
        self.name = name

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "recsite", "worker", "--loglevel", "INFO",
             "--concurrency", "1", "--prefetch-multiplier", "1", "--without-gossip",
             "--without-mingle", "--without-heartbeat", "-n", f"{self.name}-{os.getpid()}@%h"],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _succeeded(log: str, task: str) -> set[str]:
    """Ids of the runs of `task` that a worker's log reports as succeeded."""
    return {
        line.split(f"{task}[")[1].split("]")[0]
        for line in log.splitlines()
        if f"Task {task}[" in line and "] succeeded" in line
    }


@pytest.fixture
def two_workers(
    redis_broker: str, postgres_db: None, pipeline_settings, tmp_path: Path
) -> Iterator[list[NamedWorker]]:
    db = django_settings.DATABASES["default"]
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = url.replace(f"{db['USER']}@", f"{db['USER']}:{db['PASSWORD']}@")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": redis_broker,
        "CELERY_RESULT_BACKEND": redis_broker,
        "RECSITE_ARTIFACT_DIR": str(pipeline_settings.ARTIFACT_DIR),
        "RECSITE_DEVICE": "cpu",
        "RECSITE_TOP_K": str(pipeline_settings.RECSITE_TOP_K),
        "RECSITE_RETRAIN_AFTER_RATINGS": "0",
        "RECSITE_PRECOMPUTE_CHUNK_USERS": "2",  # 50 chunks for the 100 raters
        "DATABASE_CONN_MAX_AGE": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    conf = celery_app.conf
    saved = (conf.broker_url, conf.result_backend, conf.task_always_eager)
    conf.broker_url, conf.result_backend, conf.task_always_eager = redis_broker, redis_broker, False
    celery_app._pool = None  # publish through pools of the Redis broker
    celery_app.amqp._producer_pool = None
    pipeline_settings.RECSITE_PRECOMPUTE_CHUNK_USERS = 2  # the workers' chunks, seen from here
    workers = [
        NamedWorker(name=name, env=env, log=tmp_path / f"{name}.log") for name in ("one", "two")
    ]
    for worker in workers:
        worker.start()
    yield workers
    for worker in workers:
        worker.stop()
    conf.broker_url, conf.result_backend, conf.task_always_eager = saved
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_two_worker_processes_share_one_precompute_chord(
    two_workers: list[NamedWorker], pipeline_settings
) -> None:
    k = pipeline_settings.RECSITE_TOP_K
    world = build_rating_world()
    # Both up, and both start-up reapers done (either worker may run either): none of them
    # then queues a second precompute of the version activated next.
    wait_for(
        lambda: (
            all(" ready." in w.output() for w in two_workers)
            and sum(len(_succeeded(w.output(), REAP)) for w in two_workers) >= len(two_workers)
        ),
        timeout=60,
        what="both workers to start",
        worker=two_workers[1],
    )

    # Trained and activated here; its precompute goes to the workers as the pipeline's chain
    # sends it (training_run_execute alone does not queue it).
    run = training_runs.training_run_create(
        backend="numpy", config=GOOD_CONFIG, trigger="command", force=True
    )
    training.training_run_execute(training_run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = ModelVersion.objects.get(training_run=run)
    chunks = precompute.model_version_precompute_chunks(model_version_id=version.pk)
    assert len(chunks) == 50
    tasks.model_version_precompute.delay(version.pk)

    wait_for(
        lambda: (
            ModelVersion.objects.get(pk=version.pk).precomputed_at is not None
            and any(_succeeded(w.output(), FINISH) for w in two_workers)
        ),
        timeout=120,
        what="the chord's finish",
        worker=two_workers[0],
    )
    logs = [worker.output() for worker in two_workers]
    ran = [_succeeded(log, CHUNK) for log in logs]
    # Each worker process ran chunks of its own; together, every chunk exactly once.
    assert all(ran), [len(r) for r in ran]
    assert not ran[0] & ran[1]
    assert len(ran[0]) + len(ran[1]) == len(chunks)
    assert sum(len(_succeeded(log, FINISH)) for log in logs) == 1

    lists: dict[int, list[int]] = {}
    rows = Recommendation.objects.filter(model_version=version).order_by("user_id", "rank")
    for user_id, movie_id in rows.values_list("user_id", "movie_id"):
        lists.setdefault(user_id, []).append(movie_id)
    assert set(lists) == {u.pk for u in world.users}
    for user_id, movie_ids in lists.items():
        rated = set(Rating.objects.filter(user_id=user_id).values_list("movie_id", flat=True))
        assert len(set(movie_ids)) == len(movie_ids) == k
        assert not rated & set(movie_ids)
