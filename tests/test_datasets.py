"""Dataset loading from files the tests write: sources, checks, downloads, fallbacks."""

import functools
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ann.data import (
    DataError,
    DataNotFound,
    TensorData,
    dataset_names,
    default_cache_dir,
    load_dataset,
    register_dataset,
    stratified_indices,
    subset,
    subtract_mean_image,
)
from common.data import mnist as mnist_module
from common.data.download import DownloadError, download, download_first
from common.data.idx import write_idx
from common.data.mnist import MNIST, IdxDataset, load_idx_dataset

from writers import tiny_mnist_arrays, write_tiny_mnist

pytestmark = pytest.mark.usefixtures("one_thread")

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

#: This module's MNIST files: 60 training and 20 test images unless a test says otherwise.
write_small_mnist = functools.partial(write_tiny_mnist, n_train=60, n_test=20)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache and no network."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEGLU_STDP_CACHE", str(cache))

    def no_network(urls, dest, sha256, timeout=0, urlopen=None):
        raise DownloadError("network disabled in tests")

    monkeypatch.setattr(mnist_module, "download_first", no_network)
    return cache


def test_registry_lists_the_three_datasets():
    assert {"mnist", "mnist-5k", "fashion-mnist"} <= set(dataset_names())


def test_default_cache_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NEGLU_STDP_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("NEGLU_STDP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "neglu-stdp"


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_data_dir_raw_or_gzip(tmp_path, gz):
    write_small_mnist(tmp_path / "d", gz=gz)
    arrays = tiny_mnist_arrays(60, 20)
    lines = []
    data = load_dataset("mnist", tmp_path / "d", log=lines.append)
    assert isinstance(data, TensorData) and data.name == "mnist"
    assert data.train_x.shape == (60, 1, 28, 28) and data.test_x.shape == (20, 1, 28, 28)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    np.testing.assert_array_equal(data.train_x[:, 0].numpy(), arrays["train"][0])
    np.testing.assert_array_equal(data.test_y.numpy(), arrays["t10k"][1])
    assert data.info["source"] == "data-dir" and data.info["official"] is False
    assert any("not the official file" in line for line in lines)


def test_image_label_count_mismatch_names_both_files(tmp_path):
    write_small_mnist(tmp_path / "d")
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte.gz", np.zeros(59, dtype=np.uint8))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz has 60 images but "
                                        r".*train-labels-idx1-ubyte\.gz has 59 labels"):
        load_dataset("mnist", tmp_path / "d")


def test_malformed_file_in_data_dir_is_an_error_naming_it(tmp_path):
    write_small_mnist(tmp_path / "d")
    path = tmp_path / "d" / "t10k-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8  # damage the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: corrupt gzip"):
        load_dataset("mnist", tmp_path / "d")


def test_wrong_image_size_is_an_error(tmp_path):
    write_small_mnist(tmp_path / "d")
    write_idx(tmp_path / "d" / "t10k-images-idx3-ubyte.gz", np.zeros((20, 32, 32), np.uint8))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: expected items of shape"):
        load_dataset("mnist", tmp_path / "d")


def test_missing_files_without_network_raise_data_not_found(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFound, match=r"train-images-idx3-ubyte.*download failed"):
        load_dataset("mnist", tmp_path / "empty")
    with pytest.raises(DataNotFound, match="not all found"):
        load_dataset("mnist", tmp_path / "empty", download=False)


def test_unknown_dataset_and_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match=r"dataset must be one of .* got 'cifar-99'"):
        load_dataset("cifar-99")
    with pytest.raises(DataError, match=r"data_dir .*nowhere.* is not a directory"):
        load_dataset("mnist", tmp_path / "nowhere")


def test_register_dataset_extends_the_registry(tmp_path):
    def load_fake(*, data_dir, cache_dir, download, timeout, log):
        x = torch.zeros(4, 3, 8, 8)
        return TensorData(x, torch.arange(4), x[:2], torch.arange(2), name="fake")

    register_dataset("fake-test", load_fake, "four zero images")
    assert "fake-test" in dataset_names()
    assert load_dataset("fake-test").train_x.shape == (4, 3, 8, 8)
    with pytest.raises(ValueError, match="loader"):
        register_dataset("bad", 42)


