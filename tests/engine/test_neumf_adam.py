"""The hand-written Adam of both backends against torch.optim.Adam on identical gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from recommender.engine.neumf_numpy import adam_scalars, adam_update, lazy_adam_update
from recommender.engine.neumf_torch import _adam

STEPS, LR = 8, 0.01


def _gradients(seed: int, shape: tuple[int, ...]) -> list[NDArray[np.float64]]:
    """A gradient sequence whose scale changes over the steps (Adam's denominators matter), with
    a few entries near zero (where eps placement would show)."""
    rng = np.random.default_rng(seed)
    grads = [rng.normal(0.0, 10.0 ** rng.uniform(-3, 1), size=shape) for _ in range(STEPS)]
    for g in grads:
        g.flat[::7] *= 1e-9
    return grads


def _torch_adam(
    start: NDArray[np.float64], grads: list[NDArray[np.float64]], weight_decay: float
) -> list[NDArray[np.float64]]:
    """Parameters after each step of torch.optim.Adam (default betas and eps)."""
    param = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([param], lr=LR, weight_decay=weight_decay)
    after = []
    for g in grads:
        param.grad = torch.from_numpy(g.copy())
        optimizer.step()
        after.append(param.detach().numpy().copy())
    return after


@pytest.mark.parametrize("weight_decay", [0.0, 0.02])
def test_numpy_adam_equals_torch_adam_step_by_step(weight_decay: float) -> None:
    start = np.random.default_rng(0).normal(size=(5, 4))
    grads = _gradients(1, start.shape)
    param, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, (g, expected) in enumerate(
        zip(grads, _torch_adam(start, grads, weight_decay), strict=True), 1
    ):
        step_size, bc2_sqrt = adam_scalars(LR, t)
        adam_update(param, m, v, g, step_size, bc2_sqrt, weight_decay=weight_decay)
        np.testing.assert_allclose(param, expected, rtol=1e-13, atol=1e-15, err_msg=f"step {t}")
    assert not np.allclose(param, start, atol=1e-3)


def test_lazy_adam_with_every_row_touched_is_torch_adam() -> None:
    start = np.random.default_rng(2).normal(size=(6, 3))
    grads = _gradients(3, start.shape)
    table, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    rows = np.arange(start.shape[0])
    for t, (g, expected) in enumerate(zip(grads, _torch_adam(start, grads, 0.0), strict=True), 1):
        lazy_adam_update(table, m, v, rows, g, *adam_scalars(LR, t))
        np.testing.assert_allclose(table, expected, rtol=1e-13, atol=1e-15, err_msg=f"step {t}")


def test_lazy_adam_leaves_untouched_rows_and_their_moments_alone() -> None:
    """Rows 1 and 4 get no gradient at step 3: they keep their values and moments bit for bit."""
    start = np.random.default_rng(4).normal(size=(6, 3))
    grads = _gradients(5, start.shape)
    table, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, g in enumerate(grads, 1):
        rows = np.array([0, 2, 3, 5]) if t == 3 else np.arange(6)
        before = (table[[1, 4]].copy(), m[[1, 4]].copy(), v[[1, 4]].copy())
        lazy_adam_update(table, m, v, rows, g[rows], *adam_scalars(LR, t))
        if t == 3:
            for now, then in zip((table[[1, 4]], m[[1, 4]], v[[1, 4]]), before, strict=True):
                np.testing.assert_array_equal(now, then)


@pytest.mark.parametrize("weight_decay", [0.0, 0.02])
def test_torch_backend_adam_equals_torch_adam(weight_decay: float) -> None:
    start = np.random.default_rng(6).normal(size=(5, 4))
    grads = _gradients(7, start.shape)
    param = torch.tensor(start)
    m, v = torch.zeros_like(param), torch.zeros_like(param)
    for t, (g, expected) in enumerate(
        zip(grads, _torch_adam(start, grads, weight_decay), strict=True), 1
    ):
        step_size, bc2_sqrt = adam_scalars(LR, t)
        grad = torch.from_numpy(g) + weight_decay * param  # the backend has no weight decay
        _adam(param, m, v, grad, step_size, bc2_sqrt)
        np.testing.assert_allclose(param.numpy(), expected, rtol=1e-13, atol=1e-15)
