"""Training loop: split, fresh negatives each epoch, best epoch on validation, test metrics.

The epoch is chosen on full-catalogue validation NDCG@K by default (config.selection): the
sampled HR@K of the NCF paper is still computed and reported, but choosing on it picks the epoch
whose top K is nearest the best-seller list (Krichene and Rendle, KDD 2020).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recommender.engine.config import ModelKind, NeuMFConfig, NeuMFModel, SupportsSampledEpoch
from recommender.engine.data import IdMap, Interactions
from recommender.engine.metrics import (
    NonFiniteScores,
    PairScorer,
    SeenItems,
    UserScorer,
    full_catalogue_metrics,
    full_catalogue_ranks,
    hr_ndcg_from_ranks,
    personalisation,
    sampled_metrics,
)
from recommender.engine.sampling import NegativeSampler
from recommender.engine.split import Split, leave_one_out

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.floating]
Weights = dict[str, FloatArray]
# After pre-training, He et al. switch to plain SGD so that Adam's fresh moment estimates do not
# throw the fused towers off their optimum. Both backends implement Adam only, so we keep Adam
# and take a learning rate ten times smaller (config.extra["pretrain_lr"] overrides it).
PRETRAIN_LR_FACTOR = 0.1
# Full-catalogue metrics score every movie for each user they cover. Validation (every epoch)
# and the final test cover every user while that costs at most FULL_EVAL_PAIRS (user, movie)
# pairs, else a fixed random subset of that size and never fewer than FULL_EVAL_MIN_USERS users:
# all of ML-1M (6,040 x 3,706 = 22 M pairs), 1,000 users at ML-32M's 87,585 movies, where all
# 200,948 would cost 17.6 billion pairs, as much as the whole precompute, per epoch.
FULL_EVAL_PAIRS = 50_000_000
FULL_EVAL_MIN_USERS = 1_000


def full_eval_rows(n_rows: int, n_items: int, seed: int) -> NDArray[np.int64]:
    """Which of n_rows held-out users full-catalogue metrics cover (sorted, fixed by seed)."""
    cap = max(FULL_EVAL_MIN_USERS, FULL_EVAL_PAIRS // max(n_items, 1))
    if n_rows <= cap:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, cap, replace=False))


class TrainingDiverged(ValueError):
    """The training loss or the model's scores became NaN or infinite: the run has no model and
    no metrics (a NaN model would otherwise rank every held-out item first and score HR 1.0)."""


def _diverged_message(phase: str, epoch: int, what: str, config: NeuMFConfig) -> str:
    return (
        f"training diverged in {phase} epoch {epoch}: {what} (lr {config.lr:g}; "
        "try a smaller learning rate)"
    )


@dataclass(frozen=True)
class EpochReport:
    """One epoch: training loss (mean BCE), validation HR/NDCG@K of the weights after it (among
    99 sampled negatives, and full-catalogue Recall/NDCG@K), the training seconds (sampling
    included, evaluation not) and training rows per second."""

    epoch: int  # 1-based within its phase
    loss: float
    val_hr: float
    val_ndcg: float
    seconds: float
    rows_per_s: float
    eval_seconds: float = 0.0
    phase: str = "neumf"  # "gmf" / "mlp" while pre-training, then the config's model
    val_full_recall: float = 0.0
    val_full_ndcg: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FitResult:
    """The trained model with its best-on-validation weights loaded, and how it got there.

    metrics: val_hr, val_ndcg, val_full_recall, val_full_ndcg (best epoch), test_hr, test_ndcg
    (sampled: 1 + 99 candidates), test_full_recall, test_full_ndcg (all items the user has not
    seen), all @config.top_k; test_coverage and test_popularity_percentile describe the test
    users' top-K lists (see metrics.personalisation).
    """

    model: NeuMFModel
    config: NeuMFConfig
    backend: str
    device: str
    seed: int
    users: IdMap
    items: IdMap
    split: Split
    fingerprint: str
    history: list[EpochReport] = field(default_factory=list)
    best_epoch: int = 0  # 1-based epoch of the final phase; 0 = no epoch improved on the start
    metrics: dict[str, float] = field(default_factory=dict)
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def weights(self) -> Weights:
        return self.model.get_weights()


def make_model(
    backend: str,
    n_users: int,
    n_items: int,
    config: NeuMFConfig,
    *,
    seed: int,
    device: str = "auto",
) -> NeuMFModel:
    """A fresh model of either backend; torch is imported only when asked for."""
    if backend == "numpy":
        from recommender.engine.neumf_numpy import NeuMFNumpy

        return NeuMFNumpy(n_users, n_items, config, seed=seed)
    if backend == "torch":
        from recommender.engine.neumf_torch import NeuMFTorch

        return NeuMFTorch(n_users, n_items, config, seed=seed, device=device)
    raise ValueError(f"unknown backend {backend!r}; use 'numpy' or 'torch'")


def device_name(model: NeuMFModel) -> str:
    """'cpu' for NumPy, else the torch device's type ('cuda', 'mps', 'cpu')."""
    device = getattr(model, "device", None)
    return "cpu" if device is None else str(getattr(device, "type", device))


