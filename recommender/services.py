"""Writes of the recommender: training runs, model versions, precomputed lists, retrain triggers."""

from __future__ import annotations

import io
import logging
import shutil
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from catalog.models import Movie
from ratings.models import Profile, Rating
from recommender.adapters import ratings_snapshot
from recommender.coldstart import catalog_snapshot, taste_affinities
from recommender.engine import coldstart as cs
from recommender.engine.artifacts import META_FILE, read_meta, save_artifact, sha256_file
from recommender.engine.config import NeuMFConfig
from recommender.engine.metrics import sampled_metrics
from recommender.engine.similarity import co_rating_neighbours
from recommender.engine.train import EpochReport, FitResult, evaluate, fit
from recommender.models import (
    FINISHED_STATUSES,
    IN_FLIGHT_STATUSES,
    Backend,
    ModelVersion,
    Recommendation,
    TrainingLock,
    TrainingRun,
)

logger = logging.getLogger(__name__)

LOCK_NAME = "training"
SEED = 0  # the split and the initial weights: equal data, equal run
MAX_ATTEMPTS = 3  # deliveries that start training before a run is given up as failing
KEEP_PRECOMPUTED_VERSIONS = 2  # the active version and the one before it keep their lists
# How long a publish may retry before the broker counts as unreachable (seconds in total).
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}


class TrainingError(Exception):
    """Base of the pipeline's errors; `code` is stable for the API's JSON errors."""

    code = "training_error"


class TrainingAlreadyRunning(TrainingError):
    """A run is queued or running (the API answers 409)."""

    code = "training_in_progress"

    def __init__(self, run_id: int | None) -> None:
        self.run_id = run_id
        super().__init__(
            f"Training run {run_id} is already queued or running; wait for it or cancel it."
            if run_id
            else "A training run is already queued or running."
        )


class BrokerUnavailable(TrainingError):
    """The task broker did not take the run (the API answers 503); the run is marked failed."""

    code = "broker_unavailable"


class InvalidTrainingConfig(TrainingError, ValueError):
    code = "invalid_config"


class NotEnoughData(TrainingError):
    code = "not_enough_data"


class TrainingLockBusy(TrainingError):
    """Another live execution holds the training lock; try again once it could have lapsed."""

    code = "training_locked"

    def __init__(self, holder_id: int | None, retry_in: float) -> None:
        self.holder_id = holder_id
        self.retry_in = retry_in
        super().__init__(f"Training run {holder_id} holds the training lock.")


class TrainingLockLost(TrainingError):
    """Our lock lapsed and someone else took it over: stop without touching the run."""

    code = "training_lock_lost"


class ModelVersionError(TrainingError):
    code = "model_version_error"


# -- configuration ----------------------------------------------------------------------------

_CONFIG_FIELDS = {f.name for f in fields(NeuMFConfig)}


