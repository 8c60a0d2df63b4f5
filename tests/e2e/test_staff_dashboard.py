"""The staff dashboard in Chromium: it updates live, and fits a phone without sideways scroll."""

from __future__ import annotations

import pytest
from django.utils import timezone

from recommender.models import ModelVersion, TrainingRun
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-unusual-passphrase-42"


def _staff_with_a_version() -> ModelVersion:
    """A staff member, and an active version whose top-10 lists are still being written."""
    user = UserFactory(username="staffer", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    epochs = [
        {"epoch": e, "loss": 0.5 / e, "val_hr": 0.5 + e / 100, "val_ndcg": 0.3, "seconds": 1.0}
        for e in range(1, 6)
    ]
    run = TrainingRun.objects.create(
        backend="numpy",
        status=TrainingRun.Status.SUCCEEDED,
        config={"epochs": 5},
        epochs=epochs,
        best_epoch=5,
        n_ratings=123_456,
        test_metrics={"val_hr": 0.55, "test_hr": 0.52},
        decision="Activated: no version was active.",
    )
    return ModelVersion.objects.create(
        training_run=run,
        backend="numpy",
        artifact_path="run-e2e",
        checksum="",
        metrics={"val_hr": 0.55, "test_hr": 0.52},
        n_users=10,
        n_items=20,
        n_ratings=123_456,
        is_active=True,
        activated_at=timezone.now(),
    )


def _log_in(page) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("staffer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def test_the_versions_table_updates_when_the_lists_are_written(page, live_server):
    from playwright.sync_api import expect

    version = _staff_with_a_version()
    _log_in(page)
    page.goto("/staff/")
    page.evaluate("() => { window.notReloaded = true; }")
    cell = page.locator(f'tr[data-version="{version.pk}"] [data-field="precomputed"]')
    expect(cell).to_contain_text("being written")

    ModelVersion.objects.filter(pk=version.pk).update(precomputed_at=timezone.now())
    # The page polls every 2 s while a precompute is pending: no reload needed.
    expect(cell).to_contain_text(timezone.localtime().strftime("%Y-%m-%d"), timeout=8_000)
    expect(page.locator('[data-live="summary"]')).to_contain_text("written")
    assert page.evaluate("() => window.notReloaded") is True

    # A run started elsewhere (the API, a command) appears without a reload too.
    TrainingRun.objects.create(backend="torch", config={"epochs": 5})
    expect(page.locator("tr[data-run]")).to_have_count(2, timeout=20_000)
    assert page.evaluate("() => window.notReloaded") is True


def test_the_dashboard_fits_a_phone(page, live_server):
    _staff_with_a_version()
    page.set_viewport_size({"width": 390, "height": 844})
    _log_in(page)
    page.goto("/staff/")
    page.wait_for_load_state("networkidle")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390
