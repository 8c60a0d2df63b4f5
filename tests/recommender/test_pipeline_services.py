"""Training runs through the services with eager Celery: activation, failure, cancel, triggers."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from ratings.models import Rating
from ratings.services import rating_upsert
from recommender.engine.artifacts import load_artifact, read_meta
from recommender.models import ModelVersion, Recommendation, TrainingLock, TrainingRun
from recommender.registry import load_version
from recommender.services import (
    errors,
    precompute,
    training,
    training_lock,
    training_runs,
    triggers,
    versions,
)
from tests.factories import GenreFactory, MovieFactory, UserFactory
from tests.recommender.conftest import (
    BAD_CONFIG,
    CLUSTERS,
    GOOD_CONFIG,
    USERS_PER_CLUSTER,
    RatingWorld,
)

pytestmark = pytest.mark.django_db


def _start(captured, **kwargs) -> TrainingRun:
    """Start a run and let its on-commit enqueue run (eagerly, in this process)."""
    with captured(execute=True):
        run = training_runs.training_run_start(
            backend=kwargs.pop("backend", "numpy"),
            config=kwargs.pop("config", GOOD_CONFIG),
            trigger=kwargs.pop("trigger", TrainingRun.Trigger.COMMAND),
            **kwargs,
        )
    run.refresh_from_db()
    return run


def test_start_trains_activates_and_precomputes(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks, settings
):
    run = _start(django_capture_on_commit_callbacks)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.started
    assert run.finished
    assert run.finished >= run.started
    assert len(run.epochs) == GOOD_CONFIG["epochs"]
    assert [e["epoch"] for e in run.epochs] == list(range(1, GOOD_CONFIG["epochs"] + 1))
    assert all(np.isfinite(e["loss"]) for e in run.epochs)
    assert run.epochs[-1]["loss"] < run.epochs[0]["loss"]
    assert run.n_ratings == Rating.objects.count()
    assert run.ratings_until == Rating.objects.latest("rated_at").rated_at
    assert run.device == "cpu"
    assert {"snapshot", "train", "save", "total"} <= set(run.timings)
    version = ModelVersion.objects.get(training_run=run)
    assert version.is_active
    assert version.activated_at is not None
    assert version.metrics["test_hr"] > 0.3  # the clusters are learnt: random is about 0.1
    assert run.test_metrics["test_hr"] == version.metrics["test_hr"]
    # The artifact is complete and loadable where the version says; no temporary leftovers.
    root = Path(settings.ARTIFACT_DIR)
    loaded = load_artifact(root / version.artifact_path)
    assert len(loaded.users) == version.n_users == len(rating_world.users)
    assert [p.name for p in root.iterdir()] == [version.artifact_path]
    # Precompute: k rows per user, ranks 1..k, nothing the user rated, then precomputed_at.
    assert version.precomputed_at is not None
    k = settings.RECSITE_TOP_K
    for user in rating_world.users:
        recs = list(
            Recommendation.objects.filter(model_version=version, user=user).order_by("rank")
        )
        assert [r.rank for r in recs] == list(range(1, k + 1))
        rated = set(Rating.objects.filter(user=user).values_list("movie_id", flat=True))
        assert not rated & {r.movie_id for r in recs}
        assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)


def test_a_trained_version_saves_co_rating_neighbours_and_the_registry_loads_them(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks, settings
):
    run = _start(django_capture_on_commit_callbacks)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert "neighbours" in run.timings
    version = ModelVersion.objects.get(training_run=run)
    directory = Path(settings.ARTIFACT_DIR) / version.artifact_path
    meta = read_meta(directory)
    assert meta["neighbours"]["file"] == "neighbours.npz"
    assert (directory / "neighbours.npz").is_file()
    nb, sims = load_artifact(directory).neighbours()
    assert nb.shape == sims.shape == (version.n_items, meta["neighbours"]["k"])
    served = load_version(version)
    np.testing.assert_array_equal(served.neighbours, nb)
    np.testing.assert_array_equal(served.neighbour_sims, sims)
    # Each movie's first neighbour, where it has one, is a movie rated by its raters.
    has = nb[:, 0] >= 0
    assert has.any()
    assert np.all(sims[has, 0] > 0)


def test_precomputed_lists_follow_the_users_cluster(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks
):
    _start(django_capture_on_commit_callbacks)
    version = ModelVersion.objects.get(is_active=True)
    in_cluster = []
    for c, user in enumerate(rating_world.users):
        cluster = CLUSTERS[c // USERS_PER_CLUSTER]
        top = Recommendation.objects.filter(model_version=version, user=user, rank__lte=5)
        in_cluster += [rating_world.cluster_of(r.movie_id) == cluster for r in top]
    assert np.mean(in_cluster) > 0.6  # 0.25 by chance


def test_worse_model_is_kept_inactive_unless_forced(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks
):
    good = _start(django_capture_on_commit_callbacks)
    good_version = good.model_version

    worse = _start(django_capture_on_commit_callbacks, config=BAD_CONFIG)
    assert worse.status == TrainingRun.Status.SUCCEEDED
    assert worse.decision.startswith("Not activated: full-catalogue validation NDCG@10")
    # Both halves of the active version's score on the new split are recorded.
    assert worse.test_metrics["val_full_ndcg"] < worse.test_metrics["active_val_full_ndcg"]
    assert worse.test_metrics["test_full_ndcg"] < worse.test_metrics["active_test_full_ndcg"]
    assert {"active_val_hr", "active_test_hr", "active_test_coverage"} <= set(worse.test_metrics)
    worse_version = ModelVersion.objects.get(training_run=worse)
    assert not worse_version.is_active
    good_version.refresh_from_db()
    assert good_version.is_active

    forced = _start(django_capture_on_commit_callbacks, config=BAD_CONFIG, force=True)
    assert "forced" in forced.decision
    assert ModelVersion.objects.get(is_active=True).training_run_id == forced.pk
    assert ModelVersion.objects.filter(is_active=True).count() == 1


def _rate_new_releases(world: RatingWorld, *, held_out_as: str) -> None:
    """Ten new movies per cluster, released after the active model was trained: each user rates
    one of their cluster's, so it becomes their test item ("test"), or rates it and then an
    older movie of their cluster, so it becomes their validation item ("validation")."""
    rng = np.random.default_rng(11)
    rows = []
    for c, name in enumerate(CLUSTERS):
        genre = GenreFactory(name=name, slug=name.lower())
        releases = [MovieFactory(title=f"New {name} {i}", genres=[genre]) for i in range(10)]
        for user in world.users[c * USERS_PER_CLUSTER : (c + 1) * USERS_PER_CLUSTER]:
            last = Rating.objects.filter(user=user).latest("rated_at").rated_at
            picks = [releases[rng.integers(len(releases))]]
            if held_out_as == "validation":
                rated = set(Rating.objects.filter(user=user).values_list("movie_id", flat=True))
                unrated = [m for m in world.movies[name] if m.pk not in rated]
                picks.append(unrated[rng.integers(len(unrated))])
            rows += [
                Rating(user=user, movie=movie, score=Decimal("4.0"), rated_at=last + timedelta(n))
                for n, movie in enumerate(picks, start=1)
            ]
    Rating.objects.bulk_create(rows)


@pytest.mark.parametrize("held_out_as", ["test", "validation"])
def test_validation_decides_the_activation_and_test_is_only_reported(
    rating_world: RatingWorld,
    eager_celery,
    django_capture_on_commit_callbacks,
    held_out_as: str,
):
    """The active model never saw the new releases, so it scores them -inf and misses every
    held-out item that is one. With the releases held out as test items a barely trained new
    model beats it on test and loses on validation; held out as validation items, the reverse.
    Only the validation comparison decides."""
    good = _start(django_capture_on_commit_callbacks)
    _rate_new_releases(rating_world, held_out_as=held_out_as)

    new = _start(django_capture_on_commit_callbacks, config=BAD_CONFIG)

    assert new.status == TrainingRun.Status.SUCCEEDED, new.error
    metrics = new.test_metrics
    active = ModelVersion.objects.get(is_active=True)
    if held_out_as == "test":
        assert metrics["active_test_full_ndcg"] == 0.0
        # a test rule would activate
        assert metrics["test_full_ndcg"] > metrics["active_test_full_ndcg"]
        assert metrics["val_full_ndcg"] < metrics["active_val_full_ndcg"]
        assert new.decision.startswith("Not activated: full-catalogue validation NDCG@10")
        assert active.training_run_id == good.pk
    else:
        assert metrics["active_val_full_ndcg"] == 0.0
        assert metrics["val_full_ndcg"] > metrics["active_val_full_ndcg"]
        # a test rule would keep the old
        assert metrics["test_full_ndcg"] < metrics["active_test_full_ndcg"]
        assert new.decision.startswith("Activated: full-catalogue validation NDCG@10")
        assert active.training_run_id == new.pk
    assert "not used to decide" in new.decision


def test_failed_run_leaves_the_active_version_serving(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks, settings
):
    first = _start(django_capture_on_commit_callbacks)
    # The artifact folder becomes a regular file: the next save fails like a broken disk.
    blocked = Path(settings.ARTIFACT_DIR).parent / "not-a-directory"
    blocked.write_text("x")
    settings.ARTIFACT_DIR = blocked / "artifacts"

    failed = _start(django_capture_on_commit_callbacks)

    assert failed.status == TrainingRun.Status.FAILED
    assert "Error" in failed.error
    assert failed.finished is not None
    assert not ModelVersion.objects.filter(training_run=failed).exists()
    assert ModelVersion.objects.get(is_active=True).training_run_id == first.pk
    assert TrainingLock.objects.get(name=training_lock.LOCK_NAME).expires_at is None  # released


@pytest.mark.parametrize("with_active", [True, False])
def test_a_diverged_run_fails_with_the_engines_message_and_never_activates(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks, with_active: bool
):
    """lr 1e10 sends the float32 loss to NaN in the first epoch. A NaN model ranks every held-out
    item first (validation HR 1.0), so it would win the activation comparison if it got there."""
    first = _start(django_capture_on_commit_callbacks) if with_active else None

    diverged = _start(django_capture_on_commit_callbacks, config={**GOOD_CONFIG, "lr": 1e10})

    assert diverged.status == TrainingRun.Status.FAILED
    assert "TrainingDiverged: training diverged in neumf epoch 1: the loss is nan" in (
        diverged.error
    )
    assert diverged.finished is not None
    assert diverged.test_metrics == {}
    assert all(np.isfinite(e["loss"]) for e in diverged.epochs)  # the NaN epoch is not recorded
    assert not ModelVersion.objects.filter(training_run=diverged).exists()
    active = ModelVersion.objects.filter(is_active=True)
    if first is None:
        assert not active.exists()
    else:
        assert active.get().training_run_id == first.pk
    assert TrainingLock.objects.get(name=training_lock.LOCK_NAME).expires_at is None  # released


def test_run_without_ratings_fails_with_its_reason(
    db, pipeline_settings, eager_celery, django_capture_on_commit_callbacks
):
    run = _start(django_capture_on_commit_callbacks)
    assert run.status == TrainingRun.Status.FAILED
    assert "no ratings" in run.error


def test_running_run_stops_when_cancelled(rating_world: RatingWorld, pipeline_settings):
    run = training_runs.training_run_create(
        backend="numpy", config={**GOOD_CONFIG, "epochs": 6}, trigger="command"
    )

    def cancel_after_two(report) -> None:
        if report.epoch == 2:
            training_runs.training_run_cancel(training_run=run)

    assert training.training_run_execute(training_run_id=run.pk, on_epoch=cancel_after_two) is None
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert len(run.epochs) == 2
    assert not ModelVersion.objects.exists()
    assert (
        not any(Path(pipeline_settings.ARTIFACT_DIR).glob("*"))
        if Path(pipeline_settings.ARTIFACT_DIR).exists()
        else True
    )


def test_queued_run_cancelled_before_a_worker_takes_it(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        run = training_runs.training_run_start(backend="numpy", config=GOOD_CONFIG, trigger="api")
        training_runs.training_run_cancel(training_run=run)
    for callback in callbacks:  # the broker delivers it now: the worker must skip it
        callback()
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert run.epochs == []
    assert not ModelVersion.objects.exists()


def test_second_start_is_refused_while_one_is_in_flight(rating_world: RatingWorld):
    first = training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="admin")
    with pytest.raises(errors.TrainingAlreadyRunning) as refused:
        training_runs.training_run_start(backend="torch", config=None, trigger="api")
    assert refused.value.run_id == first.pk
    assert refused.value.code == "training_in_progress"
    # The database holds the rule too, whatever code path writes the row.
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRun.objects.create(backend="numpy", trigger="admin")
    assert TrainingRun.objects.count() == 1


def test_duplicate_delivery_of_a_finished_run_does_nothing(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks
):
    run = _start(django_capture_on_commit_callbacks)
    finished = run.finished
    assert training.training_run_execute(training_run_id=run.pk) is None
    run.refresh_from_db()
    assert run.finished == finished
    assert run.attempts == 1
    assert ModelVersion.objects.count() == 1


def test_lock_held_by_a_live_run_blocks_and_a_lapsed_one_is_taken_over(
    rating_world: RatingWorld, pipeline_settings
):
    pipeline_settings.RECSITE_TRAINING_LOCK_SECONDS = 1
    holder = training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="api")
    assert training_lock.lock_acquire(training_run_id=holder.pk, token="live")
    training_runs.training_run_cancel(training_run=holder)  # frees the in-flight slot, not the lock
    other = training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="api")
    with pytest.raises(errors.TrainingLockBusy):
        training.training_run_execute(training_run_id=other.pk)

    time.sleep(1.1)  # the holder stopped renewing: its lock lapses
    assert training_lock.lock_acquire(training_run_id=other.pk, token="next")
    with pytest.raises(errors.TrainingLockLost):
        training_lock.lock_renew(training_run_id=holder.pk, token="live")


@pytest.mark.parametrize(
    "config",
    [{"epochs": 0}, {"lr": -1}, {"mlp_layers": [7, 4]}, {"nonsense": 1}, {"batch_size": "x"}],
)
def test_bad_config_is_refused_before_anything_is_queued(db, config):
    with pytest.raises(errors.InvalidTrainingConfig):
        training_runs.training_run_start(backend="numpy", config=config, trigger="api")
    with pytest.raises(errors.InvalidTrainingConfig):
        training_runs.training_run_start(backend="tensorflow", config=None, trigger="api")
    assert not TrainingRun.objects.exists()


def _drop_broker_pools(app) -> None:
    """Publishers reuse pooled connections; a changed broker URL needs fresh pools."""
    app._pool = None
    app.amqp._producer_pool = None


def test_unreachable_broker_fails_the_run_with_a_clear_error(
    rating_world: RatingWorld, django_capture_on_commit_callbacks
):
    from recsite.celery import app

    saved = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    _drop_broker_pools(app)
    try:
        with (
            pytest.raises(errors.BrokerUnavailable) as raised,
            django_capture_on_commit_callbacks(execute=True),
        ):
            training_runs.training_run_start(backend="numpy", config=GOOD_CONFIG, trigger="api")
    finally:
        app.conf.broker_url = saved
        _drop_broker_pools(app)
    assert raised.value.code == "broker_unavailable"
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.FAILED
    assert "broker" in run.error
    # A failed start does not block the next one.
    training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="api")


def test_activate_and_roll_back(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks
):
    first = _start(django_capture_on_commit_callbacks).model_version
    second = _start(django_capture_on_commit_callbacks, force=True).model_version
    assert ModelVersion.objects.get(is_active=True) == second

    with django_capture_on_commit_callbacks(execute=True):
        rolled = versions.model_version_rollback()
    assert rolled == first
    assert ModelVersion.objects.get(is_active=True) == first
    with django_capture_on_commit_callbacks(execute=True):
        versions.model_version_activate(version=second)
    assert ModelVersion.objects.get(is_active=True) == second


def test_rollback_without_an_earlier_version_is_refused(db):
    with pytest.raises(errors.ModelVersionError):
        versions.model_version_rollback()


def test_activation_refuses_a_missing_artifact(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks, settings
):
    version = _start(django_capture_on_commit_callbacks).model_version
    other = _start(django_capture_on_commit_callbacks, force=True).model_version
    import shutil

    shutil.rmtree(Path(settings.ARTIFACT_DIR) / version.artifact_path)
    with pytest.raises(errors.ModelVersionError, match="missing"):
        versions.model_version_activate(version=version)
    assert ModelVersion.objects.get(is_active=True) == other


def test_retrain_starts_after_n_new_ratings(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks, settings
):
    settings.RECSITE_RETRAIN_AFTER_RATINGS = 3
    first = _start(django_capture_on_commit_callbacks)
    user = UserFactory()
    movies = [m for ms in rating_world.movies.values() for m in ms][:4]
    for movie in movies[:2]:
        with django_capture_on_commit_callbacks(execute=True):
            rating_upsert(user=user, movie=movie, score="4.5")
    assert TrainingRun.objects.count() == 1  # two new ratings: below the threshold

    with django_capture_on_commit_callbacks(execute=True):
        rating_upsert(user=user, movie=movies[2], score="3.0")
    auto = TrainingRun.objects.exclude(pk=first.pk).get()
    assert auto.trigger == TrainingRun.Trigger.AUTO
    assert auto.status == TrainingRun.Status.SUCCEEDED, auto.error
    assert auto.n_ratings == Rating.objects.count()


def test_re_rating_the_same_films_does_not_trigger_a_retrain(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks, settings
):
    settings.RECSITE_RETRAIN_AFTER_RATINGS = 3
    user = UserFactory()
    movies = [m for ms in rating_world.movies.values() for m in ms][:2]
    for movie in movies:
        rating_upsert(user=user, movie=movie, score="4.5")
    first = _start(django_capture_on_commit_callbacks)
    for score in ("1.0", "2.0", "3.0", "4.0"):  # eight changed ratings, no new one
        for movie in movies:
            with django_capture_on_commit_callbacks(execute=True):
                rating_upsert(user=user, movie=movie, score=score)
    assert list(TrainingRun.objects.values_list("pk", flat=True)) == [first.pk]


def test_automatic_retrains_are_rate_limited(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks, settings
):
    settings.RECSITE_RETRAIN_AFTER_RATINGS = 2
    settings.RECSITE_AUTO_RETRAIN_MIN_SECONDS = 3600
    user = UserFactory()
    movies = iter([m for ms in rating_world.movies.values() for m in ms])
    for _ in range(6):  # three thresholds' worth of new ratings from one user
        with django_capture_on_commit_callbacks(execute=True):
            rating_upsert(user=user, movie=next(movies), score="4.0")
    autos = TrainingRun.objects.filter(trigger=TrainingRun.Trigger.AUTO)
    assert autos.count() == 1
    assert autos.get().status == TrainingRun.Status.SUCCEEDED, autos.get().error

    settings.RECSITE_AUTO_RETRAIN_MIN_SECONDS = 0  # the window has passed
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            rating_upsert(user=user, movie=next(movies), score="4.0")
    assert autos.count() == 2


def test_no_second_auto_retrain_while_one_is_queued(rating_world: RatingWorld, settings):
    settings.RECSITE_RETRAIN_AFTER_RATINGS = 1
    queued = training_runs.training_run_create(backend="numpy", config=None, trigger="auto")
    user = UserFactory()
    for movie in [m for ms in rating_world.movies.values() for m in ms][:3]:
        rating_upsert(user=user, movie=movie, score="4.0")
        triggers.ratings_changed(user_id=user.pk)
    assert list(TrainingRun.objects.values_list("pk", flat=True)) == [queued.pk]


def test_reaper_requeues_a_run_whose_worker_died(
    rating_world: RatingWorld, eager_celery, pipeline_settings
):
    pipeline_settings.RECSITE_TRAINING_LOCK_SECONDS = 1
    run = training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="api")
    # What a SIGKILLed worker leaves: running, a lock and a heartbeat that stopped renewing.
    assert training_lock.lock_acquire(training_run_id=run.pk, token="dead-worker")
    TrainingRun.objects.filter(pk=run.pk).update(
        status="running", attempts=1, started=timezone.now(), heartbeat_at=timezone.now()
    )
    assert training_runs.training_runs_reap() == []  # still within its lock period
    time.sleep(1.1)

    assert training_runs.training_runs_reap() == [run.pk]
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.attempts == 2
    assert ModelVersion.objects.get(training_run=run).is_active


def test_the_reaper_precomputes_an_active_version_left_without_lists_once_it_is_old_enough(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks
):
    run = training_runs.training_run_create(backend="numpy", config=GOOD_CONFIG, trigger="command")
    version_id = training.training_run_execute(training_run_id=run.pk)
    version = ModelVersion.objects.get(pk=version_id)
    assert version.is_active
    assert version.precomputed_at is None  # its precompute was lost, say
    assert not Recommendation.objects.filter(model_version=version).exists()

    # Activated just now: the periodic reaper (30 minutes by default) leaves it alone.
    assert precompute.model_versions_precompute_reap(min_age_seconds=1800) == []
    assert ModelVersion.objects.get(pk=version_id).precomputed_at is None

    ModelVersion.objects.filter(pk=version_id).update(
        activated_at=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert precompute.model_versions_precompute_reap(min_age_seconds=1800) == [version_id]
    version.refresh_from_db()
    assert version.precomputed_at is not None
    per_user = Recommendation.objects.filter(model_version=version).values("user_id")
    assert per_user.distinct().count() == len(rating_world.users)
    # Precomputed versions are never queued again.
    assert precompute.model_versions_precompute_reap(min_age_seconds=0) == []