def training_config_parse(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Overrides of the engine's default NeuMFConfig, validated; the JSON stored on the run."""
    overrides = dict(config or {})
    unknown = sorted(set(overrides) - _CONFIG_FIELDS)
    if unknown:
        raise InvalidTrainingConfig(
            f"Unknown config keys {unknown}; allowed: {sorted(_CONFIG_FIELDS)}."
        )
    try:
        parsed = NeuMFConfig.from_dict({**NeuMFConfig().to_dict(), **overrides})
    except (TypeError, ValueError) as exc:
        raise InvalidTrainingConfig(f"Invalid config: {exc}") from exc
    problems = []
    for name in ("gmf_dim", "negatives", "batch_size", "epochs", "top_k"):
        value = getattr(parsed, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{name} must be a positive integer")
    if not parsed.mlp_layers or any(int(x) < 1 for x in parsed.mlp_layers):
        problems.append("mlp_layers must be positive integers")
    elif parsed.mlp_layers[0] % 2:
        problems.append("the first of mlp_layers must be even (2 x the MLP embedding size)")
    if not isinstance(parsed.lr, int | float) or not parsed.lr > 0:
        problems.append("lr must be a positive number")
    if not isinstance(parsed.l2, int | float) or parsed.l2 < 0:
        problems.append("l2 must be zero or more")
    if parsed.model not in ("neumf", "gmf", "mlp"):
        problems.append("model must be neumf, gmf or mlp")
    if parsed.dtype not in ("float32", "float64"):
        problems.append("dtype must be float32 or float64")
    if problems:
        raise InvalidTrainingConfig("Invalid config: " + "; ".join(problems) + ".")
    return parsed.to_dict()


# -- starting, cancelling, reaping ------------------------------------------------------------


def training_run_create(
    *,
    backend: str,
    config: Mapping[str, Any] | None,
    trigger: str,
    user: AbstractBaseUser | None = None,
    force: bool = False,
) -> TrainingRun:
    """A queued run, refused while another is queued or running (the DB enforces it too)."""
    if backend not in Backend.values:
        raise InvalidTrainingConfig(f"Unknown backend {backend!r}; use one of {Backend.values}.")
    if trigger not in TrainingRun.Trigger.values:
        raise InvalidTrainingConfig(f"Unknown trigger {trigger!r}.")
    parsed = training_config_parse(config)
    triggered_by = user if user is not None and getattr(user, "pk", None) else None
    with transaction.atomic():
        busy = TrainingRun.objects.filter(status__in=IN_FLIGHT_STATUSES).values_list("pk").first()
        if busy:
            raise TrainingAlreadyRunning(busy[0])
        try:
            with transaction.atomic():
                run = TrainingRun.objects.create(
                    backend=backend,
                    config=parsed,
                    trigger=trigger,
                    triggered_by=triggered_by,
                    force=bool(force),
                )
        except IntegrityError as exc:  # a concurrent trigger won the race
            raise TrainingAlreadyRunning(None) from exc
    logger.info("training run %s queued (%s, %s, force=%s)", run.pk, backend, trigger, force)
    return run


def training_run_start(
    *,
    backend: str,
    config: Mapping[str, Any] | None = None,
    trigger: str,
    user: AbstractBaseUser | None = None,
    force: bool = False,
) -> TrainingRun:
    """Queue a run and hand it to a worker after commit, followed by the precompute.

    Raises TrainingAlreadyRunning (409), InvalidTrainingConfig (400), BrokerUnavailable (503:
    the run is then marked failed, so it does not block the next trigger)."""
    run = training_run_create(
        backend=backend, config=config, trigger=trigger, user=user, force=force
    )
    transaction.on_commit(lambda: _training_run_enqueue(run.pk))
    return run


def _training_run_enqueue(training_run_id: int) -> None:
    from recommender import tasks  # tasks import this module

    flow = tasks.training_run_execute.si(
        training_run_id
    ) | tasks.model_version_precompute_for_run.si(training_run_id)
    try:
        result = flow.apply_async(retry=True, retry_policy=PUBLISH_RETRY)
    except (BrokerError, OSError) as exc:
        logger.error("broker unreachable; training run %s marked failed: %s", training_run_id, exc)
        TrainingRun.objects.filter(pk=training_run_id, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.FAILED,
            error=f"The task broker is unreachable: {exc}",
            finished=timezone.now(),
        )
        raise BrokerUnavailable(f"The task broker is unreachable: {exc}") from exc
    first = result.parent if result.parent is not None else result
    TrainingRun.objects.filter(pk=training_run_id).update(celery_task_id=str(first.id or ""))


def training_run_cancel(*, training_run: TrainingRun) -> TrainingRun:
    """Cancel a queued run at once; ask a running one to stop before its next epoch."""
    now = timezone.now()
    stopped = TrainingRun.objects.filter(
        pk=training_run.pk, status=TrainingRun.Status.QUEUED
    ).update(status=TrainingRun.Status.CANCELLED, cancel_requested=True, finished=now, error="")
    if not stopped:
        TrainingRun.objects.filter(pk=training_run.pk, status=TrainingRun.Status.RUNNING).update(
            cancel_requested=True
        )
    training_run.refresh_from_db()
    return training_run


def training_runs_reap() -> list[int]:
    """Runs whose worker died (no heartbeat for a lock period): queue them again, or fail them
    after MAX_ATTEMPTS. Called by beat and when a worker starts. Returns the run ids touched."""
    ttl = _lock_seconds()
    stale_before = timezone.now() - timedelta(seconds=ttl)
    lock = TrainingLock.objects.filter(name=LOCK_NAME).first()
    live_run = (
        lock.training_run_id
        if lock is not None and lock.expires_at is not None and lock.expires_at > timezone.now()
        else None
    )
    stale = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).filter(
        # No heartbeat at all: the worker died before its first write after taking the run.
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True)
    )
    touched = []
    for run in stale.exclude(pk=live_run) if live_run else stale:
        touched.append(run.pk)
        if run.attempts >= MAX_ATTEMPTS:
            _run_finish(
                run.pk,
                TrainingRun.Status.FAILED,
                error=f"The worker was lost {run.attempts} times; giving up.",
            )
            continue
        logger.warning("training run %s lost its worker; queued again", run.pk)
        try:
            _training_run_enqueue_again(run.pk)
        except BrokerUnavailable:
            logger.exception("could not queue training run %s again", run.pk)
    return touched


