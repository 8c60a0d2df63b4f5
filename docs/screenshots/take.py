"""Screenshots and server timings of the main pages on the full bundled MovieLens catalog.

Run against a scratch database, never your own:

    export DATABASE_URL=sqlite:////tmp/shots.sqlite3 RECSITE_ARTIFACT_DIR=/tmp/shots-artifacts
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py import_movielens
    .venv/bin/python manage.py bootstrap_model      # optional: NeuMF picks instead of cold start
    .venv/bin/python docs/screenshots/take.py [--extra]

It makes a viewer who rated a dozen well-known films, times each page in-process (Django's test
client, so the figure is server time without the network), then starts `runserver` and saves
docs/screenshots/home.png, movie.png and (signed in as a staff member) staff.png, the training
dashboard, with headless Chromium (--extra: more pages and a phone's width to /tmp).

Every page at a desktop's and a phone's width, on the browser tests' small catalog, comes from
the accessibility test: `RECSITE_SCREENSHOT_DIR=/tmp/pages .venv/bin/pytest
tests/e2e/test_accessibility.py -k every`.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")
# Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from catalog.models import Genre, Movie  # noqa: E402
from ratings.services import (  # noqa: E402
    profile_mark_onboarded,
    profile_set_favourite_genres,
    rating_upsert,
)
from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402 - the browser tests' Chromium

if TYPE_CHECKING:
    from playwright.sync_api import Page

logger = logging.getLogger("screenshots")

VIEWER, PASSWORD = "viewer", "a-long-unusual-passphrase-42"
STAFF = "staff"  # the training dashboard's photographer
# Well-known films of ml-latest-small with the viewer's scores: a taste for sci-fi and crime.
TASTE = {
    "Matrix, The": "5.0",
    "Star Wars: Episode IV - A New Hope": "4.5",
    "Blade Runner": "4.5",
    "Alien": "4.0",
    "Terminator 2: Judgment Day": "4.0",
    "Inception": "5.0",
    "Pulp Fiction": "4.5",
    "Fargo": "4.0",
    "Usual Suspects, The": "4.5",
    "Titanic": "2.0",
    "Forrest Gump": "3.0",
    "Toy Story": "3.5",
}
OUT = ROOT / "docs" / "screenshots"


def viewer_prepare() -> None:
    """The viewer, with favourite genres and the TASTE ratings, made through the services."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=VIEWER)
    user.set_password(PASSWORD)
    user.save()
    profile_set_favourite_genres(
        user=user, genres=Genre.objects.filter(name__in=["Sci-Fi", "Crime"])
    )
    for title, score in TASTE.items():
        movie = Movie.objects.filter(title=title).order_by("-rating_count").first()
        if movie is not None:
            rating_upsert(user=user, movie=movie, score=score)
    profile_mark_onboarded(user=user)
    staff, _ = user_model.objects.get_or_create(username=STAFF, defaults={"is_staff": True})
    staff.is_staff = True
    staff.set_password(PASSWORD)
    staff.save()


def server_timings(runs: int = 15) -> dict[str, float]:
    """Median server time (ms) of each page for the signed-in viewer, after one warm-up."""
    client = Client(SERVER_NAME="localhost")
    assert client.login(username=VIEWER, password=PASSWORD)
    anonymous = Client(SERVER_NAME="localhost")
    movie = Movie.objects.order_by("-rating_count").first()
    assert movie is not None
    pages = {
        "home (signed in)": (client, reverse("catalog:home")),
        "home (signed out)": (anonymous, reverse("catalog:home")),
        "rows fragment": (client, reverse("catalog:home-rows")),
        "movie detail": (client, reverse("catalog:movie-detail", args=[movie.pk])),
        "search 'star'": (client, reverse("catalog:search") + "?q=star"),
        "suggest 'sta'": (client, reverse("catalog:suggest") + "?q=sta"),
        "genre drama p1": (client, reverse("catalog:genre-detail", args=["drama"])),
        "genre drama p50": (client, reverse("catalog:genre-detail", args=["drama"]) + "?page=50"),
        "genres": (client, reverse("catalog:genre-list")),
        "my ratings": (client, reverse("ratings:my-ratings")),
        "onboarding grid": (client, reverse("ratings:onboarding-rate")),
        "poster svg": (client, reverse("catalog:poster-placeholder", args=[movie.pk])),
    }
    results: dict[str, float] = {}
    for name, (who, url) in pages.items():
        assert who.get(url).status_code == 200, url
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            response = who.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, url
        results[name] = statistics.median(samples)
        logger.info("%-20s median %6.1f ms  max %6.1f ms", name, results[name], max(samples))
    return results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, seconds: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"runserver did not answer at {url}")


def _log_in(page: Page, base: str, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    page.wait_for_load_state("networkidle")


def screenshots(extra: bool) -> list[Path]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_DEBUG": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    saved: list[Path] = []
    try:
        _wait_for(base + "/")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, viewport in (("", (1440, 900)), ("-mobile", (390, 844))):
                if name and not extra:
                    continue
                context = browser.new_context(
                    viewport={"width": viewport[0], "height": viewport[1]}, base_url=base
                )
                # Offline: TMDB images fail fast and the pages fall back to generated posters.
                context.route("https://image.tmdb.org/**", lambda route: route.abort())
                page = context.new_page()
                _log_in(page, base, VIEWER)
                shots = {"home": "/"}
                top = page.locator('[data-row="top-picks"] .card').first.get_attribute("href")
                shots["movie"] = top or "/"
                if extra:
                    shots |= {
                        "genre": "/genres/sci-fi/",
                        "genres": "/genres/",
                        "search": "/search/?q=star",
                        "ratings": "/my/ratings/",
                        "onboarding": "/welcome/rate/",
                        "signup": "/accounts/signup/",
                    }
                for shot, path in shots.items():
                    page.goto(path)
                    page.wait_for_load_state("networkidle")
                    folder = OUT if (shot in ("home", "movie") and not name) else Path("/tmp")
                    target = folder / f"{shot}{name}.png"
                    page.screenshot(path=str(target))
                    saved.append(target)
                context.close()
                staff = browser.new_context(
                    viewport={"width": viewport[0], "height": viewport[1]}, base_url=base
                )
                page = staff.new_page()
                _log_in(page, base, STAFF)
                page.goto("/staff/")
                page.wait_for_load_state("networkidle")
                target = (OUT if not name else Path("/tmp")) / f"staff{name}.png"
                page.screenshot(path=str(target), full_page=bool(name))  # a phone: all of it
                saved.append(target)
                staff.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", action="store_true", help="more pages and a phone viewport")
    parser.add_argument("--no-shots", action="store_true", help="timings only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if "shots" not in str(settings.DATABASES["default"]["NAME"]):
        parser.error("point DATABASE_URL at a scratch database, e.g. sqlite:////tmp/shots.sqlite3")
    if not Movie.objects.exists():
        call_command("import_movielens")
    viewer_prepare()
    server_timings()
    if not args.no_shots:
        for path in screenshots(args.extra):
            logger.info("saved %s", path)


if __name__ == "__main__":
    main()
