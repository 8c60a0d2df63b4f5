"""Backward pass of the NumPy NeuMF against central finite differences and torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from recommender.engine.config import ModelKind, NeuMFConfig
from recommender.engine.neumf_numpy import NeuMFNumpy, weight_shapes
from recommender.engine.neumf_torch import NeuMFTorch

N_USERS, N_ITEMS, BATCH = 6, 8, 24
KINDS: list[ModelKind] = ["neumf", "gmf", "mlp"]


def _config(kind: ModelKind) -> NeuMFConfig:
    # Two hidden layers so the ReLU chain rule is exercised between layers, not only at the ends.
    return NeuMFConfig(model=kind, gmf_dim=3, mlp_layers=(8, 4, 3), l2=0.05, dtype="float64")


def _weights(config: NeuMFConfig, seed: int) -> dict[str, NDArray[np.floating]]:
    """Weights of order 0.5: the paper's N(0, 0.01) embeddings make gradients so small that
    finite differences would drown in round-off."""
    rng = np.random.default_rng(seed)
    return {
        name: rng.normal(0.0, 0.5, size=shape)
        for name, shape in weight_shapes(N_USERS, N_ITEMS, config).items()
    }


def _batch(seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, N_USERS - 1, BATCH)  # the last user stays out: its rows get no grad
    items = rng.integers(0, N_ITEMS, BATCH)  # repeats: accumulation over duplicate rows
    labels = (rng.random(BATCH) < 0.4).astype(np.float64)
    return users, items, labels


def _relative_error(a: NDArray[np.floating], b: NDArray[np.floating]) -> float:
    scale = float(np.linalg.norm(a)) + float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / max(scale, 1e-300)


@pytest.mark.parametrize("kind", KINDS)
def test_numpy_gradients_match_central_finite_differences(kind: ModelKind) -> None:
    config = _config(kind)
    model = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=0)
    weights = _weights(config, seed=1)
    users, items, labels = _batch(seed=2)
    model.set_weights(weights)
    _, grads = model.loss_and_grads(users, items, labels)
    eps = 1e-6
    for name, value in weights.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = {k: v.copy() for k, v in weights.items()}
            shifted[name][index] = value[index] + eps
            model.set_weights(shifted)
            plus, _ = model.loss_and_grads(users, items, labels)
            shifted[name][index] = value[index] - eps
            model.set_weights(shifted)
            minus, _ = model.loss_and_grads(users, items, labels)
            numeric[index] = (plus - minus) / (2 * eps)
        assert np.linalg.norm(numeric) > 0, name
        assert _relative_error(grads[name], numeric) < 1e-6, name


@pytest.mark.parametrize("kind", KINDS)
def test_numpy_gradients_match_torch_autograd(kind: ModelKind) -> None:
    config = _config(kind)
    weights = _weights(config, seed=3)
    users, items, labels = _batch(seed=4)
    numpy_model = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=0)
    torch_model = NeuMFTorch(N_USERS, N_ITEMS, config, seed=0, device="cpu")
    numpy_model.set_weights(weights)
    torch_model.set_weights(weights)
    numpy_loss, numpy_grads = numpy_model.loss_and_grads(users, items, labels)
    torch_loss, torch_grads = torch_model.loss_and_grads(users, items, labels)
    assert numpy_loss == pytest.approx(torch_loss, rel=1e-12)
    assert numpy_grads.keys() == torch_grads.keys()
    for name, grad in numpy_grads.items():
        assert grad.shape == torch_grads[name].shape, name
        assert _relative_error(grad, torch_grads[name]) < 1e-10, name


@pytest.mark.parametrize("kind", KINDS)
def test_embedding_rows_outside_the_batch_get_no_gradient(kind: ModelKind) -> None:
    config = _config(kind)
    model = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=0)
    model.set_weights(_weights(config, seed=5))
    users, items, labels = _batch(seed=6)
    _, grads = model.loss_and_grads(users, items, labels)
    absent_users = np.setdiff1d(np.arange(N_USERS), users)
    absent_items = np.setdiff1d(np.arange(N_ITEMS), items)
    assert absent_users.size
    for name, grad in grads.items():
        if name.endswith("_user"):
            assert not grad[absent_users].any(), name
            assert grad[np.unique(users)].any(axis=1).all(), name
        elif name.endswith("_item"):
            assert not grad[absent_items].any(), name