def _training_run_enqueue_again(training_run_id: int) -> None:
    from recommender import tasks

    flow = tasks.training_run_execute.si(
        training_run_id
    ) | tasks.model_version_precompute_for_run.si(training_run_id)
    try:
        flow.apply_async(retry=True, retry_policy=PUBLISH_RETRY)
    except (BrokerError, OSError) as exc:
        raise BrokerUnavailable(str(exc)) from exc


# -- the lock ---------------------------------------------------------------------------------


def _lock_seconds() -> float:
    return float(getattr(settings, "RECSITE_TRAINING_LOCK_SECONDS", 900))


def _lock_acquire(*, training_run_id: int, token: str) -> bool:
    """Take the lock if it is free or lapsed: one conditional UPDATE, atomic on every backend."""
    TrainingLock.objects.get_or_create(name=LOCK_NAME)
    now = timezone.now()
    taken = (
        TrainingLock.objects.filter(name=LOCK_NAME)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now))
        .update(
            token=token,
            training_run_id=training_run_id,
            expires_at=now + timedelta(seconds=_lock_seconds()),
        )
    )
    return taken == 1


def _lock_renew(*, training_run_id: int, token: str) -> None:
    now = timezone.now()
    renewed = TrainingLock.objects.filter(name=LOCK_NAME, token=token).update(
        expires_at=now + timedelta(seconds=_lock_seconds())
    )
    if not renewed:
        raise TrainingLockLost(f"training run {training_run_id} lost the training lock")
    TrainingRun.objects.filter(pk=training_run_id).update(heartbeat_at=now)


def _lock_release(*, token: str) -> None:
    TrainingLock.objects.filter(name=LOCK_NAME, token=token).update(
        token="", training_run=None, expires_at=None
    )


# -- executing a run --------------------------------------------------------------------------


def _run_finish(training_run_id: int, status: str, **values: Any) -> None:
    TrainingRun.objects.filter(pk=training_run_id).update(
        status=status, finished=timezone.now(), **values
    )


