"""MixLU-LeNet5 on CIFAR-10: the thesis's Tables 9 and 10 (and Figure 13), as a function.

The ReLU-LeNet5 of MatConvNet's ``cnn_cifar`` ('lenet', CIFAR10-quick) with a share of
the units of its four ReLU positions turned into NegLUs (0 .. 3 %, as the thesis),
trained by the reference protocol (:data:`ann.config.CIFAR_LENET5`; ``epochs=N`` runs
the first N epochs of its schedule); data: mean image subtracted, per-image contrast
normalisation and ZCA whitening (:mod:`ann.preprocess`, computed once and cached).
The report puts ours beside the thesis's numbers:

- Table 9: final test accuracy per NegLU percentage;
- Table 10: test, training, their gap, their decreases from 0 % and the ratio.

MixLU mask: the default ``mask="resample"`` draws a fresh NegLU mask over all elements
of each activation tensor on every pass, as the published MatConvNet layer did when
given no mask, which is what produced the thesis's numbers.  ``mask="fixed"``
designates whole channels once per run; rounded per layer (32, 32, 64, 64 channels)
that leaves shares below ~1.6 % with no NegLU in the 32-channel layers.

CIFAR-10 is read from ``data_dir``, the user cache, or downloaded (md5-checked).  The
toolkit's 28x28 gray datasets (``fashion-mnist``, ``mnist``, ``mnist-5k``) are
zero-padded to 32x32 and repeated to three channels, then go through the same
pipeline.

From Python::

    from ann.experiments import table9
    document = table9(seeds=3, out="results/table9", data_dir="~/data/cifar-10-batches-py")
    document = table9(quick=True, dataset="fashion-mnist")     # a demo

``experiments/mixlu_cifar.py`` is its command line (the same options).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import nn

from ann.activations import MixLU
from ann.config import CIFAR_LENET5, TrainConfig
from ann.data import load_dataset
from ann.data.datasets import TensorData
from ann.experiments.options import SweepOptions
from ann.experiments.runner import Experiment
from ann.models import build_model, neglu_counts
from ann.preprocess import PreprocessParams, preprocess_cifar
from ann.report import (
    THESIS_CIFAR,
    diagnostics_table,
    final_table,
    gap_table,
    noise_lines,
    summarize,
)
from ann.specs import RunSpec
from common.checks import is_integer
from common.cli import UserError

__all__ = ["CifarLeNet5Sweep", "CIFAR_LENET5_SWEEP", "table9", "make_config",
           "parse_positions", "neg_counts", "DEFAULT_PERCENTS", "QUICK", "IMAGE_SHAPE"]

#: The thesis's NegLU percentages (Table 9).
DEFAULT_PERCENTS = "0,0.25,0.5,1,2,3"
#: Test-error levels of the dynamics columns (ours: the thesis gives no CIFAR curve).
CIFAR_LEVELS = (0.30, 0.25)
#: ``quick=True``: a demo.
QUICK = {"percents": "0,3", "epochs": 2, "train_subset": 2000, "test_subset": 1000}
#: Image shape the model sees (CIFAR-10; gray datasets are padded and repeated to it).
IMAGE_SHAPE = (3, 32, 32)


def make_config(epochs: int = CIFAR_LENET5.epochs) -> TrainConfig:
    """The reference protocol (:data:`ann.config.CIFAR_LENET5`) for its first ``epochs``.

    Raises:
        ValueError: ``epochs`` outside 1..30.
    """
    full = CIFAR_LENET5.epochs
    if not is_integer(epochs) or not 1 <= epochs <= full:
        raise ValueError(f"epochs must be an integer in 1..{full}, got {epochs!r}")
    return CIFAR_LENET5.replace(epochs=epochs)


def parse_positions(text: str | None) -> list[int]:
    """``mixlu_positions``: distinct 1-based positions of 1..4 -> sorted 0-based list
    (``None``: all four).

    Raises:
        UserError: naming the option and the bad item.
    """
    if text is None:
        return [0, 1, 2, 3]
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
    return (f"expected NegLU elements per image over the four positions ({elements} units "
            f"per image)")


class CifarLeNet5Sweep(Experiment):
    """MixLU-LeNet5 on CIFAR-10 (module docstring)."""

    stem = "mixlu_cifar"
    model = "lenet5"
    defaults = {"percents": DEFAULT_PERCENTS, "dataset": "cifar10", "mask": "resample"}
    quick = QUICK
    metric = "accuracy"

    def check(self, options: SweepOptions) -> None:
        if options.epochs is not None and options.epochs > CIFAR_LENET5.epochs:
            raise UserError(f"--epochs must be at most {CIFAR_LENET5.epochs} (the reference "
                            f"schedule's length), got {options.epochs}")
        parse_positions(options.mixlu_positions)

    def config(self, options: SweepOptions) -> TrainConfig:
        return make_config(options.epochs or CIFAR_LENET5.epochs)

    def load_data(self, options: SweepOptions, log: Callable[[str], None] = print
                  ) -> TensorData:
        """The dataset of ``options``: subset first, then :func:`preprocess_cifar`."""
        # subsets are drawn before the images become floats (see the MNIST sweep)
        data = load_dataset(options.dataset, options.data_dir, log=log,
                            train_subset=options.train_subset, test_subset=options.test_subset,
                            strict_subsets=not options.quick)
        try:
            return preprocess_cifar(data, PreprocessParams(), use_cache=not options.no_cache,
                                    log=log, progress=not options.no_progress)
        except ValueError as exc:
            raise UserError(f"--dataset {options.dataset}: {exc}") from None

    def report(self, results: list[dict[str, Any]], dataset: str,
               options: SweepOptions | None = None) -> str:
        """Tables 9 and 10, the seed-noise lines and the unit diagnostics."""
        options = options or SweepOptions(mask="resample")
        mask = options.mask
        summary = summarize(results, metric="accuracy")
        counts = neg_counts(sorted({p for _, p in summary}), mask, _partial(options))
        note = (f"MixLU-LeNet5 on {dataset}, mask {mask} "
                + ("(the thesis's setting)" if mask == "resample" else
                   "(NOT the thesis's setting, which is --mask resample)")
                + "; thesis: CIFAR-10, 50,000 training images, 30 epochs, one seed")
        if dataset != "cifar10":
            note += (f"; the thesis columns are CIFAR-10's, so compare patterns, not values, "
                     f"on {dataset}")
        parts = [
            note,
            final_table(summary, THESIS_CIFAR, metric="accuracy", title="Table 9",
                        neg_counts=counts) + f"\n\nNegLUs: {_units_note(mask)}.",
            gap_table(summary, THESIS_CIFAR, metric="accuracy", title="Table 10"),
            "\n".join(noise_lines(summary, results, THESIS_CIFAR, metric="accuracy")),
            diagnostics_table(results, levels=CIFAR_LEVELS),
        ]
        return "\n\n".join(parts)

    def settings(self, data: TensorData, options: SweepOptions) -> dict[str, Any]:
        positions = _partial(options)
        return {
            "model": "LeNet5 (MatConvNet cnn_cifar 'lenet')",
            "preprocessing": data.info.get("preprocessing_params"),
            # only when not the thesis's net: earlier sweeps (all four) resume as before
            **({} if positions is None else {"mixlu_positions": [p + 1 for p in positions]}),
        }

    def build_model(self, options: SweepOptions) -> Callable[[RunSpec], nn.Module] | None:
        positions = _partial(options)
        return None if positions is None else functools.partial(build_model,
                                                                 positions=positions)

    def title(self, dataset: str) -> str:
        return f"MixLU-LeNet5 on {dataset}: training (solid) and test (dotted) accuracy"

    def announce(self, options: SweepOptions) -> str:
        return f"mask: {options.mask}" + (
            " (per-element, resampled each pass: the thesis's setting)"
            if options.mask == "resample" else
            " (fixed channels; the thesis's setting is --mask resample)")


def _partial(options: SweepOptions) -> list[int] | None:
    """The MixLU positions when not all four (the thesis's net), else ``None``."""
    positions = parse_positions(options.mixlu_positions)
    return None if positions == [0, 1, 2, 3] else positions


#: The experiment of Tables 9-10.
CIFAR_LENET5_SWEEP = CifarLeNet5Sweep()


def table9(options: SweepOptions | None = None, **changes: Any) -> dict[str, Any]:
    """Run (or resume, or report) the MixLU-LeNet5 CIFAR-10 sweep of Tables 9-10; return
    its JSON document.  Keywords are :class:`~ann.experiments.options.SweepOptions`
    fields and the arguments of :meth:`~ann.experiments.runner.Experiment.run`
    (``observer``, ``sections``, ``log``)."""
    return CIFAR_LENET5_SWEEP.run(options, **changes)
