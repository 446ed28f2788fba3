"""PyTorch negative-linear units (NegLU, MixLU) and the thesis's LeNet benchmarks.

Subpackages and modules:

- :mod:`ann.activations` — ``piecewise_linear`` (the one op of every unit), ``neglu``,
  ``smooth_neglu``, ``NegLU``, ``MixLU``;
- :mod:`ann.baselines` — ``LeakyReLU``, ``PReLU``, ``BipolarReLU``, ``NoisyReLU``,
  ``SeededDropout`` (the thesis's comparison units); :mod:`ann.minmaxout`,
  :mod:`ann.convact` — Min-Maxout and learned-slope units;
- :mod:`ann.unit_types` — the unit types of an activation module;
- :mod:`ann.specs` — ``ActivationSpec`` (a kind plus parameters, with a key and a text
  form) and ``RunSpec`` (model x activation spec x seed);
- :mod:`ann.models` — ``LeNet`` (MNIST), ``LeNet5`` (CIFAR-10), ``build_model``;
- :mod:`ann.config` — ``TrainConfig``, the thesis's protocols ``MNIST_LENET`` and
  ``CIFAR_LENET5``, ``TRAINER_VERSION``;
- :mod:`ann.data` — IDX files, checked downloads, datasets as tensors;
- :mod:`ann.epoch` — the per-epoch rules both engines share; :mod:`ann.train` — the
  reference training loop (``train_one``); :mod:`ann.batched` — the stacked engine
  (:mod:`ann.members`: its layout); :mod:`ann.sweep_plan` — which runs train
  together; :mod:`ann.sweep` — sweeps with resume; :mod:`ann.run_store` — the run
  store; :mod:`ann.checkpoint` — epoch checkpoints of both engines;
  :mod:`ann.generators` — the modules' private generators;
- :mod:`ann.experiments` — the thesis's experiments as functions
  (``ann.experiments.table6``, ``table9``) and the sweep scripts' shared options;
- :mod:`ann.diagnostics` — dead units, biases, weight norms, NegLUs, per epoch;
- :mod:`ann.report`, :mod:`ann.plots` — thesis-versus-ours tables and figures.

The names below are imported on first use (PEP 562), so ``import ann.specs`` does not
load the trainers.  This package never imports brian2.
"""

from common.lazy import lazy_exports

#: Public names -> the submodule that defines them.
_EXPORTS = {
    "MixLU": "ann.activations",
    "NegLU": "ann.activations",
    "neglu": "ann.activations",
    "piecewise_linear": "ann.activations",
    "smooth_neglu": "ann.activations",
    "LeNet": "ann.models",
    "LeNet5": "ann.models",
    "build_model": "ann.models",
    "MNIST_LENET": "ann.config",
    "CIFAR_LENET5": "ann.config",
    "TrainConfig": "ann.config",
    "ActivationSpec": "ann.specs",
    "RunSpec": "ann.specs",
    "parse_activations": "ann.specs",
    "train_one": "ann.train",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = list(_EXPORTS)
