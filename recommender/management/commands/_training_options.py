"""Options shared by the training commands: backend, epochs, config overrides as JSON, threads."""

from __future__ import annotations

import json
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from recommender.engine.threads import limit_threads, parse_threads
from recommender.engine.train import EpochReport
from recommender.models import Backend


def _threads(text: str) -> int:
    try:
        return parse_threads(text)
    except ValueError as exc:
        raise ArgumentTypeError(str(exc)) from None


def add_threads_argument(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=_threads,
        help="BLAS / OpenMP / torch threads of this process (default: RECSITE_THREADS, else "
        "OMP_NUM_THREADS and the like, else half the cores, at most 4)",
    )


def threads_limit(options: dict[str, Any]) -> int:
    """Size this process's thread pools before it trains or scores (--threads or the default)."""
    try:
        return limit_threads(options.get("threads"))
    except ValueError as exc:  # a bad RECSITE_THREADS
        raise CommandError(str(exc)) from exc


def add_training_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=Backend.values, default=None, help="default: RECSITE_DEFAULT_BACKEND"
    )
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument(
        "--config",
        default="{}",
        help="NeuMFConfig overrides as JSON, e.g. '{\"batch_size\": 1024}'",
    )
    parser.add_argument(
        "--force", action="store_true", help="activate even if not better than the active model"
    )
    add_threads_argument(parser)


def training_options(options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    try:
        config = json.loads(options["config"])
    except json.JSONDecodeError as exc:
        raise CommandError(f"--config is not JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise CommandError("--config must be a JSON object")
    if options.get("epochs") is not None:
        config["epochs"] = options["epochs"]
    return options["backend"] or settings.RECSITE_DEFAULT_BACKEND, config


def epoch_line(epoch: dict[str, Any] | EpochReport) -> str:
    e = epoch.to_dict() if isinstance(epoch, EpochReport) else epoch
    return (
        f"{e.get('phase', 'neumf')} epoch {e['epoch']:>3}: loss {e['loss']:.4f}  "
        f"val HR@10 {e['val_hr']:.4f}  NDCG@10 {e['val_ndcg']:.4f}  "
        f"{e['seconds']:.1f} s ({e['rows_per_s']:,.0f} rows/s)"
    )
