"""PyTorch negative-linear units (NegLU, MixLU) and the thesis's LeNet benchmarks.

Subpackages and modules:

- :mod:`ann.activations` — ``neglu``, ``smooth_neglu``, ``NegLU``, ``MixLU``;
- :mod:`ann.models` — ``LeNet`` (MNIST), ``LeNet5`` (CIFAR-10), MixLU builders;
- :mod:`ann.data` — IDX files, checked downloads, datasets as tensors;
- :mod:`ann.train` — the reference training loop (``RunSpec``, ``TrainConfig``,
  ``train_one``); :mod:`ann.sweep` — sweeps with resume and engines;
- :mod:`ann.report`, :mod:`ann.plots` — thesis-versus-ours tables and figures.

This package never imports brian2.
"""

from ann.activations import MixLU, NegLU, neglu, smooth_neglu
from ann.models import LeNet, LeNet5, build_mixlu_lenet, build_mixlu_lenet5
from ann.train import RunSpec, TrainConfig, train_one

__all__ = [
    "MixLU",
    "NegLU",
    "neglu",
    "smooth_neglu",
    "LeNet",
    "LeNet5",
    "build_mixlu_lenet",
    "build_mixlu_lenet5",
    "RunSpec",
    "TrainConfig",
    "train_one",
]
