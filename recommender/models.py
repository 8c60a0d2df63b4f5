"""Training runs, model versions (at most one active) and precomputed top-k lists."""

from django.conf import settings
from django.db import models

from catalog.models import Movie


class Backend(models.TextChoices):
    NUMPY = "numpy", "NumPy"
    TORCH = "torch", "PyTorch"


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Trigger(models.TextChoices):
        ADMIN = "admin"
        STAFF_PAGE = "staff_page"
        COMMAND = "command"
        API = "api"
        SCHEDULE = "schedule"
        AUTO = "auto"

    backend = models.CharField(max_length=8, choices=Backend.choices, default=Backend.NUMPY)
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    force = models.BooleanField(default=False)  # activate even if not better than the active one
    cancel_requested = models.BooleanField(default=False)
    epochs = models.JSONField(default=list, blank=True)  # per-epoch loss, val HR/NDCG, seconds
    test_metrics = models.JSONField(default=dict, blank=True)
    device = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.COMMAND)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="training_runs",
    )
    celery_task_id = models.CharField(max_length=64, blank=True)
    # True while queued or running, NULL otherwise: the database keeps at most one such run, so
    # two triggers racing past the service's check cannot both start a training.
    in_flight = models.GeneratedField(
        expression=models.Case(
            models.When(status__in=["queued", "running"], then=models.Value(True)),
            default=models.Value(None),
            output_field=models.BooleanField(null=True),
        ),
        output_field=models.BooleanField(null=True),
        db_persist=True,
    )
    attempts = models.PositiveSmallIntegerField(default=0)  # deliveries that started training
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # renewed while a worker trains
    timings = models.JSONField(default=dict, blank=True)  # seconds per stage
    best_epoch = models.PositiveSmallIntegerField(null=True, blank=True)
    decision = models.CharField(max_length=300, blank=True)  # why it was (not) activated
    n_users = models.PositiveIntegerField(null=True, blank=True)
    n_items = models.PositiveIntegerField(null=True, blank=True)
    n_ratings = models.PositiveIntegerField(null=True, blank=True)
    ratings_until = models.DateTimeField(null=True, blank=True)  # snapshot of the data trained on
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["in_flight"],
                condition=models.Q(in_flight=True),
                name="at_most_one_training_run_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"Training run {self.pk} ({self.backend}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


FINISHED_STATUSES = (
    TrainingRun.Status.SUCCEEDED,
    TrainingRun.Status.FAILED,
    TrainingRun.Status.CANCELLED,
)
IN_FLIGHT_STATUSES = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)


class TrainingLock(models.Model):
    """A named lock row with an expiry: a crashed worker's lock lapses instead of blocking forever.

    Taken and renewed with single conditional UPDATEs, which are atomic on SQLite and Postgres.
    """

    name = models.CharField(max_length=32, primary_key=True)
    token = models.CharField(max_length=64, blank=True)  # one per execution, not per run
    training_run = models.ForeignKey(
        TrainingRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Lock {self.name} (run {self.training_run_id}, until {self.expires_at})"


class ModelVersion(models.Model):
    training_run = models.OneToOneField(
        TrainingRun, on_delete=models.PROTECT, related_name="model_version"
    )
    backend = models.CharField(max_length=8, choices=Backend.choices)
    artifact_path = models.CharField(max_length=500)
    checksum = models.CharField(max_length=64)
    metrics = models.JSONField(default=dict, blank=True)
    data_fingerprint = models.CharField(max_length=64, blank=True)
    n_users = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    n_ratings = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    # Set once every user's top-k list of this version is written; serving reads only then.
    precomputed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=models.Q(is_active=True),
                name="at_most_one_active_model_version",
            ),
        ]

    def __str__(self) -> str:
        return f"Model version {self.pk} ({self.backend}{', active' if self.is_active else ''})"


class Recommendation(models.Model):
    """One row of a user's precomputed top-k list for one model version."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="recommendations"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recommendations"
    )
    movie = models.ForeignKey(Movie, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()

    class Meta:
        ordering = ["model_version", "user", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "user", "rank"], name="one_recommendation_per_rank"
            ),
            models.UniqueConstraint(
                fields=["model_version", "user", "movie"], name="one_recommendation_per_movie"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} #{self.rank}: {self.movie_id}"
