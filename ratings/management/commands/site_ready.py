"""manage.py site_ready: wait until the web server answers, then print its URL and the demo login.

`make run` runs it as the last Procfile process: by the time the site is up, the login that
create_demo_user printed has scrolled away behind the first model's training. honcho stops every
process as soon as one ends, so there it runs with --stay and idles until honcho stops it.
"""

from __future__ import annotations

import signal
import sys
import time
import urllib.error
import urllib.request
from types import FrameType
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ratings.management.commands.create_demo_user import DEMO_PASSWORD, DEMO_USERNAME


def _answers(url: str) -> bool:
    """True once the server serves the page (a 5xx means it is not ready yet)."""
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:  # refused, reset, timed out: not listening yet
        return False


def _stop(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


class Command(BaseCommand):
    help = "Wait for the web server to answer, then print its URL and the demo login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")
        parser.add_argument(
            "--timeout", type=float, default=120.0, help="seconds to wait (0: for ever)"
        )
        parser.add_argument(
            "--stay", action="store_true", help="keep running once printed, until SIGTERM"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url: str = options["url"]
        timeout: float = options["timeout"]
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while not _answers(url):
            if deadline is not None and time.monotonic() > deadline:
                raise CommandError(f"nothing answered at {url} within {timeout:g} s")
            time.sleep(0.5)
        self.stdout.write(self.style.SUCCESS(f"recsite is up at {url} — {self._login(url)}"))
        self.stdout.flush()
        if options["stay"]:
            signal.signal(signal.SIGTERM, _stop)
            while True:
                time.sleep(3600)

    def _login(self, url: str) -> str:
        user = get_user_model().objects.filter(username=DEMO_USERNAME, is_active=True).first()
        if user is None or not user.check_password(DEMO_PASSWORD):
            return "no demo login (manage.py create_demo_user makes one)"
        base = url.rstrip("/")
        return (
            f"log in as {DEMO_USERNAME} / {DEMO_PASSWORD} (staff: {base}/staff/ and {base}/admin/)"
        )
