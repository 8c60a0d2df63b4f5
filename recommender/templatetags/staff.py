"""Template helpers of the staff dashboard: a run's progress and its per-epoch timing."""

from __future__ import annotations

from typing import Any

from django import template

from recommender.models import TrainingRun

register = template.Library()


@register.filter
def epochs_total(run: TrainingRun) -> int:
    """The epochs the run is configured for (its progress bar's end)."""
    return int(run.config.get("epochs", 0) or 0)


@register.filter
def last_epoch(run: TrainingRun) -> dict[str, Any] | None:
    """The newest epoch report of a run, or None before the first one."""
    return run.epochs[-1] if run.epochs else None


@register.filter
def seconds_per_epoch(run: TrainingRun) -> float | None:
    """Mean training seconds of the run's epochs (evaluation not included), or None."""
    seconds = [float(e["seconds"]) for e in run.epochs if "seconds" in e]
    return sum(seconds) / len(seconds) if seconds else None
