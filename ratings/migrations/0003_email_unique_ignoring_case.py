"""Email addresses unique whatever their case: a partial unique index on lower(email), for rows
that have one ("" means none, and many accounts have none; imported raters, for one).

Existing duplicates stop the migration with the addresses, rather than a bare IntegrityError.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import Count
from django.db.models.functions import Lower

INDEX = "auth_user_email_lower_uniq"


def refuse_duplicate_emails(apps: Any, schema_editor: Any) -> None:
    User = apps.get_model("auth", "User")
    clashes = (
        User.objects.exclude(email="")
        .annotate(address=Lower("email"))
        .values("address")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("address", flat=True)
    )
    addresses = sorted(clashes)
    if addresses:
        shown = ", ".join(addresses[:20]) + (" ..." if len(addresses) > 20 else "")
        raise RuntimeError(
            f"{len(addresses)} email addresses belong to several accounts ({shown}). Addresses "
            "are about to become unique ignoring case: change or clear them on all but one "
            "account each (e.g. in the admin), then run migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [("ratings", "0002_username_unique_ignoring_case")]

    operations = [
        migrations.RunPython(refuse_duplicate_emails, migrations.RunPython.noop),
        migrations.RunSQL(
            f"CREATE UNIQUE INDEX {INDEX} ON auth_user (lower(email)) WHERE email <> ''",
            f"DROP INDEX {INDEX}",
        ),
    ]
