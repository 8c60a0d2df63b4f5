"""Admin for training runs (retrain now, cancel) and model versions (activate, roll back)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from recommender.models import Backend, ModelVersion, TrainingRun
from recommender.services import (
    TrainingError,
    model_version_activate,
    model_version_rollback,
    training_run_cancel,
    training_run_start,
)


def _retrain(
    modeladmin: admin.ModelAdmin, request: HttpRequest, backend: str, config: dict | None = None
) -> None:
    try:
        run = training_run_start(
            backend=backend, config=config, trigger=TrainingRun.Trigger.ADMIN, user=request.user
        )
    except TrainingError as exc:
        modeladmin.message_user(request, str(exc), messages.ERROR)
    else:
        modeladmin.message_user(request, f"Training run {run.pk} queued ({backend}).")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = (
        "id", "backend", "status", "trigger", "triggered_by", "created", "finished", "decision",
    )  # fmt: skip
    list_filter = ("status", "backend", "trigger")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
    actions = ["retrain_like_selected", "retrain_numpy", "retrain_torch", "cancel_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs start through the actions, the staff page, the API or a command

    @admin.action(description="Retrain now with the selected run's backend and config")
    def retrain_like_selected(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        run = queryset.first()
        if run is not None:
            _retrain(self, request, run.backend, run.config)

    @admin.action(description="Retrain now (NumPy, default config)")
    def retrain_numpy(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        _retrain(self, request, Backend.NUMPY)

    @admin.action(description="Retrain now (PyTorch, default config)")
    def retrain_torch(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        _retrain(self, request, Backend.TORCH)

    @admin.action(description="Cancel the selected runs")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        for run in queryset:
            training_run_cancel(training_run=run)
        self.message_user(request, f"Cancel requested for {queryset.count()} runs.")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "id", "backend", "is_active", "test_hr", "n_users", "n_items", "n_ratings",
        "activated_at", "precomputed_at",
    )  # fmt: skip
    list_filter = ("is_active", "backend")
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["activate_selected", "roll_back"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions come from training runs

    @admin.display(description="test HR@10")
    def test_hr(self, version: ModelVersion) -> str:
        value = (version.metrics or {}).get("test_hr")
        return "-" if value is None else f"{value:.4f}"

    @admin.action(description="Activate the selected version")
    def activate_selected(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        try:
            version = model_version_activate(version=queryset.get())
        except TrainingError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Model version {version.pk} is active.")

    @admin.action(description="Roll back to the previously active version")
    def roll_back(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        try:
            version = model_version_rollback()
        except TrainingError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Rolled back to model version {version.pk}.")
