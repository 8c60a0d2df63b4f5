"""Command line: train, benchmark, tune and evaluate NeuMF without Django or a database."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from recommender.engine.config import NeuMFConfig, read_config_file
from recommender.engine.data import FORMATS, Interactions, MovieLensError, load_movielens
from recommender.engine.threads import ENV_VAR as THREADS_VAR
from recommender.engine.threads import limit_threads, parse_threads

SYNTHETIC = ("ml1m", "planted")
# Exit statuses beside argparse's 2 for a usage error.
EXIT_DIVERGED = 1  # the training (or a saved model's scores) went NaN / infinite
EXIT_BAD_INPUT = 2  # unreadable data, a broken artifact, or data other than the artifact's


class CommandFailed(Exception):
    """Ends a subcommand with one line on stderr and a non-zero exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _layers(text: str) -> tuple[int, ...]:
    try:
        layers = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--layers wants integers like 64,32,16,8: {text}"
        ) from exc
    if not layers or layers[0] % 2:
        raise argparse.ArgumentTypeError("--layers must start with an even width")
    return layers


def _threads(text: str) -> int:
    try:
        return parse_threads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_thread_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=_threads,
        help=f"BLAS / OpenMP / torch threads of this process (default: {THREADS_VAR}, else "
        "OMP_NUM_THREADS and the like, else half the cores, at most 4)",
    )


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """Options for every NeuMFConfig field; their defaults are the config's own, which the web
    app's retrain uses too (docs/benchmarks.md has the evidence for them)."""
    default = NeuMFConfig()
    layers = ",".join(str(x) for x in default.mlp_layers)
    p.add_argument("--model", choices=("neumf", "gmf", "mlp"), default=default.model)
    p.add_argument("--epochs", type=int, default=default.epochs)
    p.add_argument("--batch-size", type=int, default=default.batch_size)
    p.add_argument("--lr", type=float, default=default.lr)
    p.add_argument("--gmf-dim", type=int, default=default.gmf_dim)
    p.add_argument("--layers", type=_layers, default=default.mlp_layers, help=f"e.g. {layers}")
    p.add_argument("--l2", type=float, default=default.l2)
    p.add_argument(
        "--weight-decay",
        type=float,
        default=default.weight_decay,
        help="Adam's coupled weight decay on the MLP tower's weight matrices",
    )
    p.add_argument(
        "--lr-decay",
        type=float,
        default=default.lr_decay,
        help="each epoch's learning rate is the last one's times this (1: constant)",
    )
    p.add_argument("--negatives", type=int, default=default.negatives)
    p.add_argument(
        "--patience",
        type=int,
        default=default.patience,
        help="early stopping on the --select metric",
    )
    p.add_argument(
        "--select",
        choices=("full", "sampled"),
        default=default.selection,
        help="what picks the epoch: full-catalogue validation NDCG (default) or the paper's "
        "sampled HR (99 negatives), which favours popular films",
    )
    p.add_argument(
        "--min-rating",
        type=float,
        default=default.min_rating,
        help="ratings below this many stars are not positives (default: every rating is one)",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="a JSON configuration (what `tune --out` writes); other options override it",
    )
    p.add_argument("--top-k", type=int, default=default.top_k)
    p.add_argument("--pretrain", action="store_true", help="pre-train GMF and MLP, then fuse")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, mps")


def _add_refit_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--refit",
        action="store_true",
        help="after choosing the epoch on validation, train afresh on train + validation for "
        "that many epochs and test that model (the paper's protocol)",
    )


