"""Execute a queued training run: snapshot the ratings, fit, save the artifact, record the
version and activate it when it is at least as good as the active one. Idempotent: a second
delivery of the same run does nothing."""

from __future__ import annotations

import logging
import shutil
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommender.adapters import ratings_snapshot
from recommender.engine.artifacts import META_FILE, save_artifact, sha256_file
from recommender.engine.config import NeuMFConfig
from recommender.engine.data import liked_only
from recommender.engine.similarity import co_rating_neighbours
from recommender.engine.train import EpochReport, FitResult, fit
from recommender.models import (
    FINISHED_STATUSES,
    IN_FLIGHT_STATUSES,
    Backend,
    ModelVersion,
    TrainingLock,
    TrainingRun,
)
from recommender.services.errors import NotEnoughData, TrainingLockBusy, TrainingLockLost
from recommender.services.training_lock import (
    LOCK_NAME,
    Heartbeat,
    lock_acquire,
    lock_held,
    lock_release,
    lock_renew,
)
from recommender.services.training_runs import MAX_ATTEMPTS, run_finish
from recommender.services.versions import activation_decision, model_version_activate

logger = logging.getLogger(__name__)

SEED = 0  # the split and the initial weights: equal data, equal run


def training_run_execute(
    *,
    training_run_id: int,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> int | None:
    """Train one queued run to the end; idempotent, so a second delivery is harmless.

    Returns the new ModelVersion id, or None (already finished, cancelled, failed, or being
    trained by another live execution). Failures are recorded on the run and never change the
    active version. Raises TrainingLockBusy when another run holds the lock.

    While it holds the lock, a thread writes the run's heartbeat (see services.training_lock).
    If cancel or the reaper took the run from it (its heartbeat went stale: a stalled process),
    it stops at its next lock renewal (each epoch and phase), and every write that ends the run
    needs the lock, so it leaves the run as they did."""
    run = TrainingRun.objects.filter(pk=training_run_id).first()
    if run is None:
        logger.warning("training run %s does not exist; nothing to do", training_run_id)
        return None
    if run.status in FINISHED_STATUSES:
        logger.info("training run %s is already %s", run.pk, run.status)
        return None
    if run.cancel_requested:
        run_finish(run.pk, TrainingRun.Status.CANCELLED)
        return None
    token = uuid.uuid4().hex
    if not lock_acquire(training_run_id=run.pk, token=token):
        lock = TrainingLock.objects.get(name=LOCK_NAME)
        if lock.training_run_id == run.pk:
            logger.info("training run %s is being trained by another worker", run.pk)
            return None
        left = (lock.expires_at - timezone.now()).total_seconds() if lock.expires_at else 0
        raise TrainingLockBusy(lock.training_run_id, max(5.0, left + 1))
    try:
        if run.attempts >= MAX_ATTEMPTS:
            _run_finish_held(
                run.pk,
                token,
                TrainingRun.Status.FAILED,
                error=f"Gave up after {run.attempts} attempts that did not finish.",
            )
            return None
        with Heartbeat(training_run_id=run.pk, token=token):
            return _train(run, token=token, on_epoch=on_epoch)
    except TrainingLockLost:
        logger.warning(
            "training run %s: the lock was broken or taken over (by cancel, the reaper or "
            "another execution); stopped without touching the run",
            run.pk,
        )
        return None
    except Exception as exc:
        logger.exception("training run %s failed", run.pk)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            _run_finish_held(run.pk, token, TrainingRun.Status.FAILED, error=detail[:4000])
        except TrainingLockLost:
            logger.warning("training run %s: failed after losing the lock; left as is", run.pk)
        return None
    finally:
        lock_release(token=token)


def _run_finish_held(training_run_id: int, token: str, status: str, **values: Any) -> None:
    """End the run, only while it is in flight and this execution holds the lock (lapsed or
    not); TrainingLockLost otherwise, so a run that cancel or the reaper ended stays ended."""
    ended = (
        TrainingRun.objects.filter(pk=training_run_id, status__in=IN_FLIGHT_STATUSES)
        .filter(lock_held(token))
        .update(status=status, finished=timezone.now(), **values)
    )
    if not ended:
        raise TrainingLockLost(f"training run {training_run_id} was ended by someone else")


def _train(
    run: TrainingRun, *, token: str, on_epoch: Callable[[EpochReport], None] | None
) -> int | None:
    started = timezone.now()
    timings: dict[str, float] = {}
    taken = TrainingRun.objects.filter(pk=run.pk, status__in=IN_FLIGHT_STATUSES).update(
        status=TrainingRun.Status.RUNNING,
        started=started,
        heartbeat_at=started,
        attempts=run.attempts + 1,
        epochs=[],
        error="",
        decision="",
    )
    if not taken:  # cancelled since it was read
        logger.info("training run %s ended before it started; nothing to do", run.pk)
        return None
    clock = time.perf_counter()
    snapshot = ratings_snapshot()
    rated = snapshot.interactions
    timings["snapshot"] = time.perf_counter() - clock
    lock_renew(training_run_id=run.pk, token=token)
    if snapshot.n_ratings == 0:
        raise NotEnoughData("There are no ratings to train on.")
    config = NeuMFConfig.from_dict(run.config)
    # The model's positives: every rating, or those of at least config.min_rating stars. The id
    # maps stay the snapshot's, so a movie only rated low is still known: a negative, never a
    # positive.
    data = (
        rated
        if config.min_rating is None
        else liked_only(rated, snapshot.scores, config.min_rating, reindex=False)
    )
    per_user = np.bincount(data.user_idx, minlength=data.n_users)
    if not np.any(per_user >= 3):
        liked = "" if config.min_rating is None else f" of {config.min_rating:g} stars or more"
        raise NotEnoughData(f"No user has 3 ratings{liked}: nothing to validate or test on.")
    if data.n_items < 2:
        raise NotEnoughData("Fewer than 2 rated movies: nothing to rank.")
    TrainingRun.objects.filter(pk=run.pk).update(
        n_users=data.n_users,
        n_items=data.n_items,
        n_ratings=snapshot.n_ratings,
        ratings_until=snapshot.until,
    )
    device = "cpu" if run.backend == Backend.NUMPY else settings.RECSITE_DEVICE
    epochs: list[dict[str, Any]] = []

    def epoch_done(report: EpochReport) -> None:
        epochs.append(report.to_dict())
        lock_renew(training_run_id=run.pk, token=token)  # not ours any more: stop here
        # Written after every epoch, so the dashboard shows progress while it runs.
        TrainingRun.objects.filter(pk=run.pk).update(epochs=epochs)
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
        _run_finish_held(
            run.pk, token, TrainingRun.Status.CANCELLED, timings=timings, device=result.device
        )
        logger.info("training run %s cancelled after %d epochs", run.pk, len(epochs))
        return None
    broken = sorted(k for k, v in result.weights.items() if not np.all(np.isfinite(v)))
    if broken or not all(np.isfinite(v) for v in result.metrics.values()):
        raise ArithmeticError(f"Training diverged: non-finite weights in {broken or 'metrics'}.")
    lock_renew(training_run_id=run.pk, token=token)

    clock = time.perf_counter()
    # "More like this" neighbours from every rating of the snapshot (liked ones co-occurring),
    # in the model's item order: the snapshot's id maps are the ones fit trained with.
    neighbours = co_rating_neighbours(
        rated.user_idx, rated.item_idx, rated.n_users, rated.n_items, scores=snapshot.scores
    )
    timings["neighbours"] = time.perf_counter() - clock
    lock_renew(training_run_id=run.pk, token=token)

    clock = time.perf_counter()
    name = f"run-{run.pk}"
    directory = _artifact_save(result, name, training_run_id=run.pk, neighbours=neighbours)
    timings["save"] = time.perf_counter() - clock

    clock = time.perf_counter()
    active = ModelVersion.objects.filter(is_active=True).first()
    activate, decision, baseline = activation_decision(result, active, force=run.force)
    timings["compare"] = time.perf_counter() - clock
    lock_renew(training_run_id=run.pk, token=token)

    metrics = {k: float(v) for k, v in result.metrics.items()}
    with transaction.atomic():
        # The run ends first, and only while this execution holds the lock: if cancel or the
        # reaper ended it meanwhile, the version and its activation roll back with it. On
        # Postgres the row then stays locked against a concurrent cancel until the commit.
        _run_finish_held(
            run.pk,
            token,
            TrainingRun.Status.SUCCEEDED,
            test_metrics={**metrics, **baseline},
            best_epoch=result.best_epoch,
            device=result.device,
            timings={**timings, "total": (timezone.now() - started).total_seconds()},
            decision=decision,
            heartbeat_at=timezone.now(),
        )
        version = ModelVersion.objects.create(
            training_run=run,
            backend=run.backend,
            artifact_path=name,
            checksum=sha256_file(directory / META_FILE),
            metrics=metrics,
            data_fingerprint=result.fingerprint,
            n_users=data.n_users,
            n_items=data.n_items,
            n_ratings=snapshot.n_ratings,
        )
        if activate:
            model_version_activate(version=version, precompute=False)
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