def training_run_execute(
    *,
    training_run_id: int,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> int | None:
    """Train one queued run to the end; idempotent, so a second delivery is harmless.

    Returns the new ModelVersion id, or None (already finished, cancelled, failed, or being
    trained by another live execution). Failures are recorded on the run and never change the
    active version. Raises TrainingLockBusy when another run holds the lock."""
    run = TrainingRun.objects.filter(pk=training_run_id).first()
    if run is None:
        logger.warning("training run %s does not exist; nothing to do", training_run_id)
        return None
    if run.status in FINISHED_STATUSES:
        logger.info("training run %s is already %s", run.pk, run.status)
        return None
    if run.cancel_requested:
        _run_finish(run.pk, TrainingRun.Status.CANCELLED)
        return None
    token = uuid.uuid4().hex
    if not _lock_acquire(training_run_id=run.pk, token=token):
        lock = TrainingLock.objects.get(name=LOCK_NAME)
        if lock.training_run_id == run.pk:
            logger.info("training run %s is being trained by another worker", run.pk)
            return None
        left = (lock.expires_at - timezone.now()).total_seconds() if lock.expires_at else 0
        raise TrainingLockBusy(lock.training_run_id, max(5.0, left + 1))
    try:
        if run.attempts >= MAX_ATTEMPTS:
            _run_finish(
                run.pk,
                TrainingRun.Status.FAILED,
                error=f"Gave up after {run.attempts} attempts that did not finish.",
            )
            return None
        return _train(run, token=token, on_epoch=on_epoch)
    except TrainingLockLost:
        logger.warning("training run %s: lock taken over by another execution; stopped", run.pk)
        return None
    except Exception as exc:
        logger.exception("training run %s failed", run.pk)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        _run_finish(run.pk, TrainingRun.Status.FAILED, error=detail[:4000])
        return None
    finally:
        _lock_release(token=token)


def _train(
    run: TrainingRun, *, token: str, on_epoch: Callable[[EpochReport], None] | None
) -> int | None:
    started = timezone.now()
    timings: dict[str, float] = {}
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.RUNNING,
        started=started,
        heartbeat_at=started,
        attempts=run.attempts + 1,
        epochs=[],
        error="",
        decision="",
    )
    clock = time.perf_counter()
    snapshot = ratings_snapshot()
    data = snapshot.interactions
    timings["snapshot"] = time.perf_counter() - clock
    _lock_renew(training_run_id=run.pk, token=token)
    if snapshot.n_ratings == 0:
        raise NotEnoughData("There are no ratings to train on.")
    per_user = np.bincount(data.user_idx, minlength=data.n_users)
    if not np.any(per_user >= 3):
        raise NotEnoughData("No user has 3 ratings: nothing to validate or test on.")
    if data.n_items < 2:
        raise NotEnoughData("Fewer than 2 rated movies: nothing to rank.")
    TrainingRun.objects.filter(pk=run.pk).update(
        n_users=data.n_users,
        n_items=data.n_items,
        n_ratings=len(data),
        ratings_until=snapshot.until,
    )
    config = NeuMFConfig.from_dict(run.config)
    device = "cpu" if run.backend == Backend.NUMPY else settings.RECSITE_DEVICE
    epochs: list[dict[str, Any]] = []

    def epoch_done(report: EpochReport) -> None:
        epochs.append(report.to_dict())
        # Written after every epoch, so the dashboard shows progress while it runs.
        TrainingRun.objects.filter(pk=run.pk).update(epochs=epochs)
        _lock_renew(training_run_id=run.pk, token=token)
        if on_epoch is not None:
            on_epoch(report)

    def stop_requested() -> bool:
        return TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists()

    clock = time.perf_counter()
    result = fit(
        data,
        config,
        backend=run.backend,
        device=device,
        seed=SEED,
        on_epoch=epoch_done,
        should_stop=stop_requested,
    )
    timings["train"] = time.perf_counter() - clock
    if result.cancelled:
        _run_finish(run.pk, TrainingRun.Status.CANCELLED, timings=timings, device=result.device)
        logger.info("training run %s cancelled after %d epochs", run.pk, len(epochs))
        return None
    broken = sorted(k for k, v in result.weights.items() if not np.all(np.isfinite(v)))
    if broken or not all(np.isfinite(v) for v in result.metrics.values()):
        raise ArithmeticError(f"Training diverged: non-finite weights in {broken or 'metrics'}.")
    _lock_renew(training_run_id=run.pk, token=token)

    clock = time.perf_counter()
    # "More like this" neighbours from every rating of the snapshot (liked ones co-occurring),
    # in the model's item order: data's id map is the one fit trained with.
    neighbours = co_rating_neighbours(
        data.user_idx, data.item_idx, data.n_users, data.n_items, scores=snapshot.scores
    )
    timings["neighbours"] = time.perf_counter() - clock
    _lock_renew(training_run_id=run.pk, token=token)

    clock = time.perf_counter()
    name = f"run-{run.pk}"
    directory = _artifact_save(result, name, training_run_id=run.pk, neighbours=neighbours)
    timings["save"] = time.perf_counter() - clock

    clock = time.perf_counter()
    active = ModelVersion.objects.filter(is_active=True).first()
    activate, decision, baseline = _activation_decision(result, active, force=run.force)
    timings["compare"] = time.perf_counter() - clock
    _lock_renew(training_run_id=run.pk, token=token)

    metrics = {k: float(v) for k, v in result.metrics.items()}
    with transaction.atomic():
        version = ModelVersion.objects.create(
            training_run=run,
            backend=run.backend,
            artifact_path=name,
            checksum=sha256_file(directory / META_FILE),
            metrics=metrics,
            data_fingerprint=result.fingerprint,
            n_users=data.n_users,
            n_items=data.n_items,
            n_ratings=len(data),
        )
        if activate:
            model_version_activate(version=version, precompute=False)
        _run_finish(
            run.pk,
            TrainingRun.Status.SUCCEEDED,
            test_metrics={**metrics, **baseline},
            best_epoch=result.best_epoch,
            device=result.device,
            timings={**timings, "total": (timezone.now() - started).total_seconds()},
            decision=decision,
            heartbeat_at=timezone.now(),
        )
    logger.info("training run %s succeeded: version %s; %s", run.pk, version.pk, decision)
    return version.pk


