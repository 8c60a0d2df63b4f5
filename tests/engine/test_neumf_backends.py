"""Contract tests run over both NeuMF backends: weights, pre-training fusion, scoring, sampling."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from recommender.engine.config import (
    ModelKind,
    NeuMFConfig,
    SupportsGradients,
    SupportsSampledEpoch,
)
from recommender.engine.neumf_numpy import (
    NeuMFNumpy,
    fuse_pretrained,
    init_weights,
    sample_negatives,
    weight_shapes,
)
from recommender.engine.neumf_torch import NeuMFTorch, pick_device, sample_negatives_torch

N_USERS, N_ITEMS = 30, 50
KINDS: list[ModelKind] = ["neumf", "gmf", "mlp"]
Model = NeuMFNumpy | NeuMFTorch
Factory = Callable[..., Model]


def _numpy(n_users: int, n_items: int, config: NeuMFConfig, *, seed: int) -> Model:
    return NeuMFNumpy(n_users, n_items, config, seed=seed)


def _torch(n_users: int, n_items: int, config: NeuMFConfig, *, seed: int) -> Model:
    return NeuMFTorch(n_users, n_items, config, seed=seed, device="cpu")


BACKENDS = [pytest.param(_numpy, id="numpy"), pytest.param(_torch, id="torch")]
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _config(kind: ModelKind = "neumf", **overrides: Any) -> NeuMFConfig:
    return NeuMFConfig(model=kind, gmf_dim=4, mlp_layers=(16, 8, 4), **overrides)


def _spread(model: Model, seed: int) -> dict[str, NDArray[np.floating]]:
    """Weights of order 0.5, so that outputs differ visibly between pairs."""
    rng = np.random.default_rng(seed)
    weights: dict[str, NDArray[np.floating]] = {
        k: rng.normal(0.0, 0.5, v.shape) for k, v in model.get_weights().items()
    }
    model.set_weights(weights)
    return weights


def _positives(seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct (user, item) pairs: users own 2..20 items each; user 0 owns all but two."""
    rng = np.random.default_rng(seed)
    users, items = [np.zeros(N_ITEMS - 2, np.int64)], [np.arange(2, N_ITEMS)]
    for user in range(1, N_USERS):
        owned = rng.choice(N_ITEMS, size=rng.integers(2, 21), replace=False)
        users.append(np.full(owned.shape[0], user))
        items.append(owned)
    return np.concatenate(users), np.concatenate(items)


@pytest.mark.parametrize("factory", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_weights_have_canonical_names_shapes_and_round_trip(
    factory: Factory, kind: ModelKind
) -> None:
    config = _config(kind, dtype="float64")
    model = factory(N_USERS, N_ITEMS, config, seed=0)
    expected = weight_shapes(N_USERS, N_ITEMS, config)
    weights = model.get_weights()
    assert {k: v.shape for k, v in weights.items()} == expected
    new = _spread(model, seed=1)
    for name, value in model.get_weights().items():
        assert value.dtype == np.float64
        np.testing.assert_array_equal(value, new[name])


@pytest.mark.parametrize("factory", BACKENDS)
def test_set_weights_rejects_other_names_and_shapes(factory: Factory) -> None:
    model = factory(N_USERS, N_ITEMS, _config(), seed=0)
    weights = model.get_weights()
    with pytest.raises(ValueError, match="missing"):
        model.set_weights({k: v for k, v in weights.items() if k != "out_b"})
    with pytest.raises(ValueError, match="shape"):
        model.set_weights({**weights, "gmf_user": weights["gmf_user"][:-1]})
    gmf_weights = factory(N_USERS, N_ITEMS, _config("gmf"), seed=0).get_weights()
    with pytest.raises(ValueError, match="missing"):
        model.set_weights(gmf_weights)


@pytest.mark.parametrize("kind", KINDS)
def test_weights_convert_both_ways_between_backends(kind: ModelKind) -> None:
    config = _config(kind)
    numpy_model = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=0)
    torch_model = NeuMFTorch(N_USERS, N_ITEMS, config, seed=1, device="cpu")
    start = _spread(numpy_model, seed=2)
    torch_model.set_weights(numpy_model.get_weights())
    back = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=3)
    back.set_weights(torch_model.get_weights())
    for name, value in back.get_weights().items():
        np.testing.assert_array_equal(value, start[name].astype(np.float32))
    users, items = np.repeat(np.arange(N_USERS), 3), np.tile([0, 7, 49], N_USERS)
    np.testing.assert_allclose(
        torch_model.predict(users, items), back.predict(users, items), atol=1e-6
    )


