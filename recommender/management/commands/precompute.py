"""Write every trained user's top-k list for a model version (the active one by default)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender import tasks
from recommender.management.commands._training_options import (
    add_threads_argument,
    threads_limit,
)
from recommender.models import ModelVersion
from recommender.services import precompute


class Command(BaseCommand):
    help = "Precompute top-k recommendations, in this process or (--async) on the workers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--model-version", type=int, dest="version_id", help="default: the active version"
        )
        parser.add_argument("--async", action="store_true", dest="run_async")
        add_threads_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        query = ModelVersion.objects.all()
        version = (
            query.filter(pk=options["version_id"]).first()
            if options["version_id"]
            else query.filter(is_active=True).first()
        )
        if version is None:
            raise CommandError("No such model version (and none is active).")
        if options["run_async"]:
            ModelVersion.objects.filter(pk=version.pk).update(precomputed_at=None)
            tasks.model_version_precompute.delay(version.pk)
            self.stdout.write(f"Precompute of version {version.pk} queued.")
            return
        threads_limit(options)
        started = time.perf_counter()
        rows = precompute.model_version_precompute(model_version_id=version.pk)
        self.stdout.write(
            self.style.SUCCESS(
                f"Version {version.pk}: {rows} recommendations in "
                f"{time.perf_counter() - started:.1f} s."
            )
        )
