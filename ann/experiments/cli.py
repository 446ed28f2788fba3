"""The command line the sweep scripts share (``mixlu_mnist.py``, ``mixlu_cifar.py``).

:func:`add_sweep_arguments` adds the options of :class:`~ann.experiments.options.
SweepOptions` (``--x-y`` is the field ``x_y``); :meth:`SweepOptions.from_namespace`
turns the parsed arguments into options, and the experiment runs them
(:meth:`~ann.experiments.runner.Experiment.run`).  The error policy is
:mod:`common.cli`'s: user errors are one line and exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ann.activations import BACKWARDS, MASK_MODES
from ann.data.datasets import dataset_description, dataset_names
from ann.executors import EXECUTORS
from ann.experiments.options import SweepOptions
from ann.experiments.runner import Experiment
from ann.specs import activations_help
from ann.sweep import ENGINE_CHOICES
from common.files import directory_argument

__all__ = ["add_sweep_arguments", "add_experiment_arguments"]


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
        "--engine", default="auto", choices=list(ENGINE_CHOICES),
        help="auto: the faster of the two for this sweep, from a short timed probe of both "
             "(ann/engine_choice.py; a resumed sweep keeps the engine in its sweep.json); "
             "batched: train all runs at once (ann/batched/); loop: one model at a time "
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


def add_experiment_arguments(parser: argparse.ArgumentParser, experiment: Experiment,
                             mask_help: str | None = None) -> None:
    """:func:`add_sweep_arguments` with ``experiment``'s defaults (percents, protocol
    epochs, dataset, mask) and its ``quick`` settings in the help of ``--quick``."""
    quick = experiment.quick
    add_sweep_arguments(
        parser,
        default_percents=experiment.defaults["percents"],
        default_epochs=experiment.config(SweepOptions()).epochs,
        default_dataset=experiment.defaults["dataset"],
        default_mask=experiment.defaults["mask"],
        quick_help=f"demo/CI run: percents {quick['percents']} (unless --percents), "
                   f"{quick['epochs']} epochs (unless --epochs), {quick['train_subset']:,} "
                   f"training and {quick['test_subset']:,} test images (unless "
                   f"--train-subset/--test-subset)",
        mask_help=mask_help,
    )
