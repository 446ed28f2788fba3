"""The thesis's sweep experiments as library functions, and the scripts' shared options.

- :func:`table6` — MixLU-LeNet on MNIST, Tables 6-8 (:mod:`ann.experiments.mnist`);
- :func:`table9` — MixLU-LeNet5 on CIFAR-10, Tables 9-10 (:mod:`ann.experiments.cifar`);
- :class:`SweepOptions` — every option of a sweep (:mod:`ann.experiments.options`);
- :class:`Experiment` — what an experiment defines, and how it runs
  (:mod:`ann.experiments.runner`); :data:`EXPERIMENTS` — the experiments by name;
- :mod:`ann.experiments.cli` — the command line of ``experiments/mixlu_*.py``;
- :mod:`ann.experiments.outputs` — the JSON, CSV and PNG files.

Example::

    from ann.experiments import table6
    document = table6(seeds=3, out="results/table6", percents=[0, 1, 5])

Names are imported on first use (PEP 562).
"""

from common.lazy import lazy_exports, resolve

_EXPORTS = {
    "SweepOptions": "ann.experiments.options",
    "Experiment": "ann.experiments.runner",
    "table6": "ann.experiments.mnist",
    "MNIST_LENET_SWEEP": "ann.experiments.mnist",
    "table9": "ann.experiments.cifar",
    "CIFAR_LENET5_SWEEP": "ann.experiments.cifar",
}

#: Experiment name (its output stem and script) -> ``"module:attribute"``.
EXPERIMENTS = {
    "mixlu_mnist": "ann.experiments.mnist:MNIST_LENET_SWEEP",
    "mixlu_cifar": "ann.experiments.cifar:CIFAR_LENET5_SWEEP",
}


def experiment(name: str):
    """The experiment registered as ``name`` in :data:`EXPERIMENTS`.

    Raises:
        ValueError: an unknown name.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {', '.join(EXPERIMENTS)}, got {name!r}")
    return resolve(EXPERIMENTS[name])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = [*_EXPORTS, "EXPERIMENTS", "experiment"]