@pytest.mark.parametrize("kind", KINDS)
def test_equal_seeds_give_equal_paper_initialisation(kind: ModelKind) -> None:
    config = _config(kind, dtype="float64")
    numpy_weights = NeuMFNumpy(2000, 1500, config, seed=5).get_weights()
    torch_weights = NeuMFTorch(2000, 1500, config, seed=5, device="cpu").get_weights()
    for name, value in numpy_weights.items():
        np.testing.assert_array_equal(value, torch_weights[name])
        if name.endswith(("_user", "_item")):
            assert value.mean() == pytest.approx(0.0, abs=1e-3)
            assert value.std() == pytest.approx(0.01, rel=0.05)  # N(0, 0.01)
        elif name.startswith("mlp_W"):
            assert np.abs(value).max() <= np.sqrt(6.0 / sum(value.shape))  # Glorot uniform
        elif name == "out_W":
            assert np.abs(value).max() <= np.sqrt(3.0 / value.shape[0])  # LeCun uniform
        else:
            assert not value.any()  # biases start at zero
    other = init_weights(2000, 1500, config, seed=6)
    assert not np.array_equal(other["out_W"], numpy_weights["out_W"])


@pytest.mark.parametrize("factory", BACKENDS)
@pytest.mark.parametrize("alpha", [0.5, 0.2])
def test_fused_pretrained_logit_is_the_alpha_mix_of_gmf_and_mlp(
    factory: Factory, alpha: float
) -> None:
    gmf = factory(N_USERS, N_ITEMS, _config("gmf", dtype="float64"), seed=0)
    mlp = factory(N_USERS, N_ITEMS, _config("mlp", dtype="float64"), seed=1)
    _spread(gmf, seed=2)
    _spread(mlp, seed=3)
    neumf = factory(N_USERS, N_ITEMS, _config("neumf", dtype="float64", alpha=alpha), seed=4)
    neumf.set_weights(fuse_pretrained(gmf.get_weights(), mlp.get_weights(), alpha))
    users, items = np.repeat(np.arange(N_USERS), N_ITEMS), np.tile(np.arange(N_ITEMS), N_USERS)
    expected = alpha * gmf.logits(users, items) + (1 - alpha) * mlp.logits(users, items)
    np.testing.assert_allclose(neumf.logits(users, items), expected, rtol=1e-12, atol=1e-12)


