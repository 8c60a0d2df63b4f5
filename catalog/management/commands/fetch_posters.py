"""manage.py fetch_posters: cache TMDB poster paths and overviews, resumable."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.services import movie_ids_for_posters, movie_posters_fetch
from catalog.tasks import movie_posters_fetch_task
from catalog.tmdb import TmdbClient

CHUNK = 200


class Command(BaseCommand):
    help = (
        "Look movies up on TMDB (id, else IMDb id, else title and year) and cache poster paths "
        "and overviews. Movies already checked are skipped, so an interrupted run resumes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="at most this many movies")
        parser.add_argument("--force", action="store_true", help="look up checked movies again")
        parser.add_argument(
            "--queue", action="store_true", help="enqueue Celery tasks instead of working here"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        client = TmdbClient.from_settings()
        if not client.configured:
            raise CommandError(
                "Set TMDB_API_KEY or TMDB_READ_TOKEN; without them every movie keeps its "
                "generated placeholder poster."
            )
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        ids = movie_ids_for_posters(limit=options["limit"], force=options["force"])
        if options["queue"]:
            for start in range(0, len(ids), CHUNK):
                movie_posters_fetch_task.delay(ids[start : start + CHUNK], options["force"])
            self.stdout.write(f"Queued {len(ids)} movies in {-(-len(ids) // CHUNK)} tasks.")
            return
        with tqdm(total=len(ids), unit="movie", disable=options["verbosity"] == 0) as bar:
            outcomes = movie_posters_fetch(
                movie_ids=ids,
                client=client,
                force=options["force"],
                progress=lambda outcome: (bar.update(1), bar.set_postfix_str(outcome)),
            )
        summary = ", ".join(f"{n} {name}" for name, n in sorted(outcomes.items())) or "nothing"
        self.stdout.write(self.style.SUCCESS(f"Posters: {summary}."))