def _file_mirror(tmp_path, arrays_dir: Path) -> IdxDataset:
    """An IdxDataset whose mirror is a file:// URL holding the test's tiny files."""
    files = {}
    for role, (base, _) in MNIST.files.items():
        gz = arrays_dir / f"{base}.gz"
        import gzip

        files[role] = (base, hashlib.sha256(gzip.decompress(gz.read_bytes())).hexdigest())
    return IdxDataset(name="tiny", files=files, sizes={"train": 60, "test": 20},
                      mirrors=(arrays_dir.as_uri() + "/",))


def test_download_into_cache_then_reuse(tmp_path, monkeypatch):
    write_small_mnist(tmp_path / "mirror")
    spec = _file_mirror(tmp_path, tmp_path / "mirror")
    monkeypatch.setattr(mnist_module, "download_first", download_first)  # real one, file://
    cache = tmp_path / "c"
    lines = []
    arrays, info = load_idx_dataset(spec, data_dir=None, cache_dir=cache, download=True,
                                    timeout=5, log=lines.append)
    assert info["source"] == "download" and info["official"] is True
    assert sorted(p.name for p in (cache / "tiny").iterdir()) == sorted(
        f"{b}.gz" for b, _ in spec.files.values())
    assert arrays["train_images"].shape == (60, 28, 28)
    assert sum("downloading" in line for line in lines) == 4
    # Second time: found in the cache, nothing downloaded.
    lines.clear()
    _, info2 = load_idx_dataset(spec, data_dir=None, cache_dir=cache, download=False,
                                timeout=5, log=lines.append)
    assert info2["source"] == "cache" and not lines


def test_corrupt_cached_file_is_an_error(tmp_path, monkeypatch):
    write_small_mnist(tmp_path / "mirror")
    spec = _file_mirror(tmp_path, tmp_path / "mirror")
    write_small_mnist(tmp_path / "c" / "tiny", seed=1)  # same shapes, other pixels
    with pytest.raises(DataError, match=r"sha256 .* differs from the official .* delete"):
        load_idx_dataset(spec, data_dir=None, cache_dir=tmp_path / "c", download=False,
                         timeout=5, log=lambda s: None)


def test_download_checks_sha256_and_leaves_nothing_on_mismatch(tmp_path):
    src = write_idx(tmp_path / "src.gz", np.arange(10, dtype=np.uint8))
    digest = hashlib.sha256((tmp_path / "src.gz").read_bytes()).hexdigest()  # of the gzip
    content = hashlib.sha256(bytes([0, 0, 8, 1, 0, 0, 0, 10]) + bytes(range(10))).hexdigest()
    dest = tmp_path / "out" / "file.gz"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(src.as_uri(), dest, digest)  # the gzip's digest is not the content's
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    assert download(src.as_uri(), dest, content) == dest
    assert dest.read_bytes() == src.read_bytes()


def test_download_first_tries_mirrors_in_turn(tmp_path):
    src = write_idx(tmp_path / "src", np.arange(5, dtype=np.uint8))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    calls = []

    def fake_urlopen(url, timeout):
        calls.append((url, timeout))
        if "bad" in url:
            raise OSError("connection refused")
        return open(src, "rb")

    dest = download_first(["http://bad.example/x", "http://good.example/x"], tmp_path / "d",
                          digest, timeout=1.5, urlopen=fake_urlopen)
    assert dest.read_bytes() == src.read_bytes()
    assert calls == [("http://bad.example/x", 1.5), ("http://good.example/x", 1.5)]
    with pytest.raises(DownloadError, match=r"bad\.example.*refused.*bad\.example"):
        download_first(["http://bad.example/1", "http://bad.example/2"], tmp_path / "e",
                       digest, urlopen=fake_urlopen)