def evaluate(
    predict: PairScorer,
    score_users: UserScorer,
    split: Split,
    k: int,
    *,
    full: bool = True,
) -> dict[str, float]:
    """Test metrics of any scorer: sampled HR/NDCG@K over every test user and, if `full`,
    full-catalogue Recall/NDCG@K with each user's train and validation items excluded
    (everything seen before the test item), over the users of full_eval_rows (all of them
    unless the catalogue is large)."""
    sampled = sampled_metrics(predict, split.test_users, split.test_items, split.test_candidates, k)
    out = {"test_hr": sampled.hr, "test_ndcg": sampled.ndcg}
    if full:
        seen = SeenItems(
            np.concatenate((split.train_users, split.val_users)),
            np.concatenate((split.train_items, split.val_items)),
            split.n_users,
        )
        rows = full_eval_rows(split.test_users.shape[0], split.n_items, seed=0)
        users, items = split.test_users[rows], split.test_items[rows]
        top = np.empty((users.shape[0], min(k, split.n_items)), dtype=np.int64)
        ranks = full_catalogue_ranks(score_users, users, items, seen, split.n_items, top=top)
        ranked = hr_ndcg_from_ranks(ranks, k)
        spread = personalisation(top, np.bincount(split.train_items, minlength=split.n_items))
        out.update(
            test_full_recall=ranked.hr,
            test_full_ndcg=ranked.ndcg,
            test_coverage=spread.coverage,
            test_popularity_percentile=spread.popularity_percentile,
        )
    return out


# Per config.selection, the metric (a FitResult.metrics and EpochReport name) that chooses the
# epoch, the search's trial and the pipeline's activation.
SELECTION_METRIC = {"full": "val_full_ndcg", "sampled": "val_hr"}


@dataclass(frozen=True)
class Validation:
    """One validation of a model: sampled HR/NDCG@K and full-catalogue Recall/NDCG@K."""

    hr: float
    ndcg: float
    full_recall: float
    full_ndcg: float

    def key(self, selection: str) -> tuple[float, float]:
        """What "better" means for epoch choice and activation: larger is better."""
        if selection == "sampled":
            return (self.hr, self.ndcg)
        return (self.full_ndcg, self.full_recall)


class Validator:
    """Scores a model on the split's validation items, sampled and full-catalogue. The full
    ranking masks each user's training items and covers the users of full_eval_rows (a fixed
    subset drawn with `seed` in a large catalogue, the same for every epoch)."""

    def __init__(self, split: Split, k: int, *, seed: int) -> None:
        self.split, self.k = split, k
        rows = full_eval_rows(split.val_users.shape[0], split.n_items, seed)
        self.full_users = split.val_users[rows]
        self.full_items = split.val_items[rows]
        self.seen = SeenItems(split.train_users, split.train_items, split.n_users)

    def __call__(self, model: NeuMFModel) -> Validation:
        return self.score(model.predict, model.score_users)

    def score(self, predict: PairScorer, score_users: UserScorer) -> Validation:
        """Any scorer's validation. Raises NonFiniteScores when it scores NaN or +inf."""
        split, k = self.split, self.k
        sampled = sampled_metrics(
            predict, split.val_users, split.val_items, split.val_candidates, k
        )
        full = full_catalogue_metrics(
            score_users, self.full_users, self.full_items, self.seen, split.n_items, k
        )
        return Validation(
            hr=sampled.hr, ndcg=sampled.ndcg, full_recall=full.hr, full_ndcg=full.ndcg
        )


@dataclass
class _Phase:
    best_weights: Weights
    best_epoch: int
    best: Validation
    cancelled: bool


class _EpochRunner:
    """One training pass at a time over fixed positives, with fresh negatives each pass (drawn
    on the device for a torch model off the CPU, so the rows never cross the bus)."""

    def __init__(
        self,
        model: NeuMFModel,
        users: NDArray[np.int64],
        items: NDArray[np.int64],
        config: NeuMFConfig,
        *,
        seed: int,
    ) -> None:
        self.model, self.users, self.items, self.config = model, users, items, config
        on_device = isinstance(model, SupportsSampledEpoch) and device_name(model) != "cpu"
        self.sampler = (
            None if on_device else NegativeSampler(users, items, model.n_items, config.negatives)
        )
        self.rng = np.random.default_rng(seed)
        self.epoch = 0

    def run(self) -> float:
        """Train one epoch, at config.lr * config.lr_decay**epoch; its mean loss (NaN or inf
        when training diverged)."""
        config = self.config
        self.model.set_lr(config.lr * config.lr_decay**self.epoch)
        self.epoch += 1
        # Overflow on the way to a NaN is reported once, as TrainingDiverged, not as a
        # RuntimeWarning from every optimizer step.
        with np.errstate(over="ignore", invalid="ignore"):
            if self.sampler is None:
                assert isinstance(self.model, SupportsSampledEpoch)
                return self.model.train_epoch_sampled(
                    self.users,
                    self.items,
                    negatives=config.negatives,
                    batch_size=config.batch_size,
                    seed=int(self.rng.integers(0, 2**62)),
                )
            rows = self.sampler.epoch(self.rng)
            return self.model.train_epoch(
                rows.users, rows.items, rows.labels, batch_size=config.batch_size
            )


