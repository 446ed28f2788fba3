"""The options of a sweep experiment, their validation, and the runs they ask for.

:class:`SweepOptions` holds every option of a sweep: the command line of
``mixlu_mnist.py`` and ``mixlu_cifar.py`` maps one to one onto its fields (``--x-y``
is ``x_y``), so a sweep run from Python is the sweep of the equivalent command
(:meth:`SweepOptions.argv` writes it back).  :func:`check_options` validates them
before any long computation; :func:`sweep_specs` lists the runs they ask for.  Bad
values raise :class:`~common.cli.UserError`: one line naming the option.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ann.activations import BACKWARDS, MASK_MODES
from ann.data.datasets import dataset_names
from ann.executors import (
    EXECUTORS,
    RayExecutor,
    RayNotInstalled,
    check_target,
    import_ray,
    parse_address,
)
from ann.specs import ActivationSpec, RunSpec, key_float, mixlu_grid, parse_activations
from ann.sweep import ENGINE_CHOICES, make_specs
from ann.train import resolve_device
from common.checks import decimal, is_integer
from common.cli import UserError
from common.files import check_writable_dir

__all__ = [
    "SweepOptions",
    "MAX_SEEDS",
    "MAX_EPOCHS",
    "parse_percents",
    "backwards_of",
    "check_options",
    "check_executor_options",
    "make_executor",
    "sweep_specs",
]

#: Bounds of ``seeds`` and ``epochs`` (beyond them a sweep cannot be meant).
MAX_SEEDS = 1000
MAX_EPOCHS = 10_000


@dataclass(frozen=True)
class SweepOptions:
    """Every option of a sweep; ``None`` means the experiment's default.

    Attributes:
        dataset: a registered dataset (:func:`ann.data.dataset_names`).
        data_dir: directory searched first for the dataset files.
        train_subset, test_subset: random subsets of the images (``None``: all).
        epochs: training epochs (``None``: the protocol's).
        seeds: seeds ``0 .. seeds - 1`` per configuration.
        percents: NegLU percentages of the MixLU grid, ``"0,1,2"`` or numbers.
        activations: activation specs (``"relu, mixlu:5:reference:resample"``, see
            :func:`ann.specs.parse_activations`), replacing the ``percents`` grid.
        backward: NegLU backward of the grid: ``exact``, ``reference``, ``inverted``
            or ``all``.
        mask: MixLU mask of the grid: ``fixed`` or ``resample``.
        mixlu_positions: LeNet5's activation positions (1-4) that get the swept
            activation (``None``: all four).
        out: directory of the run store and the JSON, CSV and PNG (``None``: nothing
            written, no resume).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        engine: ``auto`` (the faster of the two for this sweep, from a short timed
            probe: :mod:`ann.engine_choice`), ``batched`` or ``loop``.
        executor, ray_address, ray_cpus_per_task, ray_gpus_per_task: where the runs
            train (:mod:`ann.executors`).
        quick: the experiment's demo settings for options left ``None``.
        report_only: train nothing; report the runs stored in ``out``.
        no_progress: no progress bars.
        verbose: also report what the epoch checkpoints cost.
        no_cache: recompute LeNet5's preprocessing instead of using its disk cache.
    """

    dataset: str | None = None
    data_dir: Path | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    epochs: int | None = None
    seeds: int = 1
    percents: str | Sequence[float] | None = None
    activations: str | Sequence[str] | None = None
    backward: str = "reference"
    mask: str | None = None
    mixlu_positions: str | Sequence[int] | None = None
    out: Path | None = None
    device: str = "auto"
    engine: str = "auto"
    executor: str = "local"
    ray_address: str | None = None
    ray_cpus_per_task: int = 1
    ray_gpus_per_task: float | None = None
    quick: bool = False
    report_only: bool = False
    no_progress: bool = False
    verbose: bool = False
    no_cache: bool = False

    def __post_init__(self) -> None:
        for name in ("data_dir", "out"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                if not str(value).strip():
                    raise UserError(f"--{name.replace('_', '-')} must name a directory, "
                                    f"got {value!r}")
                object.__setattr__(self, name, Path(value))
        for name in ("percents", "activations", "mixlu_positions"):  # lists: the text form
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, name, ",".join(map(str, value)))

    @classmethod
    def from_namespace(cls, namespace: Any) -> SweepOptions:
        """The options of parsed command-line arguments (attributes not options of a
        sweep, such as ``--signs``, are left out)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in vars(namespace).items() if k in names})

    def replace(self, **changes: Any) -> SweepOptions:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def with_defaults(self, **defaults: Any) -> SweepOptions:
        """A copy in which each option of ``defaults`` that is ``None`` here takes the
        default's value."""
        return self.replace(**{k: v for k, v in defaults.items() if getattr(self, k) is None})

    def argv(self) -> list[str]:
        """The command-line arguments that give these options (defaults left out)."""
        argv: list[str] = []
        for f in dataclasses.fields(self):
            value, flag = getattr(self, f.name), "--" + f.name.replace("_", "-")
            if value == f.default:
                continue
            argv += [flag] if value is True else [flag, str(value)]
        return argv

    def command(self, script: str) -> str:
        """The shell command of ``experiments/SCRIPT.py`` with these options."""
        return shlex.join(["python", f"experiments/{script}.py", *self.argv()])


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
            value = decimal(item)
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