def test_mnist_5k_without_test_set_uses_stratified_split(tmp_path):
    lines = []
    data = load_dataset("mnist-5k", log=lines.append)
    assert data.train_size == 4000 and data.test_size == 1000
    assert torch.bincount(data.test_y).tolist() == [100] * 10
    assert torch.bincount(data.train_y).tolist() == [400] * 10
    assert "stratified split" in data.info["test_source"]
    assert any("stratified split" in line for line in lines)
    # Train and test are disjoint images.
    train = {row.numpy().tobytes() for row in data.train_x.flatten(1)}
    assert not any(row.numpy().tobytes() in train for row in data.test_x.flatten(1))


def test_mnist_5k_uses_test_set_found_in_data_dir(tmp_path):
    write_small_mnist(tmp_path / "d", n_test=30)
    data = load_dataset("mnist-5k", tmp_path / "d", log=lambda s: None)
    assert data.train_size == 5000 and data.test_size == 30
    assert "NOT the official" in data.info["test_source"]


@pytest.mark.skipif(not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="official MNIST test set not present")
def test_mnist_5k_with_official_test_set():
    data = load_dataset("mnist-5k", SHARED_MNIST, log=lambda s: None)
    assert data.test_size == 10000 and data.info["official"] is True
    assert data.info["test_files"]["test_images"]["sha256"] == MNIST.files["test_images"][1]


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
                    .exists(), reason="Debian dataset-fashion-mnist not installed")
def test_fashion_mnist_found_in_system_dir():
    data = load_dataset("fashion-mnist", log=lambda s: None)
    assert (data.train_size, data.test_size) == (60000, 10000)
    assert data.info["source"] == "system" and data.info["official"] is True


def test_subtract_mean_image_uses_training_mean():
    x = torch.arange(2 * 1 * 2 * 2, dtype=torch.float32).reshape(2, 1, 2, 2)
    data = TensorData(x, torch.tensor([0, 1]), x[:1] + 10, torch.tensor([1]), name="t")
    out = subtract_mean_image(data)
    torch.testing.assert_close(out.train_x.mean(0), torch.zeros(1, 2, 2))
    torch.testing.assert_close(out.test_x, x[:1] + 10 - x.mean(0, keepdim=True))
    assert out.info["preprocessing"] == ["subtract mean training image"]


def test_stratified_indices_and_subset_are_deterministic():
    labels = np.repeat(np.arange(3), 10)
    idx = stratified_indices(labels, 4, seed=1)
    assert np.bincount(labels[idx]).tolist() == [4, 4, 4]
    assert np.array_equal(idx, stratified_indices(labels, 4, seed=1))
    with pytest.raises(ValueError, match="class 0 has only 10"):
        stratified_indices(labels, 11, seed=0)
    x = torch.randn(30, 1, 2, 2)
    data = TensorData(x, torch.as_tensor(labels), x[:5], torch.zeros(5, dtype=torch.int64), "t")
    a, b = subset(data, 7, 3, seed=2), subset(data, 7, 3, seed=2)
    assert a.train_size == 7 and a.test_size == 3
    assert torch.equal(a.train_x, b.train_x)


def test_tensor_data_validates_shapes_and_dtypes():
    x = torch.zeros(3, 1, 2, 2)
    y = torch.zeros(3, dtype=torch.int64)
    with pytest.raises(ValueError, match="train_x must have shape"):
        TensorData(x[:, 0], y, x, y, "t")
    with pytest.raises(ValueError, match=r"train_y must have shape \(3,\)"):
        TensorData(x, y[:2], x, y, "t")
    with pytest.raises(ValueError, match="test_x must be float32"):
        TensorData(x, y, x.double(), y, "t")
    assert os.fspath(Path(".")) == "."


# --- user errors: one line naming the file, no silent fallback from --data-dir ----------


def test_data_errors_are_user_errors(tmp_path):
    from common.cli import UserError, cli_main

    assert issubclass(DataError, UserError) and issubclass(DataError, ValueError)
    assert issubclass(DataNotFound, UserError)
    import argparse

    def run(args):
        load_dataset("mnist", tmp_path / "nowhere")

    assert cli_main(argparse.ArgumentParser(), run, []) == 2


