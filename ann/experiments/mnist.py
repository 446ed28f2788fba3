"""MixLU-LeNet on MNIST: the thesis's Tables 6, 7 and 8 (and Figure 12), as a function.

The ReLU-LeNet of MatConvNet's ``cnn_mnist`` with a share of its 500 hidden units
turned into NegLUs (0 .. 10 %, as the thesis), trained by the reference protocol
(:data:`ann.config.MNIST_LENET`: SGD lr 0.001, momentum 0.9, weight decay 0.0005,
batch 100, 20 epochs; mean image subtracted, pixels 0-255).  The report puts ours
beside the thesis's numbers:

- Table 6: final test error per NegLU percentage;
- Table 7: test, training, their gap, their increases over 0 % and the ratio;
- Table 8: test error per epoch (epochs 1-9) for 0 % and 1 %;

with ``seeds >= 2``: mean ± sd, 95 % intervals and which differences exceed seed noise.

From Python::

    from ann.experiments import table6
    document = table6(seeds=3, out="results/table6")      # the whole 0..10 % sweep
    document = table6(quick=True)                         # a demo, under a minute

``experiments/mixlu_mnist.py`` is its command line (the same options).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ann.config import MNIST_LENET, TrainConfig
from ann.data import DataNotFound, load_dataset, subtract_mean_image
from ann.data.datasets import TensorData
from ann.experiments.options import SweepOptions
from ann.experiments.runner import Experiment
from ann.models import build_model, neglu_counts
from ann.report import (
    THESIS_MNIST,
    THESIS_MNIST_EPOCHS,
    diagnostics_table,
    epoch_table,
    final_table,
    gap_table,
    noise_lines,
    summarize,
)
from ann.specs import RunSpec

__all__ = ["MnistLeNetSweep", "MNIST_LENET_SWEEP", "table6", "neglus_per_image",
           "DEFAULT_PERCENTS", "QUICK"]

#: The thesis's NegLU percentages (Table 6).
DEFAULT_PERCENTS = "0,1,2,3,4,5,6,7,8,9,10"
#: ``quick=True``: a demo well under a minute on 2 CPU cores.
QUICK = {"percents": "0,5", "epochs": 3, "train_subset": 2000, "test_subset": 1000}


def neglus_per_image(percent: float) -> int:
    """NegLUs of the MixLU-LeNet at ``percent`` % (fixed mask), counted from the model."""
    model = build_model(RunSpec.mixlu(percent, model="lenet"))
    return int(sum(neglu_counts(model, (1, 28, 28))))


class MnistLeNetSweep(Experiment):
    """MixLU-LeNet on MNIST (module docstring).  The dataset ``mnist`` falls back to
    ``mnist-5k`` (one line says so) when MNIST is neither in ``data_dir`` nor in the
    cache and cannot be downloaded."""

    stem = "mixlu_mnist"
    model = "lenet"
    defaults = {"percents": DEFAULT_PERCENTS, "dataset": "mnist", "mask": "fixed"}
    quick = QUICK
    metric = "error"

    def config(self, options: SweepOptions) -> TrainConfig:
        return MNIST_LENET.replace(epochs=options.epochs or MNIST_LENET.epochs)

    def load_data(self, options: SweepOptions, log: Callable[[str], None] = print
                  ) -> TensorData:
        # subsets are drawn before the images become floats; one larger than the data
        # is an error, except for --quick's own sizes on small data
        sizes = dict(train_subset=options.train_subset, test_subset=options.test_subset,
                     strict_subsets=not options.quick)
        try:
            data = load_dataset(options.dataset, options.data_dir, log=log, **sizes)
        except DataNotFound as exc:
            if options.dataset != "mnist":
                raise
            log(f"{exc}; falling back to mnist-5k")
            data = load_dataset("mnist-5k", options.data_dir, log=log, **sizes)
        return subtract_mean_image(data)

    def report(self, results: list[dict[str, Any]], dataset: str,
               options: SweepOptions | None = None) -> str:
        summary = summarize(results)
        counts = {p: neglus_per_image(p) for p in {p for _, p in summary}}
        note = (f"MixLU-LeNet on {dataset} (thesis: full MNIST, 60,000 training images, "
                f"one seed)")
        if not dataset.startswith("mnist"):
            note += (f"; the thesis columns are MNIST's, so compare patterns, not values, "
                     f"on {dataset}")
        parts = [
            note,
            final_table(summary, THESIS_MNIST, neg_counts=counts, title="Table 6"),
            gap_table(summary, THESIS_MNIST, title="Table 7"),
            epoch_table(summary, THESIS_MNIST_EPOCHS, title="Table 8"),
            "\n".join(noise_lines(summary, results, THESIS_MNIST)),
            diagnostics_table(results),
        ]
        return "\n\n".join(parts)

    def settings(self, data: TensorData, options: SweepOptions) -> dict[str, Any]:
        return {"model": "LeNet (MatConvNet cnn_mnist)"}

    def title(self, dataset: str) -> str:
        return f"MixLU-LeNet on {dataset}: training (solid) and test (dotted) error"


#: The experiment of Tables 6-8.
MNIST_LENET_SWEEP = MnistLeNetSweep()


def table6(options: SweepOptions | None = None, **changes: Any) -> dict[str, Any]:
    """Run (or resume, or report) the MixLU-LeNet MNIST sweep of Tables 6-8; return its
    JSON document.  Keywords are :class:`~ann.experiments.options.SweepOptions` fields
    and the arguments of :meth:`~ann.experiments.runner.Experiment.run`
    (``observer``, ``sections``, ``log``)."""
    return MNIST_LENET_SWEEP.run(options, **changes)
