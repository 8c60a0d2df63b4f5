"""Train NeuMF on every rating in the database, in this process, printing each epoch."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.management.commands._training_options import (
    add_training_arguments,
    epoch_line,
    threads_limit,
    training_options,
)
from recommender.models import ModelVersion, TrainingRun
from recommender.services import errors, training, training_runs
from recommender.services.precompute import model_version_precompute


def train_in_process(
    command: BaseCommand,
    *,
    backend: str,
    config: dict[str, Any] | None,
    force: bool,
    precompute: bool = True,
) -> ModelVersion:
    """A command-triggered run trained here (no worker, no broker), then its top-k lists when
    it was activated. Raises CommandError when the run does not succeed."""
    try:
        run = training_runs.training_run_create(
            backend=backend, config=config, trigger=TrainingRun.Trigger.COMMAND, force=force
        )
    except errors.TrainingError as exc:
        raise CommandError(str(exc)) from exc
    command.stdout.write(f"Training run {run.pk} ({backend}) in this process.")
    try:
        version_id = training.training_run_execute(
            training_run_id=run.pk,
            on_epoch=lambda report: command.stdout.write(epoch_line(report)),
        )
    except errors.TrainingLockBusy as exc:
        training_runs.training_run_cancel(training_run=run)
        raise CommandError(str(exc)) from exc
    run.refresh_from_db()
    if run.status != TrainingRun.Status.SUCCEEDED or version_id is None:
        raise CommandError(f"Run {run.pk} {run.status}: {run.error or 'cancelled'}")
    metrics = run.test_metrics
    command.stdout.write(
        f"Test HR@10 {metrics['test_hr']:.4f}  NDCG@10 {metrics['test_ndcg']:.4f}  "
        f"full Recall@10 {metrics['test_full_recall']:.4f}  "
        f"(best epoch {run.best_epoch}, {run.timings.get('total', 0):.1f} s)"
    )
    command.stdout.write(command.style.SUCCESS(f"Version {version_id}: {run.decision}"))
    version = ModelVersion.objects.get(pk=version_id)
    if version.is_active and precompute:
        started = time.perf_counter()
        rows = model_version_precompute(model_version_id=version_id)
        command.stdout.write(
            f"Precomputed {rows} recommendations in {time.perf_counter() - started:.1f} s."
        )
        version.refresh_from_db()
    return version


class Command(BaseCommand):
    help = "Train from the database synchronously (no worker needed), then precompute top-k."

    def add_arguments(self, parser: CommandParser) -> None:
        add_training_arguments(parser)
        parser.add_argument(
            "--no-precompute", action="store_true", help="skip the top-k lists after activation"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        backend, config = training_options(options)
        threads_limit(options)
        train_in_process(
            self,
            backend=backend,
            config=config,
            force=options["force"],
            precompute=not options["no_precompute"],
        )