def _cache_copy(cache: Path, name: str = "mnist") -> None:
    """A complete set of files in the cache: what a silent fallback would find."""
    write_small_mnist(cache / name, seed=3)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dataset", ["mnist", "mnist-5k", "fashion-mnist"])
def test_test_images_without_labels_in_data_dir_is_an_error(tmp_path, isolated_cache, gz,
                                                           dataset):
    _cache_copy(isolated_cache, "fashion-mnist" if dataset == "fashion-mnist" else "mnist")
    d = tmp_path / "d"
    write_small_mnist(d, gz=gz)
    suffix = ".gz" if gz else ""
    (d / f"t10k-labels-idx1-ubyte{suffix}").unlink()
    with pytest.raises(DataError) as exc:
        load_dataset(dataset, d, log=lambda s: None)
    assert not isinstance(exc.value, DataNotFound)
    assert str(exc.value) == (
        f"{d / ('t10k-images-idx3-ubyte' + suffix)} is there but "
        f"t10k-labels-idx1-ubyte[.gz] is missing beside it; put both files in {d} or "
        f"remove the images file")


def test_labels_without_images_in_data_dir_is_an_error(tmp_path, isolated_cache):
    _cache_copy(isolated_cache)
    d = tmp_path / "d"
    write_small_mnist(d)
    (d / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz is there but "
                                        r"train-images-idx3-ubyte\[\.gz\] is missing beside "
                                        r"it; .* or remove the labels file"):
        load_dataset("mnist", d, log=lambda s: None)


def test_only_the_test_split_matters_for_mnist_5k(tmp_path):
    d = tmp_path / "d"
    write_small_mnist(d, n_test=30)
    (d / "train-labels-idx1-ubyte.gz").unlink()  # not read by mnist-5k
    data = load_dataset("mnist-5k", d, log=lambda s: None)
    assert data.test_size == 30


@pytest.mark.parametrize("kind", ["directory", "broken-link"])
@pytest.mark.parametrize("dataset", ["mnist", "mnist-5k"])
def test_non_file_under_a_data_file_name_is_an_error(tmp_path, isolated_cache, kind,
                                                     dataset):
    _cache_copy(isolated_cache)
    d = tmp_path / "d"
    write_small_mnist(d)
    (d / "t10k-images-idx3-ubyte.gz").unlink()
    odd = d / "t10k-images-idx3-ubyte"
    if kind == "directory":
        odd.mkdir()
    else:
        odd.symlink_to(tmp_path / "gone")
    what = "a directory" if kind == "directory" else "a broken symbolic link"
    with pytest.raises(DataError) as exc:
        load_dataset(dataset, d, log=lambda s: None)
    assert str(exc.value) == (f"{odd} is {what}, not an IDX file; put the file "
                              f"t10k-images-idx3-ubyte[.gz] there or remove it")


def test_half_a_split_in_the_cache_still_falls_through(tmp_path, isolated_cache):
    write_small_mnist(isolated_cache / "mnist")
    (isolated_cache / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFound, match="not all found"):
        load_dataset("mnist", download=False, log=lambda s: None)
    data = load_dataset("mnist-5k", log=lambda s: None)  # no test set: the split
    assert data.test_size == 1000 and "stratified split" in data.info["test_source"]


def _damage(path: Path, how: str) -> None:
    raw = path.read_bytes()
    if how == "truncated-gzip":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "garbage-gzip":
        path.write_bytes(raw[:2] + b"\x00" * 40)
    elif how == "bad-crc":
        path.write_bytes(raw[:-8] + bytes(4) + raw[-4:])
    else:  # "garbage": neither gzip nor IDX
        path.write_bytes(b"<html>404 not found</html>")


@pytest.mark.parametrize("how", ["truncated-gzip", "garbage-gzip", "bad-crc", "garbage"])
@pytest.mark.parametrize(("dataset", "split"), [("mnist", "train"), ("mnist-5k", "t10k")])
def test_corrupt_cached_file_is_one_line_naming_it(isolated_cache, how, dataset, split):
    write_small_mnist(isolated_cache / "mnist")
    path = isolated_cache / "mnist" / f"{split}-images-idx3-ubyte.gz"  # the first one read
    _damage(path, how)
    with pytest.raises(DataError) as exc:
        load_dataset(dataset, download=False, log=lambda s: None)
    message = str(exc.value)
    assert not isinstance(exc.value, DataNotFound)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert message.endswith("; delete it to download it again")