def _artifact_save(
    result: FitResult,
    name: str,
    *,
    training_run_id: int,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write the artifact next to its final place and rename it in (the engine does the atomic
    part); leftovers of a killed attempt of this run are removed first."""
    root = Path(settings.ARTIFACT_DIR)
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(f".{name}.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return save_artifact(
        root / name,
        result,
        extra={"training_run_id": training_run_id},
        neighbours=neighbours,
        overwrite=True,
    )


def _activation_decision(
    result: FitResult, active: ModelVersion | None, *, force: bool
) -> tuple[bool, str, dict[str, float]]:
    """Activate when no version is active, when forced, or when the new model's validation
    HR@K is not below the active version's on the new run's own validation users and candidates
    (same protocol). Selection looks at validation only: both test HRs are recorded and shown
    but never decide, so the test figure stays an unbiased report of the served model."""
    k = result.config.top_k
    new_val = float(result.metrics["val_hr"])
    if active is None:
        return True, "Activated: no version was active.", {}
    if force:
        return True, f"Activated (forced) over version {active.pk}.", {}
    try:
        baseline = _evaluate_version_on_split(active, result)
    except Exception as exc:
        logger.exception("active version %s could not be evaluated", active.pk)
        reason = str(exc)[:200]  # the decision column holds 300 characters
        return True, f"Activated: active version {active.pk} cannot be evaluated ({reason}).", {}
    old_val = baseline["active_val_hr"]
    reported = (
        f"test HR@{k} {float(result.metrics['test_hr']):.4f} vs "
        f"{baseline['active_test_hr']:.4f}, not used to decide"
    )
    if new_val >= old_val:
        return (
            True,
            f"Activated: validation HR@{k} {new_val:.4f} >= {old_val:.4f} of version "
            f"{active.pk} ({reported}).",
            baseline,
        )
    return (
        False,
        f"Not activated: validation HR@{k} {new_val:.4f} < {old_val:.4f} of active version "
        f"{active.pk} ({reported}).",
        baseline,
    )


def _evaluate_version_on_split(version: ModelVersion, result: FitResult) -> dict[str, float]:
    """Sampled HR/NDCG@K of a stored version on a new run's split: on its validation items
    (active_val_*, what the decision compares) and its test items (active_test_*, reported).
    Users and movies the older model never saw score -inf: it cannot recommend them, and ties
    count as misses."""
    from recommender.registry import load_version  # the one place that loads artifacts

    served = load_version(version)
    user_map = served.users.index(result.users.ids)  # [new n_users]: old index or -1
    item_map = served.items.index(result.items.ids)  # [new n_items]

    def predict(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        ou, oi = user_map[users], item_map[items]
        known = (ou >= 0) & (oi >= 0)
        out = np.full(users.shape[0], -np.inf, dtype=np.float64)  # [n]
        if known.any():
            out[known] = served.loaded.predict(ou[known], oi[known])
        return out

    split, k = result.split, result.config.top_k
    val = sampled_metrics(predict, split.val_users, split.val_items, split.val_candidates, k)
    test = evaluate(predict, served.loaded.score_users, split, k, full=False)
    return {
        "active_val_hr": float(val.hr),
        "active_val_ndcg": float(val.ndcg),
        **{f"active_{name}": float(value) for name, value in test.items()},
    }


def _artifact_dir(version: ModelVersion) -> Path:
    path = Path(version.artifact_path)
    return path if path.is_absolute() else Path(settings.ARTIFACT_DIR) / path


# -- model versions ---------------------------------------------------------------------------


def model_version_activate(*, version: ModelVersion, precompute: bool = True) -> ModelVersion:
    """Make `version` the one active version (the DB allows at most one); its artifact must be
    the one recorded. Queues its top-k precompute after commit unless it is done already."""
    directory = _artifact_dir(version)
    meta = directory / META_FILE
    if not meta.is_file():
        raise ModelVersionError(f"Version {version.pk}: its artifact {directory} is missing.")
    if version.checksum and sha256_file(meta) != version.checksum:
        raise ModelVersionError(f"Version {version.pk}: {meta} does not match its checksum.")
    now = timezone.now()
    with transaction.atomic():
        # Deactivate first: the partial unique index is checked per statement.
        ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True, activated_at=now)
        version.refresh_from_db()
        if precompute and version.precomputed_at is None:
            transaction.on_commit(lambda: _precompute_enqueue(version.pk))
    logger.info("model version %s activated", version.pk)
    return version


def model_version_rollback() -> ModelVersion:
    """Re-activate the version that was active before the current one."""
    active = ModelVersion.objects.filter(is_active=True).first()
    previous = (
        ModelVersion.objects.filter(activated_at__isnull=False)
        .exclude(pk=active.pk if active else None)
        .order_by("-activated_at", "-pk")
        .first()
    )
    if previous is None:
        raise ModelVersionError("There is no earlier active version to roll back to.")
    return model_version_activate(version=previous)


def _precompute_enqueue(model_version_id: int) -> None:
    from recommender import tasks

    try:
        tasks.model_version_precompute.apply_async(
            (model_version_id,), retry=True, retry_policy=PUBLISH_RETRY
        )
    except (BrokerError, OSError):
        # The version is active and serves online scores; the lists can be built later
        # (manage.py precompute), so activation does not fail for this.
        logger.exception("could not queue the precompute of version %s", model_version_id)


# -- precomputed top-k lists ------------------------------------------------------------------

_PRECOMPUTE_CACHE: dict[tuple[int, str], tuple[Any, np.ndarray]] = {}


def _precompute_model(version: ModelVersion) -> tuple[Any, np.ndarray]:
    """The loaded version and a mask of its items still in the catalog, once per process. Keyed
    on the artifact's checksum as well as the id: a database restored from a backup (or SQLite
    after a rolled-back transaction) can give a new version the id of one already loaded."""
    key = (version.pk, version.checksum)
    cached = _PRECOMPUTE_CACHE.get(key)
    if cached is not None:
        return cached
    from recommender.registry import load_version  # the one place that loads artifacts

    served = load_version(version)
    present = set(
        Movie.objects.filter(pk__in=served.items.ids.tolist()).values_list("pk", flat=True)
    )
    in_catalog = np.fromiter((int(i) in present for i in served.items.ids), bool, len(served.items))
    _PRECOMPUTE_CACHE.clear()  # one version at a time: a worker precomputes the newest
    _PRECOMPUTE_CACHE[key] = (served, in_catalog)
    return served, in_catalog


def model_version_precompute_chunks(*, model_version_id: int) -> list[list[int]]:
    """The version's trained users (DB ids) in chunks, read from meta.json without the weights."""
    version = ModelVersion.objects.get(pk=model_version_id)
    users = [int(u) for u in read_meta(_artifact_dir(version))["users"]]
    size = max(1, int(settings.RECSITE_PRECOMPUTE_CHUNK_USERS))
    return [users[i : i + size] for i in range(0, len(users), size)]


