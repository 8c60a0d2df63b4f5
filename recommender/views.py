"""Staff dashboard: training runs with live status, loss / HR plots, versions, retrain form."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from recommender.models import Backend, ModelVersion, TrainingRun
from recommender.plots import training_runs_png
from recommender.services import (
    TrainingError,
    model_version_activate,
    model_version_rollback,
    training_run_cancel,
    training_run_start,
)

LISTED = 20
MAX_PLOTTED = 4


# Reads of this page only; small enough to live beside it.
def _runs() -> list[TrainingRun]:
    return list(TrainingRun.objects.select_related("model_version", "triggered_by")[:LISTED])


def _compare_ids() -> list[int]:
    """The latest succeeded run of each backend: NumPy vs PyTorch side by side."""
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


def _run_json(run: TrainingRun) -> dict[str, Any]:
    last = run.epochs[-1] if run.epochs else None
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


@staff_member_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    runs = _runs()
    context = {
        "runs": runs,
        "versions": ModelVersion.objects.select_related("training_run")[:LISTED],
        "backends": Backend.choices,
        "compare_ids": ",".join(str(pk) for pk in _compare_ids()),
        "in_flight": any(run.status in ("queued", "running") for run in runs),
    }
    return render(request, "recommender/dashboard.html", context)


@staff_member_required
@require_GET
def runs_status(request: HttpRequest) -> JsonResponse:
    runs = _runs()
    return JsonResponse(
        {
            "runs": [_run_json(run) for run in runs],
            "in_flight": any(run.status in ("queued", "running") for run in runs),
        }
    )


@staff_member_required
@require_GET
def runs_plot(request: HttpRequest) -> HttpResponse:
    """?runs=3,4 plots those runs (at most four); without it, the latest run."""
    raw = request.GET.get("runs", "")
    ids = [int(part) for part in raw.split(",") if part.strip().isdigit()][:MAX_PLOTTED]
    if ids:
        found = {run.pk: run for run in TrainingRun.objects.filter(pk__in=ids)}
        runs = [found[pk] for pk in ids if pk in found]
    else:
        runs = list(TrainingRun.objects.all()[:1])
    response = HttpResponse(training_runs_png(runs), content_type="image/png")
    response["Cache-Control"] = "no-store"  # a running run's plot changes every epoch
    return response


@staff_member_required
@require_POST
def retrain(request: HttpRequest) -> HttpResponse:
    try:
        run = training_run_start(
            backend=request.POST.get("backend", ""),
            config=None,
            trigger=TrainingRun.Trigger.STAFF_PAGE,
            user=request.user,
            force=request.POST.get("force") == "on",
        )
    except TrainingError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Training run {run.pk} queued.")
    return redirect("recommender:dashboard")


@staff_member_required
@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = training_run_cancel(training_run=get_object_or_404(TrainingRun, pk=pk))
    messages.info(request, f"Training run {run.pk}: {run.status}, cancel requested.")
    return redirect("recommender:dashboard")


@staff_member_required
@require_POST
def version_activate(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        version = model_version_activate(version=get_object_or_404(ModelVersion, pk=pk))
    except TrainingError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Model version {version.pk} is active.")
    return redirect("recommender:dashboard")


@staff_member_required
@require_POST
def version_rollback(request: HttpRequest) -> HttpResponse:
    try:
        version = model_version_rollback()
    except TrainingError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Rolled back to model version {version.pk}.")
    return redirect("recommender:dashboard")
