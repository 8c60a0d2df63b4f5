"""The pipeline's errors; `code` is stable for the API's JSON errors."""

from __future__ import annotations


class TrainingError(Exception):
    """Base of the pipeline's errors."""

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
