"""Datasets as whole tensors: a name registry and the preprocessing of the experiments.

Light on import: dataset modules (MNIST, and e.g. CIFAR-10) load on first use
through :func:`load_dataset`.  What needs no torch (the IDX reader, checked downloads,
the MNIST files as numpy arrays, :class:`DataError`) lives in :mod:`common.data`,
shared with ``stdp_sim``.
"""

from ann.data.datasets import (
    DataError,
    DataNotFound,
    Subsets,
    TensorData,
    dataset_description,
    dataset_names,
    default_cache_dir,
    load_dataset,
    register_dataset,
    stratified_indices,
    subset,
    subtract_mean_image,
    tensor_data,
)

__all__ = [
    "DataError",
    "DataNotFound",
    "Subsets",
    "TensorData",
    "dataset_description",
    "dataset_names",
    "default_cache_dir",
    "load_dataset",
    "register_dataset",
    "stratified_indices",
    "subset",
    "subtract_mean_image",
    "tensor_data",
]