def _train_phase(
    model: NeuMFModel,
    split: Split,
    config: NeuMFConfig,
    *,
    epochs: int,
    phase: str,
    seed: int,
    validator: Validator,
    history: list[EpochReport],
    on_epoch: Callable[[EpochReport], None] | None,
    should_stop: Callable[[], bool] | None,
) -> _Phase:
    """Train `epochs` epochs, keeping the weights of the best validation epoch by
    config.selection (see Validation.key); stop early after config.patience epochs without
    improvement, or when asked. Raises TrainingDiverged as soon as the loss or the validation
    scores are not finite."""
    k = config.top_k
    try:
        start = validator(model)
    except NonFiniteScores as exc:
        raise TrainingDiverged(_diverged_message(phase, 0, str(exc), config)) from exc
    best = _Phase(model.get_weights(), 0, start, cancelled=False)
    epoch_of = _EpochRunner(model, split.train_users, split.train_items, config, seed=seed)
    rows = split.train_users.shape[0] * (1 + config.negatives)
    stale = 0
    for epoch in range(1, epochs + 1):
        if should_stop is not None and should_stop():
            logger.info("%s: stopped on request before epoch %d", phase, epoch)
            best.cancelled = True
            break
        started = time.perf_counter()
        loss = epoch_of.run()
        seconds = time.perf_counter() - started
        if not np.isfinite(loss):
            raise TrainingDiverged(_diverged_message(phase, epoch, f"the loss is {loss}", config))
        evaluated = time.perf_counter()
        try:
            val = validator(model)
        except NonFiniteScores as exc:
            raise TrainingDiverged(_diverged_message(phase, epoch, str(exc), config)) from exc
        report = EpochReport(
            epoch=epoch,
            loss=float(loss),
            val_hr=val.hr,
            val_ndcg=val.ndcg,
            seconds=seconds,
            rows_per_s=rows / seconds if seconds > 0 else float("inf"),
            eval_seconds=time.perf_counter() - evaluated,
            phase=phase,
            val_full_recall=val.full_recall,
            val_full_ndcg=val.full_ndcg,
        )
        history.append(report)
        logger.info(
            "%s epoch %d: loss %.4f, val HR@%d %.4f, NDCG@%d %.4f, full Recall %.4f NDCG %.4f,"
            " %.1f s",
            phase, epoch, report.loss, k, val.hr, k, val.ndcg, val.full_recall, val.full_ndcg,
            seconds,
        )  # fmt: skip
        if on_epoch is not None:
            on_epoch(report)
        if val.key(config.selection) > best.best.key(config.selection):
            best = _Phase(model.get_weights(), epoch, val, cancelled=False)
            stale = 0
        else:
            stale += 1
            if config.patience is not None and stale >= config.patience:
                logger.info("%s: no better validation for %d epochs; stopping", phase, stale)
                break
    model.set_weights(best.best_weights)
    return best


def _refit(
    backend: str, split: Split, config: NeuMFConfig, epochs: int, *, seed: int, device: str
) -> NeuMFModel:
    """A fresh model trained `epochs` epochs on the split's train and validation pairs."""
    model = make_model(backend, split.n_users, split.n_items, config, seed=seed, device=device)
    users = np.concatenate((split.train_users, split.val_users))
    items = np.concatenate((split.train_items, split.val_items))
    runner = _EpochRunner(model, users, items, config, seed=seed)
    for epoch in range(1, epochs + 1):
        loss = runner.run()
        if not np.isfinite(loss):
            raise TrainingDiverged(_diverged_message("refit", epoch, f"the loss is {loss}", config))
        logger.info("refit epoch %d of %d: loss %.4f", epoch, epochs, loss)
    return model


