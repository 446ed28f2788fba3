"""CIFAR-10 loader on batch files the tests write in the official python-pickle format."""

import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from ann.data import DataError, DataNotFound, dataset_names, load_dataset
from ann.data import cifar as cifar_module
from ann.data.cifar import (
    CIFAR10_FOLDER,
    FILES,
    read_batch,
    write_batch,
    write_meta,
)

CLASSES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
           b"ship", b"truck"]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Own cache; no network: only file:// URLs open, anything else fails at once."""
    monkeypatch.setenv("NEGLU_STDP_CACHE", str(tmp_path / "cache"))
    real = urllib.request.urlopen

    def local_only(url, timeout=None):
        if not str(url).startswith("file://"):
            raise OSError("network disabled in tests")
        return real(url, timeout=timeout)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


def official_pickle(obj) -> bytes:
    """Written by hand, as the official Python 2 files: protocol 2, byte-string keys."""
    return pickle.dumps(obj, protocol=2)


def write_official(directory: Path, n=20, n_test=10, seed=0) -> dict:
    """The seven files by hand (not via write_batch); returns the raw arrays."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    raw = {}
    for name in FILES[:-1]:
        count = n_test if name == "test_batch" else n
        data = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=count)]
        obj = {b"batch_label": f"{name} of 6".encode(), b"labels": labels, b"data": data,
               b"filenames": [f"f{i}.png".encode() for i in range(count)]}
        (directory / name).write_bytes(official_pickle(obj))
        raw[name] = (data, labels)
    (directory / "batches.meta").write_bytes(official_pickle(
        {b"num_cases_per_batch": n, b"label_names": CLASSES, b"num_vis": 3072}))
    return raw


def test_registered():
    assert "cifar10" in dataset_names()


def test_loads_official_format_with_channel_row_layout(tmp_path):
    raw = write_official(tmp_path / "d")
    data = load_dataset("cifar10", tmp_path / "d", log=lambda s: None)
    assert data.name == "cifar10" and data.train_size == 100 and data.test_size == 10
    assert data.train_x.shape == (100, 3, 32, 32) and data.train_x.dtype == torch.float32
    assert data.train_y.dtype == torch.int64
    first, labels1 = raw["data_batch_1"]
    # row layout: 1024 red (rows of 32), 1024 green, 1024 blue
    assert data.train_x[0, 0, 0, 1] == first[0, 1]
    assert data.train_x[0, 0, 1, 0] == first[0, 32]
    assert data.train_x[0, 1, 0, 0] == first[0, 1024]
    assert data.train_x[0, 2, 31, 31] == first[0, 3071]
    assert data.train_y[:20].tolist() == labels1
    last, labels5 = raw["data_batch_5"]
    assert torch.equal(data.train_x[80:].reshape(20, -1), torch.from_numpy(last).float())
    assert data.test_y.tolist() == raw["test_batch"][1]
    assert data.info["classes"][0] == "airplane" and data.info["source"] == "data-dir"
    assert data.info["official_sizes"] is False and data.info["archive_md5_checked"] is False


def test_subfolder_and_python3_pickles(tmp_path):
    folder = tmp_path / "d" / CIFAR10_FOLDER
    rng = np.random.default_rng(1)
    for name in FILES[:-1]:
        obj = {"data": rng.integers(0, 256, size=(4, 3072), dtype=np.uint8),
               "labels": [1, 2, 3, 9]}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(pickle.dumps(obj, protocol=5))  # str keys, Python 3
    write_meta(folder / "batches.meta")
    data = load_dataset("cifar10", tmp_path / "d", log=lambda s: None)
    assert data.train_size == 20 and data.test_y.tolist() == [1, 2, 3, 9]


def test_write_batch_round_trip(tmp_path):
    images = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3, 32, 32).astype(np.uint8)
    write_batch(tmp_path / "b", images, [3, 7])
    x, y = read_batch(tmp_path / "b")
    assert np.array_equal(x, images) and y.tolist() == [3, 7]
    with pytest.raises(ValueError, match="labels must have 2 entries"):
        write_batch(tmp_path / "c", images, [1])


def test_missing_files_are_all_named(tmp_path):
    write_official(tmp_path / "d")
    (tmp_path / "d" / "data_batch_3").unlink()
    (tmp_path / "d" / "batches.meta").unlink()
    with pytest.raises(DataError) as exc:
        load_dataset("cifar10", tmp_path / "d", log=lambda s: None)
    assert not isinstance(exc.value, DataNotFound)
    assert "lacks data_batch_3, batches.meta" in str(exc.value)


def test_malformed_files_are_all_named_in_one_error(tmp_path):
    d = tmp_path / "d"
    write_official(d)
    (d / "data_batch_2").write_bytes(b"not a pickle at all")
    (d / "test_batch").write_bytes(official_pickle(
        {b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}))
    (d / "data_batch_4").write_bytes(official_pickle(
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}))
    (d / "data_batch_5").write_bytes(official_pickle({b"data": np.zeros((2, 3072), np.uint8)}))
    (d / "batches.meta").write_bytes(official_pickle({b"label_names": [b"a", b"b"]}))
    with pytest.raises(DataError) as exc:
        load_dataset("cifar10", d, log=lambda s: None)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"CIFAR-10 files in {d} are malformed")
    assert f"{d / 'data_batch_2'}: not a valid python pickle" in msg
    assert f"{d / 'test_batch'}: 'data' must be a uint8 array of shape (n, 3072)" in msg
    assert f"{d / 'data_batch_4'}: label 10 outside 0..9" in msg
    assert f"{d / 'data_batch_5'}: batch dict lacks 'labels'" in msg
    assert f"{d / 'batches.meta'}: 'label_names' must be a list of 10" in msg
    assert "data_batch_1" not in msg and "data_batch_3" not in msg


def test_pickle_with_foreign_global_is_refused_without_running_it(tmp_path):
    d = tmp_path / "d"
    write_official(d)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    (d / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"refusing to load global (posix|os|nt)\.mkdir"):
        load_dataset("cifar10", d, log=lambda s: None)
    assert not marker.exists()


def test_offline_without_data_says_what_to_download_and_where(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataNotFound) as exc:
        load_dataset("cifar10", empty, log=lambda s: None)
    msg = str(exc.value)
    cache = tmp_path / "cache" / "cifar10"
    assert "network disabled in tests" in msg
    assert "download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg
    assert "md5 c58f30108f718f92721af3b95e74349a" in msg and f"put it in {cache}/" in msg
    assert not list(cache.glob("*.part"))
    with pytest.raises(DataNotFound, match="downloads are off; download https://"):
        load_dataset("cifar10", empty, download=False, log=lambda s: None)


def make_archive(path: Path, src: Path, extra: dict[str, bytes] | None = None) -> str:
    """A tar.gz laid out as the official one (plus ``extra`` members); returns its md5."""
    with tarfile.open(path, "w:gz") as tar:
        for name in FILES:
            tar.add(src / name, arcname=f"{CIFAR10_FOLDER}/{name}")
        for name, payload in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_checks_md5_then_extracts(tmp_path, monkeypatch):
    write_official(tmp_path / "src")
    archive = tmp_path / "mirror" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    md5 = make_archive(archive, tmp_path / "src", extra={"../escape": b"x"})
    monkeypatch.setattr(cifar_module, "CIFAR10_URL", archive.as_uri())

    # wrong published md5: nothing is kept or extracted
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", "0" * 32)
    with pytest.raises(DataNotFound, match=f"md5 of the download is {md5}, expected 0000"):
        load_dataset("cifar10", log=lambda s: None)
    cache = tmp_path / "cache" / "cifar10"
    assert not (cache / "cifar-10-python.tar.gz").exists()
    assert not (cache / CIFAR10_FOLDER).exists()

    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", md5)
    lines = []
    data = load_dataset("cifar10", log=lines.append)
    assert data.info["source"] == "download" and data.info["archive_md5_checked"] is True
    assert sorted(p.name for p in (cache / CIFAR10_FOLDER).iterdir()) == sorted(FILES)
    assert not (tmp_path / "escape").exists() and not (cache / "escape").exists()
    assert any("md5 of cifar-10-python.tar.gz matches" in line for line in lines)
    # second time: straight from the extracted cache
    again = load_dataset("cifar10", log=lambda s: None)
    assert again.info["source"] == "cache" and torch.equal(again.train_x, data.train_x)


def test_archive_in_data_dir_is_verified(tmp_path, monkeypatch):
    write_official(tmp_path / "src")
    d = tmp_path / "d"
    d.mkdir()
    md5 = make_archive(d / "cifar-10-python.tar.gz", tmp_path / "src")
    with pytest.raises(DataError, match="md5 .* differs from the published"):
        load_dataset("cifar10", d, log=lambda s: None)
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", md5)
    data = load_dataset("cifar10", d, log=lambda s: None)
    assert data.info["source"] == "archive" and data.train_size == 100


def test_truncated_archive_is_named(tmp_path, monkeypatch):
    write_official(tmp_path / "src")
    d = tmp_path / "d"
    d.mkdir()
    path = d / "cifar-10-python.tar.gz"
    make_archive(path, tmp_path / "src")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    with pytest.raises(DataError, match=f"{path}: not a readable tar.gz"):
        load_dataset("cifar10", d, log=lambda s: None)