def recommendations_precompute_chunk(*, model_version_id: int, user_ids: Iterable[int]) -> int:
    """Write the top-k unrated movies of these users for one version: the chunk's old rows are
    deleted and the new ones inserted in one transaction, so running it twice is harmless, also
    at the same time (a redelivered task): the second waits on the first's user locks."""
    version = ModelVersion.objects.get(pk=model_version_id)
    served, in_catalog = _precompute_model(version)
    wanted = np.unique(np.asarray(list(user_ids), dtype=np.int64))
    existing = set(
        get_user_model().objects.filter(pk__in=wanted.tolist()).values_list("pk", flat=True)
    )
    ids = np.array([u for u in wanted.tolist() if u in existing], dtype=np.int64)  # sorted
    idx = served.users.index(ids)
    ids, idx = ids[idx >= 0], idx[idx >= 0]
    k = min(int(settings.RECSITE_TOP_K), len(served.items))
    movie_ids = np.empty((0, 0), dtype=np.int64)
    top_scores = np.empty((0, 0), dtype=np.float32)
    if ids.shape[0] and k > 0:
        probs = served.loaded.score_users(idx)  # [n, n_items]
        ratings = np.array(
            Rating.objects.filter(user_id__in=ids.tolist()).values_list(
                "user_id", "movie_id", "score"
            ),
            dtype=np.float64,
        ).reshape(-1, 3)
        # The same taste shift as online scoring (recommender.selectors._score), so a fresh
        # precomputed list and an online one agree.
        affinity = taste_affinities(
            catalog_snapshot(), served.items.ids, ids, ratings, _favourite_genres(ids)
        )
        scores = cs.with_taste(cs.logits_from_probabilities(probs), affinity)
        scores[:, ~in_catalog] = -np.inf
        rated = ratings[:, :2].astype(np.int64)
        r_item = served.items.index(rated[:, 1])
        keep = r_item >= 0
        scores[np.searchsorted(ids, rated[keep, 0]), r_item[keep]] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # [n, k] unordered
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        movie_ids = served.items.ids[top]  # [n, k]
    with transaction.atomic():
        user_rows = get_user_model().objects.filter(pk__in=wanted.tolist()).order_by("pk")
        list(user_rows.select_for_update(no_key=True).values_list("pk", flat=True))
        Recommendation.objects.filter(
            model_version_id=version.pk, user_id__in=wanted.tolist()
        ).delete()
        return _recommendations_insert(version.pk, ids, movie_ids, top_scores)


