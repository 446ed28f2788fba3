"""Command-line scaffolding the sweep scripts share (``mixlu_mnist.py``, ``mixlu_cifar.py``).

Options (:func:`add_sweep_arguments`), their validation before any long computation
(:func:`check_sweep_arguments`: values, the data directory, a writable ``--out``, the
device), the runs they ask for (:func:`sweep_specs`), and :func:`run_experiment`,
which trains or reloads the sweep, prints the report and writes the JSON, CSV and PNG.
The error policy is :mod:`common.cli`'s: user errors are one line and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ann.activations import BACKWARDS, MASK_MODES
from ann.data.datasets import TensorData
from ann.executors import EXECUTORS, RayExecutor, RayNotInstalled, TaskFailed, import_ray
from ann.observe import Observer
from ann.report import column_of
from ann.results import RunStore, StoreError, environment
from ann.specs import (
    ActivationSpec,
    RunSpec,
    activations_help,
    key_float,
    mixlu_grid,
    parse_activations,
)
from ann.sweep import ENGINES, make_specs, present, run_sweep, sweep_meta
from ann.train import TrainConfig, resolve_device
from common.cli import UserError
from common.files import (
    atomic_write_json,
    atomic_write_text,
    check_writable_dir,
    directory_argument,
)

__all__ = [
    "parse_percents",
    "add_sweep_arguments",
    "apply_quick",
    "check_sweep_arguments",
    "check_executor_arguments",
    "make_executor",
    "sweep_specs",
    "backwards_of",
    "run_csv",
    "write_outputs",
    "run_experiment",
    "stored_results",
]


def parse_percents(text: str) -> list[float]:
    """Parse ``"0,1,2.5"`` into percentages, each in [0, 100].

    Raises:
        UserError: an empty list or item, a non-number, a value outside [0, 100], or a
            value given twice.
    """
    items = [t.strip() for t in str(text).split(",")]
    if not all(items):
        raise UserError(f"--percents must be a comma-separated list of numbers, got {text!r}")
    values: dict[float, str] = {}
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise UserError(f"--percents: {item!r} is not a number (in {text!r})") from None
        if not math.isfinite(value) or not 0.0 <= value <= 100.0:
            raise UserError(f"--percents: {item} is outside 0..100")
        value = key_float(value)  # the precision of run keys
        if value in values:
            raise UserError(f"--percents lists {item} twice (as {values[value]!r}; values "
                            f"are compared to 15 significant digits, as in run keys)")
        values[value] = item
    return list(values)


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
    """Add the options every sweep script shares (see ``--help`` of either).

    ``mask_help`` replaces the help of ``--mask`` (it should end with
    ``(default: %(default)s)``); ``default_mask`` is that option's default.
    """
    from ann.data.datasets import dataset_description, dataset_names

    names = dataset_names()
    parser.add_argument(
        "--percents", default=None, metavar="LIST",
        help=f"comma-separated NegLU percentages, each in 0..100 (default: {default_percents}); "
             "with --backward and --mask the shorthand for a grid of MixLU specs")
    parser.add_argument(
        "--activations", default=None, metavar="SPECS",
        help=activations_help().replace("%", "%%") + ". Replaces the --percents grid")
    parser.add_argument(
        "--seeds", type=int, default=1, metavar="N",
        help="number of seeds per configuration, seeds 0..N-1; with N >= 2 the tables show "
             "mean ± sd and a 95%% interval (default: 1, as the thesis)")
    parser.add_argument(
        "--backward", default="reference", choices=list(BACKWARDS) + ["all"],
        help="NegLU backward pass of the --percents grid: exact (true derivative of "
             "min(0,x)), reference (gradient passed where x > 0, as the published MatConvNet "
             "layer), inverted (-1 where x < 0, the thesis's stated intent), or all three "
             "(default: reference)")
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
        "--out", type=directory_argument, default=None, metavar="DIR",
        help="write the JSON, CSV and PNG here and keep each finished run in DIR/runs/; "
             "rerunning the same command resumes, skipping finished runs; one process at a "
             "time (default: nothing written)")
    parser.add_argument(
        "--engine", default="batched", choices=list(ENGINES),
        help="batched: train all runs at once (ann/batched/); loop: one model at a time "
             "(default: %(default)s)")
    parser.add_argument(
        "--executor", default="local", choices=list(EXECUTORS),
        help="local: train here; ray: one Ray task per stack (or loop run), on a private "
             "Ray instance bound to 127.0.0.1 or, with --ray-address, on a cluster; this "
             "process alone writes --out (default: %(default)s)")
    parser.add_argument(
        "--ray-address", default=None, metavar="ADDR",
        help="with --executor ray: 'auto' or host:port of a running cluster (default: a "
             "private local instance)")
    parser.add_argument(
        "--ray-cpus-per-task", type=int, default=1, metavar="N",
        help="with --executor ray: CPUs each task declares and torch threads it uses "
             "(default: %(default)s)")
    parser.add_argument(
        "--ray-gpus-per-task", type=float, default=None, metavar="G",
        help="with --executor ray: GPUs each task declares (default: 1 with a CUDA "
             "--device, else 0)")
    parser.add_argument(
        "--mask", default=default_mask, choices=list(MASK_MODES),
        help=mask_help or "MixLU mask of the --percents grid: fixed (NegLU units drawn once "
             "per run from the seed) or resample (a fresh per-element mask every forward "
             "pass, as the published layer did when given no mask) (default: %(default)s)")
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
             "already stored in --out (of any activation and seed, also of the earlier "
             "layout), e.g. to combine several partial sweeps into one report")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bars (one line per run only)")
    parser.add_argument(
        "--verbose", action="store_true",
        help="also print what the epoch checkpoints cost (count, MB, seconds)")


def apply_quick(args: argparse.Namespace, quick: dict[str, Any]) -> None:
    """With ``--quick``, set each option of ``quick`` that the user left unset (an
    option the user gave is kept)."""
    if args.quick:
        for name, value in quick.items():
            if name == "percents" and getattr(args, "activations", None) is not None:
                continue  # --activations replaces the grid
            if getattr(args, name) is None:
                setattr(args, name, value)


def check_sweep_arguments(args: argparse.Namespace) -> None:
    """Validate the shared options before anything long runs; raise :class:`UserError`
    with a one-line message.  Creates ``--out`` (proving it writable)."""
    from ann.data.datasets import dataset_names

    if not 1 <= args.seeds <= MAX_SEEDS:
        raise UserError(f"--seeds must be an integer in 1..{MAX_SEEDS}, got {args.seeds}")
    if args.epochs is not None and not 1 <= args.epochs <= MAX_EPOCHS:
        raise UserError(f"--epochs must be an integer in 1..{MAX_EPOCHS}, got {args.epochs}")
    for name in ("train_subset", "test_subset"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.dataset not in dataset_names():
        raise UserError(f"unknown dataset {args.dataset!r}; choose from {dataset_names()}")
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise UserError(f"--data-dir {str(args.data_dir)!r} is not a directory")
    if args.activations is not None and args.percents is not None:
        raise UserError("give either --activations or the --percents grid, not both")
    if args.activations is not None:
        try:
            parse_activations(args.activations)
        except ValueError as exc:
            raise UserError(f"--activations: {exc}") from None
    elif args.percents is not None:
        parse_percents(args.percents)
    if args.report_only:
        if args.out is None or not (args.out / "sweep.json").is_file():
            raise UserError("--report-only needs --out DIR with a stored sweep (DIR/sweep.json)")
    elif args.out is not None:
        try:
            check_writable_dir(args.out, "--out")
        except ValueError as exc:
            raise UserError(str(exc)) from None
    try:
        resolve_device(args.device)
    except ValueError as exc:
        raise UserError(f"--device: {exc}") from None
    check_executor_arguments(args)


def check_executor_arguments(args: argparse.Namespace) -> None:
    """``--executor`` and the ``--ray-*`` options: values, and Ray installed."""
    executor = getattr(args, "executor", "local")
    ray_options = [name for name in ("ray_address", "ray_gpus_per_task")
                   if getattr(args, name, None) is not None]
    if executor != "ray":
        if ray_options:
            raise UserError(f"--{ray_options[0].replace('_', '-')} needs --executor ray")
        return
    if not 1 <= args.ray_cpus_per_task <= 1024:
        raise UserError(f"--ray-cpus-per-task must be an integer in 1..1024, got "
                        f"{args.ray_cpus_per_task}")
    gpus = args.ray_gpus_per_task
    if gpus is not None and not (math.isfinite(gpus) and 0 <= gpus <= 64):
        raise UserError(f"--ray-gpus-per-task must be a number in 0..64, got {gpus}")
    if args.ray_address is not None and not args.ray_address.strip():
        raise UserError("--ray-address must be 'auto' or host:port, got ''")
    try:
        import_ray()
    except RayNotInstalled as exc:
        raise UserError(str(exc)) from None


def make_executor(args: argparse.Namespace):
    """The executor the options ask for: ``None`` (local) or a started
    :class:`~ann.executors.RayExecutor` (close it when done)."""
    if getattr(args, "executor", "local") != "ray":
        return None
    return RayExecutor(args.ray_address, num_cpus=args.ray_cpus_per_task,
                       num_gpus=args.ray_gpus_per_task)


#: Bounds of --seeds and --epochs (beyond them a sweep cannot be meant).
MAX_SEEDS = 1000
MAX_EPOCHS = 10_000


def check_store_layout(out: Path, outputs: Sequence[str] = ()) -> None:
    """Refuse, in one line, an output directory whose entries have the wrong type
    (``runs`` or ``checkpoints`` a file, ``.lock`` or an output file a directory)
    before anything is computed."""
    for name in ("runs", "checkpoints"):
        if (out / name).exists() and not (out / name).is_dir():
            raise UserError(f"{out / name} is a file where the run store keeps a directory; "
                            f"move it aside and rerun")
    for name in (".lock", "sweep.json", *outputs):
        if (out / name).is_dir():
            raise UserError(f"{out / name} is a directory where a file is written; move it "
                            f"aside and rerun")


def backwards_of(arg: str) -> list[str]:
    """``"all"`` -> the three modes, else ``[arg]``."""
    return list(BACKWARDS) if arg == "all" else [arg]


def sweep_specs(args: argparse.Namespace, default_percents: str, model: str) -> list[RunSpec]:
    """The runs the options ask for: ``--activations`` (or the ``--percents`` x
    ``--backward`` grid of MixLU specs with ``--mask``) x seeds ``0 .. --seeds - 1``."""
    if args.activations is not None:
        try:
            activations: list[ActivationSpec] = parse_activations(args.activations)
        except ValueError as exc:
            raise UserError(f"--activations: {exc}") from None
    else:
        percents = parse_percents(default_percents if args.percents is None else args.percents)
        activations = mixlu_grid(percents, backwards_of(args.backward), args.mask)
    return make_specs(activations, args.seeds, model)


def run_csv(results: Sequence[dict[str, Any]], dataset: str) -> str:
    """Long-format CSV: one row per run and epoch (new columns after the published ones)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "neg_percent", "backward", "seed", "status", "epoch",
                     "train_error", "test_error", "loss", "final_train_error",
                     "final_test_error", "seconds", "activation", "model", "engine",
                     "dead_relu_side", "dead_neglu", "active_fraction", "neglu_per_image"])
    for r in results:
        for e in r["epochs"] or [{"epoch": 0, "train_error": "", "test_error": "", "loss": ""}]:
            writer.writerow([dataset, f"{r['neg_percent']:g}", r["backward"], r["seed"],
                             r["status"], e["epoch"], e["train_error"], e["test_error"],
                             e["loss"], r["train_error"], r["test_error"],
                             f"{r['seconds']:.3f}", r.get("activation", ""),
                             r.get("model", ""), r.get("engine", ""),
                             *_diagnostic_cells(e.get("diagnostics"))])
    return buf.getvalue()


