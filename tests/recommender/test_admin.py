"""Admin of training runs and model versions: the "Retrain now" buttons and every action."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from recommender.engine.config import NeuMFConfig
from recommender.models import ModelVersion, TrainingRun
from recommender.services.training_runs import training_run_cancel, training_run_create
from tests.factories import UserFactory
from tests.recommender.conftest import GOOD_CONFIG, RatingWorld
from tests.recommender.runs import cancelled_run, trained_run

RUNS = reverse("admin:recommender_trainingrun_changelist")
VERSIONS = reverse("admin:recommender_modelversion_changelist")
RETRAIN = reverse("admin:recommender_trainingrun_retrain")
ALL_PERMISSIONS = (
    "view_trainingrun",
    "add_trainingrun",
    "change_trainingrun",
    "view_modelversion",
    "change_modelversion",
)


def staff_member(username: str, *codenames: str):
    user = UserFactory(username=username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="recommender", codename__in=codenames)
    )
    return user


@pytest.fixture
def staffer(db, pipeline_settings):
    return staff_member("staffer", *ALL_PERMISSIONS)


@pytest.fixture
def staff_client(client, staffer):
    client.force_login(staffer)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def run_action(client, url: str, action: str, *objects):
    return client.post(
        url, {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects]}, follow=True
    )


# -- the "Retrain now" buttons ----------------------------------------------------------------


def test_the_change_list_shows_a_retrain_now_button_per_backend(staff_client) -> None:
    page = staff_client.get(RUNS)

    assert page.status_code == 200
    html = page.content.decode()
    assert f'action="{RETRAIN}"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="backend" value="numpy"' in html
    assert 'name="backend" value="torch"' in html
    assert "Retrain now (NumPy)" in html
    assert "Retrain now (PyTorch)" in html
    offered = {name for name, _ in page.context["action_form"].fields["action"].choices}
    assert {"retrain_like_selected", "retrain_numpy", "retrain_torch", "cancel_selected"} <= offered


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_retrain_now_queues_an_admin_run_with_the_chosen_backend(
    staff_client,
    staffer,
    rating_world: RatingWorld,
    eager_celery,
    django_capture_on_commit_callbacks,
    backend: str,
) -> None:
    with django_capture_on_commit_callbacks() as enqueued:
        response = staff_client.post(RETRAIN, {"backend": backend}, follow=True)

    assert response.redirect_chain == [(RUNS, 302)]
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.QUEUED
    assert run.trigger == TrainingRun.Trigger.ADMIN
    assert run.backend == backend
    assert run.triggered_by == staffer
    # The engine's defaults with the site's (RECSITE_MIN_RATING).
    assert run.config == NeuMFConfig(min_rating=3.5).to_dict()
    assert messages_of(response) == [f"Training run {run.pk} queued ({backend})."]
    # The enqueue waits for the commit; run it (eager Celery): the run trains in this process.
    assert len(enqueued) == 1
    enqueued[0]()
    run.refresh_from_db()
    assert run.celery_task_id
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error


def test_a_second_retrain_while_one_is_in_flight_is_refused_with_a_message(
    staff_client, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks():  # not enqueued: the first run stays queued
        staff_client.post(RETRAIN, {"backend": "numpy"})
    first = TrainingRun.objects.get()

    response = staff_client.post(RETRAIN, {"backend": "torch"}, follow=True)

    assert response.status_code == 200
    assert TrainingRun.objects.get() == first
    assert messages_of(response) == [
        f"Training run {first.pk} queued (numpy).",  # the first post's, not shown until now
        f"Training run {first.pk} is already queued or running; wait for it or cancel it.",
    ]
    assert 'class="warning"' in response.content.decode()


def test_an_unknown_backend_is_refused_with_a_message(staff_client) -> None:
    response = staff_client.post(RETRAIN, {"backend": "tensorflow"}, follow=True)

    assert response.redirect_chain == [(RUNS, 302)]
    assert not TrainingRun.objects.exists()
    assert messages_of(response) == ["Pick a backend: one of numpy, torch."]


@pytest.mark.django_db(transaction=True)  # the enqueue runs at once, inside the request
def test_an_unreachable_broker_is_an_error_message_not_a_500(client, pipeline_settings) -> None:
    from recsite.celery import app

    client.force_login(staff_member("staffer", *ALL_PERMISSIONS))
    saved = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    app._pool, app.amqp._producer_pool = None, None
    try:
        response = client.post(RETRAIN, {"backend": "numpy"}, follow=True)
    finally:
        app.conf.broker_url = saved
        app._pool, app.amqp._producer_pool = None, None

    assert response.redirect_chain == [(RUNS, 302)]
    [message] = messages_of(response)
    assert message.startswith("The task broker is unreachable")
    assert 'class="error"' in response.content.decode()
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.FAILED  # so it does not block the next start
    assert run.trigger == TrainingRun.Trigger.ADMIN


def test_a_post_without_the_csrf_token_is_refused(staffer) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staffer)

    assert client.post(RETRAIN, {"backend": "numpy"}).status_code == 403
    assert not TrainingRun.objects.exists()


def test_get_is_refused(staff_client) -> None:
    assert staff_client.get(RETRAIN).status_code == 405
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_anonymous_visitors_and_non_staff_are_sent_to_log_in(client) -> None:
    login = reverse("admin:login")
    for user in (None, UserFactory(username="viewer")):
        if user is not None:
            client.force_login(user)
        for response in (client.get(RUNS), client.post(RETRAIN, {"backend": "numpy"})):
            assert response.status_code == 302
            assert response["Location"].startswith(login)
    assert not TrainingRun.objects.exists()


def test_staff_without_the_add_permission_get_no_button_and_no_run(client, db) -> None:
    client.force_login(staff_member("reader", "view_trainingrun", "view_modelversion"))

    page = client.get(RUNS)
    assert page.status_code == 200
    assert RETRAIN not in page.content.decode()
    form = page.context["action_form"]
    offered = set() if form is None else {name for name, _ in form.fields["action"].choices}
    assert not offered & {"retrain_like_selected", "retrain_numpy", "retrain_torch"}
    assert "cancel_selected" not in offered
    assert client.post(RETRAIN, {"backend": "numpy"}).status_code == 403
    assert not TrainingRun.objects.exists()


# -- the actions ------------------------------------------------------------------------------


def test_retrain_like_selected_copies_the_runs_backend_and_config(staff_client, staffer) -> None:
    model = training_run_create(
        backend="torch", config={**GOOD_CONFIG, "epochs": 2}, trigger="command"
    )
    training_run_cancel(training_run=model)  # finished, so a new run may start

    response = run_action(staff_client, RUNS, "retrain_like_selected", model)

    run = TrainingRun.objects.exclude(pk=model.pk).get()
    assert run.status == TrainingRun.Status.QUEUED
    assert run.trigger == TrainingRun.Trigger.ADMIN
    assert run.triggered_by == staffer
    assert run.backend == "torch"
    assert run.config == model.config
    assert run.config["epochs"] == 2
    assert messages_of(response) == [f"Training run {run.pk} queued (torch)."]


@pytest.mark.parametrize(
    ("action", "backend"), [("retrain_numpy", "numpy"), ("retrain_torch", "torch")]
)
def test_retrain_with_a_backend_queues_a_default_config_run(
    staff_client, action: str, backend: str
) -> None:
    selected = cancelled_run("torch" if backend == "numpy" else "numpy")

    run_action(staff_client, RUNS, action, selected)

    run = TrainingRun.objects.exclude(pk=selected.pk).get()
    assert run.status == TrainingRun.Status.QUEUED
    assert run.trigger == TrainingRun.Trigger.ADMIN
    assert run.backend == backend
    assert run.config == NeuMFConfig(min_rating=3.5).to_dict()  # with RECSITE_MIN_RATING


def test_cancel_selected_cancels_a_queued_run(staff_client) -> None:
    queued = training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="command")

    response = run_action(staff_client, RUNS, "cancel_selected", queued)

    queued.refresh_from_db()
    assert queued.status == TrainingRun.Status.CANCELLED
    assert queued.cancel_requested
    assert queued.finished is not None
    assert messages_of(response) == ["Cancel requested for 1 runs."]


def test_activate_selected_and_roll_back(staff_client, rating_world: RatingWorld) -> None:
    first, second = trained_run().model_version, trained_run(force=True).model_version
    assert ModelVersion.objects.get(is_active=True) == second

    response = run_action(staff_client, VERSIONS, "activate_selected", first)
    assert ModelVersion.objects.get(is_active=True) == first
    assert messages_of(response) == [f"Model version {first.pk} is active."]

    response = run_action(staff_client, VERSIONS, "roll_back", first)
    assert ModelVersion.objects.get(is_active=True) == second
    assert messages_of(response) == [f"Rolled back to model version {second.pk}."]

    response = run_action(staff_client, VERSIONS, "activate_selected", first, second)
    assert ModelVersion.objects.get(is_active=True) == second  # unchanged
    assert messages_of(response) == ["Select exactly one version to activate."]


def test_the_versions_list_shows_validation_and_test_hr(
    staff_client, rating_world: RatingWorld
) -> None:
    version = trained_run().model_version

    html = staff_client.get(VERSIONS).content.decode()

    assert "Val HR@10 (decides activation)" in html
    assert f"{version.metrics['val_hr']:.4f}" in html
    assert f"{version.metrics['test_hr']:.4f}" in html
