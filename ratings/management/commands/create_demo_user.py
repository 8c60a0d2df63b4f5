"""manage.py create_demo_user: a staff login for trying recsite locally, printed once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from ratings.services import profile_get_or_create

# `manage.py site_ready` prints this login again once the site is up (`make run`).
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-recsite-2026"


class Command(BaseCommand):
    help = "Create (or reset) a demo staff user and print its login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default=DEMO_USERNAME)
        parser.add_argument("--password", default=DEMO_PASSWORD)

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=options["username"], defaults={"email": "demo@example.com"}
        )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(options["password"])
        user.save()
        profile_get_or_create(user=user)
        verb = "Created" if created else "Reset"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} demo login -> username: {options['username']}  "
                f"password: {options['password']}  (staff; http://127.0.0.1:8000/admin/)"
            )
        )
