"""MixLU-LeNet5 on CIFAR-10: thesis Tables 9 and 10 and Figure 13, ours beside the thesis's.

Trains the ReLU-LeNet5 of MatConvNet's ``cnn_cifar`` ('lenet', CIFAR10-quick) with a
share of the units of all four ReLU positions turned into NegLUs (0 .. 3 %, as the
thesis), by the reference protocol (docs/reference.md#lenet5-on-cifar-10): SGD, momentum 0.9, weight
decay 1e-4, batch 100, learning rate 0.05 for 15 epochs, 0.005 for 10, 0.0005 for 5
(``--epochs N`` runs the first N epochs of this schedule), learning-rate multipliers
0.1 for weights and 2 for biases (last conv: 0.01 and 0.2), a random horizontal flip
of each batch with probability 0.5; data: mean image subtracted, per-image contrast
normalisation and ZCA whitening (:mod:`ann.preprocess`, computed once and cached).
It prints

- Table 9: final test accuracy per NegLU percentage;
- Table 10: test, training, their gap, their decreases from 0 % and the ratio;

with the thesis's numbers beside ours and, with ``--seeds N >= 2``, mean ± sd, 95 %
intervals and which differences exceed seed noise.  ``--out DIR`` writes
``mixlu_cifar.json``, ``mixlu_cifar.csv`` and ``mixlu_cifar.png`` (Figure 13 style)
and makes the sweep resumable.

MixLU mask: the default ``--mask resample`` draws a fresh NegLU mask over all
elements of each activation tensor on every pass, as the published MatConvNet layer
did when given no mask, which is what produced the thesis's numbers.  ``--mask
fixed`` designates whole channels once per run; rounded per layer (32, 32, 64, 64
channels) that leaves shares below ~1.6 % with no NegLU in the 32-channel layers.

CIFAR-10 is read from ``--data-dir``, the user cache, or downloaded (md5-checked).
The toolkit's 28x28 gray datasets (``--dataset fashion-mnist``, ``mnist``, ``mnist-5k``)
are zero-padded to 32x32 and repeated to three channels and then go through the same
pipeline, so it can be exercised where CIFAR-10 is not available.

Reproduce (CIFAR-10, 30 epochs, six percentages, reference backward)::

    python experiments/mixlu_cifar.py --data-dir ~/data/cifar-10-batches-py \\
        --out results/mixlu_cifar

Quick demo::

    python experiments/mixlu_cifar.py --quick --dataset fashion-mnist

The experiment itself is :mod:`ann.experiments.cifar` (``ann.experiments.table9(...)``
from Python, with the same options); this script parses the options and calls it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ann.experiments.cifar import CIFAR_LENET5_SWEEP  # noqa: E402
from ann.experiments.cli import add_experiment_arguments  # noqa: E402
from bridge.sweep_signs import add_signs_arguments, run_from_arguments  # noqa: E402
from common.cli import OneLineArgumentParser, cli_main  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """The command line: the options shared with ``mixlu_mnist.py`` plus ``--no-cache``."""
    parser = OneLineArgumentParser(
        prog="mixlu_cifar.py",
        description="MixLU-LeNet5 on CIFAR-10: thesis Tables 9-10 and Figure 13, ours beside "
        "the thesis's.",
        epilog="Without CIFAR-10 in --data-dir or the cache and without a network, the error "
        "says what to download and where to put it. 28x28 gray datasets are zero-padded to "
        "32x32 and repeated to 3 channels. Bad options print one 'error: ...' line and exit "
        "with status 2.",
    )
    add_experiment_arguments(
        parser,
        CIFAR_LENET5_SWEEP,
        mask_help="MixLU mask: resample (a fresh per-element mask every forward pass, as the "
        "published layer did when given no mask: reproduces the thesis's setting) or fixed "
        "(NegLU channels drawn once per run; shares below ~1.6 %% give no NegLU in the "
        "32-channel layers) (default: %(default)s)",
    )
    add_signs_arguments(parser)
    parser.add_argument(
        "--mixlu-positions", default=None, metavar="LIST",
        help="which of LeNet5's four activation positions (1-4, after conv1 .. conv4) get "
             "the swept activation; the others are ReLU (default: 1,2,3,4, the thesis's "
             "net). E.g. 1 at a high share vs 1,2,3,4 at a low share compares matched NegLU "
             "totals")
    parser.add_argument(
        "--no-cache", action="store_true",
        help="recompute the preprocessing instead of reading/writing its disk cache")
    return parser


def run(args: argparse.Namespace) -> dict:
    """Run the experiment for parsed ``args``; return the JSON document (with ``runs``)."""
    return run_from_arguments(CIFAR_LENET5_SWEEP, args)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for user errors)."""
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
