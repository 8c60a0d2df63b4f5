"""fit: both backends beat popularity on planted clusters; the kept epoch is best on validation."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.baselines import Popularity
from recommender.engine.config import NeuMFConfig
from recommender.engine.data import Interactions, synthetic_planted
from recommender.engine.split import Split, leave_one_out
from recommender.engine.train import EpochReport, TrainingDiverged, evaluate, fit

CONFIG = NeuMFConfig(gmf_dim=8, mlp_layers=(32, 16, 8), lr=0.003, epochs=6, batch_size=256)


@pytest.fixture(scope="module")
def planted() -> tuple[Interactions, Split]:
    data = synthetic_planted(n_users=300, n_items=200, seed=0)
    return data, leave_one_out(data, seed=0)


@pytest.fixture(scope="module")
def popularity_hr(planted: tuple[Interactions, Split]) -> float:
    _, split = planted
    pop = Popularity(split.train_users, split.train_items, split.n_users, split.n_items)
    return evaluate(pop.predict, pop.score_users, split, 10)["test_hr"]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_both_backends_clearly_beat_popularity(
    backend: str, planted: tuple[Interactions, Split], popularity_hr: float
) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    data, split = planted
    result = fit(data, CONFIG, backend=backend, device="cpu", seed=0, split=split)
    assert result.metrics["test_hr"] > popularity_hr + 0.2
    assert result.metrics["test_full_recall"] > 0.0
    assert result.device == "cpu"


@pytest.mark.parametrize("selection", ["full", "sampled"])
def test_kept_epoch_is_the_best_on_validation(
    planted: tuple[Interactions, Split], selection: str
) -> None:
    data, split = planted
    seen: list[EpochReport] = []
    config = NeuMFConfig(gmf_dim=8, mlp_layers=(32, 16, 8), lr=0.03, epochs=6, selection=selection)
    result = fit(data, config, seed=1, split=split, on_epoch=seen.append)
    assert seen == result.history
    if selection == "full":
        scores = [(h.val_full_ndcg, h.val_full_recall) for h in result.history]
        kept = (result.metrics["val_full_ndcg"], result.metrics["val_full_recall"])
    else:
        scores = [(h.val_hr, h.val_ndcg) for h in result.history]
        kept = (result.metrics["val_hr"], result.metrics["val_ndcg"])
    best = max(range(len(scores)), key=lambda e: scores[e])
    if scores[best] > (0.0, 0.0):
        assert result.best_epoch == best + 1
    assert kept == pytest.approx(scores[best])
    # the model holds the kept epoch's weights: its validation scores are that epoch's
    from recommender.engine.train import Validator

    again = Validator(split, 10, seed=1)(result.model)
    h = result.history[best]
    assert (again.hr, again.full_ndcg) == pytest.approx((h.val_hr, h.val_full_ndcg))


def test_early_stopping_and_cancellation(planted: tuple[Interactions, Split]) -> None:
    data, split = planted
    config = NeuMFConfig(gmf_dim=4, mlp_layers=(8, 4), lr=0.05, epochs=30, patience=2)
    result = fit(data, config, seed=0, split=split)
    assert len(result.history) < 30
    assert len(result.history) - result.best_epoch == 2
    calls = iter([False, False, True])
    stopped = fit(data, config, seed=0, split=split, should_stop=lambda: next(calls))
    assert stopped.cancelled
    assert len(stopped.history) == 2


def test_pretraining_runs_gmf_mlp_then_neumf(planted: tuple[Interactions, Split]) -> None:
    data, split = planted
    config = NeuMFConfig(gmf_dim=4, mlp_layers=(8, 4), lr=0.01, epochs=2)
    result = fit(data, config, seed=0, split=split, pretrain=True)
    assert [h.phase for h in result.history] == ["gmf"] * 2 + ["mlp"] * 2 + ["neumf"] * 2
    assert set(result.model.get_weights()) >= {"gmf_user", "mlp_user", "out_W"}
    assert np.isfinite(result.metrics["test_hr"])


def test_test_items_are_never_used_for_model_selection(planted: tuple[Interactions, Split]) -> None:
    data, split = planted
    config = NeuMFConfig(gmf_dim=4, mlp_layers=(8, 4), lr=0.01, epochs=2)
    a = fit(data, config, seed=0, split=split)
    # scramble the test items: the training run and the kept epoch must not change
    rng = np.random.default_rng(0)
    scrambled = Split(**{**split.__dict__, "test_items": rng.permutation(split.test_items)})
    b = fit(data, config, seed=0, split=scrambled)
    assert a.best_epoch == b.best_epoch
    assert [h.loss for h in a.history] == [h.loss for h in b.history]


# Adam moves each weight by about lr a step: at 1e10 the float32 forward overflows to inf and
# the loss turns NaN within the first epoch.
DIVERGING = NeuMFConfig(gmf_dim=8, mlp_layers=(16, 8), lr=1e10, epochs=3)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_diverged_run_fails_instead_of_scoring_perfectly(
    backend: str, planted: tuple[Interactions, Split]
) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    data, split = planted
    seen: list[EpochReport] = []
    with pytest.raises(TrainingDiverged, match=r"neumf epoch 1: the loss is nan \(lr 1e\+10"):
        fit(data, DIVERGING, backend=backend, device="cpu", seed=0, split=split,
            on_epoch=seen.append)  # fmt: skip
    assert seen == []  # the NaN epoch is never reported as a result


def test_a_pretraining_tower_that_diverges_fails_the_run(
    planted: tuple[Interactions, Split],
) -> None:
    data, split = planted
    with pytest.raises(TrainingDiverged, match="gmf epoch 1"):
        fit(data, DIVERGING, seed=0, split=split, pretrain=True)
