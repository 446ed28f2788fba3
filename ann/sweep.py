"""Sweep runner shared by the MixLU experiments: specs x resume x engine x progress.

The second half of this module is the command-line scaffolding the experiment
scripts share (options, validation, one-line errors, report, output files), so
that ``experiments/mixlu_mnist.py`` and ``experiments/mixlu_cifar.py`` stay thin.

:func:`run_sweep` trains every :class:`~ann.train.RunSpec` that is not already in
the :class:`~ann.results.RunStore`, with one of two engines:

``"batched"`` (the scripts' default)
    ``ann.batched.train_batched(specs, data, config, build_model, device,
    progress=True)``, imported on first use: an iterator yielding ``(spec, result)``
    as runs finish, with results equal to the loop's to float tolerance.
``"loop"``
    :func:`ann.train.train_one` for each run in turn (the reference trainer).

Each finished run is written to the store at once (atomically), so an interrupted
sweep loses at most the runs in progress, and rerunning it trains only the rest.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ann.activations import BACKWARDS, MASK_DRAW, MASK_MODES
from ann.data.datasets import TensorData
from ann.results import RunStore, SweepMismatch, atomic_write_json, atomic_write_text
from ann.train import RunSpec, TrainConfig, resolve_device, train_one

__all__ = [
    "ENGINES",
    "EngineUnavailable",
    "make_specs",
    "sweep_meta",
    "run_sweep",
    "run_line",
    "UserError",
    "OneLineArgumentParser",
    "parse_percents",
    "add_sweep_arguments",
    "check_sweep_arguments",
    "backwards_of",
    "mask_settings",
    "apply_quick",
    "run_csv",
    "write_outputs",
    "run_experiment",
    "cli_main",
    "stored_results",
]

ENGINES = ("batched", "loop")


class EngineUnavailable(ValueError):
    """The requested engine cannot be used (e.g. ``ann.batched`` is not installed)."""


def make_specs(
    percents: Iterable[float], backwards: Iterable[str], seeds: int | Iterable[int]
) -> list[RunSpec]:
    """All runs of a sweep, ordered backward mode, then seed, then percentage.

    Args:
        percents: NegLU percentages (0..100); duplicates are dropped.
        backwards: NegLU backward modes; duplicates are dropped.
        seeds: a count ``n`` (seeds ``0 .. n-1``) or explicit seeds.

    Raises:
        ValueError: an invalid percentage, mode or seed, or an empty list.
    """
    percents = list(dict.fromkeys(float(p) for p in percents))
    backwards = list(dict.fromkeys(backwards))
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be a positive count, got {seeds}")
        seeds = range(seeds)
    seeds = list(dict.fromkeys(seeds))
    for name, values in (("percents", percents), ("backwards", backwards), ("seeds", seeds)):
        if not values:
            raise ValueError(f"{name} must not be empty")
    return [RunSpec(p, b, s) for b in backwards for s in seeds for p in percents]


def sweep_meta(
    experiment: str, data: TensorData, config: TrainConfig, **extra: Any
) -> dict[str, Any]:
    """What every run of a sweep shares; a :class:`RunStore` refuses to mix sweeps
    whose meta differs.  ``extra`` adds experiment settings (model, mask mode, ...)."""
    return {
        "experiment": experiment,
        "dataset": data.name,
        "train_size": data.train_size,
        "test_size": data.test_size,
        "data_fingerprint": data.fingerprint(),
        "config": config.to_dict(),
        **extra,
    }


def run_line(result: dict[str, Any]) -> str:
    """One-line summary of a finished run."""
    key = RunSpec(result["neg_percent"], result["backward"], result["seed"]).key
    return (
        f"{key:<28} {result['status']:<8} train {100 * result['train_error']:6.2f} %  "
        f"test {100 * result['test_error']:6.2f} %  ({result['seconds']:.1f} s, "
        f"{len(result['epochs'])} epochs)"
    )


def _batched_engine() -> Callable[..., Iterator[tuple[RunSpec, dict[str, Any]]]]:
    try:
        module = importlib.import_module("ann.batched")
    except ModuleNotFoundError as exc:
        if exc.name != "ann.batched":
            raise
        raise EngineUnavailable(
            "engine 'batched' needs ann/batched.py, which is not installed; use engine 'loop'"
        ) from exc
    return module.train_batched


def run_sweep(
    specs: Sequence[RunSpec],
    data: TensorData,
    config: TrainConfig,
    build_model: Callable[[RunSpec], nn.Module],
    *,
    device: str | torch.device = "cpu",
    engine: str = "loop",
    store: RunStore | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Train every run of ``specs`` not yet in ``store``; return all results in spec order.

    Args:
        specs: the runs (unique keys).
        data: preprocessed dataset; moved to ``device`` once.
        config: hyperparameters shared by all runs.
        build_model: ``spec -> nn.Module``, deterministic given the spec.
        device: torch device or ``"auto"``.
        engine: ``"loop"`` or ``"batched"`` (see the module docstring).
        store: where finished runs are saved and found on resume; ``None`` keeps
            nothing.
        progress: tqdm bars for runs (and epochs, from the engine).
        log: receives one line per finished run and resume notes (default
            ``tqdm.write``).

    Raises:
        ValueError: unknown engine, duplicate specs.
        EngineUnavailable: engine ``"batched"`` without ``ann.batched``.
    """
    from tqdm.auto import tqdm

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"specs must be unique, got duplicate keys in {keys}")
    log = log or tqdm.write
    results: dict[str, dict[str, Any]] = {}
    if store is not None:
        for spec in specs:
            stored = store.load(spec.key)
            if stored is not None:
                results[spec.key] = stored
        if results:
            log(f"resuming: {len(results)} of {len(specs)} runs already finished in "
                f"{store.directory}")
    todo = [s for s in specs if s.key not in results]
    if todo:
        device = resolve_device(device)
        train_fn = _batched_engine() if engine == "batched" else None
        data = data.to(device)
        bar = tqdm(total=len(specs), initial=len(results), desc="runs", unit="run",
                   disable=not progress)
        try:
            if train_fn is None:
                finished = (
                    (spec, train_one(spec, data, config, build_model, device, progress=progress))
                    for spec in todo
                )
            else:
                finished = train_fn(todo, data, config, build_model, device, progress=progress)
            for spec, result in finished:
                if store is not None:
                    store.save(spec.key, result)
                results[spec.key] = result
                bar.update(1)
                log(run_line(result))
        finally:
            bar.close()
    missing = [k for k in keys if k not in results]
    if missing:
        raise RuntimeError(f"engine {engine!r} returned no result for {missing}")
    return [results[k] for k in keys]


