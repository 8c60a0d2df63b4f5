"""Queue a retrain on the Celery workers; --wait follows it epoch by epoch until it ends."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.management.commands._training_options import (
    add_training_arguments,
    epoch_line,
    training_options,
)
from recommender.models import FINISHED_STATUSES, TrainingRun
from recommender.services import errors, training_runs


class Command(BaseCommand):
    help = "Queue a training run for the workers (e.g. retrain --backend torch --wait)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_training_arguments(parser)
        parser.add_argument("--wait", action="store_true", help="follow the run until it ends")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls")

    def handle(self, *args: Any, **options: Any) -> None:
        backend, config = training_options(options)
        try:
            run = training_runs.training_run_start(
                backend=backend,
                config=config,
                trigger=TrainingRun.Trigger.COMMAND,
                force=options["force"],
            )
        except errors.TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Training run {run.pk} queued ({backend}).")
        if options["wait"]:
            self._follow(run.pk, timeout=options["timeout"], poll=options["poll"])

    def _follow(self, run_id: int, *, timeout: float, poll: float) -> None:
        deadline = time.monotonic() + timeout
        shown, status = 0, ""
        while time.monotonic() < deadline:
            run = TrainingRun.objects.get(pk=run_id)
            if run.status != status:
                status = run.status
                self.stdout.write(f"Run {run_id}: {status}")
            for epoch in run.epochs[shown:]:
                self.stdout.write(epoch_line(epoch))
            shown = len(run.epochs)
            if run.status in FINISHED_STATUSES:
                if run.status != TrainingRun.Status.SUCCEEDED:
                    raise CommandError(f"Run {run_id} {run.status}: {run.error or 'cancelled'}")
                hr = run.test_metrics.get("test_hr")
                self.stdout.write(self.style.SUCCESS(f"Run {run_id} succeeded: {run.decision}"))
                if hr is not None:
                    self.stdout.write(f"Test HR@10 {hr:.4f}")
                return
            time.sleep(poll)
        raise CommandError(f"Run {run_id} still {status} after {timeout:.0f} s")
