"""The tune subcommand: a search on validation only whose choice `train --config` reuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender.engine.cli import main
from recommender.engine.config import NeuMFConfig, read_config_file
from recommender.engine.data import synthetic_planted
from recommender.engine.train import fit
from recommender.engine.tune import SPACE, search

pytest.importorskip("optuna")


def test_a_fit_without_test_never_scores_the_test_items() -> None:
    data = synthetic_planted(n_users=120, n_items=150, seed=2)
    config = NeuMFConfig(gmf_dim=4, mlp_layers=(8, 4), epochs=1)
    metrics = fit(data, config, seed=2, test=False).metrics
    assert not [name for name in metrics if name.startswith("test_")]
    assert {"val_hr", "val_full_ndcg"} <= set(metrics)


def test_search_returns_the_best_trials_configuration_from_the_space() -> None:
    data = synthetic_planted(n_users=150, n_items=150, seed=1)
    seen = []
    result = search(data, NeuMFConfig(epochs=2), trials=4, seed=1, on_trial=seen.append)
    assert [t.number for t in seen] == [0, 1, 2, 3]
    complete = [t for t in result.trials if t.state == "complete"]
    best = max(complete, key=lambda t: t.value or 0.0)
    assert result.best_value == pytest.approx(best.value)
    f = best.params["factors"]
    assert (result.best_config.gmf_dim, result.best_config.mlp_layers) == (f, (4 * f, 2 * f, f))
    assert result.best_config.lr == pytest.approx(best.params["lr"])
    assert set(best.params) == set(SPACE)
    assert result.metric == "val_full_ndcg"
    assert 1 <= result.best_config.epochs <= 2


def test_tune_writes_a_config_that_train_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tuned.json"
    argv = ["tune", "--synthetic", "planted", "--epochs", "2", "--trials", "3"]
    assert main([*argv, "--seeds", "0", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "trial   2" in printed
    assert "test_full_ndcg" in printed
    assert "±" in printed
    saved = json.loads(out.read_text())
    assert [r["seed"] for r in saved["repeats"]] == [0, 1]
    assert saved["summary"]["test_hr"]["std"] >= 0.0
    overrides = read_config_file(out)
    assert overrides == saved["config"]
    # train --config uses the file, and an option given on the command line wins over it.
    assert main(["train", "--synthetic", "planted", "--config", str(out), "--epochs", "1"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["test_hr"] > 0.0


def test_a_bad_config_file_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"config": {"lr": -1, "gmf_dim": 8}}))
    assert main(["train", "--synthetic", "planted", "--config", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == "error: Invalid config: lr must be a positive number."
    missing = tmp_path / "missing.json"
    assert main(["train", "--synthetic", "planted", "--config", str(missing)]) == 2
    assert "cannot read the config file" in capsys.readouterr().err
