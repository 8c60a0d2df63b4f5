"""Fold-in moves a new user's scores toward items like the ones they rated."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.config import NeuMFConfig
from recommender.engine.data import synthetic_planted
from recommender.engine.foldin import (
    fold_in_user,
    prepare_item_side,
    score_items_for_user_vectors,
    user_vectors,
)
from recommender.engine.train import FitResult, fit

N_CLUSTERS = 5


@pytest.fixture(scope="module")
def trained() -> FitResult:
    data = synthetic_planted(n_users=300, n_items=200, n_clusters=N_CLUSTERS, seed=0)
    config = NeuMFConfig(gmf_dim=8, mlp_layers=(32, 16, 8), lr=0.003, epochs=6)
    return fit(data, config, seed=0)


def _clusters(result: FitResult) -> np.ndarray:
    return (result.items.ids - 1) % N_CLUSTERS  # synthetic_planted's item clusters, by raw id


def test_trained_user_vectors_reproduce_the_model_scores(trained: FitResult) -> None:
    weights = trained.model.get_weights()
    scores = score_items_for_user_vectors(weights, trained.config, user_vectors(weights, 7))
    np.testing.assert_allclose(scores, trained.model.score_users(np.array([7]))[0], atol=1e-5)


@pytest.mark.parametrize("cluster", range(N_CLUSTERS))
def test_fold_in_raises_scores_of_the_rated_cluster(trained: FitResult, cluster: int) -> None:
    weights = trained.model.get_weights()
    side = prepare_item_side(weights, trained.config)
    clusters = _clusters(trained)
    rated = np.flatnonzero(clusters == cluster)[:8]
    start = score_items_for_user_vectors(
        weights, trained.config, fold_in_user(weights, trained.config, [], item_side=side)
    )
    vectors = fold_in_user(weights, trained.config, rated, seed=cluster, item_side=side)
    after = score_items_for_user_vectors(weights, trained.config, vectors, item_side=side)
    unrated = np.setdiff1d(np.arange(len(clusters)), rated)
    same = unrated[clusters[unrated] == cluster]
    other = unrated[clusters[unrated] != cluster]
    lift = np.log(after / start)
    assert lift[same].mean() > lift[other].mean() + 0.5
    top = np.argsort(-after[unrated])[:10]
    assert np.mean(clusters[unrated][top] == cluster) >= 0.6


def test_fold_in_without_ratings_is_the_mean_user(trained: FitResult) -> None:
    weights = trained.model.get_weights()
    vectors = fold_in_user(weights, trained.config, [])
    assert vectors.gmf is not None
    assert vectors.mlp is not None
    np.testing.assert_allclose(vectors.gmf, weights["gmf_user"].mean(axis=0), rtol=1e-5)


def test_fold_in_rejects_bad_input(trained: FitResult) -> None:
    weights = trained.model.get_weights()
    with pytest.raises(IndexError):
        fold_in_user(weights, trained.config, [10_000])
    with pytest.raises(ValueError, match="labels"):
        fold_in_user(weights, trained.config, [1, 2], [1.0])
