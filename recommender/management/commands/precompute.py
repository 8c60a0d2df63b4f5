"""Write a model version's top-k lists in this process (the active version by default)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.models import ModelVersion
from recommender.services import model_version_precompute


class Command(BaseCommand):
    help = "Precompute every user's top-k of a model version without a worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--version", type=int, default=None, help="default: the active one")

    def handle(self, *args: Any, **options: Any) -> None:
        versions = ModelVersion.objects.all()
        version = (
            versions.filter(pk=options["version"]).first()
            if options["version"]
            else versions.filter(is_active=True).first()
        )
        if version is None:
            raise CommandError("No such model version (and none is active).")
        rows = model_version_precompute(model_version_id=version.pk)
        self.stdout.write(self.style.SUCCESS(f"Version {version.pk}: {rows} recommendations."))
