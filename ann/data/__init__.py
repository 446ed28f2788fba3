"""Datasets as whole tensors: IDX reading, checked downloads, a name registry.

Light on import: dataset modules (MNIST, and e.g. CIFAR-10) load on first use
through :func:`load_dataset`.
"""

from ann.data.datasets import (
    DataError,
    DataNotFound,
    TensorData,
    dataset_description,
    dataset_names,
    default_cache_dir,
    load_dataset,
    register_dataset,
    stratified_indices,
    subset,
    subtract_mean_image,
)

__all__ = [
    "DataError",
    "DataNotFound",
    "TensorData",
    "dataset_description",
    "dataset_names",
    "default_cache_dir",
    "load_dataset",
    "register_dataset",
    "stratified_indices",
    "subset",
    "subtract_mean_image",
]