def test_fuse_pretrained_rejects_swapped_towers() -> None:
    gmf = init_weights(N_USERS, N_ITEMS, _config("gmf"), seed=0)
    mlp = init_weights(N_USERS, N_ITEMS, _config("mlp"), seed=0)
    with pytest.raises(ValueError, match="GMF-only"):
        fuse_pretrained(mlp, gmf, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        fuse_pretrained(gmf, mlp, 1.5)


@pytest.mark.parametrize("factory", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_score_users_equals_predict_on_every_pair(
    factory: Factory, kind: ModelKind, dtype: str
) -> None:
    model = factory(N_USERS, N_ITEMS, _config(kind, dtype=dtype), seed=0)
    _spread(model, seed=1)
    users = np.array([3, 0, 29, 3])
    scores = model.score_users(users)
    assert scores.shape == (4, N_ITEMS)
    assert scores.dtype == np.float32
    pairs = model.predict(np.repeat(users, N_ITEMS), np.tile(np.arange(N_ITEMS), 4))
    assert pairs.std() > 0.01
    np.testing.assert_allclose(scores, pairs.reshape(4, N_ITEMS), rtol=0, atol=1e-6)


@pytest.mark.parametrize("factory", BACKENDS)
def test_score_cache_follows_training_and_set_weights(factory: Factory) -> None:
    model = factory(N_USERS, N_ITEMS, _config(), seed=0)
    before = model.score_users(np.arange(5))
    users, items = _positives(seed=1)
    model.train_epoch(users, items, np.ones(users.shape[0]), batch_size=32)
    after = model.score_users(np.arange(5))
    assert not np.array_equal(before, after)
    pairs = model.predict(np.repeat(np.arange(5), N_ITEMS), np.tile(np.arange(N_ITEMS), 5))
    np.testing.assert_allclose(after, pairs.reshape(5, N_ITEMS), atol=1e-6)
    _spread(model, seed=2)
    assert not np.array_equal(model.score_users(np.arange(5)), after)


@pytest.mark.parametrize("factory", BACKENDS)
def test_float64_on_request(factory: Factory) -> None:
    wide = factory(N_USERS, N_ITEMS, _config(dtype="float64"), seed=0)
    narrow = factory(N_USERS, N_ITEMS, _config(dtype="float32"), seed=0)
    assert all(v.dtype == np.float64 for v in wide.get_weights().values())
    assert all(v.dtype == np.float32 for v in narrow.get_weights().values())
    users, items = _positives(seed=1)
    assert wide.logits(users, items).dtype == np.float64
    _, grads = wide.loss_and_grads(users, items, np.ones(users.shape[0]))
    assert all(g.dtype == np.float64 for g in grads.values())
    np.testing.assert_allclose(wide.predict(users, items), narrow.predict(users, items), atol=1e-6)


@pytest.mark.parametrize("factory", BACKENDS)
def test_backends_offer_the_optional_capabilities(factory: Factory) -> None:
    model = factory(N_USERS, N_ITEMS, _config(), seed=0)
    assert isinstance(model, SupportsSampledEpoch)
    assert isinstance(model, SupportsGradients)


@pytest.mark.parametrize("factory", BACKENDS)
def test_training_lowers_the_loss(factory: Factory) -> None:
    model = factory(N_USERS, N_ITEMS, _config(lr=0.01), seed=0)
    users, items = _positives(seed=1)
    assert isinstance(model, SupportsSampledEpoch)
    losses = [
        model.train_epoch_sampled(users, items, negatives=4, batch_size=64, seed=epoch)
        for epoch in range(8)
    ]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0] - 0.1


@pytest.mark.parametrize("factory", BACKENDS)
def test_sampled_epoch_is_reproducible_from_its_seed(factory: Factory) -> None:
    users, items = _positives(seed=1)
    results = []
    for _ in range(2):
        model = factory(N_USERS, N_ITEMS, _config(), seed=0)
        assert isinstance(model, SupportsSampledEpoch)
        loss = model.train_epoch_sampled(users, items, negatives=3, batch_size=50, seed=9)
        results.append((loss, model.get_weights()))
    assert results[0][0] == results[1][0]
    for name, value in results[0][1].items():
        np.testing.assert_array_equal(value, results[1][1][name])


def _check_negatives(
    users: NDArray[np.int64], items: NDArray[np.int64], drawn: NDArray[np.int64], negatives: int
) -> None:
    assert drawn.shape == (users.shape[0] * negatives,)
    assert drawn.min() >= 0
    assert drawn.max() < N_ITEMS
    positive = set(zip(users.tolist(), items.tolist(), strict=True))
    pairs = zip(np.repeat(users, negatives).tolist(), drawn.tolist(), strict=True)
    assert not any(pair in positive for pair in pairs)
    heavy = drawn[np.repeat(users, negatives) == 0]
    assert set(heavy.tolist()) == {0, 1}  # the only items user 0 has not rated


def test_numpy_negatives_never_hit_a_positive() -> None:
    users, items = _positives(seed=3)
    drawn = sample_negatives(users, items, N_ITEMS, 4, np.random.default_rng(0))
    _check_negatives(users, items, drawn, 4)


def _torch_draw(
    device: str, users: NDArray[np.int64], items: NDArray[np.int64], negatives: int
) -> NDArray[np.int64]:
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    drawn = sample_negatives_torch(
        torch.from_numpy(users).to(device),
        torch.from_numpy(items).to(device),
        N_ITEMS,
        negatives,
        gen,
    )
    return drawn.cpu().numpy()


def _torch_negatives(device: str, negatives: int) -> None:
    users, items = _positives(seed=3)
    _check_negatives(users, items, _torch_draw(device, users, items, negatives), negatives)


def test_torch_negatives_never_hit_a_positive() -> None:
    _torch_negatives("cpu", 4)


def test_negatives_are_uniform_over_the_items_a_user_has_not_rated() -> None:
    users, items = np.zeros(N_ITEMS - 10, np.int64), np.arange(0, 2 * N_ITEMS - 20, 2) % N_ITEMS
    free = np.setdiff1d(np.arange(N_ITEMS), items)
    draws = [
        sample_negatives(users, items, N_ITEMS, 100, np.random.default_rng(0)),
        _torch_draw("cpu", users, items, 100),
    ]
    for drawn in draws:
        counts = np.bincount(drawn, minlength=N_ITEMS)
        assert not counts[items].any()
        expected = drawn.shape[0] / free.shape[0]
        chi2 = float(((counts[free] - expected) ** 2 / expected).sum())
        assert chi2 < free.shape[0] + 6 * np.sqrt(2 * free.shape[0])  # about 6 sigma of chi2(dof)


def test_negative_sampling_refuses_a_user_who_rated_everything() -> None:
    users, items = np.zeros(N_ITEMS, np.int64), np.arange(N_ITEMS)
    with pytest.raises(ValueError, match="every item"):
        sample_negatives(users, items, N_ITEMS, 1, np.random.default_rng(0))
    gen = torch.Generator()
    with pytest.raises(ValueError, match="every item"):
        sample_negatives_torch(torch.from_numpy(users), torch.from_numpy(items), N_ITEMS, 1, gen)


@pytest.mark.parametrize("factory", BACKENDS)
def test_out_of_range_rows_are_refused(factory: Factory) -> None:
    model = factory(N_USERS, N_ITEMS, _config(), seed=0)
    with pytest.raises(IndexError):
        model.predict(np.array([N_USERS]), np.array([0]))
    with pytest.raises(IndexError):
        model.score_users(np.array([-1]))


def test_device_is_picked_automatically_or_as_named() -> None:
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert pick_device("auto").type == expected
    assert pick_device("cpu").type == "cpu"
    assert NeuMFTorch(3, 4, _config(), seed=0, device="cpu").device.type == "cpu"


def test_engine_modules_load_without_django_and_numpy_without_torch() -> None:
    code = (
        "import sys; import recommender.engine.neumf_numpy; "
        "assert 'torch' not in sys.modules, 'torch'; "
        "import recommender.engine.neumf_torch; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- CUDA: the captured-graph path against the NumPy reference -----------------------------------


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_graph_epoch_equals_numpy_epoch_in_float64(kind: ModelKind) -> None:
    config = _config(kind, dtype="float64", lr=0.01, l2=1e-3)
    reference = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=0)
    model = NeuMFTorch(N_USERS, N_ITEMS, config, seed=1, device="cuda")
    assert model.cuda_graphs
    model.set_weights(reference.get_weights())
    users, items = _positives(seed=2)
    rng = np.random.default_rng(3)
    labels = np.where(rng.random(size=users.shape[0]) < 0.5, 1.0, 0.0)
    for _ in range(2):  # the second epoch replays graphs captured in the first
        expected = reference.train_epoch(users, items, labels, batch_size=32)
        assert model.train_epoch(users, items, labels, batch_size=32) == pytest.approx(expected)
    weights = model.get_weights()
    for name, value in reference.get_weights().items():
        np.testing.assert_allclose(weights[name], value, rtol=1e-8, atol=1e-10, err_msg=name)


@pytest.mark.gpu
@gpu
def test_cuda_graphs_and_eager_cuda_agree_in_float32() -> None:
    config = _config(lr=0.01)
    users, items = _positives(seed=4)
    graphed = NeuMFTorch(N_USERS, N_ITEMS, config, seed=5, device="cuda")
    eager = NeuMFTorch(N_USERS, N_ITEMS, config, seed=5, device="cuda", cuda_graphs=False)
    for epoch in range(3):
        a = graphed.train_epoch_sampled(users, items, negatives=4, batch_size=64, seed=epoch)
        b = eager.train_epoch_sampled(users, items, negatives=4, batch_size=64, seed=epoch)
        assert a == pytest.approx(b, rel=1e-4)
    eager_weights = eager.get_weights()
    for name, value in graphed.get_weights().items():
        np.testing.assert_allclose(value, eager_weights[name], rtol=1e-3, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(
        graphed.score_users(np.arange(N_USERS)), eager.score_users(np.arange(N_USERS)), atol=1e-4
    )


@pytest.mark.gpu
@gpu
def test_cuda_negatives_never_hit_a_positive() -> None:
    _torch_negatives("cuda", 4)