def _diagnostic_cells(diag: dict[str, Any] | None) -> list[Any]:
    """Dead ReLU-side (and resampled) units, dead NegLUs, mean active fraction over the
    positions, NegLUs per image (:mod:`ann.diagnostics`); blanks without diagnostics."""
    if not diag:
        return ["", "", "", ""]
    positions = diag["positions"]
    dead = lambda *types: sum(p["dead"].get(t, 0) for p in positions for t in types)  # noqa: E731
    active = sum(p["active_fraction"] for p in positions) / max(len(positions), 1)
    return [dead("relu", "resampled"), dead("neglu"), f"{active:.6g}",
            f"{diag['neglu_per_image']:g}"]


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
    model: str,
    default_percents: str,
    load_data: Callable[[], TensorData],
    config: TrainConfig,
    report: Callable[[list[dict[str, Any]], str], str],
    extra: dict[str, Any] | Callable[[TensorData], dict[str, Any]] | None = None,
    metric: str = "error",
    title: Callable[[str], str] = str,
    build_model: Callable[[RunSpec], nn.Module] | None = None,
    out: Callable[[str], None] = print,
    observer: Observer | None = None,
) -> dict[str, Any]:
    """Run a sweep from parsed shared options and print/write everything.

    Args:
        args: options from :func:`add_sweep_arguments`, already checked by
            :func:`check_sweep_arguments`.
        stem: output file stem (``mixlu_mnist`` -> ``mixlu_mnist.json`` ...).
        model: model name of every run (``"lenet"``, ``"lenet5"``).
        default_percents: the ``--percents`` default.
        load_data: returns the preprocessed dataset (not called under ``--report-only``).
        config: training configuration (printed and saved).
        report: ``(results, dataset name) -> str``, the tables printed after the sweep.
        extra: experiment settings saved in the JSON and checked on resume
            (model description, preprocessing ...), or ``data -> settings``.
        metric: ``"error"`` or ``"accuracy"`` for the PNG.
        title: ``dataset name -> PNG title``.
        build_model: ``spec -> nn.Module`` (default :func:`ann.models.build_model`).
        out: where lines go (default ``print``).
        observer: watches every training step (:mod:`ann.observe`, e.g. ``--signs``);
            its identity is saved with the sweep as ``observer`` and its report line
            printed after training.

    Returns:
        The JSON document (also written to ``args.out / f"{stem}.json"``).
    """
    mask = args.mask if args.activations is None else "per activation spec"
    device = resolve_device(args.device)
    started = time.perf_counter()
    if args.out is not None:
        check_store_layout(args.out, [f"{stem}.{ext}" for ext in ("json", "csv", "png")])
    if args.report_only:
        store = RunStore.open(args.out)
        if store.meta.get("experiment", stem) != stem:
            raise UserError(f"--report-only: {str(args.out)!r} holds a "
                            f"{store.meta['experiment']} sweep, not {stem}; report it with "
                            f"{store.meta['experiment']}.py")
        results = stored_results(store, model)
        if not results:
            raise UserError(f"--report-only: no stored runs in {str(args.out)!r}")
        meta = store.stored_meta
        dataset = meta.get("dataset", "?")
        out(f"report only: {len(results)} stored runs from {args.out}, nothing trained")
        document = {"experiment": stem, "dataset": dataset,
                    **{k: v for k, v in meta.items() if k not in ("experiment", "dataset")},
                    "report_only": True}
    else:
        specs = sweep_specs(args, default_percents, model)
        claim = RunStore.claim(args.out) if args.out is not None else contextlib.nullcontext()
        with claim:  # locked, stored runs checked: before the data is loaded
            data = load_data()
            dataset = data.name
            extra = {**(extra(data) if callable(extra) else (extra or {})), "mask": mask}
            if observer is not None:
                extra["observer"] = observer.identity()
            store = None
            if args.out is not None:
                store = RunStore(args.out, sweep_meta(stem, data, config, args.engine, **extra),
                                 provenance=environment(str(device)))
            out(f"config: {config.to_dict()}")
            activations = list(dict.fromkeys(s.activation for s in specs))
            out(f"runs: {len(specs)} ({len(activations)} activations x {args.seeds} seeds), "
                f"engine {args.engine}, device {device}"
                + ("" if args.out else "; no --out: nothing saved, no resume"))
            executor = make_executor(args)
            try:
                results = run_sweep(specs, data, config, build_model, device=device,
                                    engine=args.engine, store=store,
                                    progress=not args.no_progress, verbose=args.verbose,
                                    observer=observer, executor=executor)
            except TaskFailed as exc:
                raise UserError(str(exc)) from None
            finally:
                if executor is not None:
                    executor.close()
            if observer is not None and observer.report():
                out(observer.report())
        document = {
            "experiment": stem,
            "dataset": data.name,
            "train_size": data.train_size,
            "test_size": data.test_size,
            "dataset_info": data.info,
            "config": config.to_dict(),
            **extra,
            "engine": args.engine,
        }
    elapsed = time.perf_counter() - started
    out("")
    out(report(results, dataset))
    document.update({
        "environment": environment(str(device)),
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "sweep_seconds": elapsed,
        "runs": results,
    })
    if args.out is not None:
        written = write_outputs(args.out, stem, document, metric=metric, title=title(dataset))
        out("")
        out("wrote " + ", ".join(str(p) for p in written))
    return document


