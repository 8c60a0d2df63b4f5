"""Benchmark both backends and the baselines on one split; write a markdown report and plots."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import platform
import queue
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from recommender.engine.baselines import DotMF, ItemKNN, MFConfig, Popularity
from recommender.engine.config import NeuMFConfig
from recommender.engine.data import Interactions
from recommender.engine.split import Split, leave_one_out
from recommender.engine.threads import ENV_VAR as THREADS_VAR
from recommender.engine.train import EpochReport, TrainingDiverged, evaluate, fit

logger = logging.getLogger(__name__)
_POLL_S = 1.0
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", THREADS_VAR)


@dataclass
class RunSummary:
    """One trained model's figures for the report."""

    name: str
    backend: str
    device: str
    metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    peak_rss_mib: float = 0.0
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def seconds_per_epoch(self) -> float:
        return float(np.mean([h["seconds"] for h in self.history])) if self.history else 0.0

    @property
    def rows_per_s(self) -> float:
        return float(np.mean([h["rows_per_s"] for h in self.history])) if self.history else 0.0

    @property
    def final_loss(self) -> float:
        return float(self.history[-1]["loss"]) if self.history else float("nan")


@dataclass
class BenchmarkResult:
    dataset: str
    n_users: int
    n_items: int
    n_interactions: int
    n_train_rows: int
    config: NeuMFConfig
    seed: int
    runs: list[RunSummary]
    n_test_users: int = 0
    threads: int | None = None
    command: str = ""


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if platform.system() == "Darwin" else peak / 1024


def _child(
    arrays: dict[str, Any],
    config_dict: dict[str, Any],
    backend: str,
    device: str,
    seed: int,
    pretrain: bool,
    out: Any,
) -> None:
    """Runs in a fresh process so that peak memory and timings are the backend's own."""
    try:
        data = Interactions.from_arrays(arrays["users"], arrays["items"], arrays["timestamps"])
        split = Split.from_arrays(data.n_users, data.n_items, arrays["split"])
        result = fit(
            data,
            NeuMFConfig.from_dict(config_dict),
            backend=backend,
            device=device,
            seed=seed,
            split=split,
            pretrain=pretrain,
            on_epoch=lambda report: out.put(("epoch", report.to_dict())),
        )
        device_label = result.device
        if device_label == "cuda":
            import torch

            device_label = f"cuda, {torch.cuda.get_device_name()}"
        out.put(
            (
                "done",
                {
                    "device": device_label,
                    "metrics": result.metrics,
                    "history": [h.to_dict() for h in result.history],
                    "best_epoch": result.best_epoch,
                    "seconds": result.seconds,
                    "peak_rss_mib": peak_rss_mib(),
                },
            )
        )
    except TrainingDiverged as exc:
        out.put(("diverged", str(exc)))  # a result, not a crash: no traceback
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))
        raise


