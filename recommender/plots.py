"""PNG plots of training runs (matplotlib's Agg backend: no display, safe in web workers)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: a web or worker process has no display

from matplotlib.figure import Figure

from recommender.models import TrainingRun

COLOURS = {"numpy": "#1f77b4", "torch": "#d62728"}


def training_runs_png(runs: Sequence[TrainingRun]) -> bytes:
    """Loss and validation HR@10 per epoch of each run, side by side; one line per run, so the
    latest NumPy and PyTorch runs can be compared on the same axes."""
    figure = Figure(figsize=(9, 3.4), dpi=100)
    loss_ax, hr_ax = figure.subplots(1, 2)
    for run in runs:
        epochs = [
            e for e in run.epochs if e.get("phase", "neumf") == run.config.get("model", "neumf")
        ]
        epochs = epochs or list(run.epochs)
        xs = list(range(1, len(epochs) + 1))
        label = f"#{run.pk} {run.get_backend_display()}"
        colour = COLOURS.get(run.backend) if len(runs) <= 2 else None
        loss_ax.plot(xs, [e["loss"] for e in epochs], marker="o", ms=3, label=label, color=colour)
        hr_ax.plot(xs, [e["val_hr"] for e in epochs], marker="o", ms=3, label=label, color=colour)
    loss_ax.set(title="Training loss (BCE)", xlabel="epoch")
    hr_ax.set(title="Validation HR@10", xlabel="epoch", ylim=(0, 1))
    for ax in (loss_ax, hr_ax):
        ax.grid(alpha=0.3)
        if runs:
            ax.legend(fontsize=8)
    if not any(run.epochs for run in runs):
        hr_ax.text(0.5, 0.5, "no epochs yet", ha="center", va="center", transform=hr_ax.transAxes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
