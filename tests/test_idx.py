"""IDX reader/writer on files the tests write: good (raw, gzip), broken, unexpected."""

import gzip
import hashlib

import numpy as np
import pytest

from ann.data.idx import IdxError, parse_idx, read_idx, write_idx


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