def _add_data_options(p: argparse.ArgumentParser, *, synthetic: bool) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--data", type=Path, help="MovieLens directory (or its ratings file)")
    if synthetic:
        group.add_argument("--synthetic", choices=SYNTHETIC, help="generated data instead")
    p.add_argument("--format", choices=FORMATS, default="auto")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recommender.engine", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one model and optionally save an artifact")
    _add_data_options(train, synthetic=True)
    _add_model_options(train)
    train.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    train.add_argument("--out", type=Path, help="artifact directory to write")
    _add_refit_option(train)
    _add_thread_option(train)

    bench = sub.add_parser("benchmark", help="both backends and the baselines on one split")
    _add_data_options(bench, synthetic=True)
    _add_model_options(bench)
    bench.add_argument("--backends", default="numpy,torch")
    bench.add_argument("--no-baselines", action="store_true")
    _add_thread_option(bench)  # this process's and each training process's
    bench.add_argument("--name", help="data set name in the report (default: from the path)")
    bench.add_argument("--out", type=Path, help="markdown report (PNG plots go beside it)")

    tune = sub.add_parser(
        "tune", help="search hyper-parameters on validation, then repeat the best over seeds"
    )
    _add_data_options(tune, synthetic=True)
    _add_model_options(tune)
    tune.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    tune.add_argument("--trials", type=int, default=30, help="at most this many trials")
    tune.add_argument("--timeout", type=float, default=None, help="stop searching after S s")
    tune.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="repeats of the best config"
    )
    tune.add_argument(
        "--out", type=Path, help="JSON of the chosen config and its evidence (for --config)"
    )
    _add_refit_option(tune)
    _add_thread_option(tune)

    ev = sub.add_parser("evaluate", help="test metrics of a saved artifact on its own split")
    ev.add_argument("artifact", type=Path)
    ev.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--data", type=Path, help="check the data fingerprint against this release")
    ev.add_argument("--format", choices=FORMATS, default="auto")
    _add_thread_option(ev)
    return parser


# NeuMFConfig field -> the option's argparse dest.
OPTION_FIELDS = {
    "model": "model",
    "gmf_dim": "gmf_dim",
    "mlp_layers": "layers",
    "negatives": "negatives",
    "lr": "lr",
    "batch_size": "batch_size",
    "epochs": "epochs",
    "l2": "l2",
    "weight_decay": "weight_decay",
    "lr_decay": "lr_decay",
    "patience": "patience",
    "top_k": "top_k",
    "selection": "select",
    "min_rating": "min_rating",
}


def _config(args: argparse.Namespace) -> NeuMFConfig:
    """The defaults, or the --config file's configuration, with every option that differs from
    the defaults applied on top."""
    default = NeuMFConfig()
    try:
        file = read_config_file(args.config) if getattr(args, "config", None) else {}
        changed = {
            name: getattr(args, dest)
            for name, dest in OPTION_FIELDS.items()
            if getattr(args, dest) != getattr(default, name)
        }
        return NeuMFConfig.from_overrides({**file, **changed})
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_BAD_INPUT) from exc


def _load(args: argparse.Namespace) -> tuple[Interactions, str]:
    from recommender.engine.data import synthetic_ml1m_shape, synthetic_planted

    if getattr(args, "synthetic", None) and getattr(args, "min_rating", None) is not None:
        raise CommandFailed(
            "--min-rating needs --data: generated data has no star ratings", EXIT_BAD_INPUT
        )
    if getattr(args, "synthetic", None) == "ml1m":
        return synthetic_ml1m_shape(seed=args.seed), "synthetic-ml1m"
    if getattr(args, "synthetic", None) == "planted":
        return synthetic_planted(seed=args.seed), "synthetic-planted"
    min_rating = getattr(args, "min_rating", None)
    return _load_movielens(args.data, args.format, min_rating), Path(args.data).name


def _load_movielens(path: Path, fmt: str, min_rating: float | None = None) -> Interactions:
    try:
        return load_movielens(path, fmt, min_rating=min_rating)
    except (OSError, MovieLensError) as exc:
        raise CommandFailed(f"cannot load --data {path}: {exc}", EXIT_BAD_INPUT) from exc


