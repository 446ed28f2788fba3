"""PyTorch negative-linear units (NegLU, MixLU) and the thesis's LeNet benchmarks.

Subpackages and modules:

- :mod:`ann.activations` — ``piecewise_linear`` (the one op of every unit), ``neglu``,
  ``smooth_neglu``, ``NegLU``, ``MixLU``;
- :mod:`ann.baselines` — ``LeakyReLU``, ``PReLU``, ``BipolarReLU``, ``NoisyReLU``,
  ``SeededDropout`` (the thesis's comparison units);
- :mod:`ann.diagnostics` — dead units, biases, weight norms, NegLUs, recorded per epoch;
- :mod:`ann.specs` — ``ActivationSpec`` (a kind plus parameters, with a key and a text
  form) and ``RunSpec`` (model x activation spec x seed);
- :mod:`ann.models` — ``LeNet`` (MNIST), ``LeNet5`` (CIFAR-10), ``build_model``;
- :mod:`ann.protocols` — the thesis's training protocols ``MNIST_LENET``,
  ``CIFAR_LENET5``;
- :mod:`ann.data` — IDX files, checked downloads, datasets as tensors;
- :mod:`ann.epoch` — the per-epoch rules both engines share; :mod:`ann.train` — the
  reference training loop (``TrainConfig``, ``train_one``); :mod:`ann.batched` — the
  stacked engine; :mod:`ann.sweep` — sweeps with resume; :mod:`ann.results` — the run
  store; :mod:`ann.checkpoint` — epoch checkpoints of both engines;
  :mod:`ann.experiment` — the sweep scripts' command line;
- :mod:`ann.report`, :mod:`ann.plots` — thesis-versus-ours tables and figures.

This package never imports brian2.
"""

from ann.activations import MixLU, NegLU, neglu, piecewise_linear, smooth_neglu
from ann.models import LeNet, LeNet5, build_model
from ann.protocols import CIFAR_LENET5, MNIST_LENET
from ann.specs import ActivationSpec, RunSpec, parse_activations
from ann.train import TrainConfig, train_one

__all__ = [
    "MixLU",
    "NegLU",
    "neglu",
    "piecewise_linear",
    "smooth_neglu",
    "LeNet",
    "LeNet5",
    "build_model",
    "MNIST_LENET",
    "CIFAR_LENET5",
    "ActivationSpec",
    "RunSpec",
    "parse_activations",
    "TrainConfig",
    "train_one",
]
