"""Queue a retrain on the workers; --wait follows it epoch by epoch until it ends."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.models import FINISHED_STATUSES, TrainingRun
from recommender.services import TrainingError, training_run_start


class Command(BaseCommand):
    help = "Enqueue a training run (a worker trains it); --wait prints its progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", choices=["numpy", "torch"], default=None)
        parser.add_argument("--config", default=None, help='JSON overrides, e.g. {"epochs": 5}')
        parser.add_argument("--force", action="store_true", help="activate even if worse")
        parser.add_argument("--wait", action="store_true", help="poll until the run ends")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls")
        parser.add_argument("--timeout", type=float, default=None, help="give up waiting after")

    def handle(self, *args: Any, **options: Any) -> None:
        config = json.loads(options["config"]) if options["config"] else None
        try:
            run = training_run_start(
                backend=options["backend"] or settings.RECSITE_DEFAULT_BACKEND,
                config=config,
                trigger=TrainingRun.Trigger.COMMAND,
                force=options["force"],
            )
        except TrainingError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Training run {run.pk} queued ({run.backend}).")
        if options["wait"]:
            self._follow(run.pk, options["poll"], options["timeout"])

    def _follow(self, run_id: int, poll: float, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        shown, status = 0, ""
        while True:
            run = TrainingRun.objects.get(pk=run_id)
            if run.status != status:
                status = run.status
                self.stdout.write(f"status: {status}")
            for epoch in run.epochs[shown:]:
                self.stdout.write(
                    f"epoch {epoch['epoch']}: loss {epoch['loss']:.4f}, "
                    f"val HR@10 {epoch['val_hr']:.4f}, {epoch['seconds']:.1f} s"
                )
            shown = len(run.epochs)
            if run.status in FINISHED_STATUSES:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise CommandError(f"Training run {run_id} still {run.status}; stopped waiting.")
            time.sleep(poll)
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"Training run {run_id} {run.status}: {run.error}")
        self.stdout.write(run.decision)
        self.stdout.write(self.style.SUCCESS(f"Training run {run_id} succeeded."))
