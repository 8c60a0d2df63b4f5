"""Fault fixtures: a trained model on the clustered rating world, a broker URL switcher."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from recommender.models import ModelVersion, TrainingRun
from recommender.services import precompute, training, training_runs
from recsite.celery import app as celery_app
from tests.conftest import reset_serving_state
from tests.recommender.conftest import (  # noqa: F401 (fixtures used by name)
    GOOD_CONFIG,
    celery_worker,
    eager_celery,
    pipeline_settings,
    postgres_db,
    rating_world,
    redis_broker,
)

REDIS_URL = "redis://127.0.0.1:6379/6"  # DB 6 belongs to these tests


@pytest.fixture(autouse=True)
def _fresh_serving(settings: Any) -> Iterator[None]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    reset_serving_state()
    yield
    reset_serving_state()


def train_and_activate(config: dict[str, Any] | None = None, force: bool = False) -> ModelVersion:
    """One real training run in this process, activated and fully precomputed."""
    run = training_runs.training_run_create(
        backend="numpy", config=config or GOOD_CONFIG, trigger="command", force=force
    )
    training.training_run_execute(training_run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = ModelVersion.objects.get(training_run=run)
    precompute.model_version_precompute(model_version_id=version.pk)
    return ModelVersion.objects.get(pk=version.pk)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def broker() -> Iterator[Callable[[str], None]]:
    """Point this process's publisher at a broker URL for real (fresh connection pools)."""
    saved = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)

    def switch(url: str) -> None:
        celery_app.conf.broker_url = url
        celery_app.conf.task_always_eager = False
        celery_app._pool = None  # dropped, not closed: kombu shares producer pools per URL
        celery_app.amqp._producer_pool = None

    yield switch
    switch(saved[0])
    celery_app.conf.task_always_eager = saved[1]
