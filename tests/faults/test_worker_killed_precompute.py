"""A Celery worker SIGKILLed in the middle of a precompute chord: serving never mixes two
versions' lists while the new version's are incomplete, and a restarted worker finishes them
(its unacknowledged chunks would otherwise wait hours for Redis's visibility timeout)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from ratings.models import Rating
from recommender import services, tasks
from recommender.models import ModelVersion, Recommendation, TrainingRun
from recommender.registry import registry
from recommender.selectors import recommendations_for_user, result_memo_clear
from tests.faults.conftest import GOOD_CONFIG
from tests.recommender.conftest import build_rating_world, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLONES = 3  # copies of each rater: 400 users, one per chunk, so the chord runs for seconds


def _train(config: dict, *, force: bool) -> ModelVersion:
    run = services.training_run_create(
        backend="numpy", config=config, trigger="command", force=force
    )
    services.training_run_execute(training_run_id=run.pk)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    return ModelVersion.objects.get(training_run=run)


def _lists(version_id: int) -> dict[int, list[int]]:
    rows = Recommendation.objects.filter(model_version_id=version_id).order_by("user_id", "rank")
    lists: dict[int, list[int]] = {}
    for user_id, movie_id in rows.values_list("user_id", "movie_id"):
        lists.setdefault(user_id, []).append(movie_id)
    return lists


def test_a_worker_killed_mid_precompute_never_mixes_lists_and_a_new_worker_finishes(
    celery_worker, pipeline_settings
) -> None:
    k = pipeline_settings.RECSITE_TOP_K
    pipeline_settings.RECSITE_COLD_START_RATINGS = 1  # pure NCF: the precomputed path applies
    world = build_rating_world()
    user_model = get_user_model()
    originals = list(Rating.objects.values_list("user_id", "movie_id", "score", "rated_at"))
    for copy in range(CLONES):
        clones = user_model.objects.bulk_create(
            user_model(username=f"clone-{copy}-{u.pk}", is_active=False, password="!")
            for u in world.users
        )
        by_source = {u.pk: c.pk for u, c in zip(world.users, clones, strict=True)}
        Rating.objects.bulk_create(
            Rating(user_id=by_source[u], movie_id=m, score=s, rated_at=t)
            for u, m, s, t in originals
        )
    n_users = len(world.users) * (CLONES + 1)

    old = _train(GOOD_CONFIG, force=False)
    services.model_version_precompute(model_version_id=old.pk)  # here, in one process
    old_lists = _lists(old.pk)
    assert len(old_lists) == n_users

    # The worker precomputes one user per task from now on.
    celery_worker.stop()
    celery_worker.env["RECSITE_PRECOMPUTE_CHUNK_USERS"] = "1"
    celery_worker.start()
    new = _train({**GOOD_CONFIG, "epochs": 6, "gmf_dim": 12}, force=True)
    assert ModelVersion.objects.get(pk=new.pk).is_active
    assert new.precomputed_at is None
    tasks.model_version_precompute.delay(new.pk)

    def partway() -> bool:
        written = Recommendation.objects.filter(model_version_id=new.pk).count()
        return 20 * k <= written

    wait_for(partway, timeout=120, what="some chunks written", worker=celery_worker)
    celery_worker.kill()  # SIGKILL to the worker and its pool, mid-chord
    written = Recommendation.objects.filter(model_version_id=new.pk).count()
    assert written < (n_users - 20) * k, "the chord finished before the kill; nothing tested"
    assert ModelVersion.objects.get(pk=new.pk).precomputed_at is None

    # While the lists are incomplete, every user is served from the new version alone (scored
    # online), never from its partial rows mixed with the old version's.
    registry.reset()
    sample = world.users[::7] + list(
        user_model.objects.filter(username__startswith="clone-").order_by("pk")[::50]
    )
    served_meanwhile = {}
    for user in sample:
        items = recommendations_for_user(user, k)
        assert {i.source for i in items} == {"ncf"}
        served_meanwhile[user.pk] = [i.movie.pk for i in items]
    assert any(served_meanwhile[u] != old_lists[u] for u in served_meanwhile)

    celery_worker.start()  # its start-up reaper queues the lost precompute again
    wait_for(
        lambda: ModelVersion.objects.get(pk=new.pk).precomputed_at is not None,
        timeout=180,
        what="the precompute to be finished by the new worker",
        worker=celery_worker,
    )
    assert "active without its lists" in celery_worker.output()  # the reaper, not luck
    lists = _lists(new.pk)
    assert len(lists) == n_users
    rated: dict[int, set[int]] = {}
    for user_id, movie_id in Rating.objects.values_list("user_id", "movie_id"):
        rated.setdefault(user_id, set()).add(movie_id)
    for user_id, movie_ids in lists.items():
        assert len(movie_ids) == k
        assert len(set(movie_ids)) == k
        assert not set(movie_ids) & rated[user_id]
    ranks = Recommendation.objects.filter(model_version_id=new.pk).values_list("rank", flat=True)
    assert sorted(set(ranks)) == list(range(1, k + 1))
    # What was served mid-way is exactly the new version's complete list, now precomputed.
    result_memo_clear()
    for user in sample:
        assert served_meanwhile[user.pk] == lists[user.pk]
        assert [i.movie.pk for i in recommendations_for_user(user, k)] == lists[user.pk]