def fit(
    data: Interactions,
    config: NeuMFConfig,
    *,
    backend: str = "numpy",
    device: str = "auto",
    seed: int = 0,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    pretrain: bool = False,
    split: Split | None = None,
    test: bool = True,
    refit: bool = False,
) -> FitResult:
    """Train NeuMF (or GMF / MLP, per config.model) on a leave-one-out split of `data`.

    Each epoch draws config.negatives fresh negatives per training positive, trains one pass,
    and scores the validation items; the weights of the best validation epoch are kept (the test
    items are never looked at while training) and then scored on the test items, sampled and
    full-catalogue. `split` reuses a split (made with the same data) instead of drawing one from
    `seed`. `should_stop()` is polled before each epoch; a stopped run still returns the best
    weights so far with cancelled=True.

    pretrain: train GMF and MLP first (config.extra["pretrain_epochs"], default config.epochs,
    each), fuse them with config.alpha (He et al., section 3.4.1) and continue NeuMF with
    lr = config.extra["pretrain_lr"], default config.lr * PRETRAIN_LR_FACTOR (see above).

    test=False leaves the test items alone (no test_* metrics): hyper-parameter search uses it,
    so that nothing it chooses can depend on them.

    refit=True then trains a fresh model on train + validation for the chosen number of epochs
    and scores that one on the test items (what the paper's protocol amounts to: the validation
    item only picks the epoch, then it is training data too). The metrics' val_* stay those of
    the selection run; refit_epochs records the epochs. Not with `pretrain`.

    Raises TrainingDiverged when a loss or the model's scores become NaN or infinite: a diverged
    run gets no metrics (NaN scores would rank every held-out item first).
    """
    started = time.perf_counter()
    if refit and pretrain:
        raise ValueError("refit does not apply with pretrain: the towers saw train only")
    if split is None:
        split = leave_one_out(data, seed=seed)
    if (split.n_users, split.n_items) != (data.n_users, data.n_items):
        raise ValueError("split was made from other data")
    history: list[EpochReport] = []
    common: dict[str, Any] = {
        "validator": Validator(split, config.top_k, seed=seed),
        "history": history,
        "on_epoch": on_epoch,
        "should_stop": should_stop,
    }
    train_config = config
    initial: Weights | None = None
    cancelled = False
    if pretrain:
        if config.model != "neumf":
            raise ValueError("pre-training applies to model='neumf' only")
        from recommender.engine.neumf_numpy import fuse_pretrained

        pre_epochs = int(config.extra.get("pretrain_epochs", config.epochs))
        towers: dict[str, Weights] = {}
        kinds: tuple[ModelKind, ModelKind] = ("gmf", "mlp")
        for offset, kind in enumerate(kinds, start=1):
            tower_config = replace(config, model=kind)
            tower = make_model(
                backend, data.n_users, data.n_items, tower_config, seed=seed + offset, device=device
            )
            done = _train_phase(
                tower, split, tower_config, epochs=pre_epochs, phase=kind, seed=seed + offset,
                **common,
            )  # fmt: skip
            towers[kind] = tower.get_weights()
            cancelled = cancelled or done.cancelled
        initial = fuse_pretrained(towers["gmf"], towers["mlp"], config.alpha)
        lr = float(config.extra.get("pretrain_lr", config.lr * PRETRAIN_LR_FACTOR))
        train_config = replace(config, lr=lr)
    model = make_model(backend, data.n_users, data.n_items, train_config, seed=seed, device=device)
    if initial is not None:
        model.set_weights(initial)
    if cancelled:
        best = _Phase(model.get_weights(), 0, Validation(0.0, 0.0, 0.0, 0.0), cancelled=True)
    else:
        best = _train_phase(
            model, split, train_config, epochs=config.epochs, phase=config.model, seed=seed,
            **common,
        )  # fmt: skip
    if refit and not (best.cancelled or cancelled) and best.best_epoch > 0:
        model = _refit(backend, split, train_config, best.best_epoch, seed=seed, device=device)
    metrics = {
        "val_hr": best.best.hr,
        "val_ndcg": best.best.ndcg,
        "val_full_recall": best.best.full_recall,
        "val_full_ndcg": best.best.full_ndcg,
    }
    if refit:
        metrics["refit_epochs"] = float(best.best_epoch)
    try:
        if test:
            metrics.update(evaluate(model.predict, model.score_users, split, config.top_k))
    except NonFiniteScores as exc:
        raise TrainingDiverged(
            _diverged_message(config.model, best.best_epoch, str(exc), train_config)
        ) from exc
    result = FitResult(
        model=model,
        config=config,
        backend=backend,
        device=device_name(model),
        seed=seed,
        users=data.users,
        items=data.items,
        split=split,
        fingerprint=data.fingerprint(),
        history=history,
        best_epoch=best.best_epoch,
        metrics=metrics,
        cancelled=best.cancelled or cancelled,
        seconds=time.perf_counter() - started,
    )
    logger.info(
        "fit done: best epoch %d, %s",
        result.best_epoch,
        ", ".join(f"{name} {value:.4f}" for name, value in metrics.items()),
    )
    return result