# ---------------------------------------------------------------------------
# Command-line scaffolding shared by the experiment scripts (mixlu_mnist.py,
# mixlu_cifar.py): options, parsing, one-line user errors, the report and outputs.
# ---------------------------------------------------------------------------


class UserError(ValueError):
    """A bad command-line value: printed as one ``error: ...`` line, exit status 2."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """``argparse`` parser whose usage errors are one ``error: ...`` line, exit 2."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(2, f"error: {message} (see --help)\n")


def parse_percents(text: str) -> list[float]:
    """Parse ``"0,1,2.5"`` into percentages, each in [0, 100], duplicates dropped.

    Raises:
        UserError: an empty list, a non-number or a value outside [0, 100].
    """
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise UserError(f"--percents must be a comma-separated list of numbers, got {text!r}")
    values = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise UserError(f"--percents: {item!r} is not a number (in {text!r})") from None
        if not math.isfinite(value) or not 0.0 <= value <= 100.0:
            raise UserError(f"--percents: {item} is outside 0..100")
        values.append(value)
    return list(dict.fromkeys(values))


def add_sweep_arguments(
    parser: argparse.ArgumentParser,
    *,
    default_percents: str,
    default_epochs: int,
    default_dataset: str,
    quick_help: str,
    default_mask: str = "fixed",
    mask_help: str | None = None,
) -> None:
    """Add the options every MixLU sweep script shares (see ``--help`` of either).

    ``mask_help`` replaces the help of ``--mask`` (it should end with
    ``(default: %(default)s)``); ``default_mask`` is that option's default.
    """
    from ann.data.datasets import dataset_description, dataset_names

    names = dataset_names()
    parser.add_argument(
        "--percents", default=None, metavar="LIST",
        help=f"comma-separated NegLU percentages, each in 0..100 (default: {default_percents})")
    parser.add_argument(
        "--seeds", type=int, default=1, metavar="N",
        help="number of seeds per configuration, seeds 0..N-1; with N >= 2 the tables show "
             "mean ± sd and a 95%% interval (default: 1, as the thesis)")
    parser.add_argument(
        "--backward", default="reference", choices=list(BACKWARDS) + ["all"],
        help="NegLU backward pass: exact (true derivative of min(0,x)), reference (gradient "
             "passed where x > 0, as the published MatConvNet layer), inverted (-1 where x < 0, "
             "the thesis's stated intent), or all three (default: reference)")
    parser.add_argument(
        "--epochs", type=int, default=None, metavar="N",
        help=f"training epochs (default: {default_epochs}; fewer with --quick)")
    parser.add_argument(
        "--dataset", default=default_dataset, metavar="NAME",
        help="dataset (default: %(default)s): " + "; ".join(
            f"{n}: {dataset_description(n)}" for n in names))
    parser.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR",
        help="directory searched first for the dataset files (raw or .gz)")
    parser.add_argument(
        "--device", default="auto",
        help="torch device: auto (CUDA if available, else CPU), cpu, cuda, cuda:N "
             "(default: auto)")
    parser.add_argument(
        "--out", type=Path, default=None, metavar="DIR",
        help="write the JSON, CSV and PNG here and keep each finished run in DIR/runs/; "
             "rerunning the same command resumes, skipping finished runs (default: "
             "nothing written)")
    parser.add_argument(
        "--engine", default="batched", choices=list(ENGINES),
        help="batched: train all runs at once (ann/batched.py); loop: one model at a time "
             "(default: %(default)s)")
    parser.add_argument(
        "--mask", default=default_mask, choices=list(MASK_MODES),
        help=mask_help or "MixLU mask: fixed (NegLU units drawn once per run from the seed) "
             "or resample (a fresh per-element mask every forward pass, as the published "
             "layer did when given no mask) (default: %(default)s)")
    parser.add_argument(
        "--train-subset", type=int, default=None, metavar="N",
        help="train on a random subset of N training images (default: all)")
    parser.add_argument(
        "--test-subset", type=int, default=None, metavar="N",
        help="test on a random subset of N test images (default: all)")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--report-only", action="store_true",
        help="train nothing: print the tables and rewrite the JSON/CSV/PNG from every run "
             "already stored in --out (of any percentage, mode and seed), e.g. to combine "
             "several partial sweeps into one report")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bars (one line per run only)")


