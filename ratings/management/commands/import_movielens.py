"""manage.py import_movielens: load a MovieLens release (folder, zip or --download NAME)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ratings.downloads import RELEASES, DownloadError, movielens_download
from ratings.importer import movielens_import
from ratings.movielens import MovieLensFormatError


class Command(BaseCommand):
    help = (
        "Import a MovieLens release (latest-small, 100K, 1M, 10M, 20M, 25M, 32M, latest) from a "
        "folder or a GroupLens zip; the bundled latest-small is the default. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path",
            nargs="?",
            type=Path,
            help=f"folder or zip of a release (default: {settings.MOVIELENS_DEFAULT_DIR})",
        )
        parser.add_argument(
            "--download",
            metavar="NAME",
            choices=sorted(RELEASES),
            help="fetch this release's zip from GroupLens into var/datasets/ first",
        )
        parser.add_argument(
            "--replace", action="store_true", help="delete imported MovieLens data first"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path | None = options["path"]
        if options["download"]:
            if path is not None:
                raise CommandError("Give a path or --download, not both.")
            path = self._download(options["download"])
        path = path or settings.MOVIELENS_DEFAULT_DIR

        bar = tqdm(unit="B", unit_scale=True, desc="ratings", disable=options["verbosity"] == 0)
        try:
            summary = movielens_import(
                path,
                replace=options["replace"],
                progress=bar.update,
                total_bytes=lambda total: setattr(bar, "total", total),
            )
        except MovieLensFormatError as exc:
            raise CommandError(f"{exc} -- nothing was imported.") from exc
        finally:
            bar.close()

        if summary.nothing_new:
            self.stdout.write(
                f"Nothing new: all {summary.ratings_read:,} ratings in {path} were already "
                f"imported ({summary.seconds:.1f} s)."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {summary.movies_added:,} movies, {summary.users_added:,} users and "
                f"{summary.ratings_added:,} ratings (of {summary.ratings_read:,} read) "
                f"in {summary.seconds:.1f} s."
            )
        )
        self.stdout.write(
            "Phases: " + ", ".join(f"{name} {s:.1f} s" for name, s in summary.phases.items())
        )

    def _download(self, name: str) -> Path:
        target_dir = settings.VAR_DIR / "datasets"
        bar = tqdm(unit="B", unit_scale=True, desc=f"{name}.zip")
        try:
            return movielens_download(
                name,
                target_dir,
                progress=bar.update,
                total_bytes=lambda total: setattr(bar, "total", total),
            )
        except DownloadError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
