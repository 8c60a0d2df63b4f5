"""Weight decay on the MLP's weights and the learning rate's decay per epoch (issue 12): each is
torch.optim.Adam's own rule, the same in both backends, and reaches training from the config,
the CLI and the search."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from recommender.engine.cli import _config as cli_config
from recommender.engine.cli import build_parser
from recommender.engine.config import ModelKind, NeuMFConfig
from recommender.engine.data import synthetic_planted
from recommender.engine.neumf_numpy import NeuMFNumpy
from recommender.engine.neumf_torch import EmbeddingUpdate, NeuMFTorch
from recommender.engine.train import fit

N_USERS, N_ITEMS = 30, 50
LRS = (0.01, 0.01, 0.004, 0.004, 0.0016)  # the learning rate of each step


def _config(kind: ModelKind = "neumf", **changes: Any) -> NeuMFConfig:
    base = NeuMFConfig(
        model=kind, gmf_dim=4, mlp_layers=(16, 8, 4), lr=LRS[0], l2=1e-3, dtype="float64"
    )
    return replace(base, **{"weight_decay": 0.05, **changes})


def _batch(seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, N_USERS, 200),
        rng.integers(0, N_ITEMS, 200),
        (rng.random(200) < 0.3).astype(np.float64),
    )


def _model(backend: str, config: NeuMFConfig, update: EmbeddingUpdate = "index") -> Any:
    if backend == "numpy":
        return NeuMFNumpy(N_USERS, N_ITEMS, config, seed=3)
    return NeuMFTorch(N_USERS, N_ITEMS, config, seed=3, device="cpu", embedding_update=update)


@pytest.mark.parametrize(
    ("backend", "update"), [("numpy", "index"), ("torch", "index"), ("torch", "masked")]
)
def test_dense_steps_are_torch_adams_with_weight_decay_on_the_mlp_weights_only(
    backend: str, update: EmbeddingUpdate
) -> None:
    """One whole-batch step at a time, from the model's own gradient: the dense weights move
    exactly as torch.optim.Adam moves them with weight_decay on the mlp_W matrices and none on
    the biases and the output layer, the learning rate changed between steps (set_lr)."""
    config = _config()
    model = _model(backend, config, update)
    start = model.get_weights()
    names = [n for n in start if n.startswith(("mlp_W", "mlp_b", "out_"))]
    params = {n: torch.tensor(start[n], requires_grad=True) for n in names}
    decayed = [p for n, p in params.items() if n.startswith("mlp_W")]
    free = [p for n, p in params.items() if not n.startswith("mlp_W")]
    reference = torch.optim.Adam(
        [{"params": decayed, "weight_decay": config.weight_decay}, {"params": free}], lr=LRS[0]
    )
    users, items, labels = _batch(seed=4)
    for lr in LRS:
        _, grads = model.loss_and_grads(users, items, labels)
        for name, param in params.items():
            param.grad = torch.from_numpy(np.array(grads[name]))
        for group in reference.param_groups:
            group["lr"] = lr
        reference.step()
        model.set_lr(lr)
        model.train_epoch(users, items, labels, batch_size=len(users))
    after = model.get_weights()
    for name, param in params.items():
        np.testing.assert_allclose(after[name], param.detach().numpy(), rtol=1e-10, atol=1e-13)
    assert not np.allclose(after["mlp_W1"], start["mlp_W1"])


@pytest.mark.parametrize("update", ["index", "masked"])
@pytest.mark.parametrize("kind", ["neumf", "mlp"])
def test_both_backends_train_alike_with_weight_decay_and_a_changed_learning_rate(
    kind: ModelKind, update: EmbeddingUpdate
) -> None:
    config = _config(kind)
    numpy_model = _model("numpy", config)
    torch_model = _model("torch", config, update)
    users, items, labels = _batch(seed=5)
    for lr in LRS[:3]:
        numpy_model.set_lr(lr)
        torch_model.set_lr(lr)
        assert numpy_model.train_epoch(users, items, labels, batch_size=64) == pytest.approx(
            torch_model.train_epoch(users, items, labels, batch_size=64), rel=1e-12
        )
    torch_weights = torch_model.get_weights()
    for name, value in numpy_model.get_weights().items():
        np.testing.assert_allclose(value, torch_weights[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_weight_decay_pulls_the_mlp_weights_towards_zero() -> None:
    users, items, labels = _batch(seed=6)
    norms = {}
    for decay in (0.0, 0.5):
        model = _model("numpy", _config(weight_decay=decay))
        for _ in range(30):
            model.train_epoch(users, items, labels, batch_size=50)
        norms[decay] = float(np.linalg.norm(model.get_weights()["mlp_W1"]))
    assert norms[0.5] < 0.8 * norms[0.0]


@pytest.mark.parametrize("refit", [False, True])
def test_each_epoch_of_a_phase_trains_at_the_decayed_learning_rate(refit: bool) -> None:
    data = synthetic_planted(n_users=60, n_items=150, seed=1)
    config = _config(epochs=3, lr_decay=0.5, weight_decay=0.0)
    result = fit(data, config, seed=0, refit=refit)
    assert result.model.lr == pytest.approx(config.lr * 0.5**2)  # epochs 0, 1, 2 of the phase
    constant = fit(data, replace(config, lr_decay=1.0), seed=0, refit=refit)
    assert constant.model.lr == config.lr
    assert not np.array_equal(
        result.model.get_weights()["gmf_user"], constant.model.get_weights()["gmf_user"]
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weight_decay": -1e-3}, "weight_decay must be zero or more"),
        ({"weight_decay": float("nan")}, "weight_decay must be zero or more"),
        ({"lr_decay": 0.0}, "lr_decay must be in (0, 1]"),
        ({"lr_decay": 1.5}, "lr_decay must be in (0, 1]"),
    ],
)
def test_out_of_range_values_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]")):
        NeuMFConfig.from_overrides(changes)


def test_the_train_options_reach_the_config() -> None:
    args = build_parser().parse_args(
        ["train", "--data", "x", "--weight-decay", "1e-4", "--lr-decay", "0.9"]
    )
    config = cli_config(args)
    assert (config.weight_decay, config.lr_decay) == (1e-4, 0.9)
    assert (NeuMFConfig().weight_decay, NeuMFConfig().lr_decay) == (0.0, 1.0)