def stored_results(store: RunStore, model: str) -> list[dict[str, Any]]:
    """Every run in ``store``, ordered column (backward modes as :data:`BACKWARDS`, then
    other activations), seed, percent.  Runs of the earlier layout get the keys of the
    current one (their MixLU spec, from the sweep's mask mode, and ``model``)."""
    mask = store.stored_meta.get("mask", "fixed")
    results = []
    for key in store.keys():
        r = store.load(key)
        if "activation_spec" not in r:
            try:
                spec = RunSpec.from_result(r, mask if mask in MASK_MODES else "fixed", model)
            except ValueError as exc:
                raise StoreError(f"{store.path(key)} is not a stored run ({exc}); move it "
                                 f"aside and rerun") from None
            r = {**r, **spec.fields(), "layout": "earlier"}
        results.append(r)
    # a ReLU run that stands for the 0 % MixLU of every backward/mask mode of the store
    modes = list(dict.fromkeys((r["activation_spec"]["backward"], r["activation_spec"]["mask"])
                               for r in results if r["activation_spec"]["kind"] == "mixlu"))
    if modes:
        expanded = []
        for r in results:
            if r["activation_spec"]["kind"] != "relu":
                expanded.append(r)
                continue
            expanded.extend(present(r, RunSpec.mixlu(0.0, b, r["seed"], m, r.get("model", model)))
                            for b, m in modes)
        results = expanded
    rank = {b: i for i, b in enumerate(BACKWARDS)}
    return sorted(results, key=lambda r: (rank.get(r["backward"], len(rank)), column_of(r),
                                          r["seed"], r["neg_percent"]))
