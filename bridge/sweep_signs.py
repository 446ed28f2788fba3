"""``--signs`` for the sweep scripts: the options, the observer, the table and the figure.

The scripts (``mixlu_mnist.py``, ``mixlu_cifar.py``) connect :mod:`ann`'s sweeps with
:mod:`bridge`'s monitor here, so that :mod:`ann` never imports :mod:`bridge`::

    add_signs_arguments(parser)
    observer = signs_observer(args)                    # None without --signs
    report = with_signs_table(report)                  # + the signs table, when recorded
    document = run_experiment(..., report=report, observer=observer)
    write_signs_figure(args.out, "mixlu_mnist", document["runs"])
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.observer import DEFAULT_EVERY, SignObserver
from bridge.signs_report import plot_inverted, signs_table
from common.cli import UserError

__all__ = ["add_signs_arguments", "signs_observer", "with_signs_table", "write_signs_figure",
           "MAX_EVERY"]

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
        "--signs-every", type=int, default=DEFAULT_EVERY, metavar="K",
        help="with --signs, watch one optimizer step in K (the measured overhead is printed; "
             "default: %(default)s)")


def signs_observer(args: argparse.Namespace) -> SignObserver | None:
    """The observer ``--signs`` asks for (``None`` without it); :class:`UserError` for a
    bad ``--signs-every``."""
    if not 1 <= args.signs_every <= MAX_EVERY:
        raise UserError(f"--signs-every must be an integer in 1..{MAX_EVERY}, got "
                        f"{args.signs_every}")
    return SignObserver(args.signs_every) if args.signs else None


def with_signs_table(report: Callable[[list[dict[str, Any]], str], str]
                     ) -> Callable[[list[dict[str, Any]], str], str]:
    """``report`` followed by :func:`~bridge.signs_report.signs_table` when some run
    carries signs (so ``--report-only`` shows them too)."""
    def wrapped(results: list[dict[str, Any]], dataset: str) -> str:
        text = report(results, dataset)
        if any("signs" in r for r in results):
            text += "\n\n" + signs_table(results)
        return text
    return wrapped


def write_signs_figure(out: Path | None, stem: str, runs: list[dict[str, Any]]) -> Path | None:
    """``out/STEM_signs.png`` (inverted fraction vs NegLU share) when runs carry signs."""
    if out is None:
        return None
    path = plot_inverted(runs, Path(out) / f"{stem}_signs.png")
    if path is not None:
        print(f"wrote {path}")
    return path
