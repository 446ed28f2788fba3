"""MixLU-LeNet5 on CIFAR-10: thesis Tables 9 and 10 and Figure 13, ours beside the thesis's.

Trains the ReLU-LeNet5 of MatConvNet's ``cnn_cifar`` ('lenet', CIFAR10-quick) with a
share of the units of all four ReLU positions turned into NegLUs (0 .. 3 %, as the
thesis), by the reference protocol (REFERENCE §4): SGD with momentum 0.9, weight
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
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ann.data.cifar  # noqa: E402, F401  (registers the dataset "cifar10")
from ann.activations import MixLU  # noqa: E402
from ann.data import load_dataset, subset  # noqa: E402
from ann.experiment import (  # noqa: E402
    add_sweep_arguments,
    apply_quick,
    check_sweep_arguments,
    run_experiment,
)
from ann.models import build_model, neglu_counts  # noqa: E402
from ann.preprocess import PreprocessParams, preprocess_cifar  # noqa: E402
from ann.protocols import CIFAR_LENET5  # noqa: E402
from ann.report import (  # noqa: E402
    THESIS_CIFAR,
    diagnostics_table,
    final_table,
    gap_table,
    noise_lines,
    summarize,
)
from ann.specs import RunSpec  # noqa: E402
from ann.train import TrainConfig  # noqa: E402
from bridge.sweep_signs import (  # noqa: E402
    add_signs_arguments,
    signs_observer,
    with_signs_table,
    write_signs_figure,
)
from common.cli import OneLineArgumentParser, UserError, cli_main  # noqa: E402

DEFAULT_PERCENTS = "0,0.25,0.5,1,2,3"
#: Test-error levels of the dynamics columns (ours: the thesis gives no CIFAR curve).
CIFAR_LEVELS = (0.30, 0.25)
QUICK = {"percents": "0,3", "epochs": 2, "train_subset": 2000, "test_subset": 1000}
DEFAULT_MASK = "resample"
ALL_POSITIONS = "1,2,3,4"
#: Image shape the model sees (CIFAR-10; gray datasets are padded and repeated to it).
IMAGE_SHAPE = (3, 32, 32)


def make_config(epochs: int = CIFAR_LENET5.epochs) -> TrainConfig:
    """The reference protocol (:data:`ann.protocols.CIFAR_LENET5`) for its first ``epochs``.

    Raises:
        ValueError: ``epochs`` outside 1..30.
    """
    full = CIFAR_LENET5.epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= full:
        raise ValueError(f"epochs must be an integer in 1..{full}, got {epochs!r}")
    return CIFAR_LENET5.replace(epochs=epochs)


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
    add_sweep_arguments(
        parser,
        default_percents=DEFAULT_PERCENTS,
        default_epochs=CIFAR_LENET5.epochs,
        default_dataset="cifar10",
        quick_help="demo/CI run: percents 0,3 (unless --percents), 2 epochs (unless "
        "--epochs), 2,000 training and 1,000 test images (unless --train-subset/"
        "--test-subset)",
        default_mask=DEFAULT_MASK,  # the thesis's setting
        mask_help="MixLU mask: resample (a fresh per-element mask every forward pass, as the "
        "published layer did when given no mask: reproduces the thesis's setting) or fixed "
        "(NegLU channels drawn once per run; shares below ~1.6 %% give no NegLU in the "
        "32-channel layers) (default: %(default)s)",
    )
    add_signs_arguments(parser)
    parser.add_argument(
        "--mixlu-positions", default=ALL_POSITIONS, metavar="LIST",
        help="which of LeNet5's four activation positions (1-4, after conv1 .. conv4) get "
             "the swept activation; the others are ReLU (default: %(default)s, the thesis's "
             "net). E.g. 1 at a high share vs 1,2,3,4 at a low share compares matched NegLU "
             "totals")
    parser.add_argument(
        "--no-cache", action="store_true",
        help="recompute the preprocessing instead of reading/writing its disk cache")
    return parser


def load_data(args: argparse.Namespace, log=print):
    """The preprocessed dataset of ``args`` (subset first, then :func:`preprocess_cifar`)."""
    data = load_dataset(args.dataset, args.data_dir, log=log)
    if args.train_subset or args.test_subset:
        data = subset(data, args.train_subset, args.test_subset, seed=0)
    try:
        return preprocess_cifar(data, PreprocessParams(), use_cache=not args.no_cache, log=log,
                                progress=not args.no_progress)
    except ValueError as exc:
        raise UserError(f"--dataset {args.dataset}: {exc}") from None


def parse_positions(text: str) -> list[int]:
    """``--mixlu-positions``: distinct 1-based positions of 1..4 -> sorted 0-based list.

    Raises:
        UserError: naming the option and the bad item.
    """
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise UserError(f"--mixlu-positions needs positions of 1..4, got {text!r}")
    positions = []
    for t in items:
        if t not in ("1", "2", "3", "4"):
            raise UserError(f"--mixlu-positions: {t!r} is not a position 1..4 (in {text!r})")
        if int(t) - 1 in positions:
            raise UserError(f"--mixlu-positions: {t} given twice (in {text!r})")
        positions.append(int(t) - 1)
    return sorted(positions)


def neg_counts(percents, mask: str, positions=None) -> dict[float, str]:
    """NegLUs per percentage, counted from the model: NegLU channels per position
    (fixed) or expected NegLU elements per image over the four positions (resample)."""
    counts = {}
    for p in percents:
        model = build_model(RunSpec.mixlu(p, mask=mask, model="lenet5"), positions)
        if mask == "fixed":
            counts[p] = "+".join(str(m.num_neg) for m in model.modules() if isinstance(m, MixLU))
        else:
            counts[p] = f"{sum(neglu_counts(model, IMAGE_SHAPE)):.0f}/img"
    return counts


def _units_note(mask: str) -> str:
    model = build_model(RunSpec.mixlu(100.0, mask="fixed", model="lenet5"))
    channels = [m.num_units for m in model.modules() if isinstance(m, MixLU)]
    elements = int(sum(neglu_counts(model, IMAGE_SHAPE)))
    if mask == "fixed":
        return f"NegLU channels per position ({'+'.join(map(str, channels))} channels)"
    return f"expected NegLU elements per image over the four positions ({elements} units per image)"


def report(results: list[dict], dataset: str, mask: str, positions=None) -> str:
    """Tables 9 and 10, the seed-noise lines and the unit diagnostics."""
    summary = summarize(results, metric="accuracy")
    counts = neg_counts(sorted({p for _, p in summary}), mask, positions)
    note = (f"MixLU-LeNet5 on {dataset}, mask {mask} "
            + ("(the thesis's setting)" if mask == "resample" else
               "(NOT the thesis's setting, which is --mask resample)")
            + "; thesis: CIFAR-10, 50,000 training images, 30 epochs, one seed")
    if dataset != "cifar10":
        note += (f"; the thesis columns are CIFAR-10's, so compare patterns, not values, on "
                 f"{dataset}")
    parts = [
        note,
        final_table(summary, THESIS_CIFAR, metric="accuracy", title="Table 9",
                    neg_counts=counts) + f"\n\nNegLUs: {_units_note(mask)}.",
        gap_table(summary, THESIS_CIFAR, metric="accuracy", title="Table 10"),
        "\n".join(noise_lines(summary, results, THESIS_CIFAR, metric="accuracy")),
        diagnostics_table(results, levels=CIFAR_LEVELS),
    ]
    return "\n\n".join(parts)


def run(args: argparse.Namespace) -> dict:
    """Run the experiment for parsed ``args``; return the JSON document (with ``runs``)."""
    apply_quick(args, QUICK)
    check_sweep_arguments(args)
    if args.epochs is not None and args.epochs > CIFAR_LENET5.epochs:
        raise UserError(f"--epochs must be at most {CIFAR_LENET5.epochs} (the reference "
                        f"schedule's length), got {args.epochs}")
    config = make_config(args.epochs or CIFAR_LENET5.epochs)
    positions = parse_positions(args.mixlu_positions)
    every = positions == [0, 1, 2, 3]
    mask = args.mask
    print(f"mask: {mask}" + (" (per-element, resampled each pass: the thesis's setting)"
                             if mask == "resample" else
                             " (fixed channels; the thesis's setting is --mask resample)"))
    observer = signs_observer(args)
    document = run_experiment(
        args,
        stem="mixlu_cifar",
        model="lenet5",
        default_percents=DEFAULT_PERCENTS,
        load_data=lambda: load_data(args),
        config=config,
        report=with_signs_table(lambda results, dataset: report(
            results, dataset, mask, None if every else positions)),
        extra=lambda data: {
            "model": "LeNet5 (MatConvNet cnn_cifar 'lenet')",
            "preprocessing": data.info.get("preprocessing_params"),
            # only when not the thesis's net: earlier sweeps (all four) resume as before
            **({} if every else {"mixlu_positions": [p + 1 for p in positions]}),
        },
        build_model=None if every else functools.partial(build_model, positions=positions),
        metric="accuracy",
        title=lambda name: f"MixLU-LeNet5 on {name}: training (solid) and test (dotted) accuracy",
        observer=observer,
    )
    write_signs_figure(args.out, "mixlu_cifar", document["runs"])
    return document


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for user errors)."""
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
