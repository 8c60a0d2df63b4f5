"""Management commands: train_ncf and bootstrap_model in process, retrain through Celery."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from recommender.models import ModelVersion, Recommendation, TrainingRun
from tests.recommender.conftest import GOOD_CONFIG, RatingWorld

CONFIG = json.dumps({k: v for k, v in GOOD_CONFIG.items() if k != "epochs"})


def run_command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_train_ncf_trains_in_process_with_epoch_output_and_precomputes(
    rating_world: RatingWorld, pipeline_settings
) -> None:
    out = run_command("train_ncf", "--epochs", "3", "--config", CONFIG)

    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.trigger == TrainingRun.Trigger.COMMAND
    assert run.config["epochs"] == 3
    epoch_lines = [line for line in out.splitlines() if line.startswith("neumf epoch ")]
    assert [line.split()[2].rstrip(":") for line in epoch_lines] == ["1", "2", "3"]
    assert all("loss" in line and "val HR@10" in line for line in epoch_lines)
    assert "Test HR@10" in out
    version = ModelVersion.objects.get(is_active=True)
    assert version.precomputed_at is not None
    k = pipeline_settings.RECSITE_TOP_K
    assert Recommendation.objects.filter(model_version=version).count() == version.n_users * k


@pytest.mark.django_db
def test_train_ncf_fails_clearly_without_ratings(pipeline_settings) -> None:
    with pytest.raises(CommandError, match="no ratings"):
        run_command("train_ncf", "--epochs", "1")
    assert TrainingRun.objects.get().status == TrainingRun.Status.FAILED


@pytest.mark.django_db
def test_train_ncf_refuses_bad_config(pipeline_settings) -> None:
    with pytest.raises(CommandError, match="not JSON"):
        run_command("train_ncf", "--config", "{epochs: 2")
    with pytest.raises(CommandError, match="epochs"):
        run_command("train_ncf", "--epochs", "0")
    assert not TrainingRun.objects.exists()


def test_bootstrap_model_trains_once_then_does_nothing(
    rating_world: RatingWorld, pipeline_settings
) -> None:
    out = run_command("bootstrap_model")
    assert "Version" in out
    version = ModelVersion.objects.get(is_active=True)
    out = run_command("bootstrap_model")
    assert f"Model version {version.pk} is active; nothing to do." in out
    assert TrainingRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # on-commit enqueue fires inside the command
def test_retrain_queues_and_waits_with_epoch_progress(
    rating_world: RatingWorld, pipeline_settings, eager_celery
) -> None:
    # Eager: the worker's part runs inside the command, so --wait sees a finished run.
    out = run_command(
        "retrain", "--backend", "numpy", "--epochs", "2", "--config", CONFIG, "--wait"
    )
    run = TrainingRun.objects.get()
    assert f"Training run {run.pk} queued (numpy)." in out
    assert f"Run {run.pk} succeeded" in out
    assert sum(line.startswith("neumf epoch ") for line in out.splitlines()) == 2
    assert ModelVersion.objects.get(is_active=True).training_run == run


def test_retrain_refuses_while_a_run_is_in_flight(rating_world: RatingWorld) -> None:
    call_command("retrain", "--backend", "numpy", stdout=StringIO())  # queued, no worker here
    with pytest.raises(CommandError, match="already queued or running"):
        run_command("retrain", "--backend", "torch")
    assert TrainingRun.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_retrain_wait_fails_when_the_run_fails(pipeline_settings, eager_celery) -> None:
    with pytest.raises(CommandError, match=r"failed: .*There are no ratings"):
        run_command("retrain", "--epochs", "1", "--wait", "--timeout", "60")


def test_precompute_command_rebuilds_the_active_versions_lists(
    rating_world: RatingWorld, pipeline_settings
) -> None:
    run_command("train_ncf", "--epochs", "2", "--config", CONFIG, "--no-precompute")
    version = ModelVersion.objects.get(is_active=True)
    assert version.precomputed_at is None
    assert not Recommendation.objects.exists()

    out = run_command("precompute")
    version.refresh_from_db()
    assert version.precomputed_at is not None
    rows = Recommendation.objects.filter(model_version=version).count()
    assert rows == version.n_users * pipeline_settings.RECSITE_TOP_K
    assert f"{rows} recommendations" in out