def apply_quick(args: argparse.Namespace, quick: dict[str, Any]) -> None:
    """With ``--quick``, set each option of ``quick`` that the user left unset."""
    if args.quick:
        for name, value in quick.items():
            if getattr(args, name) is None:
                setattr(args, name, value)


def check_sweep_arguments(args: argparse.Namespace) -> None:
    """Validate the shared options; raise :class:`UserError` with a one-line message."""
    from ann.data.datasets import dataset_names

    if args.seeds < 1:
        raise UserError(f"--seeds must be a positive integer, got {args.seeds}")
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs must be a positive integer, got {args.epochs}")
    for name in ("train_subset", "test_subset"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.dataset not in dataset_names():
        raise UserError(f"unknown dataset {args.dataset!r}; choose from {dataset_names()}")
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise UserError(f"--data-dir {str(args.data_dir)!r} is not a directory")
    if getattr(args, "report_only", False) and (args.out is None or not args.out.is_dir()):
        raise UserError("--report-only needs --out DIR with stored runs")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {str(args.out)!r} exists and is not a directory")
    try:
        resolve_device(args.device)
    except ValueError as exc:
        raise UserError(f"--device: {exc}") from None


def backwards_of(arg: str) -> list[str]:
    """``"all"`` -> the three modes, else ``[arg]``."""
    return list(BACKWARDS) if arg == "all" else [arg]


def mask_settings(mask: str) -> dict[str, str]:
    """Settings saved with a sweep (and checked on resume) for the MixLU ``mask`` mode.

    A resampled mask also records :data:`ann.activations.MASK_DRAW`, so that a sweep
    begun with another draw of the masks is not resumed with this one.
    """
    if mask == "resample":
        return {"mask": mask, "mask_draw": MASK_DRAW}
    return {"mask": mask}


def run_csv(results: Sequence[dict[str, Any]], dataset: str) -> str:
    """Long-format CSV: one row per run and epoch."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "neg_percent", "backward", "seed", "status", "epoch",
                     "train_error", "test_error", "loss", "final_train_error",
                     "final_test_error", "seconds"])
    for r in results:
        for e in r["epochs"] or [{"epoch": 0, "train_error": "", "test_error": "", "loss": ""}]:
            writer.writerow([dataset, f"{r['neg_percent']:g}", r["backward"], r["seed"],
                             r["status"], e["epoch"], e["train_error"], e["test_error"],
                             e["loss"], r["train_error"], r["test_error"],
                             f"{r['seconds']:.3f}"])
    return buf.getvalue()


def write_outputs(out: Path, stem: str, document: dict[str, Any], metric: str, title: str
                  ) -> list[Path]:
    """Write ``stem.json`` (``document``), ``stem.csv`` and the ``stem.png`` curves."""
    from ann.plots import plot_curves

    runs = document["runs"]
    written = [
        atomic_write_json(out / f"{stem}.json", document),
        atomic_write_text(out / f"{stem}.csv", run_csv(runs, document["dataset"])),
    ]
    written.append(plot_curves(runs, out / f"{stem}.png", metric=metric, title=title))
    return written


def run_experiment(
    args: argparse.Namespace,
    *,
    stem: str,
    data: TensorData,
    config: TrainConfig,
    build_model: Callable[[RunSpec], nn.Module],
    percents: Sequence[float],
    report: Callable[[list[dict[str, Any]]], str],
    extra: dict[str, Any] | None = None,
    metric: str = "error",
    title: str = "",
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run a MixLU sweep from parsed shared options and print/write everything.

    Args:
        args: options from :func:`add_sweep_arguments` (after
            :func:`check_sweep_arguments`); uses ``seeds``, ``backward``, ``device``,
            ``out``, ``engine``, ``no_progress``, ``report_only``.
        stem: output file stem (``mixlu_mnist`` -> ``mixlu_mnist.json`` ...).
        data: preprocessed dataset.
        config: training configuration (printed and saved).
        build_model: ``spec -> nn.Module``.
        percents: NegLU percentages.
        report: ``results -> str``, the tables printed after the sweep.
        extra: experiment settings saved in the JSON and checked on resume
            (model, mask mode, preprocessing ...).
        metric, title: for the PNG.
        out: where lines go (default ``print``).

    Returns:
        The JSON document (also written to ``args.out / f"{stem}.json"``).
    """
    extra = dict(extra or {})
    device = resolve_device(args.device)
    specs = make_specs(percents, backwards_of(args.backward), args.seeds)
    store = None
    if args.out is not None:
        store = RunStore(args.out, sweep_meta(stem, data, config, **extra))
    out(f"config: {config.to_dict()}")
    report_only = getattr(args, "report_only", False)
    if not report_only:
        out(f"runs: {len(specs)} ({len(percents)} percentages x "
            f"{len(backwards_of(args.backward))} backward x {args.seeds} seeds), engine "
            f"{args.engine}, device {device}"
            + ("" if args.out else "; no --out: nothing saved, no resume"))
    started = time.perf_counter()
    if report_only:
        results = stored_results(store)
        if not results:
            raise UserError(f"--report-only: no stored runs in {str(args.out)!r}")
        out(f"report only: {len(results)} stored runs from {args.out}, nothing trained")
    else:
        results = run_sweep(
            specs, data, config, build_model, device=device, engine=args.engine, store=store,
            progress=not args.no_progress,
        )
    elapsed = time.perf_counter() - started
    out("")
    out(report(results))
    from ann.results import environment

    document = {
        "experiment": stem,
        "dataset": data.name,
        "train_size": data.train_size,
        "test_size": data.test_size,
        "dataset_info": data.info,
        "config": config.to_dict(),
        **extra,
        "engine": args.engine,
        "environment": environment(str(device)),
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "sweep_seconds": elapsed,
        "runs": results,
    }
    if args.out is not None:
        written = write_outputs(args.out, stem, document, metric=metric, title=title)
        out("")
        out("wrote " + ", ".join(str(p) for p in written))
    return document


def stored_results(store: RunStore) -> list[dict[str, Any]]:
    """Every run in ``store``, ordered backward mode (as :data:`BACKWARDS`), seed, percent."""
    results = [store.load(k) for k in store.keys()]
    rank = {b: i for i, b in enumerate(BACKWARDS)}
    return sorted(results, key=lambda r: (rank.get(r["backward"], len(rank)), r["seed"],
                                          r["neg_percent"]))


def cli_main(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], Any],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse ``argv`` and call ``run(args)``; user errors become one line and status 2.

    User errors: :class:`UserError` (bad option values), :class:`ann.data.DataError`
    (missing/corrupt data), :class:`EngineUnavailable`, :class:`ann.results.SweepMismatch`
    (``--out`` holding another sweep).  Anything else is a bug and keeps its traceback.
    """
    from ann.data.datasets import DataError

    args = parser.parse_args(argv)
    try:
        run(args)
    except (UserError, DataError, EngineUnavailable, SweepMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
