"""Reads of the training pipeline for the staff dashboard and the admin: runs, versions, status."""

from __future__ import annotations

import hashlib
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
    precompute_pending: bool  # the active version's top-k lists are still being written
    state: str  # changes whenever a row of the page would change beyond a run's progress


@dataclass(frozen=True)
class TrainingDashboard:
    """Everything the staff dashboard shows, read in four queries."""

    runs: list[TrainingRun]
    versions: list[ModelVersion]
    compared_runs: list[TrainingRun]  # the latest succeeded run of each backend
    in_flight: bool

    @property
    def compared_run_ids(self) -> list[int]:
        return [run.pk for run in self.compared_runs]

    @property
    def active_version(self) -> ModelVersion | None:
        return next((version for version in self.versions if version.is_active), None)

    @property
    def precompute_pending(self) -> bool:
        return model_versions_precompute_pending(self.versions)

    @property
    def state(self) -> str:
        return training_dashboard_state(self.runs, self.versions)


def training_runs_recent(*, limit: int = LISTED) -> list[TrainingRun]:
    """The newest runs, with their version and who started them, in one query."""
    return list(TrainingRun.objects.select_related("model_version", "triggered_by")[:limit])


def training_runs_any_in_flight(runs: Sequence[TrainingRun]) -> bool:
    """Whether one of these runs is queued or running. At most one run is in flight and no run
    starts after it, so the newest runs contain it if there is one."""
    return any(run.status in IN_FLIGHT_STATUSES for run in runs)


def training_runs_compared() -> list[TrainingRun]:
    """The latest succeeded run of each backend (NumPy vs PyTorch side by side), in backend
    order; a backend without one is left out. One query per backend."""
    runs = []
    for backend in Backend.values:
        latest = TrainingRun.objects.filter(
            backend=backend, status=TrainingRun.Status.SUCCEEDED
        ).first()
        if latest is not None:
            runs.append(latest)
    return runs


def training_run_ids_compared() -> list[int]:
    """The ids of training_runs_compared()."""
    return [run.pk for run in training_runs_compared()]


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


def model_versions_precompute_pending(versions: Sequence[ModelVersion]) -> bool:
    """Whether the active version (among these) has no precomputed lists yet: after a run
    activates a version, its precompute chord takes a minute or more to finish."""
    return any(version.is_active and version.precomputed_at is None for version in versions)


def training_dashboard_state(runs: Sequence[TrainingRun], versions: Sequence[ModelVersion]) -> str:
    """A fingerprint of what the dashboard's rows show apart from a running run's progress:
    which runs and versions exist, each run's status and outcome, which version is active and
    when its lists were written. The page re-reads its tables when it changes."""
    parts = [f"r{run.pk}:{run.status}:{run.best_epoch}:{run.decision}" for run in runs]
    parts += [
        f"v{version.pk}:{int(version.is_active)}:{version.precomputed_at}" for version in versions
    ]
    return hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()[:16]


def training_runs_status(*, limit: int = LISTED) -> TrainingRunsStatus:
    """The newest runs' progress, whether one is in flight or the active version's lists are
    still being written, and the page's state fingerprint: the dashboard's live JSON."""
    runs = training_runs_recent(limit=limit)
    versions = model_versions_list(limit=limit)
    return {
        "runs": [training_run_status(run) for run in runs],
        "in_flight": training_runs_any_in_flight(runs),
        "precompute_pending": model_versions_precompute_pending(versions),
        "state": training_dashboard_state(runs, versions),
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
        compared_runs=training_runs_compared(),
        in_flight=training_runs_any_in_flight(runs),
    )
