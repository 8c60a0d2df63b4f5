"""Candidate retrieval + rerank: exact when every item is a candidate, high recall on a trained
model, the caller's shift honoured, and no Django or torch on the way."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from recommender.engine import retrieval
from recommender.engine.config import NeuMFConfig
from recommender.engine.data import synthetic_planted
from recommender.engine.neumf_numpy import NeuMFNumpy, init_weights, score_logits


def _tables(weights: dict[str, np.ndarray], side: str) -> np.ndarray:
    parts = [weights[n] for n in (f"gmf_{side}", f"mlp_{side}") if n in weights]
    return np.concatenate(parts, axis=1).astype(np.float32)


def _retriever(weights: dict[str, np.ndarray], config: NeuMFConfig) -> retrieval.Retriever:
    return retrieval.Retriever.of(
        weights, config, _tables(weights, "item"), _tables(weights, "user")
    )


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.fixture(scope="module")
def trained() -> NeuMFNumpy:
    data = synthetic_planted(n_users=300, n_items=400, per_user=30, seed=3)
    config = NeuMFConfig(gmf_dim=8, mlp_layers=(32, 16, 8), lr=0.01)
    model = NeuMFNumpy(data.n_users, data.n_items, config, seed=0)
    for epoch in range(6):
        model.train_epoch_sampled(
            data.user_idx, data.item_idx, negatives=4, batch_size=256, seed=epoch
        )
    return model


@pytest.mark.parametrize(
    "config",
    [NeuMFConfig(), NeuMFConfig(mlp_layers=(16, 8)), NeuMFConfig(model="gmf")],
    ids=["neumf", "one-layer-mlp", "gmf"],
)
def test_pair_logits_equal_the_full_model_on_each_pair(config: NeuMFConfig) -> None:
    weights = init_weights(30, 50, config, seed=1)
    weights = {k: v * 5 for k, v in weights.items()}  # leave the near-zero start
    model = NeuMFNumpy(30, 50, config, seed=0)
    model.set_weights(weights)
    r = _retriever(weights, config)
    rng = np.random.default_rng(0)
    users = np.arange(30)
    items = rng.integers(0, 50, size=(30, 7))
    z = retrieval.pair_logits(r.towers, r.terms, _tables(weights, "user")[users], items)
    expected = model.logits(np.repeat(users, 7), items.ravel()).reshape(30, 7)
    np.testing.assert_allclose(z, expected, rtol=1e-4, atol=1e-4)


def test_with_every_item_a_candidate_the_logits_are_score_logits_exactly() -> None:
    config = NeuMFConfig()
    weights = init_weights(20, 60, config, seed=2)
    r = _retriever(weights, config)
    rows = _tables(weights, "user")
    items, z = r.candidate_logits(rows, n_candidates=60)
    np.testing.assert_array_equal(items, np.broadcast_to(np.arange(60), (20, 60)))
    np.testing.assert_array_equal(z, score_logits(r.towers, r.terms, rows))
    items, _ = r.candidate_logits(rows, n_candidates=1000)  # more than the catalog
    assert items.shape == (20, 60)


def test_the_surrogate_of_a_gmf_model_is_exact() -> None:
    """GMF is linear in the surrogate's features, so retrieval alone finds the true top."""
    config = NeuMFConfig(model="gmf")
    weights = {k: v * 50 for k, v in init_weights(40, 300, config, seed=4).items()}
    r = _retriever(weights, config)
    rows = _tables(weights, "user")
    exact = score_logits(r.towers, r.terms, rows)
    np.testing.assert_allclose(r.surrogate.scores(rows), exact, atol=1e-2)  # the ridge
    got = retrieval.retrieve(r.surrogate, rows, 20)
    assert retrieval.recall_at(_top(exact, 10), got) == 1.0


def test_recall_of_the_top_10_is_high_on_a_trained_model(trained: NeuMFNumpy) -> None:
    weights = trained.get_weights()
    r = _retriever(weights, trained.config)
    rows = _tables(weights, "user")
    exact = score_logits(r.towers, r.terms, rows)
    items, z = r.candidate_logits(rows, n_candidates=40)  # a tenth of the catalog
    got = np.take_along_axis(items, _top(z, 10), axis=1)
    assert retrieval.recall_at(_top(exact, 10), got) >= 0.98


def test_the_shift_brings_lifted_items_in_and_keeps_excluded_ones_out(
    trained: NeuMFNumpy,
) -> None:
    weights = trained.get_weights()
    r = _retriever(weights, trained.config)
    rows = _tables(weights, "user")[:50]
    plain = score_logits(r.towers, r.terms, rows)
    worst = np.argsort(plain, axis=1)[:, :3]  # the model's three last items of each user
    best = _top(plain, 5)
    shift = np.zeros(plain.shape, np.float32)
    np.put_along_axis(shift, worst, 100.0, axis=1)  # a taste shift no model score outweighs
    np.put_along_axis(shift, best, -np.inf, axis=1)  # rated, say
    items, _ = r.candidate_logits(rows, n_candidates=30, shift=shift)
    for row in range(rows.shape[0]):
        assert set(worst[row]) <= set(items[row])
        assert not set(best[row]) & set(items[row])


def test_log_sigmoid_is_stable_far_out() -> None:
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    got = retrieval.log_sigmoid(z)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, -np.logaddexp(0.0, -z), rtol=1e-6, atol=1e-6)


def test_recall_at_counts_the_missed_share() -> None:
    truth = np.array([[1, 2, 3, 4], [5, 6, -1, -1]])
    got = np.array([[1, 2, 9, 4], [6, 5, 0, 0]])
    assert retrieval.recall_at(truth, got) == pytest.approx(5 / 6)


def test_retrieval_loads_neither_django_nor_torch() -> None:
    code = (
        "import json, sys; import recommender.engine.retrieval; "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('django', 'torch'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
