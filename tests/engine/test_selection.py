"""Full-catalogue model selection and the personalisation figures reported beside accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.baselines import Popularity
from recommender.engine.config import NeuMFConfig
from recommender.engine.data import synthetic_planted
from recommender.engine.metrics import personalisation, top_k_items
from recommender.engine.split import leave_one_out
from recommender.engine.train import (
    FULL_EVAL_MIN_USERS,
    FULL_EVAL_PAIRS,
    Validator,
    evaluate,
    fit,
    full_eval_rows,
)


def test_top_k_items_are_the_best_columns_best_first() -> None:
    scores = np.array([[0.1, 0.9, -np.inf, 0.5], [3.0, 1.0, 2.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(top_k_items(scores, 2), [[1, 3], [0, 2]])
    assert top_k_items(scores, 9).shape == (2, 4)


def test_personalisation_tells_a_best_seller_list_from_personal_lists() -> None:
    counts = np.arange(100)  # item i was rated i times: 99 is the most popular
    same_for_all = np.tile(np.arange(90, 100), (50, 1))  # everyone gets the ten best-sellers
    personal = np.arange(500).reshape(50, 10) % 100  # every item shows up for someone
    best_sellers = personalisation(same_for_all, counts)
    spread = personalisation(personal, counts)
    assert best_sellers.coverage == pytest.approx(0.10)
    assert spread.coverage == pytest.approx(1.0)
    assert best_sellers.popularity_percentile > 90.0
    assert spread.popularity_percentile == pytest.approx(50.0, abs=1.0)


def test_test_metrics_report_coverage_and_popularity_of_the_lists() -> None:
    data = synthetic_planted(n_users=200, n_items=150, seed=3)
    split = leave_one_out(data, seed=3)
    pop = Popularity(split.train_users, split.train_items, split.n_users, split.n_items)
    metrics = evaluate(pop.predict, pop.score_users, split, 10)
    # Popularity gives every user (nearly) the same ten films, all from the top of the chart.
    assert metrics["test_coverage"] < 0.15
    assert metrics["test_popularity_percentile"] > 85.0


def test_full_validation_covers_every_user_of_a_small_catalogue() -> None:
    data = synthetic_planted(n_users=300, n_items=120, seed=4)
    split = leave_one_out(data, seed=4)
    validator = Validator(split, 10, seed=4)
    np.testing.assert_array_equal(validator.full_users, split.val_users)


def test_full_catalogue_metrics_cover_a_fixed_subset_of_a_large_catalogue() -> None:
    # ML-1M is scored whole; at ML-32M's shape a fixed subset within the pair budget.
    np.testing.assert_array_equal(full_eval_rows(6_040, 3_706, seed=0), np.arange(6_040))
    rows = full_eval_rows(200_948, 87_585, seed=0)
    assert rows.shape[0] == max(FULL_EVAL_MIN_USERS, FULL_EVAL_PAIRS // 87_585)
    assert rows.shape[0] * 87_585 <= max(FULL_EVAL_PAIRS, FULL_EVAL_MIN_USERS * 87_585)
    assert np.all(np.diff(rows) > 0)  # sorted and distinct
    assert rows[-1] < 200_948
    np.testing.assert_array_equal(rows, full_eval_rows(200_948, 87_585, seed=0))
    assert not np.array_equal(rows, full_eval_rows(200_948, 87_585, seed=1))


def test_fit_reports_full_catalogue_validation_of_the_kept_epoch() -> None:
    data = synthetic_planted(n_users=300, n_items=200, seed=0)
    config = NeuMFConfig(gmf_dim=8, mlp_layers=(32, 16, 8), lr=0.01, epochs=4)
    result = fit(data, config, seed=0)
    assert config.selection == "full"
    assert 0.0 < result.metrics["val_full_ndcg"] <= result.metrics["val_full_recall"] <= 1.0
    assert all(h.val_full_recall <= 1.0 for h in result.history)
    assert 0.0 < result.metrics["test_coverage"] <= 1.0


def test_an_unknown_selection_is_refused() -> None:
    with pytest.raises(ValueError, match="selection must be full or sampled"):
        NeuMFConfig.from_overrides({"selection": "test"})


def test_refit_trains_afresh_on_train_and_validation_for_the_chosen_epochs() -> None:
    data = synthetic_planted(n_users=300, n_items=200, seed=5)
    split = leave_one_out(data, seed=5)
    config = NeuMFConfig(gmf_dim=8, mlp_layers=(32, 16, 8), lr=0.01, epochs=3)
    chosen = fit(data, config, seed=5, split=split)
    refitted = fit(data, config, seed=5, split=split, refit=True)
    # The same selection run picks the same epoch and reports the same validation figures ...
    assert refitted.best_epoch == chosen.best_epoch > 0
    assert refitted.metrics["val_full_ndcg"] == chosen.metrics["val_full_ndcg"]
    assert refitted.metrics["refit_epochs"] == float(chosen.best_epoch)
    # ... but the served model is another one: it has learned each user's validation item.
    val = split.val_users, split.val_items
    assert not np.allclose(refitted.model.predict(*val), chosen.model.predict(*val))
    assert refitted.model.predict(*val).mean() > chosen.model.predict(*val).mean()


def test_refit_does_not_combine_with_pretraining() -> None:
    data = synthetic_planted(n_users=100, n_items=150, seed=0)
    with pytest.raises(ValueError, match="refit does not apply with pretrain"):
        fit(data, NeuMFConfig(epochs=1), pretrain=True, refit=True)
