"""The one expiring lock that lets a single training run train at a time, and the heartbeat
that tells a live holder from a dead one.

A row in TrainingLock names the run holding it and when the hold lapses. The holder renews it
every epoch and phase; a holder that dies lets it lapse, and the next execution takes it over
with one conditional UPDATE, atomic on every database backend. A lapse takes a lock period (15
minutes), so liveness has its own, faster signal: while it holds the lock, the worker writes the
run's heartbeat every few seconds from a thread (`Heartbeat`), whatever an epoch's length. A
running run whose heartbeat is older than `stale_seconds()` has lost its worker; the reaper and
cancel then break its lock (`lock_break`) instead of waiting for it to lapse.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from types import TracebackType

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.models import Exists, Q
from django.utils import timezone

from recommender.models import TrainingLock, TrainingRun
from recommender.services.errors import TrainingLockLost

logger = logging.getLogger(__name__)

LOCK_NAME = "training"


def lock_seconds() -> float:
    return float(getattr(settings, "RECSITE_TRAINING_LOCK_SECONDS", 900))


def stale_seconds() -> float:
    """Seconds without a heartbeat after which a running run's worker counts as gone (never more
    than a lock period: a heartbeat that old belongs to a lock that lapsed)."""
    stale = float(getattr(settings, "RECSITE_TRAINING_STALE_SECONDS", 30))
    return min(stale, lock_seconds())


def heartbeat_seconds() -> float:
    """How often the heartbeat is written: at least three times within the stale limit."""
    every = float(getattr(settings, "RECSITE_TRAINING_HEARTBEAT_SECONDS", 5))
    return max(0.01, min(every, stale_seconds() / 3))


def worker_gone(now: datetime | None = None) -> Q:
    """Filter of running runs whose worker is gone: no heartbeat within stale_seconds(), or none
    at all (a run never runs without one: `_train` writes it with the status)."""
    stale_before = (now or timezone.now()) - timedelta(seconds=stale_seconds())
    return Q(status=TrainingRun.Status.RUNNING) & (
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True)
    )


def lock_held(token: str, *, unexpired: bool = False) -> Exists:
    """Filter of training runs: true while `token` holds the lock (and, if asked, it has not
    lapsed). Broken or taken over, the lock no longer carries the token."""
    held = TrainingLock.objects.filter(name=LOCK_NAME, token=token)
    if unexpired:
        held = held.filter(expires_at__gt=timezone.now())
    return Exists(held)


def lock_acquire(*, training_run_id: int, token: str) -> bool:
    """Take the lock if it is free or lapsed."""
    TrainingLock.objects.get_or_create(name=LOCK_NAME)
    now = timezone.now()
    taken = (
        TrainingLock.objects.filter(name=LOCK_NAME)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__lt=now))
        .update(
            token=token,
            training_run_id=training_run_id,
            expires_at=now + timedelta(seconds=lock_seconds()),
        )
    )
    return taken == 1


def lock_renew(*, training_run_id: int, token: str) -> None:
    """Extend our hold and write the run's heartbeat; TrainingLockLost if it was taken from us."""
    now = timezone.now()
    renewed = TrainingLock.objects.filter(name=LOCK_NAME, token=token).update(
        expires_at=now + timedelta(seconds=lock_seconds())
    )
    if not renewed:
        raise TrainingLockLost(f"training run {training_run_id} lost the training lock")
    TrainingRun.objects.filter(pk=training_run_id).update(heartbeat_at=now)


def lock_release(*, token: str) -> None:
    TrainingLock.objects.filter(name=LOCK_NAME, token=token).update(
        token="", training_run=None, expires_at=None
    )


def lock_break(*, training_run_id: int) -> bool:
    """Free the lock if this run holds it (its worker is gone); a live holder's next renewal
    then raises TrainingLockLost and it stops without touching the run."""
    return bool(
        TrainingLock.objects.filter(name=LOCK_NAME, training_run_id=training_run_id).update(
            token="", training_run=None, expires_at=None
        )
    )


def lock_holder() -> tuple[int | None, float]:
    """The run holding an unexpired lock and the seconds left on it, or (None, 0)."""
    lock = TrainingLock.objects.filter(name=LOCK_NAME).first()
    if lock is None or lock.expires_at is None or lock.training_run_id is None:
        return None, 0.0
    left = (lock.expires_at - timezone.now()).total_seconds()
    return (lock.training_run_id, left) if left > 0 else (None, 0.0)


def heartbeat_write(*, training_run_id: int, token: str) -> bool:
    """Write the run's heartbeat if it is running and `token` holds an unexpired lock; False
    when it does not (the lock was broken, taken over or lapsed, or the run ended)."""
    return bool(
        TrainingRun.objects.filter(pk=training_run_id, status=TrainingRun.Status.RUNNING)
        .filter(lock_held(token, unexpired=True))
        .update(heartbeat_at=timezone.now())
    )


class Heartbeat:
    """While the `with` block trains, a daemon thread writes the run's heartbeat every
    heartbeat_seconds() on its own database connection, which it closes when it stops (at the
    block's exit, whether training ended or failed).

    A beat writes only while the run holds an unexpired lock (`heartbeat_write`): a run that
    cancel or the reaper took away is not kept alive by its old worker, and a lock that lapsed
    (an epoch longer than a lock period, a stuck loop) lets the heartbeat go stale, so the
    reaper takes the run back as it did before. A failed write (the database away) is only a
    missed beat."""

    def __init__(self, *, training_run_id: int, token: str) -> None:
        self.training_run_id = training_run_id
        self.token = token
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"training-heartbeat-{training_run_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        # A beat held up by the database may outlive the block: it then writes nothing, as the
        # run no longer holds the lock.
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        every = heartbeat_seconds()
        try:
            while not self._stop.wait(every):
                try:
                    heartbeat_write(training_run_id=self.training_run_id, token=self.token)
                except DatabaseError as exc:
                    logger.warning(
                        "training run %s: heartbeat missed: %s", self.training_run_id, exc
                    )
                    connections.close_all()  # the next beat reconnects
        finally:
            connections.close_all()  # this thread's connections only
