"""The sweeps of the verdict study, per scale, as options of the sweep experiments.

Each :class:`Sweep` is one run of an experiment of :mod:`ann.experiments`
(``mixlu_mnist`` or ``mixlu_cifar``: one dataset, model and protocol) with its options
(:meth:`Sweep.options`), stored in ``DIR/sweeps/NAME`` by that experiment's own
:class:`~ann.run_store.RunStore`, with the equivalent command of its script
(:meth:`Sweep.command`): the study resumes as every sweep does, a claim that
needs runs of another claim reuses them (all LeNet runs on mnist-5k are one sweep),
and every sweep can be reported or extended with its script alone.

Scales (:data:`SCALES`):

``smoke``
    every claim, tiny (hundreds of images, 1-2 epochs, 2 seeds; MNIST from
    ``--mnist-dir``, else mnist-5k): checks the machinery in CI, settles nothing.
``offline``
    what a 2-core machine without downloads can settle: mnist-5k (5,000 real MNIST
    training images; the official test set with ``--mnist-dir``) at the full 20-epoch
    protocol with 5 seeds for claims 1-4, 6 and 7; Fashion-MNIST's 60,000 training
    images with the MNIST LeNet and protocol (12,000 SGD steps per run, as the
    thesis's MNIST runs) for claim 2's primary test (ReLU and 10 % NegLUs in the
    published mode, 6 seeds: the fewest at which no collapse in any run rejects a 50 %
    collapse rate); LeNet5 on a Fashion-MNIST subset at a reduced epoch count for
    claim 5.
``full``
    10 seeds, every share of Tables 6 and 9 under every backward and mask mode, the
    full 20/30-epoch protocols, MNIST and CIFAR-10 when their directories are given.
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ann.experiments.options import SweepOptions

__all__ = [
    "SCALES",
    "Sweep",
    "scale_sweeps",
    "single_position_share",
    "PUBLISHED_MODE",
]

SCALES = ("smoke", "offline", "full")

#: The backward and mask mode of the published MatConvNet layer (docs/reference.md#mixlu-masks): the
#: headline mode of the summary table.
PUBLISHED_MODE = ("reference", "resample")

BACKWARDS = ("exact", "reference", "inverted")
MASKS = ("fixed", "resample")


@dataclass(frozen=True)
class Sweep:
    """One sweep of the study: an experiment and its options.

    Attributes:
        name: its directory under ``DIR/sweeps/``.
        script: the experiment, ``"mixlu_mnist"`` or ``"mixlu_cifar"``
            (:data:`ann.experiments.EXPERIMENTS`; also its script's name).
        dataset: ``--dataset``.
        data: which data directory it reads: ``"mnist"``, ``"fashion"`` or ``"cifar"``
            (``--mnist-dir`` ... of ``thesis_claims.py``, passed as ``--data-dir``).
        epochs, seeds: ``--epochs``, ``--seeds``.
        activations: ``--activations``.
        claims: the claims that read it.
        train_subset, test_subset: ``--train-subset``, ``--test-subset`` (or all).
        positions: ``--mixlu-positions`` (``mixlu_cifar`` only; ``None``: all four).
        signs_every: ``--signs --signs-every K`` (``None``: no sign monitor).
    """

    name: str
    script: str
    dataset: str
    data: str
    epochs: int
    seeds: int
    activations: str
    claims: tuple[int, ...]
    train_subset: int | None = None
    test_subset: int | None = None
    positions: str | None = None
    signs_every: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def model(self) -> str:
        """``"lenet"`` or ``"lenet5"``."""
        return "lenet" if self.script == "mixlu_mnist" else "lenet5"

    def options(self, out: Path, data_dir: Path | None = None, **run: Any) -> SweepOptions:
        """The experiment's options: this sweep into ``out`` (its own directory);
        ``run``: options of where and how it runs (``device``, ``executor`` ...)."""
        return SweepOptions(dataset=self.dataset, epochs=self.epochs, seeds=self.seeds,
                            activations=self.activations, out=out, data_dir=data_dir,
                            train_subset=self.train_subset, test_subset=self.test_subset,
                            mixlu_positions=self.positions, **run)

    def argv(self, out: Path, data_dir: Path | None = None, **run: Any) -> list[str]:
        """The script's arguments of :meth:`options` and the sign monitor."""
        argv = self.options(out, data_dir, **run).argv()
        if self.signs_every is not None:
            argv += ["--signs", "--signs-every", str(self.signs_every)]
        return argv

    def command(self, out: Path, data_dir: Path | None = None, **run: Any) -> str:
        """The shell command that runs (or resumes) this sweep alone."""
        return shlex.join(["python", f"experiments/{self.script}.py",
                           *self.argv(out, data_dir, **run)])

    def stored(self, meta: dict) -> Sweep:
        """This sweep as its store's ``sweep.json`` says it ran: the dataset actually
        loaded (``mnist`` falls back to ``mnist-5k``) and its sizes."""
        return dataclasses.replace(self, dataset=meta.get("dataset", self.dataset),
                                   train_subset=meta.get("train_size", self.train_subset),
                                   test_subset=meta.get("test_size", self.test_subset))

    def describe_data(self) -> str:
        """The data in words, as every number of the report names it."""
        train = f"{self.train_subset:,}" if self.train_subset else "all"
        test = f"{self.test_subset:,}" if self.test_subset else "all"
        model = "LeNet" if self.model == "lenet" else "LeNet5"
        return (f"{self.dataset} ({train} training / {test} test images), {model}, "
                f"{self.epochs} epochs")


@functools.cache
def _elements_ratio() -> float:
    """NegLU elements per image of LeNet5 with MixLU at all four positions over those
    with MixLU at position 1 only, at the same resampled share (counted from models)."""
    from ann.models import build_model, neglu_counts
    from ann.specs import RunSpec

    spec = RunSpec.mixlu(100.0, "reference", mask="resample", model="lenet5")
    every = sum(neglu_counts(build_model(spec), (3, 32, 32)))
    first = sum(neglu_counts(build_model(spec, [0]), (3, 32, 32)))
    return every / first


def single_position_share(percent: float) -> float:
    """The share at position 1 alone that gives LeNet5 as many NegLUs per image as
    ``percent`` % at all four positions (resampled masks), to 2 decimals."""
    share = round(percent * _elements_ratio(), 2)
    if share > 100:
        raise ValueError(f"{percent} % at all four positions has more NegLUs than "
                         f"position 1 alone can hold")
    return share


def _mixlu(shares: Sequence[float], backwards: Sequence[str], masks: Sequence[str]) -> str:
    return ", ".join(f"mixlu:{p:g}:{b}:{m}" for b in backwards for m in masks for p in shares)


#: The baselines of claim 6 (docs/reference.md#baselines), besides ReLU: Noisy ReLU with fixed and
#: Nair-Hinton variance, Leaky ReLU at the paper's slope and at 0.05, PReLU, bipolar
#: units and dropout 0.5 after the hidden layer.
BASELINES = "noisy:1, noisy:1:nair-hinton, leaky:0.01, leaky:0.05, prelu, bipolar, relu:dropout=0.5"
#: The offline scale's: without the Nair-Hinton variance.  It was left out when Noisy
#: ReLUs trained one at a time by the loop (the costliest runs of the sweep); they stack
#: now (ann/batched/units.py), but the plan stays as registered, so that the committed
#: store and its verdicts remain the plan's.
OFFLINE_BASELINES = "noisy:1, leaky:0.01, leaky:0.05, prelu, bipolar, relu:dropout=0.5"


def scale_sweeps(scale: str, cifar: bool = False) -> list[Sweep]:
    """The sweeps of ``scale``; ``cifar``: the LeNet5 sweeps use CIFAR-10 (``full``
    scale with ``--cifar-dir``), else Fashion-MNIST padded to 32x32.

    Raises:
        ValueError: an unknown scale.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if scale == "smoke":
        lenet = dict(train_subset=500, test_subset=500, epochs=2, seeds=2)
        shares, modes = (1, 5, 10), dict(backwards=("reference", "inverted"),
                                         masks=("fixed", "resample"))
        fashion = dict(train_subset=600, test_subset=300, epochs=1, seeds=2)
        fashion_acts = "relu, " + _mixlu((10,), ("reference",), ("fixed",))
        lenet5 = dict(dataset="fashion-mnist", data="fashion", train_subset=600,
                      test_subset=200, epochs=2, seeds=2)
        lenet5_shares = (3,)
        signs_every, mnist_dataset = 5, "mnist"
    elif scale == "offline":
        lenet = dict(epochs=20, seeds=5)
        shares, modes = (1, 5, 10), dict(backwards=BACKWARDS, masks=MASKS)
        # 6 seeds: the fewest at which 0 collapses in 6 runs rejects a 50 % collapse rate
        # (exact two-sided binomial p = 0.031); the published mode only
        fashion = dict(epochs=20, seeds=6)
        fashion_acts = "relu, " + _mixlu((10,), ("reference",), ("resample",))
        # 2,000 test images: with all 10,000 the test passes would cost LeNet5 about
        # as much as its training here
        lenet5 = dict(dataset="fashion-mnist", data="fashion", train_subset=5_000,
                      test_subset=2_000, epochs=6, seeds=3)
        lenet5_shares = (1, 3)
        signs_every, mnist_dataset = 25, "mnist-5k"
    else:
        lenet = dict(epochs=20, seeds=10)
        shares, modes = tuple(range(1, 11)), dict(backwards=BACKWARDS, masks=MASKS)
        fashion = dict(epochs=20, seeds=10)
        fashion_acts = "relu, " + _mixlu(tuple(range(1, 11)), ("reference",), MASKS)
        lenet5 = dict(dataset="cifar10" if cifar else "fashion-mnist",
                      data="cifar" if cifar else "fashion", epochs=30, seeds=10)
        lenet5_shares = (0.25, 0.5, 1, 2, 3)
        signs_every, mnist_dataset = 10, "mnist"
    baselines = OFFLINE_BASELINES if scale == "offline" else BASELINES
    mnist_acts = "relu, " + _mixlu(shares, modes["backwards"], modes["masks"]) + ", " + baselines
    matched = [single_position_share(p) for p in lenet5_shares]
    return [
        Sweep("lenet-" + mnist_dataset, "mixlu_mnist", mnist_dataset, "mnist",
              activations=mnist_acts, claims=(1, 2, 3, 4, 6, 7), signs_every=signs_every,
              **lenet),
        Sweep("lenet-fashion-mnist", "mixlu_mnist", "fashion-mnist", "fashion",
              activations=fashion_acts, claims=(1, 2) if scale == "full" else (2,),
              **fashion),
        Sweep("lenet5-all-positions", "mixlu_cifar", activations="relu, " + _mixlu(
                  lenet5_shares, ("reference",), ("resample",)),
              claims=(5,), **lenet5),
        Sweep("lenet5-position-1", "mixlu_cifar", activations=_mixlu(
                  sorted(set(lenet5_shares) | set(matched)), ("reference",), ("resample",)),
              claims=(5,), positions="1", **lenet5,
              notes=(f"shares {', '.join(f'{m:g}' for m in matched)} % at position 1 hold "
                     f"as many NegLUs per image as {', '.join(f'{p:g}' for p in lenet5_shares)}"
                     f" % at all four positions",)),
    ]
