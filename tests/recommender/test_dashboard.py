"""Staff dashboard: access rules, live status JSON, PNG plots, retrain / activate / roll back."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recommender.models import ModelVersion, TrainingRun
from recommender.services.training import training_run_execute
from recommender.services.training_runs import training_run_create
from tests.factories import UserFactory
from tests.recommender.conftest import GOOD_CONFIG, RatingWorld

pytestmark = pytest.mark.usefixtures("eager_celery")


def trained_run(backend: str = "numpy", force: bool = False) -> TrainingRun:
    run = training_run_create(backend=backend, config=GOOD_CONFIG, trigger="command", force=force)
    training_run_execute(training_run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    return run


@pytest.fixture
def staff_client(db, client, pipeline_settings):
    client.force_login(UserFactory(username="staffer", is_staff=True))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["recommender:dashboard", "recommender:runs-status", "recommender:runs-plot"]
)
def test_anonymous_visitors_are_sent_to_log_in(client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.django_db
def test_a_signed_in_non_staff_user_is_refused(client) -> None:
    client.force_login(UserFactory(username="viewer"))
    for name in ("recommender:dashboard", "recommender:runs-status"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert "login" in response["Location"]
    response = client.post(reverse("recommender:retrain"), {"backend": "numpy"})
    assert response.status_code == 302
    assert not TrainingRun.objects.exists()


def test_staff_see_runs_versions_and_plots(staff_client, rating_world: RatingWorld) -> None:
    numpy_run, torch_run = trained_run("numpy"), trained_run("torch", force=True)

    page = staff_client.get(reverse("recommender:dashboard"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-run="{numpy_run.pk}"' in html
    assert f'data-run="{torch_run.pk}"' in html
    # NumPy vs PyTorch: the latest succeeded run of each backend in one plot.
    assert f"?runs={torch_run.pk},{numpy_run.pk}" in html or (
        f"?runs={numpy_run.pk},{torch_run.pk}" in html
    )
    assert reverse("recommender:version-activate", args=[numpy_run.model_version.pk]) in html

    plot = staff_client.get(
        reverse("recommender:runs-plot"), {"runs": f"{numpy_run.pk},{torch_run.pk}"}
    )
    assert plot.status_code == 200
    assert plot["Content-Type"] == "image/png"
    assert plot.content.startswith(b"\x89PNG\r\n\x1a\n")

    status = staff_client.get(reverse("recommender:runs-status")).json()
    by_id = {run["id"]: run for run in status["runs"]}
    assert by_id[numpy_run.pk]["status"] == "succeeded"
    assert by_id[numpy_run.pk]["epochs_done"] == GOOD_CONFIG["epochs"]
    assert status["in_flight"] is False


def test_the_retrain_form_queues_a_run_for_the_staff_member(
    staff_client, rating_world: RatingWorld, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("recommender:retrain"), {"backend": "numpy"})
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.trigger == TrainingRun.Trigger.STAFF_PAGE
    assert run.triggered_by.username == "staffer"
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error  # eager: trained already

    # A second one while a run is queued is refused with a message, not a second run.
    training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="command")
    response = staff_client.post(reverse("recommender:retrain"), {"backend": "torch"}, follow=True)
    assert "already queued or running" in response.content.decode()
    assert TrainingRun.objects.count() == 2


def test_activate_and_roll_back_buttons(staff_client, rating_world: RatingWorld) -> None:
    first, second = trained_run(), trained_run(force=True)
    assert ModelVersion.objects.get(is_active=True) == second.model_version

    staff_client.post(reverse("recommender:version-rollback"))
    assert ModelVersion.objects.get(is_active=True) == first.model_version

    staff_client.post(reverse("recommender:version-activate", args=[second.model_version.pk]))
    assert ModelVersion.objects.get(is_active=True) == second.model_version

    assert staff_client.get(reverse("recommender:version-rollback")).status_code == 405


# -- issue 16: styled, live, and each HR@10 figure named ---------------------------------------


def _classes_in_dashboard(html: str) -> set[str]:
    import re

    body = html[html.index('id="staff-dashboard"') : html.index('class="site-footer"')]
    return {name for found in re.findall(r'class="([^"]+)"', body) for name in found.split()}


def test_every_class_of_the_dashboard_is_styled(staff_client, rating_world: RatingWorld) -> None:
    from pathlib import Path

    from django.conf import settings

    trained_run()
    training_run_create(backend="torch", config=GOOD_CONFIG, trigger="command")  # queued
    html = staff_client.get(reverse("recommender:dashboard")).content.decode()
    css = (Path(settings.BASE_DIR) / "static" / "css" / "site.css").read_text()
    hooks = {"plots"}  # read by static/js/staff.js, not styled
    unstyled = {name for name in _classes_in_dashboard(html) - hooks if f".{name}" not in css}
    assert unstyled == set()
    # Wide tables scroll inside their own box; on a phone, runs and versions become cards.
    assert html.count('class="table-scroll"') == 3
    assert "td[data-label]::before" in css


def test_the_dashboard_names_each_hr_figure(staff_client, rating_world: RatingWorld) -> None:
    first = trained_run()
    second = trained_run()  # compared with the active version on its own validation items
    html = staff_client.get(reverse("recommender:dashboard")).content.decode()
    assert "What the HR@10 figures are" in html
    for said in ("the <strong>test</strong> item", "the <strong>validation</strong> item"):
        assert said in html
    assert "re-scored on this newer data" in html
    # A finished run shows the kept epoch's validation figure (its version's), and says so.
    for run in (first, second):
        assert f"kept epoch {run.best_epoch}" in html
        assert f"{run.test_metrics['val_hr']:.4f}" in html
    assert f"{first.model_version.metrics['val_hr']:.4f}" in html
    assert f"{second.n_ratings:,} ratings" in html  # which data each run scored on


def test_the_live_status_follows_the_precompute(staff_client, rating_world: RatingWorld) -> None:
    from django.utils import timezone

    run = trained_run()
    version = run.model_version
    url = reverse("recommender:runs-status")
    ModelVersion.objects.filter(pk=version.pk).update(precomputed_at=None)
    waiting = staff_client.get(url).json()
    assert waiting["in_flight"] is False
    assert waiting["precompute_pending"] is True  # so the page keeps polling after the run
    row = _version_row(staff_client.get(reverse("recommender:dashboard")).content.decode(), version)
    assert "being written" in row

    ModelVersion.objects.filter(pk=version.pk).update(precomputed_at=timezone.now())
    done = staff_client.get(url).json()
    assert done["precompute_pending"] is False
    assert done["state"] != waiting["state"]  # the page re-reads its tables when this changes
    row = _version_row(staff_client.get(reverse("recommender:dashboard")).content.decode(), version)
    assert "being written" not in row
    assert timezone.localtime().strftime("%Y-%m-%d") in row


def _version_row(html: str, version: ModelVersion) -> str:
    start = html.index(f'data-version="{version.pk}"')
    return html[start : html.index("</tr>", start)]


def test_the_plot_can_stack_its_panels_for_a_phone(staff_client, rating_world) -> None:
    run = trained_run()
    wide = staff_client.get(reverse("recommender:runs-plot"), {"runs": run.pk}).content
    tall = staff_client.get(reverse("recommender:runs-plot"), {"runs": run.pk, "stacked": "1"})
    assert tall.content.startswith(b"\x89PNG")

    def size(png: bytes) -> tuple[int, int]:
        return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")

    assert size(wide)[0] > size(wide)[1]
    assert size(tall.content)[0] < size(tall.content)[1]