@pytest.mark.parametrize("how", ["truncated-gzip", "bad-crc"])
def test_corrupt_file_in_data_dir_is_one_line_naming_it(tmp_path, how):
    write_small_mnist(tmp_path / "d")
    path = tmp_path / "d" / "train-labels-idx1-ubyte.gz"
    _damage(path, how)
    with pytest.raises(DataError, match=rf"^{path}: (truncated|corrupt) gzip stream") as exc:
        load_dataset("mnist", tmp_path / "d", log=lambda s: None)
    assert "\n" not in str(exc.value) and "delete it" not in str(exc.value)


def test_download_to_an_unwritable_place_is_a_download_error(tmp_path):
    src = write_idx(tmp_path / "src", np.arange(5, dtype=np.uint8))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    (tmp_path / "file").write_text("in the way")
    dest = tmp_path / "file" / "sub" / "x.gz"
    with pytest.raises(DownloadError, match=rf"{dest}: cannot be written"):
        download(src.as_uri(), dest, digest)


def test_download_gets_ordinary_permissions_and_no_temp_file(tmp_path):
    src = write_idx(tmp_path / "src", np.arange(5, dtype=np.uint8))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    umask = os.umask(0o022)
    try:
        dest = download(src.as_uri(), tmp_path / "out" / "x", digest)
    finally:
        os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert [p.name for p in dest.parent.iterdir()] == ["x"]


def test_interrupted_download_leaves_nothing(tmp_path):
    class Response:
        headers = {"Content-Length": "100"}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            raise KeyboardInterrupt

    dest = tmp_path / "out" / "x.gz"
    with pytest.raises(KeyboardInterrupt):
        download("http://example/x.gz", dest, "0" * 64, urlopen=lambda url, timeout: Response())
    assert list(dest.parent.iterdir()) == []


# --- subsets drawn before the float conversion ---------------------------------------------


def _cifar_dir(tmp_path: Path) -> Path:
    from writers import write_tiny_cifar

    return write_tiny_cifar(tmp_path / "cifar", per_batch=12, n_test=15)


@pytest.mark.parametrize("dataset", ["mnist", "mnist-5k", "cifar10"])
@pytest.mark.parametrize("sizes", [(25, 7), (25, None), (None, 7), (60, 20)])
def test_load_dataset_subsets_equal_subset_of_the_whole(tmp_path, dataset, sizes):
    """The loaders draw the subsets from their uint8 images; the images, labels and info
    are those of subset() applied to the whole float32 dataset (the draw of the sweeps)."""
    data_dir = _cifar_dir(tmp_path) if dataset == "cifar10" else write_small_mnist(
        tmp_path / "d")
    quiet = {"download": False, "log": lambda s: None}
    whole = load_dataset(dataset, data_dir, **quiet)
    cut = load_dataset(dataset, data_dir, train_subset=sizes[0], test_subset=sizes[1],
                       subset_seed=3, strict_subsets=False, **quiet)
    expected = subset(whole, *sizes, seed=3)
    for name in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(cut, name), getattr(expected, name)), name
    assert cut.info == expected.info and cut.info["subset"]["seed"] == 3
    if sizes[0] is not None and sizes[0] < whole.train_size:
        assert cut.train_size == sizes[0]


def test_subsets_are_cut_before_the_float_conversion(tmp_path, monkeypatch):
    """With a budget that holds the uint8 files but not all images as float32, the whole
    set is refused in one line naming the options, and a subset loads."""
    write_small_mnist(tmp_path / "d")  # 80 images: 62,720 bytes uint8, 250,880 float32
    monkeypatch.setenv("NEGLU_STDP_MEMORY_BUDGET", "100000")
    with pytest.raises(DataError) as exc:
        load_dataset("mnist", tmp_path / "d", log=lambda s: None)
    assert str(exc.value) == ("mnist: 60 training and 20 test images take 245 KiB as "
                              "float32, more than the memory budget of 97.7 KiB "
                              "(NEGLU_STDP_MEMORY_BUDGET sets it); ask for fewer with "
                              "--train-subset / --test-subset")
    data = load_dataset("mnist", tmp_path / "d", train_subset=20, test_subset=5,
                        log=lambda s: None)
    assert (data.train_size, data.test_size) == (20, 5)


