"""Usernames unique whatever their case: a functional unique index on lower(username).

auth.User is Django's model, so the index is plain SQL (the same on SQLite and Postgres). Before
creating it, existing rows are checked: case duplicates ("bob" and "BOB", possible before
sign-up normalised names) stop the migration with their names, rather than a bare IntegrityError.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models.functions import Lower

INDEX = "auth_user_username_lower_uniq"


def refuse_case_duplicates(apps: Any, schema_editor: Any) -> None:
    User = apps.get_model("auth", "User")
    from django.db.models import Count

    clashes = (
        User.objects.annotate(name=Lower("username"))
        .values("name")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("name", flat=True)
    )
    names = sorted(clashes)
    if names:
        shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
        raise RuntimeError(
            f"{len(names)} usernames exist in several cases ({shown}). Usernames are about to "
            "become unique ignoring case: rename or merge those accounts (e.g. in the admin), "
            "then run migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("ratings", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop),
        migrations.RunSQL(
            f"CREATE UNIQUE INDEX {INDEX} ON auth_user (lower(username))",
            f"DROP INDEX {INDEX}",
        ),
    ]
