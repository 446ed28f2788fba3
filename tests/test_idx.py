"""IDX reader/writer on files the tests write: good (raw, gzip), broken, unexpected."""

import gzip
import hashlib
import tracemalloc

import numpy as np
import pytest

from common.data import idx
from common.data.idx import IdxError, parse_idx, read_bytes, read_idx, write_idx

from writers import idx_bytes, sparse_file, zeros_gzip


@pytest.fixture
def images():
    return np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)


@pytest.mark.parametrize("name", ["imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"])
def test_round_trip_raw_and_gzip(tmp_path, images, name):
    path = write_idx(tmp_path / name, images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    f = read_idx(path, ndim=3, shape_tail=(4, 5), count=3)
    assert f.array.dtype == np.uint8
    np.testing.assert_array_equal(f.array, images)
    assert f.path == path


def test_sha256_is_of_the_uncompressed_content(tmp_path, images):
    raw = read_idx(write_idx(tmp_path / "a", images))
    gz = read_idx(write_idx(tmp_path / "b.gz", images))
    assert raw.sha256 == gz.sha256 == hashlib.sha256((tmp_path / "a").read_bytes()).hexdigest()


def test_gzip_detected_from_content_not_name(tmp_path, images):
    path = write_idx(tmp_path / "no-suffix", images, compress=True)
    np.testing.assert_array_equal(read_idx(path).array, images)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_multibyte_types_are_big_endian_on_disk(tmp_path, dtype):
    a = (np.arange(12).reshape(3, 4) - 5).astype(dtype)
    path = write_idx(tmp_path / "x", a)
    data = path.read_bytes()
    assert data[:2] == b"\0\0" and data[3] == 2
    payload = data[4 + 8:]
    np.testing.assert_array_equal(np.frombuffer(payload, dtype=np.dtype(dtype).newbyteorder(">")),
                                  a.ravel())
    np.testing.assert_array_equal(read_idx(path).array, a)


def test_header_values_match_the_mnist_layout():
    # 2 images of 28x28 ubyte -> magic 0x00000803, dims 2, 28, 28.
    data = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    data += bytes(range(256)) * (2 * 28 * 28 // 256) + bytes(2 * 28 * 28 % 256)
    a = parse_idx(data)
    assert a.shape == (2, 28, 28) and a.dtype == np.uint8
    assert a.ravel()[255] == 255


def test_truncated_raw_file_names_the_file(tmp_path, images):
    path = tmp_path / "short-idx3-ubyte"
    write_idx(path, images)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(IdxError, match=r"short-idx3-ubyte: truncated"):
        read_idx(path)


def test_truncated_gzip_names_the_file(tmp_path, images):
    path = write_idx(tmp_path / "cut.gz", np.random.default_rng(0).integers(
        0, 255, size=(50, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(IdxError, match=r"cut\.gz: truncated gzip"):
        read_idx(path)


def test_gzip_with_truncated_payload_names_the_file(tmp_path, images):
    path = tmp_path / "payload.gz"
    write_idx(tmp_path / "full", images)
    path.write_bytes(gzip.compress((tmp_path / "full").read_bytes()[:-1]))
    with pytest.raises(IdxError, match=r"payload\.gz: truncated"):
        read_idx(path)


def test_wrong_magic_names_the_file(tmp_path):
    path = tmp_path / "bad-magic"
    path.write_bytes(b"\x01\x02\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(IdxError, match=r"bad-magic: wrong magic number 0x01020801"):
        read_idx(path)


def test_unknown_type_code_names_the_file(tmp_path):
    path = tmp_path / "bad-type"
    path.write_bytes(b"\x00\x00\x07\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(IdxError, match=r"bad-type: unknown IDX type code 0x07"):
        read_idx(path)


def test_trailing_bytes_are_an_error(tmp_path, images):
    path = write_idx(tmp_path / "long", images)
    path.write_bytes(path.read_bytes() + b"\0\0")
    with pytest.raises(IdxError, match=r"long: 2 unexpected trailing bytes"):
        read_idx(path)


def test_wrong_count_and_shape_name_the_file(tmp_path, images):
    path = write_idx(tmp_path / "three", images)
    with pytest.raises(IdxError, match=r"three: expected 4 items, found 3"):
        read_idx(path, count=4)
    with pytest.raises(IdxError, match=r"three: expected 1 dimensions"):
        read_idx(path, ndim=1)
    with pytest.raises(IdxError, match=r"three: expected items of shape \(28, 28\)"):
        read_idx(path, shape_tail=(28, 28))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(IdxError, match=r"nothing-here: cannot read"):
        read_idx(tmp_path / "nothing-here")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(IdxError, match=r"empty: too short"):
        read_idx(tmp_path / "empty")


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="complex"):
        write_idx(tmp_path / "c", np.zeros(3, dtype=np.complex64))


def _gzip_of(tmp_path, images):
    return write_idx(tmp_path / "src.gz", images).read_bytes()


@pytest.mark.parametrize("case", ["magic-only", "header-cut", "half", "one-byte-short",
                                  "trailing-garbage", "garbage-after-magic", "bad-crc"])
def test_damaged_gzip_is_one_idx_error_naming_the_file(tmp_path, images, case):
    good = gzip.compress(idx_bytes(images), mtime=0)
    damaged = {
        "magic-only": good[:2],                              # EOFError in the header
        "header-cut": good[:7],
        "half": good[: len(good) // 2],                      # truncated deflate stream
        "one-byte-short": good[:-1],                         # trailer cut
        "trailing-garbage": good + b"garbage!",              # BadGzipFile (an OSError)
        "garbage-after-magic": good[:2] + bytes(range(64)),  # zlib.error / BadGzipFile
        "bad-crc": good[:-8] + bytes(4) + good[-4:],         # BadGzipFile: CRC check failed
    }[case]
    path = tmp_path / "bad-idx3-ubyte.gz"
    path.write_bytes(damaged)
    with pytest.raises(IdxError) as exc:
        read_idx(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: ") and "gzip" in message and "\n" not in message


def test_header_whose_size_overflows_int64_is_an_error(tmp_path):
    # 65536**4 * 1 byte = 2**64: np.prod in int64 wraps to 0, which once made this empty
    # payload look complete and failed later in reshape with a bare ValueError.
    path = tmp_path / "huge-idx4-ubyte"
    path.write_bytes(bytes([0, 0, 8, 4]) + (65536).to_bytes(4, "big") * 4)
    with pytest.raises(IdxError, match=r"huge-idx4-ubyte: truncated: header declares shape "
                                       r"\(65536, 65536, 65536, 65536\)"):
        read_idx(path)


def test_out_of_memory_for_the_declared_shape_is_an_idx_error(tmp_path, images, monkeypatch):
    path = write_idx(tmp_path / "bomb.gz", images)

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(idx.np, "empty", out_of_memory)
    with pytest.raises(IdxError, match=r"bomb\.gz: out of memory for its declared shape "
                                       r"\(3, 4, 5\).*NEGLU_STDP_MEMORY_BUDGET"):
        read_idx(path)


# ---- memory bombs: refused from the header, before anything large is allocated --------

def _no_payload_allocation(monkeypatch):
    """Make allocating the payload fail the test (the refusal must come before it)."""
    def refuse(*args, **kwargs):
        raise AssertionError("read_idx allocated the payload of a file it must refuse")

    monkeypatch.setattr(idx.np, "empty", refuse)


def _header(count: int, *tail: int) -> bytes:
    """The header of a uint8 IDX file of shape ``(count, *tail)`` (no payload)."""
    return idx_bytes(np.zeros(0, np.uint8), shape=(count, *tail))


def test_gzip_declaring_more_than_the_budget_is_refused_at_the_header(tmp_path, monkeypatch):
    """A small gzip whose valid header declares 3,000,000 images (2.2 GiB) is refused from
    its header against the budget, naming the file, the shape and the budget."""
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(zeros_gzip(2**20, 1, prefix=_header(3_000_000, 28, 28)))
    _no_payload_allocation(monkeypatch)
    with pytest.raises(IdxError, match=r"train-images-idx3-ubyte\.gz: header declares shape "
                                       r"\(3000000, 28, 28\) \(2\.19 GiB\), more than the "
                                       r"memory budget of 64 MiB \(NEGLU_STDP_MEMORY_BUDGET"):
        read_idx(path, ndim=3, shape_tail=(28, 28), budget=64 * 2**20)


def test_budget_defaults_to_the_environment_variable(tmp_path, images, monkeypatch):
    path = write_idx(tmp_path / "x-idx3-ubyte", images)  # 60 bytes of payload
    monkeypatch.setenv("NEGLU_STDP_MEMORY_BUDGET", "59")
    with pytest.raises(IdxError, match=r"more than the memory budget of 59 bytes"):
        read_idx(path)
    monkeypatch.setenv("NEGLU_STDP_MEMORY_BUDGET", "60")
    np.testing.assert_array_equal(read_idx(path).array, images)


def test_multibyte_payload_counts_its_swapped_copy(tmp_path):
    path = write_idx(tmp_path / "f", np.zeros(10, dtype=np.float32))  # 40 bytes on disk
    with pytest.raises(IdxError, match="more than the memory budget of 79 bytes"):
        read_idx(path, budget=79)
    assert read_idx(path, budget=80).array.dtype == np.float32


def test_headerless_gzip_bomb_is_refused_before_it_is_decompressed(tmp_path):
    """32 MiB of zeros (no IDX header: type code 0x00): refused after the first bytes;
    the peak of Python allocations stays far below the content's size."""
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(zeros_gzip(2**20, 32))
    tracemalloc.start()
    try:
        with pytest.raises(IdxError, match=r"bomb-idx3-ubyte\.gz: unknown IDX type code 0x00"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


def test_gzip_expanding_past_the_declared_size_stops_at_the_cap(tmp_path, images, monkeypatch):
    """A valid file followed by 32 MiB of zeros: decompression stops TRAILING_CAP bytes
    past the declared size (here lowered to 1000), one line naming the file."""
    path = tmp_path / "long-idx3-ubyte.gz"
    path.write_bytes(zeros_gzip(2**20, 32, prefix=idx_bytes(images)))
    monkeypatch.setattr(idx, "TRAILING_CAP", 1000)
    tracemalloc.start()
    try:
        with pytest.raises(IdxError) as exc:
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(exc.value) == (f"{path}: more than 1000 unexpected trailing bytes after the "
                              f"declared shape (3, 4, 5) (decompression stopped there)")
    assert peak < 4 * 2**20


def test_small_trailing_garbage_in_gzip_is_counted(tmp_path, images):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(idx_bytes(images) + b"\0" * 7, mtime=0))
    with pytest.raises(IdxError, match=r"t\.gz: 7 unexpected trailing bytes after the declared "
                                       r"shape \(3, 4, 5\)"):
        read_idx(path)


def test_read_bytes_stops_decompressing_at_the_cap(tmp_path):
    path = tmp_path / "zeros.gz"
    path.write_bytes(zeros_gzip(2**20, 4))
    with pytest.raises(IdxError, match=r"zeros\.gz: gzip stream decompresses to more than "
                                       r"9\.77 KiB, the decompression cap"):
        read_bytes(path, limit=10_000)
    assert read_bytes(path, limit=4 * 2**20) == bytes(4 * 2**20)
    raw = tmp_path / "raw"
    raw.write_bytes(bytes(20_000))
    with pytest.raises(IdxError, match=r"raw: 19\.5 KiB, more than the limit"):
        read_bytes(raw, limit=10_000)


SPARSE_IMAGES = 10_956_549  # x 784 bytes: a raw images file of 8.0 GiB


@pytest.mark.parametrize("case", ["fewer", "more", "exact"])
def test_sparse_raw_file_is_judged_by_its_size_before_reading(tmp_path, monkeypatch, case):
    """An 8 GiB raw file (sparse: no disk used) whose header declares fewer images than it
    holds, more than it holds, or exactly what it holds: refused from the header and the
    file's size (the last against the budget), nothing read or allocated."""
    size = 16 + SPARSE_IMAGES * 784
    declared = {"fewer": 200, "more": 3 * SPARSE_IMAGES, "exact": SPARSE_IMAGES}[case]
    path = sparse_file(tmp_path / "train-images-idx3-ubyte", _header(declared, 28, 28), size)
    _no_payload_allocation(monkeypatch)
    shape = rf"\({declared}, 28, 28\)"
    message = {
        "fewer": rf"{size - 16 - 200 * 784} unexpected trailing bytes after the declared "
                 rf"shape {shape}",
        "more": rf"truncated: header declares shape {shape} \({16 + declared * 784} bytes\) "
                rf"but the file has {size} bytes",
        "exact": rf"header declares shape {shape} \(8 GiB\), more than the memory budget "
                 rf"of 1 MiB",
    }[case]
    with pytest.raises(IdxError, match=rf"train-images-idx3-ubyte: {message}"):
        read_idx(path, ndim=3, shape_tail=(28, 28), budget=2**20)


def test_write_idx_is_atomic_and_creates_folders(tmp_path, images, monkeypatch):
    path = write_idx(tmp_path / "new" / "dir" / "x-idx3-ubyte", images)
    np.testing.assert_array_equal(read_idx(path).array, images)
    import common.files

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(common.files.os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        write_idx(path, images[:1])
    np.testing.assert_array_equal(read_idx(path).array, images)  # the old file is intact
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file
