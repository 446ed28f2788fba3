"""CIFAR-10 loader on batch files the tests write in the official python-pickle format."""

import hashlib
import io
import os
import pickle
import random
import struct
import subprocess
import sys
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
from ann.data.safe_pickle import PickleRefused, check_structure

from writers import CIFAR_CLASSES, official_pickle, write_random_cifar

CLASSES = [name.encode() for name in CIFAR_CLASSES]


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


def test_registered():
    assert "cifar10" in dataset_names()


def test_loads_official_format_with_channel_row_layout(tmp_path):
    raw = write_random_cifar(tmp_path / "d")
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
    write_random_cifar(tmp_path / "d")
    (tmp_path / "d" / "data_batch_3").unlink()
    (tmp_path / "d" / "batches.meta").unlink()
    with pytest.raises(DataError) as exc:
        load_dataset("cifar10", tmp_path / "d", log=lambda s: None)
    assert not isinstance(exc.value, DataNotFound)
    assert "lacks data_batch_3, batches.meta" in str(exc.value)


def test_malformed_files_are_all_named_in_one_error(tmp_path):
    d = tmp_path / "d"
    write_random_cifar(d)
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
    write_random_cifar(d)
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
    assert not cache.exists() or list(cache.iterdir()) == []  # no temporary file left
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
    write_random_cifar(tmp_path / "src")
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
    write_random_cifar(tmp_path / "src")
    d = tmp_path / "d"
    d.mkdir()
    md5 = make_archive(d / "cifar-10-python.tar.gz", tmp_path / "src")
    with pytest.raises(DataError, match="md5 .* differs from the published"):
        load_dataset("cifar10", d, log=lambda s: None)
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", md5)
    data = load_dataset("cifar10", d, log=lambda s: None)
    assert data.info["source"] == "archive" and data.train_size == 100


def test_truncated_archive_is_named(tmp_path, monkeypatch):
    write_random_cifar(tmp_path / "src")
    d = tmp_path / "d"
    d.mkdir()
    path = d / "cifar-10-python.tar.gz"
    make_archive(path, tmp_path / "src")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    with pytest.raises(DataError, match=f"{path}: not a readable tar.gz"):
        load_dataset("cifar10", d, log=lambda s: None)


# --- hostile and corrupt batch files: one line naming the file, never a crash --------

#: Deeper than Python's recursion limit (so repr, hash and np.asarray of such an object
#: recurse past it); the crash test uses 200,000, enough to overflow the C stack.
DEPTH = 5_000


def _unicode(text: str) -> bytes:
    """The BINUNICODE opcode pushing ``text``."""
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def deep_list_value(key: str, depth: int = DEPTH) -> bytes:
    """Protocol-2 pickle of ``{key: [[[...]]]}`` nested ``depth`` deep (built by hand: the
    pickler itself cannot write it)."""
    return (b"\x80\x02}" + _unicode(key) + b"]" * depth + b"a" * (depth - 1) + b"s.")


def deep_tuple_key(depth: int = DEPTH) -> bytes:
    """``{((((),),),...): 'v'}``: hashing such a key recurses in C (a crash when deep)."""
    return b"\x80\x02}" + b")" + b"\x85" * depth + _unicode("v") + b"s."


def memo_tuple_chain(depth: int = DEPTH) -> bytes:
    """The same deep tuple with a stack of one item, through the memo (GET, TUPLE1, PUT)."""
    return (b"\x80\x02)q\x00" + b"h\x00\x85q\x000" * depth + b"}h\x00" + _unicode("v")
            + b"s.")


@pytest.mark.parametrize("target", ["batches.meta", "data_batch_2"])
@pytest.mark.parametrize("key", ["label_names", "labels", "data"])
def test_deeply_nested_pickle_is_a_one_line_error(tmp_path, target, key):
    d = tmp_path / "d"
    write_random_cifar(d)
    (d / target).write_bytes(deep_list_value(key))
    with pytest.raises(DataError) as exc:
        load_dataset("cifar10", d, log=lambda s: None)
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 1000
    assert f"{d / target}: not a CIFAR-10 batch" in msg
    assert "nested more than 100 deep" in msg


@pytest.mark.parametrize("make", [deep_tuple_key, memo_tuple_chain, deep_list_value])
def test_nesting_is_refused_before_anything_is_built(make):
    raw = make("labels") if make is deep_list_value else make()
    with pytest.raises(PickleRefused, match="nested more than 100 deep"):
        check_structure(raw)
    # an official batch is far below the limit
    check_structure(official_pickle({b"data": np.zeros((2, 3072), np.uint8),
                                                   b"labels": [1, 2]}), max_depth=8)


def test_deep_tuple_key_does_not_crash_the_interpreter(tmp_path):
    """Run where a crash (SIGSEGV in the C hash of the key) cannot take pytest with it."""
    path = tmp_path / "data_batch_1"
    path.write_bytes(deep_tuple_key(200_000))
    code = ("import sys; from ann.data.cifar import read_batch, DataError\n"
            "try:\n    read_batch(sys.argv[1])\n"
            "except DataError as exc:\n    print('DataError:', exc)\n")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"DataError: {path}: not a CIFAR-10 batch file (its "
                                  f"pickle has objects nested more than 100 deep)")


def test_pickle_that_contains_itself_is_refused(tmp_path):
    path = tmp_path / "batches.meta"
    path.write_bytes(b"\x80\x02}q\x00" + _unicode("label_names") + b"h\x00s.")  # d[k] = d
    with pytest.raises(DataError, match=r"batches\.meta: not a CIFAR-10 batches\.meta file "
                                        r"\(its pickle has an object that contains itself\)"):
        cifar_module.read_meta(path)


