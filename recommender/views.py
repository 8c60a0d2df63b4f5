"""Staff dashboard: training runs with live status, loss / HR plots, versions, retrain form."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from recommender.models import Backend, ModelVersion, TrainingRun
from recommender.plots import training_runs_png
from recommender.services.errors import TrainingError
from recommender.services.training_runs import training_run_cancel, training_run_start
from recommender.services.versions import model_version_activate, model_version_rollback
from recommender.training_selectors import (
    training_dashboard,
    training_runs_by_ids,
    training_runs_status,
)

MAX_PLOTTED = 4


@staff_member_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    page = training_dashboard()
    context = {
        "runs": page.runs,
        "versions": page.versions,
        "active_version": page.active_version,
        "compared_runs": page.compared_runs,
        "backends": Backend.choices,
        "compare_ids": ",".join(str(pk) for pk in page.compared_run_ids),
        "in_flight": page.in_flight,
        "precompute_pending": page.precompute_pending,
        "state": page.state,
    }
    return render(request, "recommender/dashboard.html", context)


@staff_member_required
@require_GET
def runs_status(request: HttpRequest) -> JsonResponse:
    return JsonResponse(training_runs_status())


@staff_member_required
@require_GET
def runs_plot(request: HttpRequest) -> HttpResponse:
    """?runs=3,4 plots those runs (at most four); without it, the latest run. ?stacked=1 puts
    the two panels one above the other, for a phone's width."""
    raw = request.GET.get("runs", "")
    ids = [int(part) for part in raw.split(",") if part.strip().isdigit()][:MAX_PLOTTED]
    png = training_runs_png(
        training_runs_by_ids(ids=ids), stacked=request.GET.get("stacked") == "1"
    )
    response = HttpResponse(png, content_type="image/png")
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