def _favourite_genres(user_ids: np.ndarray) -> dict[int, list[int]]:
    favourites: dict[int, list[int]] = {}
    pairs = Profile.favourite_genres.through.objects.filter(
        profile__user_id__in=user_ids.tolist()
    ).values_list("profile__user_id", "genre_id")
    for user_id, genre_id in pairs:
        favourites.setdefault(int(user_id), []).append(int(genre_id))
    return favourites


def _recommendations_insert(
    version_id: int, user_ids: np.ndarray, movie_ids: np.ndarray, scores: np.ndarray
) -> int:
    """Insert ranked lists: user_ids [n], movie_ids and scores [n, k] best first. A -inf score
    (the user rated every remaining movie) ends that user's list. COPY on PostgreSQL, where the
    ORM's per-row objects cost several times the scoring; bulk_create elsewhere."""
    rank = np.broadcast_to(np.arange(1, scores.shape[1] + 1), scores.shape)
    user = np.broadcast_to(user_ids[:, None], scores.shape)
    keep = scores != -np.inf  # [n, k]
    columns = (user[keep].tolist(), movie_ids[keep].tolist(), rank[keep].tolist())
    rows = list(zip(*columns, scores[keep].tolist(), strict=True))
    if connection.vendor == "postgresql":
        table = Recommendation._meta.db_table
        data = io.StringIO("".join(f"{version_id}\t{u}\t{m}\t{r}\t{s!r}\n" for u, m, r, s in rows))
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f"COPY {table} (model_version_id, user_id, movie_id, rank, score) FROM STDIN",
                data,
            )
    else:
        Recommendation.objects.bulk_create(
            (
                Recommendation(model_version_id=version_id, user_id=u, movie_id=m, rank=r, score=s)
                for u, m, r, s in rows
            ),
            batch_size=5000,
        )
    return len(rows)


def model_version_precompute_finish(*, model_version_id: int) -> None:
    """Every chunk is written: serving may read this version's lists. Lists of versions that
    are neither active nor among the newest KEEP_PRECOMPUTED_VERSIONS are dropped.

    Lists already marked stay as marked. After a worker is killed mid-chord, the reaper's new
    chord finishes the lists; hours later the broker hands out the dead worker's unacknowledged
    chunks, they complete the old chord, and its finish arrives a second time. Moving
    precomputed_at then would serve lists computed before ratings made in between as fresh,
    where the selectors must score those users online."""
    marked = ModelVersion.objects.filter(pk=model_version_id, precomputed_at__isnull=True).update(
        precomputed_at=timezone.now()
    )
    if not marked:
        logger.info("version %s: its lists were marked already", model_version_id)
        return
    keep = set(
        ModelVersion.objects.filter(precomputed_at__isnull=False)
        .order_by("-precomputed_at", "-pk")
        .values_list("pk", flat=True)[:KEEP_PRECOMPUTED_VERSIONS]
    )
    keep |= set(ModelVersion.objects.filter(is_active=True).values_list("pk", flat=True))
    keep.add(model_version_id)
    stale = list(
        ModelVersion.objects.filter(precomputed_at__isnull=False)
        .exclude(pk__in=keep)
        .values_list("pk", flat=True)
    )
    if stale:
        with transaction.atomic():
            ModelVersion.objects.filter(pk__in=stale).update(precomputed_at=None)
            Recommendation.objects.filter(model_version_id__in=stale).delete()
    logger.info("version %s precomputed; dropped the lists of %s", model_version_id, stale)