@pytest.mark.parametrize(("name", "payload", "error"), [
    # _codecs.encode is allowed (bytes in Python 3 pickles); an unknown codec: LookupError
    ("codec", b"\x80\x02c_codecs\nencode\n" + _unicode("x") + _unicode("no-such-codec")
     + b"\x86R.", "LookupError: unknown encoding: no-such-codec"),
    ("huge-long", b"(L" + b"9" * 5000 + b"L\nl.", "ValueError"),
    ("empty", b"", ""),
    ("truncated", None, ""),
    ("not-a-pickle", b"<html>503 Service Unavailable</html>", ""),
])
def test_corrupt_pickles_are_one_line_errors(tmp_path, name, payload, error):
    if payload is None:
        payload = official_pickle({b"data": np.zeros((4, 3072), np.uint8),
                                   b"labels": [0, 1, 2, 3]})[:5000]
    path = tmp_path / "test_batch"
    path.write_bytes(payload)
    with pytest.raises(DataError) as exc:
        read_batch(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: not a valid python pickle (") and error in msg
    assert "\n" not in msg


@pytest.mark.parametrize("labels", [
    [[[[1]]]] * 3,                  # too many levels for an integer list
    [1, "two", 3],                  # mixed types
    {b"not": b"a list"},
    [10**30, 1, 2],                 # not an integer numpy type
])
def test_odd_labels_are_one_line_errors(tmp_path, labels):
    path = tmp_path / "data_batch_1"
    path.write_bytes(official_pickle({b"data": np.zeros((3, 3072), np.uint8),
                                      b"labels": labels}))
    with pytest.raises(DataError, match=rf"^{path}: 'labels' "):
        read_batch(path)


def test_fuzzed_batches_give_one_line_errors(tmp_path):
    good = [official_pickle({b"batch_label": b"b", b"labels": [1, 2, 3],
                             b"data": np.zeros((3, 3072), np.uint8),
                             b"filenames": [b"a", b"b", b"c"]}),
            pickle.dumps({"data": np.ones((2, 3072), np.uint8), "labels": np.array([1, 9])},
                         protocol=5),
            official_pickle({b"label_names": CLASSES})]
    rng = random.Random(0)
    path = tmp_path / "fuzzed"
    for _ in range(150):
        data = bytearray(rng.choice(good))
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(data))
            if rng.random() < 0.3:
                del data[at:]
            else:
                data[at] = rng.randrange(256)
        path.write_bytes(bytes(data))
        for read in (cifar_module.read_batch, cifar_module.read_meta):
            try:
                read(path)
            except DataError as exc:
                assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)


@pytest.mark.parametrize(("module", "name"), [
    ("builtins", "eval"),
    ("numpy", "load"),
    ("numpy", "ndarray.tofile"),  # an attribute path under an allowed name
    ("subprocess", "call"),
])
def test_only_the_allowed_globals_are_resolved(tmp_path, module, name):
    path = tmp_path / "data_batch_1"
    # protocol 4 STACK_GLOBAL: module and name as strings, then call it with no argument
    raw = (b"\x80\x04" + _unicode(module) + _unicode(name) + b"\x93)R.")
    path.write_bytes(raw)
    with pytest.raises(DataError, match=rf"refusing to load global {module}\.{name}"):
        read_batch(path)


def test_persistent_ids_are_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"\x80\x02" + _unicode("id") + b"Q.")  # BINPERSID
    with pytest.raises(DataError, match="refusing to load a persistent id"):
        read_batch(path)


def test_corrupt_cached_batch_says_to_delete_the_cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache" / "cifar10" / CIFAR10_FOLDER
    write_random_cifar(folder)
    (folder / "data_batch_3").write_bytes(deep_list_value("labels"))
    with pytest.raises(DataError) as exc:
        load_dataset("cifar10", log=lambda s: None)
    msg = str(exc.value)
    assert msg.startswith(f"CIFAR-10 files in {folder} are malformed: {folder / 'data_batch_3'}"
                          f": not a CIFAR-10 batch file")
    assert msg.endswith(f"; delete {folder} to extract or download the archive again")


@pytest.mark.parametrize("kind", ["directory", "broken-link"])
def test_non_file_under_a_batch_name_in_data_dir_is_named(tmp_path, kind):
    d = tmp_path / "d"
    write_random_cifar(d)
    (d / "data_batch_4").unlink()
    if kind == "directory":
        (d / "data_batch_4").mkdir()
    else:
        (d / "data_batch_4").symlink_to(tmp_path / "gone")
    with pytest.raises(DataError, match=rf"^CIFAR-10: {d / 'data_batch_4'} is not a regular "
                                        rf"file; put the batch file there or remove it$"):
        load_dataset("cifar10", d, log=lambda s: None)


def _extract_error(archive: bytes) -> type | None:
    """The exception plain tarfile raises reading every member of ``archive``, if any."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                if member.isfile():
                    tar.extractfile(member).read()
    except Exception as exc:  # what the test is looking for
        return type(exc)
    return None


def test_archive_with_a_damaged_deflate_stream_is_named(tmp_path):
    import zlib

    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in FILES:  # compressible payloads, so the stream has Huffman blocks
            payload = rng.integers(0, 4, 50_000, dtype=np.uint8).tobytes()
            info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    good = buf.getvalue()
    for at in range(len(good) // 3, len(good) - 100, 997):  # a damage that zlib reports
        damaged = good[:at] + b"\xff" * 8 + good[at + 8:]
        if _extract_error(damaged) is zlib.error:
            break
    else:
        pytest.fail("no damage found that makes zlib raise")
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(damaged)
    dest = tmp_path / "out" / CIFAR10_FOLDER
    with pytest.raises(DataError, match=rf"^{path}: not a readable tar.gz archive"):
        cifar_module.extract_archive(path, dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []
