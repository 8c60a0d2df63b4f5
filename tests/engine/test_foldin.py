"""Fold-in moves a new user's scores toward items like the ones they rated; it and the online
scorer run the model's own forward and backward pass."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from recommender.engine.coldstart import VectorScorer
from recommender.engine.config import ModelKind, NeuMFConfig
from recommender.engine.data import synthetic_planted
from recommender.engine.foldin import (
    fold_in_loss_and_grad,
    fold_in_user,
    prepare_item_side,
    score_items_for_user_vectors,
    user_vectors,
)
from recommender.engine.neumf_numpy import NeuMFNumpy, weight_shapes
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


# -- one forward pass: fold-in's gradient and the online scorer against the model ---------------

N_USERS, N_ITEMS = 5, 30
KINDS: list[ModelKind] = ["neumf", "gmf", "mlp"]


def _small(
    kind: ModelKind, layers: tuple[int, ...] = (8, 4, 3)
) -> tuple[NeuMFConfig, dict[str, NDArray[np.floating]]]:
    """Float64 weights of order 0.5 (N(0, 0.01) embeddings leave gradients too small for finite
    differences); by default two hidden layers, so the ReLU chain runs between layers."""
    # l2 = 0: the training loss is then the mean BCE, the objective fold-in shares with it.
    config = NeuMFConfig(model=kind, gmf_dim=3, mlp_layers=layers, dtype="float64", l2=0.0)
    rng = np.random.default_rng(0)
    weights = {
        name: rng.normal(0.0, 0.5, size=shape)
        for name, shape in weight_shapes(N_USERS, N_ITEMS, config).items()
    }
    return config, weights


def _fold_batch(seed: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    items = rng.integers(0, N_ITEMS, 20)  # repeats, as fold-in's negatives can
    labels = (rng.random(20) < 0.4).astype(np.float64)
    return items, labels


@pytest.mark.parametrize("layers", [(8,), (8, 4, 3)])
@pytest.mark.parametrize("kind", KINDS)
def test_fold_in_gradient_matches_central_finite_differences(
    kind: ModelKind, layers: tuple[int, ...]
) -> None:
    config, weights = _small(kind, layers)
    side = prepare_item_side(weights, config)
    items, labels = _fold_batch(seed=1)
    row = np.random.default_rng(2).normal(0.0, 0.5, side.start.shape[0])  # [G + M]
    _, grad = fold_in_loss_and_grad(side, row, items, labels)
    eps = 1e-6
    numeric = np.zeros_like(row)
    for j in range(row.shape[0]):
        step = np.zeros_like(row)
        step[j] = eps
        plus, _ = fold_in_loss_and_grad(side, row + step, items, labels)
        minus, _ = fold_in_loss_and_grad(side, row - step, items, labels)
        numeric[j] = (plus - minus) / (2 * eps)
    assert np.linalg.norm(numeric) > 0
    error = np.linalg.norm(grad - numeric) / (np.linalg.norm(grad) + np.linalg.norm(numeric))
    assert error < 1e-6


@pytest.mark.parametrize("kind", KINDS)
def test_fold_in_gradient_is_the_training_gradient_of_the_user_row(kind: ModelKind) -> None:
    config, weights = _small(kind)
    model = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=0)
    model.set_weights(weights)
    side = prepare_item_side(weights, config)
    items, labels = _fold_batch(seed=3)
    user = 2
    loss, grads = model.loss_and_grads(np.full(items.shape[0], user), items, labels)
    row = np.concatenate([weights[n][user] for n in ("gmf_user", "mlp_user") if n in weights])
    fold_loss, fold_grad = fold_in_loss_and_grad(side, row, items, labels)
    assert fold_loss == pytest.approx(loss, rel=1e-12)  # config.l2 = 0: the loss is the mean BCE
    model_grad = np.concatenate([grads[n][user] for n in ("gmf_user", "mlp_user") if n in grads])
    np.testing.assert_allclose(fold_grad, model_grad, rtol=1e-12, atol=1e-15)


def test_fold_in_is_torch_adam_with_weight_decay_on_the_offset_from_the_start(
    trained: FitResult,
) -> None:
    """The fold-in loop replayed with torch.optim.Adam on the same gradients and negatives."""
    torch = pytest.importorskip("torch")
    weights = trained.model.get_weights()
    config = trained.config
    side = prepare_item_side(weights, config)
    rated = np.array([3, 17, 40, 41, 99])
    steps, lr, l2, seed = 12, 0.05, 1e-2, 4
    folded = fold_in_user(
        weights, config, rated, steps=steps, lr=lr, l2=l2, seed=seed, item_side=side
    )
    rng = np.random.default_rng(seed)  # fold_in_user's draws, in its order
    pool = np.setdiff1d(np.arange(side.n_items), rated)
    n_neg = config.negatives * rated.shape[0]
    labels = np.concatenate((np.ones(rated.shape[0]), np.zeros(n_neg)))
    offset = torch.zeros(side.start.shape[0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([offset], lr=lr, weight_decay=2 * l2)
    for _ in range(steps):
        batch = np.concatenate((rated, pool[rng.integers(0, pool.shape[0], size=n_neg)]))
        row = side.start + offset.detach().numpy()
        _, grad = fold_in_loss_and_grad(side, row, batch, labels)
        offset.grad = torch.from_numpy(grad)
        optimizer.step()
    expected = side.start + offset.detach().numpy()
    ours = np.concatenate([v for v in (folded.gmf, folded.mlp) if v is not None])
    assert not np.allclose(expected, side.start, atol=1e-3)  # the steps moved the user
    np.testing.assert_allclose(ours, expected.astype(np.float32), rtol=1e-6, atol=1e-7)


def _item_table(weights: dict[str, NDArray[np.floating]]) -> NDArray[np.float32]:
    parts = [weights[n] for n in ("gmf_item", "mlp_item") if n in weights]
    return np.concatenate(parts, axis=1).astype(np.float32)  # [n_items, G + M]


def test_online_scorer_equals_the_model_for_a_trained_user(trained: FitResult) -> None:
    model = trained.model
    weights = model.get_weights()
    scorer = VectorScorer(weights, trained.config, _item_table(weights))
    n_items = weights["gmf_item"].shape[0]
    for user in (0, 7, 123):
        vectors = user_vectors(weights, user)
        row = np.concatenate([v for v in (vectors.gmf, vectors.mlp) if v is not None])
        expected = model.predict(np.full(n_items, user), np.arange(n_items))  # [n_items]
        assert expected.std() > 0.01
        np.testing.assert_allclose(scorer.scores(row)[0], expected, rtol=0, atol=1e-6)
        np.testing.assert_allclose(
            score_items_for_user_vectors(weights, trained.config, vectors),
            expected,
            rtol=0,
            atol=1e-6,
        )
        some = np.array([5, 1, 5, 150])
        np.testing.assert_allclose(
            scorer.logits(row, some)[0],
            model.logits(np.full(4, user), some),
            rtol=1e-5,
            atol=1e-5,
        )


def test_online_scorer_equals_the_model_for_a_folded_in_user(trained: FitResult) -> None:
    weights = trained.model.get_weights()
    config = trained.config
    clusters = _clusters(trained)
    vectors = fold_in_user(weights, config, np.flatnonzero(clusters == 2)[:8], seed=1)
    assert vectors.gmf is not None
    assert vectors.mlp is not None
    # The model, with user 0's rows replaced by the folded-in vectors.
    model = NeuMFNumpy(weights["gmf_user"].shape[0], weights["gmf_item"].shape[0], config, seed=0)
    weights["gmf_user"][0], weights["mlp_user"][0] = vectors.gmf, vectors.mlp
    model.set_weights(weights)
    n_items = weights["gmf_item"].shape[0]
    expected = model.predict(np.zeros(n_items, np.int64), np.arange(n_items))  # [n_items]
    assert expected.std() > 0.01
    scorer = VectorScorer(weights, config, _item_table(weights))
    row = np.concatenate((vectors.gmf, vectors.mlp))
    np.testing.assert_allclose(scorer.scores(row)[0], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.score_users(np.array([0]))[0], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        score_items_for_user_vectors(weights, config, vectors), expected, rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers", [(8,), (8, 4), (8, 4, 3)])
def test_online_scorer_equals_the_model_for_every_model_kind(
    kind: ModelKind, layers: tuple[int, ...]
) -> None:
    config, weights = _small(kind, layers)
    model = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=0)
    model.set_weights(weights)
    scorer = VectorScorer(weights, config, _item_table(weights))
    rows = np.concatenate([weights[n] for n in ("gmf_user", "mlp_user") if n in weights], axis=1)
    users = np.repeat(np.arange(N_USERS), N_ITEMS)
    expected = model.predict(users, np.tile(np.arange(N_ITEMS), N_USERS)).reshape(N_USERS, -1)
    assert expected.std() > 0.01
    np.testing.assert_allclose(scorer.scores(rows), expected, rtol=0, atol=1e-6)
