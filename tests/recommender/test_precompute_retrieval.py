"""The precompute by candidate retrieval writes the lists scoring every movie writes."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.models import ModelVersion, Recommendation, TrainingRun
from recommender.services import precompute, training_runs
from tests.recommender.conftest import GOOD_CONFIG, RatingWorld

pytestmark = pytest.mark.django_db


def _trained_version(captured) -> ModelVersion:
    with captured(execute=True):
        training_runs.training_run_start(
            backend="numpy", config=GOOD_CONFIG, trigger=TrainingRun.Trigger.COMMAND
        )
    return ModelVersion.objects.get(is_active=True)


def _lists(version: ModelVersion) -> dict[int, list[tuple[int, float]]]:
    lists: dict[int, list[tuple[int, float]]] = {}
    rows = Recommendation.objects.filter(model_version=version).order_by("user_id", "rank")
    for user_id, movie_id, score in rows.values_list("user_id", "movie_id", "score"):
        lists.setdefault(user_id, []).append((movie_id, score))
    return lists


def test_small_catalogs_score_every_movie_by_default(settings) -> None:
    assert precompute._precompute_candidates(settings.RECSITE_PRECOMPUTE_RETRIEVAL_ITEMS) == 0
    settings.RECSITE_PRECOMPUTE_CANDIDATES = 300
    assert precompute._precompute_candidates(10**6) == 300
    settings.RECSITE_PRECOMPUTE_CANDIDATES = 0
    assert precompute._precompute_candidates(10**6) == 0


def test_forced_retrieval_with_every_movie_a_candidate_writes_the_same_lists(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks, settings
) -> None:
    version = _trained_version(django_capture_on_commit_callbacks)
    exhaustive = _lists(version)
    assert len(exhaustive) == len(rating_world.users)

    settings.RECSITE_PRECOMPUTE_RETRIEVAL_ITEMS = 0
    settings.RECSITE_PRECOMPUTE_CANDIDATES = version.n_items
    precompute.model_version_precompute(model_version_id=version.pk)
    assert _lists(version) == exhaustive


def test_forced_retrieval_of_half_the_catalog_finds_the_same_lists(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks, settings
) -> None:
    version = _trained_version(django_capture_on_commit_callbacks)
    exhaustive = _lists(version)

    settings.RECSITE_PRECOMPUTE_RETRIEVAL_ITEMS = 0
    settings.RECSITE_PRECOMPUTE_CANDIDATES = version.n_items // 2
    rows = precompute.model_version_precompute(model_version_id=version.pk)
    retrieved = _lists(version)
    assert rows == sum(len(v) for v in exhaustive.values())
    found = [
        np.mean([m in {r[0] for r in retrieved[u]} for m, _ in want])
        for u, want in exhaustive.items()
    ]
    assert np.mean(found) >= 0.99
    # Where a movie is on both lists its score is the model's own, not the surrogate's.
    for user_id, want in exhaustive.items():
        scores = dict(want)
        for movie_id, score in retrieved[user_id]:
            if movie_id in scores:
                assert score == pytest.approx(scores[movie_id], abs=1e-4)
