"""Default beat schedules, editable in the admin: a weekly retrain and a reaper of lost runs."""

from django.db import migrations

WEEKLY = "Weekly retrain"
REAPER = "Recover training runs of lost workers"


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    weekly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="3", day_of_week="0", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=WEEKLY,
        defaults={
            "task": "recommender.tasks.training_run_scheduled",
            "crontab": weekly,
            "enabled": True,
            "description": "Retrain on every rating each Sunday 03:00 UTC; edit or disable here.",
        },
    )
    every_10_min, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=REAPER,
        defaults={
            "task": "recommender.tasks.training_runs_reap",
            "interval": every_10_min,
            "enabled": True,
            "description": "Re-queue (or fail) runs whose worker stopped heartbeating.",
        },
    )


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[WEEKLY, REAPER]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommender", "0002_pipeline"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
