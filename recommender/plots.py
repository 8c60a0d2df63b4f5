"""PNG plots of training runs (matplotlib's Agg backend: no display, safe in web workers)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: a web or worker process has no display

from matplotlib.figure import Figure

from recommender.models import TrainingRun

COLOURS = {"numpy": "#4cc2ff", "torch": "#ff3d47"}  # the site's focus blue and brand red
# The site's dark palette (static/css/site.css), so the plot sits on the page like its cards.
BACKGROUND, PANEL, LINE, TEXT, MUTED = "#15151c", "#1f1f29", "#2b2b38", "#f2f2f5", "#a1a1b0"
THEME = {
    "figure.facecolor": BACKGROUND,
    "axes.facecolor": PANEL,
    "axes.edgecolor": LINE,
    "axes.labelcolor": MUTED,
    "axes.titlecolor": TEXT,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "grid.color": "#3a3a4a",
    "legend.facecolor": BACKGROUND,
    "legend.edgecolor": LINE,
    "legend.labelcolor": TEXT,
    "text.color": TEXT,
}


def training_runs_png(runs: Sequence[TrainingRun], *, stacked: bool = False) -> bytes:
    """Loss and validation HR@10 per epoch of each run, side by side (stacked: one above the
    other, for a narrow screen); one line per run, so the latest NumPy and PyTorch runs can be
    compared on the same axes. A ring marks the epoch whose weights each run kept."""
    with matplotlib.rc_context(THEME):
        return _plot(runs, stacked=stacked)


def _plot(runs: Sequence[TrainingRun], *, stacked: bool) -> bytes:
    figure = Figure(figsize=(4.6, 6.2) if stacked else (9, 3.4), dpi=100)
    loss_ax, hr_ax = figure.subplots(2, 1) if stacked else figure.subplots(1, 2)
    for run in runs:
        epochs = [
            e for e in run.epochs if e.get("phase", "neumf") == run.config.get("model", "neumf")
        ]
        epochs = epochs or list(run.epochs)
        xs = list(range(1, len(epochs) + 1))
        label = f"#{run.pk} {run.get_backend_display()}"
        colour = COLOURS.get(run.backend) if len(runs) <= 2 else None
        loss_ax.plot(xs, [e["loss"] for e in epochs], marker="o", ms=3, label=label, color=colour)
        (line,) = hr_ax.plot(
            xs, [e["val_hr"] for e in epochs], marker="o", ms=3, label=label, color=colour
        )
        if run.best_epoch and run.best_epoch <= len(epochs):
            best = epochs[run.best_epoch - 1]["val_hr"]
            hr_ax.plot(
                [run.best_epoch], [best], marker="o", ms=9, mfc="none", color=line.get_color()
            )
    loss_ax.set(title="Training loss (BCE)", xlabel="epoch")
    hr_ax.set(title="Validation HR@10 (ring: the epoch kept)", xlabel="epoch", ylim=(0, 1))
    for ax in (loss_ax, hr_ax):
        ax.grid(alpha=0.3)
        if runs:
            ax.legend(fontsize=8)
    if not any(run.epochs for run in runs):
        hr_ax.text(0.5, 0.5, "no epochs yet", ha="center", va="center", transform=hr_ax.transAxes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor=BACKGROUND)
    return buffer.getvalue()
