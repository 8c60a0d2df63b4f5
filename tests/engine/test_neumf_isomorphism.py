"""The NumPy and PyTorch backends are one model: same weights + same batches = same result."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from recommender.engine.config import ModelKind, NeuMFConfig
from recommender.engine.neumf_numpy import NeuMFNumpy
from recommender.engine.neumf_torch import EmbeddingUpdate, NeuMFTorch

N_USERS, N_ITEMS = 40, 60
KINDS: list[ModelKind] = ["neumf", "gmf", "mlp"]
UPDATES: list[EmbeddingUpdate] = ["index", "masked"]


def _rows(seed: int, n: int) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, N_USERS, n)
    items = np.minimum(rng.zipf(1.5, n) - 1, N_ITEMS - 1)  # popular items repeat within a batch
    labels = (rng.random(n) < 0.2).astype(np.float64)
    return users, items, labels


def _config(kind: ModelKind, dtype: str) -> NeuMFConfig:
    return NeuMFConfig(
        model=kind,
        gmf_dim=4,
        mlp_layers=(16, 8, 4),
        lr=0.01,
        l2=1e-3,
        dtype=dtype,  # type: ignore[arg-type]
    )


def _train_both(
    kind: ModelKind, dtype: str, update: EmbeddingUpdate
) -> tuple[NeuMFNumpy, NeuMFTorch, float, float]:
    config = _config(kind, dtype)
    numpy_model = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=7)
    torch_model = NeuMFTorch(
        N_USERS, N_ITEMS, config, seed=8, device="cpu", embedding_update=update
    )
    torch_model.set_weights(numpy_model.get_weights())
    users, items, labels = _rows(seed=9, n=1000)  # 1000 = 15 batches of 64 and a tail of 40
    numpy_loss = numpy_model.train_epoch(users, items, labels, batch_size=64)
    torch_loss = torch_model.train_epoch(users, items, labels, batch_size=64)
    return numpy_model, torch_model, numpy_loss, torch_loss


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("kind", KINDS)
def test_one_epoch_gives_equal_parameters_in_float64(
    kind: ModelKind, update: EmbeddingUpdate
) -> None:
    numpy_model, torch_model, numpy_loss, torch_loss = _train_both(kind, "float64", update)
    assert numpy_loss == pytest.approx(torch_loss, rel=1e-12)
    start = NeuMFNumpy(N_USERS, N_ITEMS, _config(kind, "float64"), seed=7).get_weights()
    torch_weights = torch_model.get_weights()
    for name, value in numpy_model.get_weights().items():
        assert not np.array_equal(value, start[name]), f"{name} did not train"
        np.testing.assert_allclose(value, torch_weights[name], rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("kind", KINDS)
def test_one_epoch_gives_close_parameters_in_float32(
    kind: ModelKind, update: EmbeddingUpdate
) -> None:
    numpy_model, torch_model, numpy_loss, torch_loss = _train_both(kind, "float32", update)
    assert numpy_loss == pytest.approx(torch_loss, rel=1e-5)
    torch_weights = torch_model.get_weights()
    for name, value in numpy_model.get_weights().items():
        assert value.dtype == np.float32
        # Adam divides by sqrt(v): a gradient that is float32 noise can move a weight by lr.
        np.testing.assert_allclose(value, torch_weights[name], rtol=1e-3, atol=2e-4, err_msg=name)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", KINDS)
def test_forward_outputs_agree(kind: ModelKind, dtype: str) -> None:
    config = _config(kind, dtype)
    numpy_model = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=10)
    torch_model = NeuMFTorch(N_USERS, N_ITEMS, config, seed=11, device="cpu")
    rng = np.random.default_rng(12)
    # Embeddings of std 0.5, not 0.01, so the outputs spread over (0, 1) instead of sitting at 0.5.
    weights = {
        k: v * 50.0 if k.endswith(("_user", "_item")) else v
        for k, v in numpy_model.get_weights().items()
    }
    numpy_model.set_weights(weights)
    torch_model.set_weights(weights)
    users, items = rng.integers(0, N_USERS, 500), rng.integers(0, N_ITEMS, 500)
    numpy_pred = numpy_model.predict(users, items)
    assert numpy_pred.std() > 0.01
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(numpy_pred, torch_model.predict(users, items), rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        numpy_model.logits(users, items),
        torch_model.logits(users, items),
        rtol=tolerance,
        atol=tolerance,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_index_and_masked_embedding_updates_agree(kind: ModelKind) -> None:
    """The masked update is the one captured in CUDA graphs; here it runs eagerly on the CPU."""
    config = _config(kind, "float64")
    index = NeuMFTorch(N_USERS, N_ITEMS, config, seed=13, device="cpu", embedding_update="index")
    masked = NeuMFTorch(N_USERS, N_ITEMS, config, seed=13, device="cpu", embedding_update="masked")
    users, items, labels = _rows(seed=14, n=700)
    for _ in range(2):  # the second epoch checks that the step count carries over
        assert index.train_epoch(users, items, labels, batch_size=128) == pytest.approx(
            masked.train_epoch(users, items, labels, batch_size=128), rel=1e-12
        )
    masked_weights = masked.get_weights()
    for name, value in index.get_weights().items():
        np.testing.assert_allclose(value, masked_weights[name], rtol=1e-9, atol=1e-12, err_msg=name)
