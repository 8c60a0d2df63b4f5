"""`make run`'s first model: train in this process when no version is active, else nothing."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ratings.models import Rating
from recommender.management.commands._training_options import (
    add_threads_argument,
    threads_limit,
)
from recommender.management.commands.train_ncf import train_in_process
from recommender.models import ModelVersion


class Command(BaseCommand):
    help = "Train a first model synchronously when no model version is active (no-op otherwise)."

    def add_arguments(self, parser: CommandParser) -> None:
        add_threads_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        active = ModelVersion.objects.filter(is_active=True).first()
        if active is not None:
            self.stdout.write(f"Model version {active.pk} is active; nothing to do.")
            return
        if not Rating.objects.exists():
            self.stdout.write("No ratings yet (run import_movielens); no model trained.")
            return
        threads_limit(options)
        train_in_process(self, backend=settings.RECSITE_DEFAULT_BACKEND, config=None, force=True)