def run_backend(
    data: Interactions,
    split: Split,
    config: NeuMFConfig,
    *,
    backend: str,
    device: str = "auto",
    seed: int = 0,
    pretrain: bool = False,
    threads: int | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> RunSummary:
    """Train one backend in a spawned process (clean peak memory, no shared thread pools).
    `threads` caps the BLAS / OpenMP / torch thread pools of that process (None: what this
    process's environment says). Raises TrainingDiverged when the training does."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    arrays = {
        "users": data.users.raw(data.user_idx),
        "items": data.items.raw(data.item_idx),
        "timestamps": np.asarray(data.timestamps),
        "split": split.arrays(),
    }
    proc = ctx.Process(
        target=_child,
        args=(arrays, config.to_dict(), backend, device, seed, pretrain, out),
        daemon=True,
    )
    saved = {name: os.environ.get(name) for name in _THREAD_VARS}
    if threads is not None:
        # The child reads these when it imports numpy and torch, before any of our code runs.
        os.environ.update({name: str(threads) for name in _THREAD_VARS})
    try:
        proc.start()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    payload: dict[str, Any] | None = None
    try:
        while payload is None:
            try:
                kind, value = out.get(timeout=_POLL_S)
            except queue.Empty:
                if not proc.is_alive():
                    raise RuntimeError(
                        f"{backend} run died with exit code {proc.exitcode}"
                    ) from None
                continue
            if kind == "epoch" and on_epoch is not None:
                on_epoch(EpochReport(**value))
            elif kind == "error":
                raise RuntimeError(f"{backend} run failed: {value}")
            elif kind == "diverged":
                raise TrainingDiverged(f"{backend}: {value}")
            elif kind == "done":
                payload = value
    finally:
        proc.join(timeout=30)
    name = (
        "NeuMF" + (" (pre-trained)" if pretrain else "")
        if config.model == "neumf"
        else config.model.upper()
    )
    return RunSummary(name=name, backend=backend, **payload)


def run_baselines(
    split: Split, config: NeuMFConfig, *, seed: int = 0, mf_epochs: int | None = None
) -> list[RunSummary]:
    """Popularity, item-kNN and dot-product MF on the split, scored by the same evaluator."""
    k = config.top_k
    runs: list[RunSummary] = []
    started = time.perf_counter()
    pop = Popularity(split.train_users, split.train_items, split.n_users, split.n_items)
    metrics = evaluate(pop.predict, pop.score_users, split, k)
    runs.append(
        RunSummary("Popularity", "numpy", "cpu", metrics, seconds=time.perf_counter() - started)
    )
    started = time.perf_counter()
    knn = ItemKNN(split.train_users, split.train_items, split.n_users, split.n_items)
    metrics = evaluate(knn.predict, knn.score_users, split, k)
    runs.append(
        RunSummary(
            "Item-kNN (cosine, k=100)",
            "numpy",
            "cpu",
            metrics,
            seconds=time.perf_counter() - started,
        )
    )
    started = time.perf_counter()
    mf_config = MFConfig(
        epochs=config.epochs if mf_epochs is None else mf_epochs,
        batch_size=config.batch_size,
        negatives=config.negatives,
    )
    mf = DotMF(split.n_users, split.n_items, mf_config, seed=seed)
    history = mf.fit(split.train_users, split.train_items, seed=seed)
    metrics = evaluate(mf.predict, mf.score_users, split, k)
    rows = split.train_users.shape[0] * (1 + mf_config.negatives)
    runs.append(
        RunSummary(
            f"Dot-product MF (BCE, {mf_config.dim} factors, Adam {mf_config.lr})",
            "numpy",
            "cpu",
            metrics,
            history=[
                {"epoch": e + 1, "loss": loss, "seconds": s, "rows_per_s": rows / s}
                for e, (loss, s) in enumerate(history)
            ],
            seconds=time.perf_counter() - started,
        )
    )
    return runs


def run_benchmark(
    data: Interactions,
    config: NeuMFConfig,
    *,
    dataset: str,
    backends: tuple[str, ...] = ("numpy", "torch"),
    device: str = "auto",
    seed: int = 0,
    baselines: bool = True,
    pretrain: bool = False,
    threads: int | None = None,
    on_epoch: Callable[[str, EpochReport], None] | None = None,
) -> BenchmarkResult:
    """Both backends (and the baselines) on one split, one architecture, batch size and seed."""
    split = leave_one_out(data, seed=seed)
    runs: list[RunSummary] = []
    for backend in backends:
        logger.info("benchmark: training the %s backend", backend)
        callback = None if on_epoch is None else (lambda r, b=backend: on_epoch(b, r))
        runs.append(
            run_backend(
                data, split, config, backend=backend, device=device, seed=seed,
                pretrain=pretrain, threads=threads, on_epoch=callback,
            )
        )  # fmt: skip
    if baselines:
        logger.info("benchmark: baselines")
        runs.extend(run_baselines(split, config, seed=seed))
    return BenchmarkResult(
        dataset=dataset,
        n_users=data.n_users,
        n_items=data.n_items,
        n_interactions=len(data),
        n_train_rows=int(split.train_users.shape[0] * (1 + config.negatives)),
        config=config,
        seed=seed,
        runs=runs,
        n_test_users=int(split.test_users.shape[0]),
        threads=threads,
    )


NA = "-"


def _fmt(value: float | None, digits: int = 4) -> str:
    return NA if value is None or value != value else f"{value:.{digits}f}"


def _hr_mid(result: BenchmarkResult) -> float:
    hrs = [r.metrics["test_hr"] for r in result.runs if "test_hr" in r.metrics]
    return float(np.median(hrs)) if hrs else 0.5


def _hr_se(result: BenchmarkResult) -> float:
    p = _hr_mid(result)
    return float(np.sqrt(p * (1.0 - p) / max(result.n_test_users, 1)))


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _plots(result: BenchmarkResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    neural = [
        r
        for r in result.runs
        if r.backend in ("numpy", "torch") and r.history and "val_hr" in r.history[0]
    ]
    paths: list[Path] = []
    for key, label, suffix in (
        ("loss", "training loss (mean BCE)", "loss"),
        ("val_hr", f"validation HR@{result.config.top_k}", "val-hr"),
        ("seconds", "seconds per epoch (training)", "seconds"),
    ):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for run in neural:
            phase = run.history[-1].get("phase")
            hist = [h for h in run.history if h.get("phase") == phase]
            ax.plot(
                [h["epoch"] for h in hist],
                [h[key] for h in hist],
                marker="o",
                label=f"{run.name}, {run.backend} ({run.device})",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{result.dataset}: {label}")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out.with_name(f"{out.stem}-{suffix}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_report(result: BenchmarkResult, out: str | Path) -> list[Path]:
    """Markdown report at `out` and PNG plots beside it; returns every path written."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    plots = _plots(result, path)
    cfg = result.config
    k = cfg.top_k
    neural = [r for r in result.runs if r.history and "val_hr" in r.history[0]]
    numpy_run = next((r for r in neural if r.backend == "numpy"), None)
    command = result.command or "python -m recommender.engine benchmark"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    layers = "-".join(map(str, cfg.mlp_layers))
    lines = [
        f"# Benchmark: {result.dataset}",
        "",
        f"Generated {stamp} by `{command}`.",
        "",
        f"- Data: {result.n_users:,} users, {result.n_items:,} items, "
        f"{result.n_interactions:,} interactions (every rating a positive); "
        f"{result.n_train_rows:,} training rows per epoch "
        f"(train positives x (1 + {cfg.negatives} negatives)).",
        "- Protocol: leave-one-out by timestamp (latest item = test, the one before = "
        f"validation); HR@{k} / NDCG@{k} rank the held-out item among 99 sampled unseen items, "
        f"full-catalogue Recall@{k} / NDCG@{k} among every item the user has not seen (train "
        "and validation items excluded). Sampled metrics flatter every model; compare within a "
        "column.",
        f"- Model: {cfg.model}, GMF {cfg.gmf_dim} factors, MLP layers {layers}, "
        f"{cfg.negatives} negatives per positive fresh each epoch, Adam lr {cfg.lr}, "
        f"batch {cfg.batch_size}, {cfg.epochs} epochs, l2 {cfg.l2}, seed {result.seed}. "
        "Test metrics are those of the best validation epoch.",
        f"- Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, NumPy {np.__version__}{_torch_version()}; "
        + (
            f"BLAS / OpenMP / torch threads per training process: {result.threads}."
            if result.threads
            else "library-default thread pools."
        ),
        f"- {result.n_test_users:,} test users: an HR@{k} near {_hr_mid(result):.2f} has a "
        f"binomial standard error of about {_hr_se(result):.3f}, so smaller gaps are noise.",
        "- Each backend trains in its own fresh process: peak memory is that process's maximum "
        "resident set (getrusage), interpreter and libraries included. Seconds per epoch count "
        "sampling and training, not the validation pass.",
        "",
        _row(
            [
                "model",
                "backend (device)",
                "epochs",
                "best epoch",
                "final loss",
                f"HR@{k}",
                f"NDCG@{k}",
                f"full Recall@{k}",
                f"full NDCG@{k}",
                "s / epoch",
                "train rows / s",
                "peak RSS MiB",
                "speed-up vs NumPy",
            ]
        ),
        _row(["---", "---"] + ["---:"] * 11),
    ]
    for run in result.runs:
        m = run.metrics
        speed = NA
        if numpy_run is not None and run in neural and run.seconds_per_epoch > 0:
            speed = f"{numpy_run.seconds_per_epoch / run.seconds_per_epoch:.2f}x"
        lines.append(
            _row(
                [run.name, f"{run.backend} ({run.device})", str(run.epochs or NA)]
                + [str(run.best_epoch or NA), _fmt(run.final_loss)]
                + [_fmt(m.get(key)) for key in ("test_hr", "test_ndcg")]
                + [_fmt(m.get(key)) for key in ("test_full_recall", "test_full_ndcg")]
                + [_fmt(run.seconds_per_epoch, 2) if run.history else NA]
                + [f"{run.rows_per_s:,.0f}" if run.history else NA]
                + [_fmt(run.peak_rss_mib, 0) if run.peak_rss_mib else NA, speed]
            )
        )
    lines += ["", "Per epoch (neural models):", ""]
    for run in neural:
        lines += [
            f"**{run.name}, {run.backend} ({run.device})**",
            "",
            _row(["phase", "epoch", "loss", f"val HR@{k}", f"val NDCG@{k}", "seconds", "rows / s"]),
            _row(["---"] + ["---:"] * 6),
        ]
        lines += [
            _row(
                [
                    str(h["phase"]),
                    str(h["epoch"]),
                    f"{h['loss']:.4f}",
                    f"{h['val_hr']:.4f}",
                    f"{h['val_ndcg']:.4f}",
                    f"{h['seconds']:.2f}",
                    f"{h['rows_per_s']:,.0f}",
                ]
            )
            for h in run.history
        ]
        lines.append("")
    lines += [f"![{p.stem}]({p.name})" for p in plots]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [path, *plots]


def _torch_version() -> str:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in the requirements
        return ""
    return f", PyTorch {torch.__version__}"
