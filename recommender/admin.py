"""Admin for training runs (retrain now, cancel) and model versions (activate, roll back)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from recommender.models import Backend, ModelVersion, TrainingRun
from recommender.services.errors import TrainingAlreadyRunning, TrainingError
from recommender.services.training_runs import training_run_cancel, training_run_start
from recommender.services.versions import model_version_activate, model_version_rollback


class RetrainForm(forms.Form):
    """The change list's "Retrain now" buttons: which backend trains, default config."""

    backend = forms.ChoiceField(choices=Backend.choices)


def _retrain(
    modeladmin: admin.ModelAdmin, request: HttpRequest, backend: str, config: dict | None = None
) -> None:
    try:
        run = training_run_start(
            backend=backend, config=config, trigger=TrainingRun.Trigger.ADMIN, user=request.user
        )
    except TrainingAlreadyRunning as exc:
        modeladmin.message_user(request, str(exc), messages.WARNING)
    except TrainingError as exc:  # the broker is unreachable, an invalid config
        modeladmin.message_user(request, str(exc), messages.ERROR)
    else:
        modeladmin.message_user(
            request, f"Training run {run.pk} queued ({backend}).", messages.SUCCESS
        )


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = (
        "id", "backend", "status", "trigger", "triggered_by", "created", "finished", "decision",
    )  # fmt: skip
    list_filter = ("status", "backend", "trigger")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
    actions = ["retrain_like_selected", "retrain_numpy", "retrain_torch", "cancel_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs start through the buttons, actions, staff page, API or a command

    def has_retrain_permission(self, request: HttpRequest) -> bool:
        """Starting a run creates one: the model's add permission, which the admin's own add
        form does not use (has_add_permission is False)."""
        codename = get_permission_codename("add", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def get_urls(self) -> list[URLPattern]:
        retrain = self.admin_site.admin_view(require_POST(self.retrain_view))
        name = f"{self.opts.app_label}_{self.opts.model_name}_retrain"
        # Before the model's own URLs, whose "<path:object_id>/" would take "retrain/".
        return [path("retrain/", retrain, name=name), *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> TemplateResponse | HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_retrain": self.has_retrain_permission(request),
            "retrain_backends": Backend.choices,
        }
        return super().changelist_view(request, extra_context)

    def retrain_view(self, request: HttpRequest) -> HttpResponse:
        """POST from the change list's "Retrain now" buttons: start a run, say how it went."""
        if not self.has_retrain_permission(request):
            raise PermissionDenied
        form = RetrainForm(request.POST)
        if form.is_valid():
            _retrain(self, request, form.cleaned_data["backend"])
        else:
            self.message_user(
                request, f"Pick a backend: one of {', '.join(Backend.values)}.", messages.ERROR
            )
        changelist = f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"
        return HttpResponseRedirect(reverse(changelist, current_app=self.admin_site.name))

    @admin.action(
        description="Retrain now with the selected run's backend and config",
        permissions=["retrain"],
    )
    def retrain_like_selected(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        run = queryset.first()
        if run is not None:
            _retrain(self, request, run.backend, run.config)

    @admin.action(description="Retrain now (NumPy, default config)", permissions=["retrain"])
    def retrain_numpy(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        _retrain(self, request, Backend.NUMPY)

    @admin.action(description="Retrain now (PyTorch, default config)", permissions=["retrain"])
    def retrain_torch(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        _retrain(self, request, Backend.TORCH)

    @admin.action(description="Cancel the selected runs", permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[TrainingRun]) -> None:
        for run in queryset:
            training_run_cancel(training_run=run)
        self.message_user(request, f"Cancel requested for {queryset.count()} runs.")


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "id", "backend", "is_active", "val_hr", "test_hr", "n_users", "n_items", "n_ratings",
        "activated_at", "precomputed_at",
    )  # fmt: skip
    list_filter = ("is_active", "backend")
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["activate_selected", "roll_back"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # versions come from training runs

    @admin.display(description="val HR@10 (decides activation)")
    def val_hr(self, version: ModelVersion) -> str:
        value = (version.metrics or {}).get("val_hr")
        return "-" if value is None else f"{value:.4f}"

    @admin.display(description="test HR@10 (reported)")
    def test_hr(self, version: ModelVersion) -> str:
        value = (version.metrics or {}).get("test_hr")
        return "-" if value is None else f"{value:.4f}"

    @admin.action(description="Activate the selected version", permissions=["change"])
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

    @admin.action(description="Roll back to the previously active version", permissions=["change"])
    def roll_back(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        try:
            version = model_version_rollback()
        except TrainingError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"Rolled back to model version {version.pk}.")
