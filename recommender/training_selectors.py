"""Reads of the training pipeline for the staff dashboard and the admin: runs, versions, status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from recommender.models import IN_FLIGHT_STATUSES, Backend, ModelVersion, TrainingRun

LISTED = 20  # runs and versions a staff page lists


class TrainingRunStatus(TypedDict):
    """One run in the dashboard's live status JSON."""

    id: int
    backend: str
    status: str
    epochs_done: int
    epochs_total: int
    last_loss: float | None
    last_val_hr: float | None
    cancel_requested: bool
    decision: str
    error: str


class TrainingRunsStatus(TypedDict):
    runs: list[TrainingRunStatus]
    in_flight: bool


@dataclass(frozen=True)
class TrainingDashboard:
    """Everything the staff dashboard shows, read in four queries."""

    runs: list[TrainingRun]
    versions: list[ModelVersion]
    compared_run_ids: list[int]  # the latest succeeded run of each backend
    in_flight: bool


def training_runs_recent(*, limit: int = LISTED) -> list[TrainingRun]:
    """The newest runs, with their version and who started them, in one query."""
    return list(TrainingRun.objects.select_related("model_version", "triggered_by")[:limit])


def training_runs_any_in_flight(runs: Sequence[TrainingRun]) -> bool:
    """Whether one of these runs is queued or running. At most one run is in flight and no run
    starts after it, so the newest runs contain it if there is one."""
    return any(run.status in IN_FLIGHT_STATUSES for run in runs)


def training_run_ids_compared() -> list[int]:
    """The latest succeeded run of each backend (NumPy vs PyTorch side by side), in backend
    order; a backend without one is left out. One query per backend."""
    ids = []
    for backend in Backend.values:
        latest = (
            TrainingRun.objects.filter(backend=backend, status=TrainingRun.Status.SUCCEEDED)
            .values_list("pk", flat=True)
            .first()
        )
        if latest is not None:
            ids.append(latest)
    return ids


def training_runs_by_ids(*, ids: Sequence[int]) -> list[TrainingRun]:
    """These runs in the order asked, unknown ids skipped; no ids: the latest run, if any."""
    if not ids:
        return list(TrainingRun.objects.all()[:1])
    found = {run.pk: run for run in TrainingRun.objects.filter(pk__in=ids)}
    return [found[pk] for pk in ids if pk in found]


def training_run_status(run: TrainingRun) -> TrainingRunStatus:
    """A run's progress as JSON values: epochs done of the configured ones, last loss and val HR."""
    last: dict[str, Any] | None = run.epochs[-1] if run.epochs else None
    return {
        "id": run.pk,
        "backend": run.backend,
        "status": run.status,
        "epochs_done": len(run.epochs),
        "epochs_total": int(run.config.get("epochs", 0)),
        "last_loss": None if last is None else last["loss"],
        "last_val_hr": None if last is None else last["val_hr"],
        "cancel_requested": run.cancel_requested,
        "decision": run.decision,
        "error": run.error,
    }


def training_runs_status(*, limit: int = LISTED) -> TrainingRunsStatus:
    """The newest runs' progress and whether one is in flight: the dashboard's live JSON."""
    runs = training_runs_recent(limit=limit)
    return {
        "runs": [training_run_status(run) for run in runs],
        "in_flight": training_runs_any_in_flight(runs),
    }


def model_versions_list(*, limit: int = LISTED) -> list[ModelVersion]:
    """The newest model versions with their training run, in one query."""
    return list(ModelVersion.objects.select_related("training_run")[:limit])


def training_dashboard(*, limit: int = LISTED) -> TrainingDashboard:
    """The staff dashboard: newest runs and versions, the compared runs, whether one runs."""
    runs = training_runs_recent(limit=limit)
    return TrainingDashboard(
        runs=runs,
        versions=model_versions_list(limit=limit),
        compared_run_ids=training_run_ids_compared(),
        in_flight=training_runs_any_in_flight(runs),
    )
