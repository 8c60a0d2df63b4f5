"""Ratings indexed by (user, rated_at) in place of user alone: the rating stamp that keys every
cached recommendation list (COUNT and MAX(rated_at) of a user's ratings) reads the index alone,
where the user index fetched each rating's row (7-10 ms a request for a rater of 29,000 films),
and a user's ratings come newest first without a sort. The unique (user, movie) constraint's
index serves the other lookups by user."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_movie_genre_proxy"),
        ("ratings", "0003_email_unique_ignoring_case"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The new index first, so a lookup by user always has one.
        migrations.AddIndex(
            model_name="rating",
            index=models.Index(fields=["user", "rated_at"], name="rating_user_rated_at_idx"),
        ),
        migrations.AlterField(
            model_name="rating",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="ratings",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