@pytest.mark.parametrize(("option", "sizes", "message"), [
    ("--train-subset", (1_000_000_000, None),
     "--train-subset 1000000000 is more than the 60 training images of mnist; give at most 60"),
    ("--test-subset", (10, 21),
     "--test-subset 21 is more than the 20 test images of mnist; give at most 20"),
])
def test_subset_larger_than_the_data_is_one_line(tmp_path, option, sizes, message):
    write_small_mnist(tmp_path / "d")
    with pytest.raises(DataError) as exc:
        load_dataset("mnist", tmp_path / "d", train_subset=sizes[0], test_subset=sizes[1],
                     log=lambda s: None)
    assert str(exc.value) == message
    whole = load_dataset("mnist", tmp_path / "d", log=lambda s: None)
    with pytest.raises(DataError, match=f"^{option}"):
        subset(whole, *sizes, strict=True)
    # not strict (a demo's fixed sizes): the split is kept whole, as subset() by default
    lenient = load_dataset("mnist", tmp_path / "d", train_subset=sizes[0],
                           test_subset=sizes[1], strict_subsets=False, log=lambda s: None)
    assert torch.equal(lenient.train_x, subset(whole, *sizes).train_x)
    # the subset equal to the split is the split
    same = load_dataset("mnist", tmp_path / "d", train_subset=60, test_subset=20,
                        log=lambda s: None)
    assert torch.equal(same.train_x, whole.train_x) and torch.equal(same.test_y, whole.test_y)


def test_subset_sizes_must_be_positive(tmp_path):
    write_small_mnist(tmp_path / "d")
    for sizes in ((0, None), (None, -3)):
        with pytest.raises(ValueError, match="must be positive"):
            load_dataset("mnist", tmp_path / "d", train_subset=sizes[0],
                         test_subset=sizes[1], log=lambda s: None)


def test_registered_loader_without_subsets_is_cut_afterwards(tmp_path):
    """A loader of the old signature (no ``subsets``) still gets its subsets, by subset()."""
    x = torch.arange(40 * 4, dtype=torch.float32).reshape(40, 1, 2, 2)
    y = torch.arange(40) % 10

    def load_plain(*, data_dir, cache_dir, download, timeout, log):
        return TensorData(x, y, x[:10], y[:10], name="plain")

    register_dataset("plain-test", load_plain, "a loader without subsets")
    data = load_dataset("plain-test", train_subset=7, test_subset=3, subset_seed=1)
    expected = subset(load_plain(data_dir=None, cache_dir=None, download=False, timeout=0,
                                 log=None), 7, 3, seed=1)
    assert torch.equal(data.train_x, expected.train_x) and data.test_size == 3
    with pytest.raises(DataError, match="--train-subset 41 is more than the 40 training "
                                        "images of plain; give at most 40"):
        load_dataset("plain-test", train_subset=41)


def test_cifar_batch_larger_than_the_budget_is_refused_before_reading(tmp_path, monkeypatch):
    d = _cifar_dir(tmp_path)
    with open(d / "data_batch_2", "r+b") as fh:  # sparse: 4 GiB of nothing on disk
        fh.truncate(4 * 2**30)
    monkeypatch.setenv("NEGLU_STDP_MEMORY_BUDGET", "1G")  # never read gigabytes in a test
    with pytest.raises(DataError) as exc:
        load_dataset("cifar10", d, download=False, log=lambda s: None)
    message = str(exc.value)
    assert f"{d / 'data_batch_2'}: 4 GiB, too large for a CIFAR-10 batch file" in message
    assert "NEGLU_STDP_MEMORY_BUDGET" in message and "\n" not in message
