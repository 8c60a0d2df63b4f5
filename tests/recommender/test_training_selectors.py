"""Reads of the training pipeline: newest runs and versions, compared runs, live status JSON."""

from __future__ import annotations

import json

import pytest

from recommender import training_selectors as selectors
from recommender.services.training_runs import training_run_create
from tests.factories import UserFactory
from tests.recommender.conftest import GOOD_CONFIG, RatingWorld
from tests.recommender.runs import cancelled_run, trained_run

pytestmark = pytest.mark.django_db


def test_recent_runs_are_newest_first_with_version_and_starter_in_one_query(
    rating_world: RatingWorld, django_assert_num_queries
) -> None:
    staffer = UserFactory(username="staffer", is_staff=True)
    trained_run(user=staffer)
    second = trained_run(force=True, user=staffer)
    queued = training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="command")

    with django_assert_num_queries(1):
        runs = selectors.training_runs_recent(limit=2)
        versions = [run.model_version.pk for run in runs if hasattr(run, "model_version")]
        starters = [run.triggered_by and run.triggered_by.username for run in runs]

    assert [run.pk for run in runs] == [queued.pk, second.pk]
    assert versions == [second.model_version.pk]
    assert starters == [None, "staffer"]
    assert selectors.training_runs_any_in_flight(runs)
    assert not selectors.training_runs_any_in_flight(runs[1:])


def test_compared_runs_are_the_latest_succeeded_run_of_each_backend(
    rating_world: RatingWorld, django_assert_num_queries
) -> None:
    assert selectors.training_run_ids_compared() == []
    trained_run("numpy")
    latest_numpy = trained_run("numpy", force=True)
    cancelled_run("numpy")  # newer, but not succeeded
    assert selectors.training_run_ids_compared() == [latest_numpy.pk]  # no PyTorch run yet

    torch_run = trained_run("torch", force=True)
    with django_assert_num_queries(2):  # one per backend
        assert selectors.training_run_ids_compared() == [latest_numpy.pk, torch_run.pk]


def test_runs_by_ids_keep_the_order_asked_and_skip_unknown_ids(db) -> None:
    assert selectors.training_runs_by_ids(ids=[]) == []
    first, second = cancelled_run(), cancelled_run()

    assert selectors.training_runs_by_ids(ids=[first.pk, 999_999, second.pk]) == [first, second]
    assert selectors.training_runs_by_ids(ids=[second.pk, first.pk]) == [second, first]
    assert selectors.training_runs_by_ids(ids=[]) == [second]  # no ids: the latest run


def test_run_status_reports_progress_as_json_values(rating_world: RatingWorld) -> None:
    queued = training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="command")
    assert selectors.training_run_status(queued) == {
        "id": queued.pk,
        "backend": "numpy",
        "status": "queued",
        "epochs_done": 0,
        "epochs_total": GOOD_CONFIG["epochs"],
        "last_loss": None,
        "last_val_hr": None,
        "cancel_requested": False,
        "decision": "",
        "error": "",
    }
    assert selectors.training_runs_status()["in_flight"] is True

    queued.delete()
    run = trained_run()
    status = selectors.training_runs_status()
    json.dumps(status)  # what JsonResponse sends
    assert status["in_flight"] is False
    [shown] = status["runs"]
    assert shown["status"] == "succeeded"
    assert shown["epochs_done"] == shown["epochs_total"] == GOOD_CONFIG["epochs"]
    assert shown["last_loss"] == run.epochs[-1]["loss"]
    assert shown["last_val_hr"] == run.epochs[-1]["val_hr"]
    assert shown["decision"] == run.decision == "Activated: no version was active."


def test_model_versions_are_newest_first_with_their_run_in_one_query(
    rating_world: RatingWorld, django_assert_num_queries
) -> None:
    first, second = trained_run(), trained_run(force=True)

    with django_assert_num_queries(1):
        versions = selectors.model_versions_list()
        runs = [version.training_run.pk for version in versions]

    assert [version.pk for version in versions] == [
        second.model_version.pk,
        first.model_version.pk,
    ]
    assert runs == [second.pk, first.pk]
    assert selectors.model_versions_list(limit=1) == [second.model_version]


def test_the_dashboard_reads_everything_in_four_queries(
    rating_world: RatingWorld, django_assert_num_queries
) -> None:
    run = trained_run()
    queued = training_run_create(backend="torch", config=GOOD_CONFIG, trigger="command")

    with django_assert_num_queries(4):  # runs, versions, one per compared backend
        page = selectors.training_dashboard()
        version_runs = [version.training_run.pk for version in page.versions]
        starters = [r.triggered_by for r in page.runs]

    assert [r.pk for r in page.runs] == [queued.pk, run.pk]
    assert [v.pk for v in page.versions] == [run.model_version.pk]
    assert page.compared_run_ids == [run.pk]
    assert version_runs == [run.pk]
    assert starters == [None, None]
    assert page.in_flight is True