def _epoch_line(prefix: str, report: object, k: int) -> str:
    from recommender.engine.train import EpochReport

    assert isinstance(report, EpochReport)
    return (
        f"{prefix}{report.phase} epoch {report.epoch:3d}  loss {report.loss:.4f}  "
        f"val HR@{k} {report.val_hr:.4f}  NDCG@{k} {report.val_ndcg:.4f}  "
        f"full R@{k} {report.val_full_recall:.4f}  N@{k} {report.val_full_ndcg:.4f}  "
        f"{report.seconds:6.2f} s  {report.rows_per_s:,.0f} rows/s"
    )


def _best_epoch_line(result: object, *, pretrained: bool) -> str:
    """The kept epoch with its validation score; epoch 0 is the weights before the final phase's
    first epoch (the fused towers when pre-training, else the random start), kept because no
    epoch beat them on validation."""
    from recommender.engine.train import FitResult

    assert isinstance(result, FitResult)
    k = result.config.top_k
    epoch = f"best epoch {result.best_epoch}"
    if result.best_epoch == 0:
        start = "the fused pre-trained towers" if pretrained else "the untrained start"
        epoch += f" ({start}: no {result.config.model} epoch beat it on validation)"
    m = result.metrics
    chosen = "full-catalogue NDCG" if result.config.selection == "full" else "sampled HR"
    return (
        f"{epoch}: val HR@{k} {m['val_hr']:.4f}  NDCG@{k} {m['val_ndcg']:.4f}  "
        f"full Recall@{k} {m['val_full_recall']:.4f}  NDCG@{k} {m['val_full_ndcg']:.4f}  "
        f"(chosen on {chosen})"
    )


def _diverged(exc: Exception) -> CommandFailed:
    return CommandFailed(f"{exc}; no metrics, no artifact", EXIT_DIVERGED)


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from recommender.engine.artifacts import save_artifact
    from recommender.engine.train import EpochReport, TrainingDiverged, fit

    data, name = _load(args)
    config = _config(args)
    phases = 3 if args.pretrain else 1
    print(f"{name}: {data.n_users:,} users, {data.n_items:,} items, {len(data):,} interactions")
    with tqdm(total=config.epochs * phases, unit="epoch", dynamic_ncols=True) as bar:

        def on_epoch(report: EpochReport) -> None:
            bar.write(_epoch_line("", report, config.top_k))
            bar.set_postfix(loss=f"{report.loss:.4f}", hr=f"{report.val_hr:.3f}")
            bar.update(1)

        try:
            result = fit(
                data, config, backend=args.backend, device=args.device, seed=args.seed,
                on_epoch=on_epoch, pretrain=args.pretrain, refit=args.refit,
            )  # fmt: skip
        except TrainingDiverged as exc:
            raise _diverged(exc) from exc
        except ValueError as exc:
            raise CommandFailed(str(exc), EXIT_BAD_INPUT) from exc
    print(_best_epoch_line(result, pretrained=args.pretrain))
    print(json.dumps(result.metrics, indent=None))
    if args.out:
        path = save_artifact(args.out, result, overwrite=True)
        print(f"artifact written to {path}")
    return 0


