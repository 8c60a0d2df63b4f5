"""Staff endpoints: retrain through the API (queued, never trained here), cancel, one run at a
time (409), an unreachable broker (503), activation and roll back refusals (409)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import current_app
from django.conf import settings
from django.utils import timezone

from recommender.models import ModelVersion, TrainingRun
from tests.api.conftest import World, token_client
from tests.api.test_errors import assert_error

RUNS = "/api/v1/staff/training-runs/"


def test_staff_queue_a_retrain_with_backend_and_config(world: World) -> None:
    # Under the test's transaction on_commit never fires: the run is queued, nothing trains.
    response = token_client(world.staff).post(
        RUNS, {"backend": "numpy", "config": {"epochs": 3, "gmf_dim": 4}}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    run = TrainingRun.objects.get(pk=body["id"])
    assert (run.status, run.trigger, run.triggered_by) == ("queued", "api", world.staff)
    assert (run.config["epochs"], run.config["gmf_dim"]) == (3, 4)
    assert body["status"] == "queued"
    assert body["triggered_by"] == "boss"
    assert body["epochs"] == []


def test_a_second_retrain_while_one_is_queued_is_a_409(world: World) -> None:
    staff = token_client(world.staff)
    first = staff.post(RUNS, {"backend": "numpy"}, format="json").json()
    error = assert_error(
        staff.post(RUNS, {"backend": "torch"}, format="json"), 409, "training_in_progress"
    )
    assert str(first["id"]) in error["detail"]
    assert TrainingRun.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"backend": "tensorflow"}, "backend", "invalid_choice"),
        ({"config": {"epochs": 0}}, "config.epochs", "min_value"),
        ({"config": {"lr": "fast"}}, "config.lr", "invalid"),
        ({"config": {"mlp_layers": [33, 16]}}, "config.mlp_layers", "invalid"),
        ({"config": "epochs=3"}, "config.non_field_errors", "invalid"),
        ({"force": "maybe"}, "force", "invalid"),
    ],
)
def test_bad_retrain_requests_are_400(
    world: World, body: dict[str, Any], field: str, code: str
) -> None:
    response = token_client(world.staff).post(RUNS, body, format="json")
    assert field in assert_error(response, 400, code)["errors"]
    assert not TrainingRun.objects.exists()


def test_progress_and_cancel(world: World) -> None:
    run = TrainingRun.objects.create(
        backend="numpy",
        status=TrainingRun.Status.RUNNING,
        heartbeat_at=timezone.now(),  # its worker is alive
        epochs=[{"epoch": 1, "loss": 0.5, "val_hr": 0.4, "seconds": 2.0}],
    )
    staff = token_client(world.staff)
    detail = staff.get(f"{RUNS}{run.pk}/").json()
    assert detail["epochs"] == [{"epoch": 1, "loss": 0.5, "val_hr": 0.4, "seconds": 2.0}]

    cancelled = staff.post(f"{RUNS}{run.pk}/cancel/").json()
    assert (cancelled["status"], cancelled["cancel_requested"]) == ("running", True)
    run.refresh_from_db()
    assert run.cancel_requested
    assert_error(staff.post(f"{RUNS}{run.pk + 1000}/cancel/"), 404, "not_found")


def test_cancel_ends_a_run_whose_worker_is_gone_and_a_retrain_is_accepted(world: World) -> None:
    gone = timezone.now() - timedelta(seconds=settings.RECSITE_TRAINING_STALE_SECONDS + 5)
    run = TrainingRun.objects.create(
        backend="numpy", status=TrainingRun.Status.RUNNING, started=gone, heartbeat_at=gone
    )
    staff = token_client(world.staff)
    # (A trigger would take the dead run back itself: tests/recommender/test_training_liveness.)
    cancelled = staff.post(f"{RUNS}{run.pk}/cancel/").json()
    assert (cancelled["status"], cancelled["cancel_requested"]) == ("cancelled", True)
    assert cancelled["finished"] is not None
    assert staff.post(RUNS, {"backend": "numpy"}, format="json").status_code == 201


@pytest.fixture
def unreachable_broker() -> Iterator[None]:
    """A real broker URL nobody listens on: publishing fails as it would with Redis down."""
    conf = current_app.conf
    saved = (conf.broker_url, conf.task_always_eager, current_app._pool)
    saved_producers = current_app.amqp._producer_pool
    conf.broker_url, conf.task_always_eager, current_app._pool = (
        "redis://127.0.0.1:9/0",
        False,
        None,
    )
    # The producer pool caches connections too: left alone, an earlier test's working broker
    # takes the publish (201), and afterwards later tests would publish to the dead port.
    current_app.amqp._producer_pool = None
    yield
    if current_app._pool is not None:
        current_app._pool.force_close_all()
    conf.broker_url, conf.task_always_eager, current_app._pool = saved
    current_app.amqp._producer_pool = saved_producers


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_is_a_503_and_frees_the_slot(
    world: World, unreachable_broker: None
) -> None:
    # Committed for real, as in production: the enqueue runs inside the request and fails.
    response = token_client(world.staff).post(RUNS, {"backend": "numpy"}, format="json")
    assert_error(response, 503, "broker_unavailable")
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.FAILED  # so the next trigger is not refused


def _version(run_status: str = "succeeded", **fields: Any) -> ModelVersion:
    run = TrainingRun.objects.create(backend="numpy", status=run_status)
    return ModelVersion.objects.create(
        training_run=run, backend="numpy", artifact_path="gone", checksum="0" * 64, **fields
    )


def test_activating_a_version_without_its_artifact_is_a_409(world: World) -> None:
    version = _version()
    response = token_client(world.staff).post(
        f"/api/v1/staff/model-versions/{version.pk}/activate/"
    )
    assert_error(response, 409, "model_version_error")
    version.refresh_from_db()
    assert not version.is_active


def test_rolling_back_with_no_earlier_version_is_a_409(world: World) -> None:
    _version(is_active=True)
    response = token_client(world.staff).post("/api/v1/staff/model-versions/rollback/")
    assert_error(response, 409, "model_version_error")


def test_versions_and_users_are_listed_for_staff(world: World) -> None:
    version = _version(is_active=True)
    staff = token_client(world.staff)
    versions = staff.get("/api/v1/staff/model-versions/").json()
    assert [(v["id"], v["is_active"]) for v in versions["results"]] == [(version.pk, True)]
    users = {u["username"]: u for u in staff.get("/api/v1/staff/users/").json()["results"]}
    assert set(users) == {"rater", "other", "boss"}
    assert (users["rater"]["rating_count"], users["other"]["rating_count"]) == (2, 0)
    assert users["boss"]["is_staff"]
