"""Many retrain triggers at the same instant (threads, Postgres): exactly one training run."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token

from recommender.models import TrainingRun
from recommender.services import errors, training_runs
from tests.conftest import require_postgres
from tests.factories import UserFactory
from tests.faults.conftest import GOOD_CONFIG, REDIS_URL
from tests.faults.test_broker_down import _redis

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
THREADS = 8


def _all_at_once(action: Callable[[int], object]) -> list[object]:
    barrier = threading.Barrier(THREADS)
    outcomes: list[object] = [None] * THREADS

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = action(index)
        except Exception as exc:
            outcomes[index] = exc
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_simultaneous_triggers_from_services_and_the_api_queue_one_run(
    rating_world, broker: Callable[[str], None]
) -> None:
    if connection.vendor != "postgresql":
        require_postgres("set DATABASE_URL=postgres://... for real concurrency")
    redis_client = _redis()
    broker(REDIS_URL)
    token = Token.objects.create(user=UserFactory(username="ops", is_staff=True)).key

    def trigger(index: int) -> object:
        if index % 2:
            response = Client(HTTP_AUTHORIZATION=f"Token {token}").post(
                "/api/v1/staff/training-runs/",
                {"backend": "numpy", "config": GOOD_CONFIG},
                content_type="application/json",
            )
            return response.status_code
        return training_runs.training_run_start(backend="numpy", config=GOOD_CONFIG, trigger="auto")

    outcomes = _all_at_once(trigger)

    started = [o for o in outcomes if isinstance(o, TrainingRun) or o == 201]
    refused = [o for o in outcomes if isinstance(o, errors.TrainingAlreadyRunning) or o == 409]
    assert len(started) == 1, outcomes
    assert len(refused) == THREADS - 1, outcomes
    assert TrainingRun.objects.count() == 1
    assert TrainingRun.objects.get().status == "queued"
    assert redis_client.llen("celery") == 1  # one message for one run
    redis_client.flushdb()
