"""How a run is trained: :class:`TrainConfig`, the thesis's protocols, the trainer version.

A leaf of :mod:`ann` (it imports nothing of the package), so that the trainers, the
checkpoints and the sweep store can all name the configuration and
:data:`TRAINER_VERSION` without importing each other.

X variants with ``MNIST_LENET.replace(epochs=3)``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from common.checks import is_integer, is_real

__all__ = ["TRAINER_VERSION", "TrainConfig", "MNIST_LENET", "CIFAR_LENET5",
           "CIFAR_LR_SCHEDULE"]

#: Version of the training procedure of both engines, saved with every run and sweep.
#: Bump it whenever a change gives other numbers for the same spec (the order of random
#: draws, the divergence rule, a layer's arithmetic): a store trained by another
#: version is then refused instead of resumed.  "3": one piecewise-linear op for every
#: unit, divergence checked after every epoch's last step (the earlier layout had
#: "subset-v2" mask draws and no version).
TRAINER_VERSION = "3"


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of a run.

    The defaults are neutral (``torch.optim.SGD``'s: lr 1e-3, no momentum, no weight
    decay; batch 100, one epoch); the thesis's protocols are the constants of
    :data:`MNIST_LENET` and :data:`CIFAR_LENET5`.  Frozen: derive variants with :meth:`replace`.

    Args:
        lr: learning rate, used for every epoch unless ``lr_schedule`` is given.
        momentum: SGD momentum (MatConvNet default 0.9).
        weight_decay: L2 weight decay on all parameters (MatConvNet default 5e-4).
        batch_size: images per SGD step.
        epochs: passes over the training set.
        lr_schedule: per-epoch learning rates (length >= ``epochs``), overriding ``lr``.
        flip: randomly flip each whole batch horizontally with probability 0.5.
        weight_lr_mult, bias_lr_mult: learning-rate multipliers for weights and biases.
        last_weight_lr_mult, last_bias_lr_mult: the same for ``model.last_layer``;
            ``None`` means the same as the others.
    """

    lr: float = 1e-3
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 100
    epochs: int = 1
    lr_schedule: tuple[float, ...] | None = None
    flip: bool = False
    weight_lr_mult: float = 1.0
    bias_lr_mult: float = 1.0
    last_weight_lr_mult: float | None = None
    last_bias_lr_mult: float | None = None

    def __post_init__(self) -> None:
        for name in ("lr", "momentum", "weight_decay", "weight_lr_mult", "bias_lr_mult"):
            value = getattr(self, name)
            if not is_real(value) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
        for name in ("last_weight_lr_mult", "last_bias_lr_mult"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be None or a non-negative number, got {value!r}")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if not is_integer(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.lr_schedule is not None:
            object.__setattr__(self, "lr_schedule", tuple(float(v) for v in self.lr_schedule))
            if len(self.lr_schedule) < self.epochs:
                raise ValueError(
                    f"lr_schedule has {len(self.lr_schedule)} entries, fewer than "
                    f"epochs={self.epochs}"
                )
            if any(not math.isfinite(v) or v < 0 for v in self.lr_schedule):
                raise ValueError(f"lr_schedule must hold non-negative numbers, got "
                                 f"{self.lr_schedule!r}")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` (validated), e.g. ``MNIST_LENET.replace(epochs=3)``."""
        return dataclasses.replace(self, **changes)

    def epoch_lr(self, epoch: int) -> float:
        """Learning rate of 0-based ``epoch``."""
        return self.lr_schedule[epoch] if self.lr_schedule is not None else self.lr

    def lr_mults(self) -> dict[str, float]:
        """Multipliers of the four parameter groups, ``None`` resolved."""
        return {
            "weight": self.weight_lr_mult,
            "bias": self.bias_lr_mult,
            "last_weight": (
                self.weight_lr_mult if self.last_weight_lr_mult is None
                else self.last_weight_lr_mult
            ),
            "last_bias": (
                self.bias_lr_mult if self.last_bias_lr_mult is None else self.last_bias_lr_mult
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-ready dict (saved with results)."""
        d = dataclasses.asdict(self)
        if self.lr_schedule is not None:
            d["lr_schedule"] = list(self.lr_schedule[: self.epochs])
        return d


#: ReLU-LeNet on MNIST (MatConvNet ``cnn_mnist``; docs/reference.md#lenet-on-mnist): SGD, batch 100,
#: learning rate 0.001, momentum 0.9, weight decay 0.0005, 20 epochs.
MNIST_LENET = TrainConfig(lr=1e-3, momentum=0.9, weight_decay=5e-4, batch_size=100, epochs=20)

#: The CIFAR-10 schedule (docs/reference.md#lenet5-on-cifar-10): 0.05 for 15 epochs, 0.005
#: for 10, 0.0005 for 5.
CIFAR_LR_SCHEDULE = (0.05,) * 15 + (0.005,) * 10 + (0.0005,) * 5

#: ReLU-LeNet5 on CIFAR-10 (``cnn_cifar`` 'lenet'; docs/reference.md#lenet5-on-cifar-10): the
#: schedule above over 30 epochs, batch 100, momentum 0.9, weight decay 0.0001,
#: learning-rate multipliers 0.1 (weights) and 2 (biases), last conv 0.01 and 0.2, a
#: random horizontal flip of each batch with probability 0.5.
CIFAR_LENET5 = TrainConfig(
    lr=CIFAR_LR_SCHEDULE[0],
    momentum=0.9,
    weight_decay=1e-4,
    batch_size=100,
    epochs=len(CIFAR_LR_SCHEDULE),
    lr_schedule=CIFAR_LR_SCHEDULE,
    flip=True,
    weight_lr_mult=0.1,
    bias_lr_mult=2.0,
    last_weight_lr_mult=0.01,
    last_bias_lr_mult=0.2,
)
