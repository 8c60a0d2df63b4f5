"""Pipeline fixtures: a small clustered rating world, eager Celery, and a real worker process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection

from catalog.models import Movie
from ratings.models import Rating
from recsite.celery import app as celery_app
from tests.conftest import require_postgres, require_service
from tests.factories import GenreFactory, MovieFactory

ROOT = Path(__file__).resolve().parents[2]
CLUSTERS = ("Action", "Romance", "Comedy", "Horror")
MOVIES_PER_CLUSTER = 40  # more movies than the 99 sampled candidates of the NCF protocol
USERS_PER_CLUSTER = 25
RATINGS_PER_USER = 20  # 18 inside the user's cluster, 2 outside

# Learns the clusters in well under a second.
GOOD_CONFIG: dict[str, Any] = {
    "gmf_dim": 8,
    "mlp_layers": [16, 8],
    "epochs": 4,
    "batch_size": 256,
    "lr": 0.02,
    "negatives": 4,
}
# Barely moves from its random start: a model that must lose the not-worse comparison.
BAD_CONFIG: dict[str, Any] = {
    "model": "gmf",
    "gmf_dim": 2,
    "mlp_layers": [2],
    "epochs": 1,
    "lr": 1e-7,
    "negatives": 1,
}


@dataclass
class RatingWorld:
    users: list[Any]
    movies: dict[str, list[Movie]]

    def cluster_of(self, movie_id: int) -> str | None:
        for name, movies in self.movies.items():
            if any(m.pk == movie_id for m in movies):
                return name
        return None


def build_rating_world(seed: int = 3) -> RatingWorld:
    """Raters who mostly rate inside one genre cluster, written in two bulk inserts."""
    rng = np.random.default_rng(seed)
    movies = {
        name: [
            MovieFactory(title=f"{name} {i}", genres=[GenreFactory(name=name, slug=name.lower())])
            for i in range(MOVIES_PER_CLUSTER)
        ]
        for name in CLUSTERS
    }
    user_model = get_user_model()
    user_model.objects.bulk_create(
        user_model(username=f"rater-{c}-{u}", is_active=False, password="!")
        for c in range(len(CLUSTERS))
        for u in range(USERS_PER_CLUSTER)
    )
    users = list(user_model.objects.filter(username__startswith="rater-").order_by("id"))
    start = datetime(2020, 1, 1, tzinfo=UTC)
    rows = []
    for c, name in enumerate(CLUSTERS):
        others = [m for other in CLUSTERS if other != name for m in movies[other]]
        for u in range(USERS_PER_CLUSTER):
            user = users[c * USERS_PER_CLUSTER + u]
            inside = rng.choice(MOVIES_PER_CLUSTER, RATINGS_PER_USER - 2, replace=False)
            outside = rng.choice(len(others), 2, replace=False)
            picks = [movies[name][j] for j in inside] + [others[j] for j in outside]
            # Shuffled: the held-out latest ratings are mostly inside the cluster, as in life.
            picks = [picks[j] for j in rng.permutation(len(picks))]
            for n, movie in enumerate(picks):
                rated_at = start + timedelta(days=c * 50 + u, minutes=n)
                rows.append(Rating(user=user, movie=movie, score=Decimal("4.0"), rated_at=rated_at))
    Rating.objects.bulk_create(rows)
    return RatingWorld(users=users, movies=movies)


@pytest.fixture
def pipeline_settings(settings, tmp_path: Path):
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    settings.RECSITE_DEVICE = "cpu"
    settings.RECSITE_TOP_K = 10
    settings.RECSITE_RETRAIN_AFTER_RATINGS = 0  # the trigger's own tests turn it on
    settings.RECSITE_DEFAULT_BACKEND = "numpy"
    settings.RECSITE_TRAINING_LOCK_SECONDS = 600
    settings.RECSITE_REGISTRY_CHECK_SECONDS = 0
    # Activations load in place: a loading thread's own connection cannot see a test's
    # uncommitted versions (test_registry tests the background swap).
    settings.RECSITE_MODEL_SWAP_IN_BACKGROUND = False
    return settings


@pytest.fixture
def rating_world(db, pipeline_settings) -> RatingWorld:
    return build_rating_world()


@pytest.fixture
def eager_celery() -> Iterator[Any]:
    """Tasks run in the caller's process. The Celery app read its conf once, so set it there."""
    saved = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield celery_app
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


# -- integration: Redis, Postgres and a real `celery worker` process ---------------------------

REDIS_URL = os.environ.get("RECSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")


@pytest.fixture
def redis_broker() -> str:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.flushdb()  # DB 3 belongs to these tests: no stale messages from an earlier run
    except Exception as exc:
        require_service("Redis", f"{REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def postgres_db(transactional_db) -> None:
    if connection.vendor != "postgresql":
        require_postgres("set DATABASE_URL=postgres://... to run the worker tests")


@dataclass
class WorkerProcess:
    """`celery -A recsite worker` in its own session, so the whole pool can be killed at once."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "recsite",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL to the worker and its pool children: a crash, no warm shutdown."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def celery_worker(
    redis_broker: str, postgres_db: None, pipeline_settings, tmp_path: Path
) -> Iterator[WorkerProcess]:
    """A worker on the real Redis broker and pytest-django's Postgres test database; this
    process publishes to the same broker."""
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
        "RECSITE_TRAINING_LOCK_SECONDS": "3",
        "DATABASE_CONN_MAX_AGE": "0",
        "OMP_NUM_THREADS": "1",
    }
    conf = celery_app.conf
    saved = (conf.broker_url, conf.result_backend, conf.task_always_eager)
    conf.broker_url, conf.result_backend, conf.task_always_eager = redis_broker, redis_broker, False
    celery_app._pool = None  # publish through pools of the Redis broker
    celery_app.amqp._producer_pool = None
    pipeline_settings.RECSITE_TRAINING_LOCK_SECONDS = 3
    worker = WorkerProcess(env=env, log=tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()
    conf.broker_url, conf.result_backend, conf.task_always_eager = saved
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def wait_for(predicate: Callable[[], Any], *, timeout: float, what: str, worker=None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    log = worker.output()[-4000:] if worker is not None else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{log}")