def backwards_of(arg: str) -> list[str]:
    """``"all"`` -> the three modes, else ``[arg]``."""
    return list(BACKWARDS) if arg == "all" else [arg]


def check_options(options: SweepOptions) -> None:
    """Validate the options before anything long runs; raise :class:`UserError` with a
    one-line message.  Creates ``out`` (proving it writable)."""
    if not is_integer(options.seeds) or not 1 <= options.seeds <= MAX_SEEDS:
        raise UserError(f"--seeds must be an integer in 1..{MAX_SEEDS}, got {options.seeds}")
    if options.epochs is not None and (not is_integer(options.epochs)
                                       or not 1 <= options.epochs <= MAX_EPOCHS):
        raise UserError(f"--epochs must be an integer in 1..{MAX_EPOCHS}, got "
                        f"{options.epochs}")
    for name in ("train_subset", "test_subset"):
        value = getattr(options, name)
        if value is not None and (not is_integer(value) or value < 1):
            raise UserError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if options.dataset not in dataset_names():
        raise UserError(f"unknown dataset {options.dataset!r}; choose from {dataset_names()}")
    if options.data_dir is not None and not options.data_dir.is_dir():
        raise UserError(f"--data-dir {str(options.data_dir)!r} is not a directory")
    if options.backward not in (*BACKWARDS, "all"):
        raise UserError(f"--backward must be one of {', '.join((*BACKWARDS, 'all'))}, got "
                        f"{options.backward!r}")
    if options.mask not in MASK_MODES:
        raise UserError(f"--mask must be one of {', '.join(MASK_MODES)}, got {options.mask!r}")
    if options.engine not in ENGINE_CHOICES:
        raise UserError(f"--engine must be one of {', '.join(ENGINE_CHOICES)}, got "
                        f"{options.engine!r}")
    if options.activations is not None and options.percents is not None:
        raise UserError("give either --activations or the --percents grid, not both")
    if options.activations is not None:
        try:
            parse_activations(options.activations)
        except ValueError as exc:
            raise UserError(f"--activations: {exc}") from None
    elif options.percents is not None:
        parse_percents(options.percents)
    if options.report_only:
        # lexists: a sweep.json that is not a regular file is the store's error to name
        if options.out is None or not os.path.lexists(options.out / "sweep.json"):
            raise UserError("--report-only needs --out DIR with a stored sweep (DIR/sweep.json)")
    elif options.out is not None:
        try:
            check_writable_dir(options.out, "--out")
        except ValueError as exc:
            raise UserError(str(exc)) from None
    try:
        resolve_device(options.device)
    except ValueError as exc:
        raise UserError(f"--device: {exc}") from None
    check_executor_options(options)


def check_executor_options(options: Any) -> None:
    """``executor`` and the ``ray_*`` options: values, Ray installed, and (unless
    ``report_only``) the Ray asked for able to run the tasks
    (:func:`ann.executors.check_target`: the address parsed and answering, within
    seconds; each task's CPUs and GPUs on this machine for a private instance)."""
    executor = getattr(options, "executor", "local")
    if executor not in EXECUTORS:
        raise UserError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    ray_options = [name for name in ("ray_address", "ray_gpus_per_task")
                   if getattr(options, name, None) is not None]
    if executor != "ray":
        if ray_options:
            raise UserError(f"--{ray_options[0].replace('_', '-')} needs --executor ray")
        return
    cpus = options.ray_cpus_per_task
    if not is_integer(cpus) or not 1 <= cpus <= 1024:
        raise UserError(f"--ray-cpus-per-task must be an integer in 1..1024, got {cpus}")
    gpus = options.ray_gpus_per_task
    if gpus is not None and not (math.isfinite(gpus) and 0 <= gpus <= 64):
        raise UserError(f"--ray-gpus-per-task must be a number in 0..64, got {gpus}")
    try:
        import_ray()
    except RayNotInstalled as exc:
        raise UserError(str(exc)) from None
    by_default = gpus is None
    if by_default:  # the executor's default: one GPU per task when training on CUDA
        try:
            cuda = resolve_device(getattr(options, "device", "cpu")).type == "cuda"
        except ValueError:
            cuda = False  # reported as a --device error
        gpus = 1 if cuda else 0
    if getattr(options, "report_only", False):  # a report starts no Ray
        if options.ray_address is not None:
            parse_address(options.ray_address)
    else:
        check_target(options.ray_address, cpus, gpus, gpus_by_default=by_default)


def make_executor(options: Any):
    """The executor the options ask for: ``None`` (local) or a started
    :class:`~ann.executors.RayExecutor` (close it when done)."""
    if getattr(options, "executor", "local") != "ray":
        return None
    return RayExecutor(options.ray_address, num_cpus=options.ray_cpus_per_task,
                       num_gpus=options.ray_gpus_per_task)


def sweep_specs(options: SweepOptions, default_percents: str, model: str) -> list[RunSpec]:
    """The runs the options ask for: ``activations`` (or the ``percents`` x
    ``backward`` grid of MixLU specs with ``mask``) x seeds ``0 .. seeds - 1``."""
    if options.activations is not None:
        try:
            activations: list[ActivationSpec] = parse_activations(options.activations)
        except ValueError as exc:
            raise UserError(f"--activations: {exc}") from None
    else:
        percents = parse_percents(default_percents if options.percents is None
                                  else options.percents)
        activations = mixlu_grid(percents, backwards_of(options.backward), options.mask)
    return make_specs(activations, options.seeds, model)
