"""The one expiring lock that lets a single training run train at a time.

A row in TrainingLock names the run holding it and when the hold lapses. The holder renews it
(and the run's heartbeat) while it trains; a holder that dies lets it lapse, and the next
execution takes it over with one conditional UPDATE, atomic on every database backend.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from recommender.models import TrainingLock, TrainingRun
from recommender.services.errors import TrainingLockLost

LOCK_NAME = "training"


def lock_seconds() -> float:
    return float(getattr(settings, "RECSITE_TRAINING_LOCK_SECONDS", 900))


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