def cmd_benchmark(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from tqdm import tqdm

    from recommender.engine.benchmark import run_benchmark, write_report
    from recommender.engine.train import EpochReport, TrainingDiverged

    data, default_name = _load(args)
    name = args.name or default_name
    config = _config(args)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    out = args.out or Path("docs/benchmarks") / f"{name}.md"
    print(f"{name}: {data.n_users:,} users, {data.n_items:,} items, {len(data):,} interactions")
    phases = 3 if args.pretrain else 1
    with tqdm(total=config.epochs * phases * len(backends), unit="epoch") as bar:

        def on_epoch(backend: str, report: EpochReport) -> None:
            bar.write(_epoch_line(f"[{backend}] ", report, config.top_k))
            bar.update(1)

        try:
            result = run_benchmark(
                data, config, dataset=name, backends=backends, device=args.device,
                seed=args.seed, baselines=not args.no_baselines, pretrain=args.pretrain,
                threads=args.threads, on_epoch=on_epoch,
            )  # fmt: skip
        except TrainingDiverged as exc:
            raise _diverged(exc) from exc
    result.command = "python -m recommender.engine " + shlex.join(argv)
    for run in result.runs:
        print(f"{run.name:<45} {run.backend:>6}  " + json.dumps(
            {k: round(v, 4) for k, v in run.metrics.items()}
        ))  # fmt: skip
    for path in write_report(result, out):
        print(f"wrote {path}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from recommender.engine.train import FitResult
    from recommender.engine.tune import TrialReport, repeat, search

    data, name = _load(args)
    base = _config(args)
    print(f"{name}: {data.n_users:,} users, {data.n_items:,} items, {len(data):,} interactions")
    print(f"search: up to {args.trials} trials of up to {base.epochs} epochs, seed {args.seed}")

    def on_trial(trial: TrialReport) -> None:
        value = "-" if trial.value is None else f"{trial.value:.4f}"
        params = "  ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in trial.params.items()
        )
        print(
            f"trial {trial.number:3d}  {trial.state:8s}  {value}  ({trial.epochs} epochs)  {params}"
        )

    try:
        result = search(
            data, base, trials=args.trials, timeout=args.timeout, seed=args.seed,
            backend=args.backend, device=args.device, on_trial=on_trial,
        )  # fmt: skip
    except ValueError as exc:
        raise CommandFailed(str(exc), EXIT_DIVERGED) from exc
    print(f"best {result.metric} {result.best_value:.4f}: {json.dumps(result.to_dict()['config'])}")

    def on_done(fitted: FitResult) -> None:
        m = fitted.metrics
        print(
            f"seed {fitted.seed}: best epoch {fitted.best_epoch}  test HR@10 {m['test_hr']:.4f}  "
            f"NDCG@10 {m['test_ndcg']:.4f}  full Recall@10 {m['test_full_recall']:.4f}  "
            f"NDCG@10 {m['test_full_ndcg']:.4f}  coverage {m['test_coverage']:.4f}"
        )

    result.repeats = repeat(
        data, result.best_config, args.seeds, backend=args.backend, device=args.device,
        refit=args.refit, on_done=on_done,
    )  # fmt: skip
    for metric, stats in result.summary().items():
        print(f"{metric:28s} {stats['mean']:.4f} ± {stats['std']:.4f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result.to_dict(), indent=1) + "\n")
        print(f"configuration written to {args.out} (use it with --config)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from recommender.engine.artifacts import ArtifactError, load_artifact
    from recommender.engine.metrics import NonFiniteScores
    from recommender.engine.train import evaluate

    try:
        loaded = load_artifact(args.artifact, backend=args.backend, device=args.device)
        split = loaded.split()
    except ArtifactError as exc:
        raise CommandFailed(str(exc), EXIT_BAD_INPUT) from exc
    if args.data is not None:
        data = _load_movielens(args.data, args.format, loaded.config.min_rating)
        fingerprint = data.fingerprint()
        if fingerprint != loaded.fingerprint:
            raise CommandFailed(
                f"{args.artifact} was trained on other data than {args.data}: its data "
                f"fingerprint is {loaded.fingerprint}, the --data one {fingerprint}",
                EXIT_BAD_INPUT,
            )
    try:
        metrics = evaluate(loaded.predict, loaded.score_users, split, loaded.config.top_k)
    except NonFiniteScores as exc:
        raise CommandFailed(f"the saved model scores are not finite: {exc}", EXIT_DIVERGED) from exc
    print(json.dumps({"saved": loaded.metrics, "recomputed": metrics}, indent=1))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.threads = limit_threads(args.threads)
    except ValueError as exc:  # a bad RECSITE_THREADS
        parser.error(str(exc))
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "benchmark":
            return cmd_benchmark(args, argv)
        if args.command == "tune":
            return cmd_tune(args)
        return cmd_evaluate(args)
    except CommandFailed as failed:
        print(f"error: {failed}", file=sys.stderr)
        return failed.status
