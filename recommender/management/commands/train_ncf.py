"""Train NeuMF on every rating in the database, in this process (no broker, no worker)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recommender.engine.train import EpochReport
from recommender.models import ModelVersion, TrainingRun
from recommender.services import (
    TrainingError,
    model_version_precompute,
    training_run_create,
    training_run_execute,
)


def train_in_process(
    command: BaseCommand,
    *,
    backend: str,
    config: dict[str, Any] | None,
    force: bool,
    precompute: bool = True,
) -> TrainingRun:
    """Create a run, train it here with one line per epoch, precompute the activated version."""
    try:
        run = training_run_create(
            backend=backend, config=config, trigger=TrainingRun.Trigger.COMMAND, force=force
        )
    except TrainingError as exc:
        raise CommandError(str(exc)) from exc
    epochs = int(run.config.get("epochs", 0))
    command.stdout.write(f"Training run {run.pk}: {backend}, {epochs} epochs")
    with tqdm(total=epochs, unit="epoch", disable=None, file=command.stderr) as bar:

        def on_epoch(report: EpochReport) -> None:
            bar.update(1)
            command.stdout.write(
                f"epoch {report.epoch} ({report.phase}): loss {report.loss:.4f}, "
                f"val HR@10 {report.val_hr:.4f}, NDCG@10 {report.val_ndcg:.4f}, "
                f"{report.seconds:.1f} s"
            )

        version_id = training_run_execute(training_run_id=run.pk, on_epoch=on_epoch)
    run.refresh_from_db()
    if run.status != TrainingRun.Status.SUCCEEDED:
        raise CommandError(f"Training run {run.pk} {run.status}: {run.error or 'no reason given'}")
    command.stdout.write(run.decision)
    version = ModelVersion.objects.filter(pk=version_id).first()
    if precompute and version is not None and version.is_active:
        rows = model_version_precompute(model_version_id=version.pk)
        command.stdout.write(f"Precomputed {rows} recommendations of version {version.pk}.")
    command.stdout.write(command.style.SUCCESS(f"Training run {run.pk} succeeded."))
    return run


class Command(BaseCommand):
    help = "Train NeuMF on the database's ratings in this process, without a broker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", choices=["numpy", "torch"], default=None)
        parser.add_argument("--epochs", type=int, default=None)
        parser.add_argument("--config", default=None, help='JSON overrides, e.g. {"lr": 0.005}')
        parser.add_argument("--force", action="store_true", help="activate even if worse")
        parser.add_argument("--no-precompute", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        config = json.loads(options["config"]) if options["config"] else {}
        if options["epochs"] is not None:
            config["epochs"] = options["epochs"]
        train_in_process(
            self,
            backend=options["backend"] or settings.RECSITE_DEFAULT_BACKEND,
            config=config,
            force=options["force"],
            precompute=not options["no_precompute"],
        )
