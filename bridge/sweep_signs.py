"""Update signs in a sweep experiment: the options, the observer, the table, the figure.

:func:`run_with_signs` runs an experiment of :mod:`ann.experiments` with the bridge's
sign observer (:class:`~bridge.sign_observer.SignObserver`) watching every run, adds
the signs table to its report and draws ``STEM_signs.png``; it is how the sweep
scripts (``mixlu_mnist.py``, ``mixlu_cifar.py``) and the verdict study connect
:mod:`ann`'s sweeps with :mod:`bridge`'s monitor, so that :mod:`ann` never imports
:mod:`bridge`::

    from ann.experiments import MNIST_LENET_SWEEP, SweepOptions
    document = run_with_signs(MNIST_LENET_SWEEP, SweepOptions(quick=True), every=5)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ann.experiments.options import SweepOptions
from ann.experiments.runner import Experiment
from bridge.sign_observer import DEFAULT_EVERY, SignObserver
from bridge.signs_report import plot_inverted, signs_table
from common.checks import is_integer
from common.cli import UserError

__all__ = ["add_signs_arguments", "signs_every_of", "signs_section", "write_signs_figure",
           "run_with_signs", "run_from_arguments", "MAX_EVERY"]

#: Bound of --signs-every.
MAX_EVERY = 1_000_000


def add_signs_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--signs`` and ``--signs-every``."""
    parser.add_argument(
        "--signs", action="store_true",
        help="watch the update signs of every run with the bridge monitor (both engines): "
             "STDP regime shares, inverted and silent local derivatives and agreement per "
             "unit type, stored with each run, printed as a table beside the others and "
             "drawn in STEM_signs.png")
    parser.add_argument(
        "--signs-every", type=int, default=None, metavar="K",
        help=f"with --signs, watch one optimizer step in K (the measured overhead is "
             f"printed; default: {DEFAULT_EVERY})")


def signs_every_of(args: argparse.Namespace) -> int | None:
    """``--signs-every`` (default :data:`DEFAULT_EVERY`) when ``--signs`` is given, else
    ``None``.

    Raises:
        UserError: ``--signs-every`` without ``--signs`` (it would do nothing).
    """
    if not args.signs:
        if args.signs_every is not None:
            raise UserError("--signs-every needs --signs (it sets how often the signs are "
                            "watched)")
        return None
    return DEFAULT_EVERY if args.signs_every is None else args.signs_every


def _observer(every: int | None) -> SignObserver | None:
    """The observer watching one step in ``every`` (``None``: none); :class:`UserError`
    for a bad ``every``."""
    if every is None:
        return None
    if not is_integer(every) or not 1 <= every <= MAX_EVERY:
        raise UserError(f"--signs-every must be an integer in 1..{MAX_EVERY}, got {every}")
    return SignObserver(every)


def signs_section(results: list[dict[str, Any]], dataset: str) -> str | None:
    """:func:`~bridge.signs_report.signs_table` when some run carries signs (so a
    report of stored runs shows them too), else ``None``."""
    return signs_table(results) if any("signs" in r for r in results) else None


def write_signs_figure(out: Path | None, stem: str, runs: list[dict[str, Any]],
                       log: Callable[[str], None] = print) -> Path | None:
    """``out/STEM_signs.png`` (inverted fraction vs NegLU share) when runs carry signs."""
    if out is None:
        return None
    path = plot_inverted(runs, Path(out) / f"{stem}_signs.png")
    if path is not None:
        log(f"wrote {path}")
    return path


def run_with_signs(experiment: Experiment, options: SweepOptions | None = None,
                   every: int | None = None, **kwargs: Any) -> dict[str, Any]:
    """``experiment.run(options, **kwargs)`` with the sign observer watching one
    optimizer step in ``every`` (``None``: no observer, but stored signs are still
    reported), the signs table in the report and ``STEM_signs.png`` beside the
    experiment's files."""
    observer = _observer(every)
    fields = {f.name for f in dataclasses.fields(SweepOptions)}
    options = (options or SweepOptions()).replace(
        **{k: kwargs.pop(k) for k in list(kwargs) if k in fields})
    document = experiment.run(options, observer=observer, sections=[signs_section], **kwargs)
    write_signs_figure(options.out, experiment.stem, document["runs"], kwargs.get("log", print))
    return document


def run_from_arguments(experiment: Experiment, args: argparse.Namespace) -> dict[str, Any]:
    """A sweep script's ``run``: the experiment of parsed ``args`` (its options,
    ``--signs``), with this process's command line recorded in the document."""
    return run_with_signs(experiment, SweepOptions.from_namespace(args), signs_every_of(args),
                          command=" ".join([Path(sys.argv[0]).name] + sys.argv[1:]))
