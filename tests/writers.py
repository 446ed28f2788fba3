"""The data files the tests write: IDX (MNIST) and CIFAR-10 batches (``from writers import``).

One module for every test that needs dataset files on disk, including the hostile
command-line suite (tests/hostile/), which also forges broken ones.  The writers are
written by hand with numpy, gzip and pickle only, not with ``ann.data``'s own writers,
so that a test of a reader does not go through the writer of the same package, and so
that a header, a type code or a label can be made as wrong as a test wants.

Nothing here imports torch or ann (see helpers.py).
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

# --- IDX (MNIST, Fashion-MNIST) ----------------------------------------------------------

#: IDX type codes (the third byte of the magic number).
IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array, code: int | None = None, shape=None) -> bytes:
    """The uncompressed IDX file of ``array``; ``code`` and ``shape`` forge the header."""
    array = np.asarray(array)
    code = IDX_CODES[array.dtype] if code is None else code
    shape = array.shape if shape is None else shape
    header = bytes([0, 0, code, len(shape)]) + b"".join(int(n).to_bytes(4, "big")
                                                         for n in shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx_file(path: Path, array, gz: bool | None = None, **header) -> Path:
    """``array`` as an IDX file, gzipped if ``gz`` (default: the name ends in .gz)."""
    path = Path(path)
    data = idx_bytes(array, **header)
    if gz is None:
        gz = path.name.endswith(".gz")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def zeros_gzip(nbytes: int, members: int = 1, prefix: bytes = b"") -> bytes:
    """gzip data that decompresses to ``prefix`` then ``members`` x ``nbytes`` zero bytes:
    concatenated gzip members (one stream to every gzip reader), so a "bomb" of gigabytes
    is a few megabytes on disk and made in a fraction of a second."""
    one = gzip.compress(bytes(nbytes), compresslevel=9, mtime=0)
    return (gzip.compress(prefix, mtime=0) if prefix else b"") + one * members


def sparse_file(path: Path, head: bytes, size: int) -> Path:
    """``head`` followed by zeros up to ``size`` bytes, written sparse: the file reports
    ``size`` (gigabytes if asked) but takes no disk past ``head``."""
    path = Path(path)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


def tiny_mnist_arrays(n_train: int = 200, n_test: int = 50, seed: int = 0) -> dict:
    """``{"train": (images, labels), "t10k": (images, labels)}``: uint8 28x28 noise with a
    bright block whose position is the class (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 * c : 2 * c + 6, 4:10] = 250
        out[split] = (images, labels)
    return out


def write_tiny_mnist(directory: Path, n_train: int = 200, n_test: int = 50, gz: bool = True,
                     seed: int = 0) -> Path:
    """The four MNIST files of :func:`tiny_mnist_arrays` in ``directory`` (made if
    needed), gzipped (``*-ubyte.gz``) or raw; returns ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, (images, labels) in tiny_mnist_arrays(n_train, n_test, seed).items():
        write_idx_file(directory / f"{split}-images-idx3-ubyte{suffix}", images, gz=gz)
        write_idx_file(directory / f"{split}-labels-idx1-ubyte{suffix}", labels, gz=gz)
    return directory


# --- CIFAR-10 (python version) ------------------------------------------------------------

#: The six batch files, in the order of the official archive.
CIFAR_BATCHES = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]


def official_pickle(obj) -> bytes:
    """As the official Python 2 files: protocol 2 (byte-string keys are the caller's)."""
    return pickle.dumps(obj, protocol=2)


def cifar_batch_bytes(images, labels, batch_label: str = "batch") -> bytes:
    """A batch file: ``images`` of ``n`` x 3072 bytes (or n, 3, 32, 32), ``labels`` any
    ``n`` integers (not checked: a label 10 is the caller's to make)."""
    images = np.asarray(images)
    obj = {b"batch_label": batch_label.encode(), b"labels": [int(v) for v in labels],
           b"data": np.ascontiguousarray(images.reshape(len(images), 3072)),
           b"filenames": [f"image_{i}.png".encode() for i in range(len(images))]}
    return official_pickle(obj)


def cifar_meta_bytes(names=None, per_batch: int = 10000) -> bytes:
    """``batches.meta`` with these class names (default: the ten of CIFAR-10)."""
    names = CIFAR_CLASSES if names is None else names
    return official_pickle({b"num_cases_per_batch": per_batch,
                            b"label_names": [n.encode() for n in names], b"num_vis": 3072})


def write_tiny_cifar(directory: Path, per_batch: int = 40, n_test: int = 40, seed: int = 0
                     ) -> Path:
    """The seven CIFAR-10 files with class-dependent coloured blocks (learnable);
    returns ``directory`` (made if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, name in enumerate(CIFAR_BATCHES):
        n = n_test if name == "test_batch" else per_batch
        labels = (np.arange(n) + i) % 10
        images = rng.integers(0, 60, size=(n, 3, 32, 32)).astype(np.uint8)
        for j, c in enumerate(labels):
            images[j, c % 3, 3 * c : 3 * c + 6, 4:20] = 250
        (directory / name).write_bytes(cifar_batch_bytes(images, labels))
    (directory / "batches.meta").write_bytes(cifar_meta_bytes())
    return directory


def write_random_cifar(directory: Path, n: int = 20, n_test: int = 10, seed: int = 0) -> dict:
    """The seven CIFAR-10 files of uniformly random pixels and labels (``n`` images a
    training batch); returns ``{batch name: (data (n, 3072) uint8, labels list)}``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    raw = {}
    for name in CIFAR_BATCHES:
        count = n_test if name == "test_batch" else n
        data = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=count)]
        (directory / name).write_bytes(cifar_batch_bytes(data, labels, f"{name} of 6"))
        raw[name] = (data, labels)
    (directory / "batches.meta").write_bytes(cifar_meta_bytes(per_batch=n))
    return raw
