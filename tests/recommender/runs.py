"""Training runs built through the services, as the product builds them, for the staff tests."""

from __future__ import annotations

from recommender.models import TrainingRun
from recommender.services.training import training_run_execute
from recommender.services.training_runs import training_run_cancel, training_run_create
from tests.recommender.conftest import GOOD_CONFIG


def trained_run(backend: str = "numpy", *, force: bool = False, user=None) -> TrainingRun:
    """A run trained to the end in this process (needs the rating_world fixture)."""
    run = training_run_create(
        backend=backend, config=GOOD_CONFIG, trigger="command", user=user, force=force
    )
    training_run_execute(training_run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    return run


def cancelled_run(backend: str = "numpy") -> TrainingRun:
    """A run queued and cancelled before any worker took it: finished, no version."""
    run = training_run_create(backend=backend, config=GOOD_CONFIG, trigger="command")
    return training_run_cancel(training_run=run)
