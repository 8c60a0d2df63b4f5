"""Hyper-parameter search on validation only, then the chosen configuration over several seeds.

The search (Optuna: TPE sampler, median pruning on the per-epoch validation score) trains on
one leave-one-out split and scores each trial by the metric that picks epochs
(config.selection: full-catalogue validation NDCG@10 by default). `fit(test=False)` leaves the
test items alone during the search, so nothing chosen can depend on them. The best
configuration is then trained again on a fresh split per seed, and those runs' test metrics are
reported as mean and standard deviation.

The space (SPACE, below) follows He et al. (2017), section 4: predictive factors f tie the GMF
size and the MLP tower (4f -> 2f -> f, embeddings of 2f each side), plus the learning rate and
its decay per epoch, the L2 penalty on embedding rows, weight decay on the MLP's weights,
negatives per positive and the batch size.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from recommender.engine.config import NeuMFConfig
from recommender.engine.data import Interactions
from recommender.engine.split import leave_one_out
from recommender.engine.train import (
    SELECTION_METRIC,
    EpochReport,
    FitResult,
    TrainingDiverged,
    fit,
)

logger = logging.getLogger(__name__)

SPACE: dict[str, str] = {
    "factors": "one of 8, 16, 32, 64: gmf_dim = f, mlp_layers = (4f, 2f, f)",
    "lr": "log-uniform in [1e-4, 1e-2]",
    "l2": "log-uniform in [1e-7, 1e-2] (L2 on the embedding rows of each batch)",
    "weight_decay": "log-uniform in [1e-7, 1e-2] (the MLP's weight matrices; not for GMF alone)",
    "lr_decay": "uniform in [0.8, 1]: each epoch's learning rate is the last one's times this",
    "negatives": "integer in [1, 10]",
    "batch_size": "one of 128, 256, 512, 1024",
}
FACTORS = (8, 16, 32, 64)
BATCH_SIZES = (128, 256, 512, 1024)


def suggest(trial: Any, base: NeuMFConfig) -> NeuMFConfig:
    """A configuration of SPACE drawn by an Optuna trial; other fields come from `base`."""
    f = int(trial.suggest_categorical("factors", FACTORS))
    has_mlp = base.model != "gmf"
    return replace(
        base,
        gmf_dim=f,
        mlp_layers=(4 * f, 2 * f, f),
        lr=float(trial.suggest_float("lr", 1e-4, 1e-2, log=True)),
        l2=float(trial.suggest_float("l2", 1e-7, 1e-2, log=True)),
        weight_decay=(
            float(trial.suggest_float("weight_decay", 1e-7, 1e-2, log=True)) if has_mlp else 0.0
        ),
        lr_decay=float(trial.suggest_float("lr_decay", 0.8, 1.0)),
        negatives=int(trial.suggest_int("negatives", 1, 10)),
        batch_size=int(trial.suggest_categorical("batch_size", BATCH_SIZES)),
    )


@dataclass
class TrialReport:
    number: int
    state: str  # "complete", "pruned" or "failed"
    value: float | None
    params: dict[str, Any]
    epochs: int


@dataclass
class TuneResult:
    best_config: NeuMFConfig
    best_value: float
    metric: str
    trials: list[TrialReport]
    repeats: list[FitResult] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and sample standard deviation over the repeats of every metric they share."""
        if not self.repeats:
            return {}
        names = set.intersection(*(set(r.metrics) for r in self.repeats))
        out = {}
        for name in sorted(names):
            values = np.array([r.metrics[name] for r in self.repeats], dtype=np.float64)
            std = float(values.std(ddof=1)) if values.shape[0] > 1 else 0.0
            out[name] = {"mean": float(values.mean()), "std": std}
        return out

    def to_dict(self) -> dict[str, Any]:
        """What `tune --out` writes and `train --config` / RECSITE_MODEL_CONFIG read."""
        config = self.best_config.to_dict()
        config.pop("extra", None)
        return {
            "config": config,
            "search": {
                "metric": self.metric,
                "best_value": self.best_value,
                "space": SPACE,
                "trials": [vars(t) for t in self.trials],
            },
            "repeats": [
                {"seed": r.seed, "best_epoch": r.best_epoch, "metrics": r.metrics}
                for r in self.repeats
            ],
            "summary": self.summary(),
        }


def search(
    data: Interactions,
    base: NeuMFConfig,
    *,
    trials: int,
    timeout: float | None = None,
    seed: int = 0,
    backend: str = "numpy",
    device: str = "auto",
    on_trial: Callable[[TrialReport], None] | None = None,
) -> TuneResult:
    """Optuna search over SPACE on one split of `data` (drawn with `seed`); each trial trains up
    to base.epochs epochs and is pruned when its validation score falls below the median of
    earlier trials at the same epoch. Test items are never scored."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    split = leave_one_out(data, seed=seed)
    metric = SELECTION_METRIC[base.selection]  # an EpochReport field and a metrics name

    def objective(trial: optuna.Trial) -> float:
        config = suggest(trial, base)

        def on_epoch(report: EpochReport) -> None:
            trial.report(float(getattr(report, metric)), step=report.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        try:
            result = fit(
                data, config, backend=backend, device=device, seed=seed, split=split,
                on_epoch=on_epoch, test=False,
            )  # fmt: skip
        except TrainingDiverged as exc:
            logger.info("trial %d diverged: %s", trial.number, exc)
            raise optuna.TrialPruned(str(exc)) from exc
        trial.set_user_attr("best_epoch", result.best_epoch)
        return float(result.metrics[metric])

    def report(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        if on_trial is not None:
            on_trial(_trial_report(frozen))

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2),
    )
    study.optimize(objective, n_trials=trials, timeout=timeout, callbacks=[report])
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise ValueError("no trial completed: every one was pruned or diverged")
    best = study.best_trial
    best_config = suggest(optuna.trial.FixedTrial(best.params), base)
    epochs = int(best.user_attrs.get("best_epoch", 0))
    if epochs > 0:
        # Train the chosen configuration about as long as its best epoch, with a little room.
        room = max(epochs + 2, math.ceil(epochs * 1.25))
        best_config = replace(best_config, epochs=min(base.epochs, room))
    assert best.value is not None  # a complete trial
    return TuneResult(
        best_config=best_config,
        best_value=float(best.value),
        metric=metric,
        trials=[_trial_report(t) for t in study.trials],
    )


def _trial_report(frozen: Any) -> TrialReport:
    """An Optuna FrozenTrial as a TrialReport."""
    return TrialReport(
        number=frozen.number,
        state=frozen.state.name.lower(),
        value=None if frozen.value is None else float(frozen.value),
        params=dict(frozen.params),
        epochs=len(frozen.intermediate_values),
    )


def repeat(
    data: Interactions,
    config: NeuMFConfig,
    seeds: Sequence[int],
    *,
    backend: str = "numpy",
    device: str = "auto",
    refit: bool = False,
    on_done: Callable[[FitResult], None] | None = None,
) -> list[FitResult]:
    """`config` trained on a fresh split per seed, each scored once on its test items (refit:
    see fit)."""
    results = []
    for seed in seeds:
        result = fit(data, config, backend=backend, device=device, seed=seed, refit=refit)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results
