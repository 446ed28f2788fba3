"""Reader and writer for the IDX format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, ``ndim``
big-endian uint32 dimension sizes, then the values in C order (big-endian for
multi-byte types).  Files may be gzip-compressed; compression is detected from the
content (the gzip magic ``1f 8b``), not from the name.

Every error raised here is an :class:`IdxError` (a ``ValueError``) whose message
starts with the path of the offending file.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.files import atomic_write_bytes

__all__ = ["IdxError", "IdxFile", "read_idx", "parse_idx", "read_bytes", "write_idx"]

# IDX type code -> numpy dtype (big-endian where it matters).
_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("=") if dt.itemsize > 1 else dt: code for code, dt in _TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IdxError(ValueError):
    """A malformed, truncated or unexpected IDX file.  The message names the file."""


@dataclass(frozen=True)
class IdxFile:
    """An IDX file as read: its array, path, and sha256 of the *uncompressed* bytes.

    The uncompressed digest identifies the content whether the file is stored raw or
    gzipped (re-compression changes the gzip bytes but not the payload).
    """

    array: np.ndarray
    path: Path
    sha256: str


def read_bytes(path: str | Path) -> bytes:
    """Return the uncompressed content of ``path`` (gunzipped if it is gzip data).

    Raises
    ------
    IdxError
        If the file is missing, unreadable, or a corrupt/truncated gzip stream.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IdxError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as exc:
        raise IdxError(f"{path}: truncated gzip stream ({exc})") from exc
    except (OSError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise IdxError(f"{path}: corrupt gzip stream ({exc})") from exc
    except MemoryError:  # a gzip "bomb": far larger uncompressed than any IDX dataset
        raise IdxError(f"{path}: gzip stream too large to decompress in memory") from None


def parse_idx(data: bytes, source: str | Path = "<bytes>") -> np.ndarray:
    """Parse IDX ``data`` into a native-endian numpy array.

    Parameters
    ----------
    data:
        The uncompressed file content.
    source:
        Name used in error messages (normally the path).

    Raises
    ------
    IdxError
        On a wrong magic number, an unknown type code, or a payload whose length does
        not match the header (truncated or with trailing bytes).
    """
    if len(data) < 4:
        raise IdxError(f"{source}: too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise IdxError(
            f"{source}: wrong magic number 0x{data[:4].hex()} (an IDX file starts with 00 00)"
        )
    code, ndim = data[2], data[3]
    if code not in _TYPES:
        raise IdxError(f"{source}: unknown IDX type code 0x{code:02x} in magic 0x{data[:4].hex()}")
    if ndim == 0:
        raise IdxError(f"{source}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{source}: truncated header ({len(data)} bytes, need {header})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _TYPES[code]
    # Python integers: a hostile header's dimensions must not wrap around (np.prod would).
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) < expected:
        raise IdxError(
            f"{source}: truncated: header declares shape {shape} ({expected} bytes) "
            f"but the file has {len(data)} bytes"
        )
    if len(data) > expected:
        raise IdxError(
            f"{source}: {len(data) - expected} unexpected trailing bytes after the "
            f"declared shape {shape}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(
    path: str | Path,
    ndim: int | None = None,
    shape_tail: tuple[int, ...] | None = None,
    count: int | None = None,
) -> IdxFile:
    """Read an IDX file (raw or gzip) and check what the caller expects of it.

    Parameters
    ----------
    path:
        The file.
    ndim:
        Required number of dimensions (e.g. 3 for images, 1 for labels), or ``None``.
    shape_tail:
        Required sizes of all dimensions after the first (e.g. ``(28, 28)``), or ``None``.
    count:
        Required size of the first dimension (number of items), or ``None``.

    Returns
    -------
    IdxFile
        The array, the path and the sha256 of the uncompressed bytes.

    Raises
    ------
    IdxError
        If the file is unreadable or malformed, or does not have the required shape.
    """
    path = Path(path)
    data = read_bytes(path)
    array = parse_idx(data, path)
    if ndim is not None and array.ndim != ndim:
        raise IdxError(f"{path}: expected {ndim} dimensions, found shape {array.shape}")
    if shape_tail is not None and tuple(array.shape[1:]) != tuple(shape_tail):
        raise IdxError(
            f"{path}: expected items of shape {tuple(shape_tail)}, found {tuple(array.shape[1:])}"
        )
    if count is not None and array.shape[0] != count:
        raise IdxError(f"{path}: expected {count} items, found {array.shape[0]}")
    return IdxFile(array=array, path=path, sha256=hashlib.sha256(data).hexdigest())


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it if ``compress`` (default: name ends in .gz).

    Supported dtypes: uint8, int8, int16, int32, float32, float64.  The file is written
    atomically (:func:`common.files.atomic_write_bytes`); its folder is created.
    """
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if native not in _CODES:
        raise ValueError(f"array dtype {array.dtype} has no IDX type code")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"array must have 1..255 dimensions, got {array.ndim}")
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=_TYPES[code]).tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    atomic_write_bytes(path, gzip.compress(payload, mtime=0) if compress else payload)
    return path