def model_versions_precompute_reap(*, min_age_seconds: float) -> list[int]:
    """The active version's lists when their precompute was lost (a worker killed mid-chord: its
    unacknowledged chunks come back only after the broker's visibility timeout, hours on Redis,
    and the chord never finishes): queued again once the version has been active this long
    without them. Chunks replace their users' rows, so a second pass is only extra work.
    Called when a worker starts (age 0) and by the periodic reaper. Returns the version ids."""
    activated_before = timezone.now() - timedelta(seconds=min_age_seconds)
    lost = list(
        ModelVersion.objects.filter(
            is_active=True, precomputed_at__isnull=True, activated_at__lte=activated_before
        ).values_list("pk", flat=True)
    )
    for version_id in lost:
        logger.warning("version %s is active without its lists; precompute again", version_id)
        _precompute_enqueue(version_id)
    return lost


def model_version_precompute(*, model_version_id: int) -> int:
    """Every chunk in this process, then the finish: for commands and tests. Returns rows. A
    version precomputed before is written and marked afresh (served online meanwhile)."""
    ModelVersion.objects.filter(pk=model_version_id).update(precomputed_at=None)
    total = 0
    for chunk in model_version_precompute_chunks(model_version_id=model_version_id):
        total += recommendations_precompute_chunk(model_version_id=model_version_id, user_ids=chunk)
    model_version_precompute_finish(model_version_id=model_version_id)
    return total


# -- triggers ---------------------------------------------------------------------------------


def training_run_scheduled() -> TrainingRun | None:
    """The periodic retrain: skipped, not failed, while another run is in flight."""
    try:
        return training_run_start(
            backend=settings.RECSITE_DEFAULT_BACKEND,
            config=None,
            trigger=TrainingRun.Trigger.SCHEDULE,
        )
    except TrainingAlreadyRunning as exc:
        logger.info("scheduled retrain skipped: %s", exc)
        return None


def ratings_changed(*, user_id: int) -> None:
    """After a rating commits: retrain once RECSITE_RETRAIN_AFTER_RATINGS new ratings (rows
    created, not re-rated) came in since the last run started, and no automatic run started in
    the last RECSITE_AUTO_RETRAIN_MIN_SECONDS, so re-rating the same films, or one busy user,
    cannot keep the workers training. One indexed, LIMIT-bounded count per rating; never
    raises, since the rating itself is already saved."""
    threshold = int(settings.RECSITE_RETRAIN_AFTER_RATINGS)
    if threshold <= 0:
        return
    last = TrainingRun.objects.order_by("-created").values_list("created", "status").first()
    if last is not None and last[1] in IN_FLIGHT_STATUSES:
        return
    gap = timedelta(seconds=int(settings.RECSITE_AUTO_RETRAIN_MIN_SECONDS))
    if TrainingRun.objects.filter(
        trigger=TrainingRun.Trigger.AUTO, created__gt=timezone.now() - gap
    ).exists():
        return
    ratings = Rating.objects.order_by()
    if last is not None:
        ratings = ratings.filter(created__gt=last[0])
    if ratings[:threshold].count() < threshold:
        return
    try:
        run = training_run_start(
            backend=settings.RECSITE_DEFAULT_BACKEND, config=None, trigger=TrainingRun.Trigger.AUTO
        )
        logger.info("retrain %s started after %d new ratings (user %s)", run.pk, threshold, user_id)
    except TrainingAlreadyRunning:
        return
    except TrainingError:
        logger.exception("automatic retrain could not start")
