"""Deprecated alias of :mod:`ann.config`, where the thesis's training protocols now live
beside :class:`~ann.config.TrainConfig`.  This alias goes in the next release.
"""

import warnings

from ann.config import CIFAR_LENET5, CIFAR_LR_SCHEDULE, MNIST_LENET

__all__ = ["MNIST_LENET", "CIFAR_LENET5", "CIFAR_LR_SCHEDULE"]

warnings.warn("ann.protocols is renamed ann.config; the old name goes in the next release",
              DeprecationWarning, stacklevel=2)
