"""Reader and writer for the IDX format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, ``ndim``
big-endian uint32 dimension sizes, then the values in C order (big-endian for
multi-byte types).  Files may be gzip-compressed; compression is detected from the
content (the gzip magic ``1f 8b``), not from the name.

:func:`read_idx` streams a file: it reads the header first (a file without one is
refused before anything else is read or decompressed), checks the shape the caller
expects, the declared size against the size of a raw file and against the memory
budget (:func:`common.data.budget.memory_budget`), and only then allocates the array
and fills it.  A gzip stream is decompressed chunk by chunk and stopped shortly after
the declared size (the decompression cap), so a "gzip bomb" costs neither memory nor
minutes.

Every error raised here is an :class:`IdxError` (a ``ValueError``) whose message
starts with the path of the offending file and fits on one line.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from common.data.budget import MEMORY_BUDGET_ENV, budget_note, format_bytes, memory_budget
from common.files import atomic_write_bytes

__all__ = ["IdxError", "IdxFile", "read_idx", "parse_idx", "read_bytes", "write_idx",
           "TRAILING_CAP"]

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
_CHUNK = 1 << 20
#: Bytes past the declared shape that :func:`read_idx` decompresses (and counts) before
#: it stops and refuses the file: the decompression cap of an IDX file is its declared
#: size plus this.
TRAILING_CAP = 1 << 20


class IdxError(ValueError):
    """A malformed, truncated, unexpected or too large IDX file.  The message names the file."""


@dataclass(frozen=True)
class IdxFile:
    """An IDX file as read: its array, path, and sha256 of the *uncompressed* bytes.

    The uncompressed digest identifies the content whether the file is stored raw or
    gzipped (re-compression changes the gzip bytes but not the payload).
    """

    array: np.ndarray
    path: Path
    sha256: str


class _Stream:
    """An open file, read through gzip when its content starts with the gzip magic;
    every failure to read is an :class:`IdxError` naming the file."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.raw: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise IdxError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        try:
            self.compressed = self.raw.read(2) == _GZIP_MAGIC
            self.raw.seek(0)
            #: size of the file on disk (the content's size when not compressed)
            self.size = os.fstat(self.raw.fileno()).st_size
        except OSError as exc:
            self.raw.close()
            raise IdxError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        self.stream: BinaryIO = gzip.GzipFile(fileobj=self.raw) if self.compressed else self.raw
        self.consumed = 0  # uncompressed bytes read so far

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.compressed:
                self.stream.close()
        finally:
            self.raw.close()

    def _guard(self, call: Callable, arg) -> int | bytes:
        try:
            return call(arg)
        except EOFError as exc:
            raise IdxError(f"{self.path}: truncated gzip stream ({exc})") from exc
        except (OSError, zlib.error) as exc:  # BadGzipFile is an OSError
            if self.compressed:
                raise IdxError(f"{self.path}: corrupt gzip stream ({exc})") from exc
            raise IdxError(f"{self.path}: cannot read ({getattr(exc, 'strerror', None) or exc})"
                           ) from exc

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the content)."""
        parts, got = [], 0
        while got < n:
            part = self._guard(self.stream.read, min(n - got, _CHUNK))
            if not part:
                break
            parts.append(part)
            got += len(part)
        self.consumed += got
        return b"".join(parts)

    def readinto(self, buffer: memoryview, digest) -> int:
        """Fill ``buffer`` (bytes) as far as the content goes, feeding ``digest``; return
        the bytes read."""
        got = 0
        while got < len(buffer):
            view = buffer[got : got + _CHUNK]
            n = self._guard(self.stream.readinto, view)
            if not n:
                break
            digest.update(view[:n])
            got += n
        self.consumed += got
        return got

    def skip(self, limit: int) -> int:
        """Read on (discarding) to the end of the content or past ``limit`` more bytes,
        whichever comes first; return the bytes read (``limit + 1`` or fewer).  Reading to
        the end checks a gzip stream's CRC and length."""
        got = 0
        while got <= limit:
            part = self._guard(self.stream.read, min(limit + 1 - got, _CHUNK))
            if not part:
                break
            got += len(part)
        self.consumed += got
        return got


def read_bytes(path: str | Path, limit: int | None = None) -> bytes:
    """Return the uncompressed content of ``path`` (gunzipped if it is gzip data).

    The content is read in chunks and refused as soon as it exceeds ``limit`` bytes
    (default: :func:`common.data.budget.memory_budget`): a gzip stream is decompressed
    no further than that (the decompression cap), a raw file larger than that is not
    read at all.

    Raises
    ------
    IdxError
        If the file is missing, unreadable, a corrupt/truncated gzip stream, or larger
        than ``limit`` uncompressed.
    """
    path = Path(path)
    limit = memory_budget() if limit is None else int(limit)
    with _Stream(path) as src:
        if not src.compressed and src.size > limit:
            raise IdxError(f"{path}: {format_bytes(src.size)}, more than the limit of "
                           f"{format_bytes(limit)} a file may take in memory ({MEMORY_BUDGET_ENV} "
                           f"sets it)")
        data = src.read(limit + 1)
    if len(data) > limit:
        raise IdxError(f"{path}: gzip stream decompresses to more than {format_bytes(limit)}, "
                       f"the decompression cap ({MEMORY_BUDGET_ENV} sets it); not an IDX "
                       f"file of that size")
    return data


def _read_header(read: Callable[[int], bytes], source: str | Path
                 ) -> tuple[np.dtype, tuple[int, ...], bytes]:
    """``(dtype, shape, header bytes)`` from ``read(n)``; refuse a bad header at once."""
    head = read(4)
    if len(head) < 4:
        raise IdxError(f"{source}: too short for an IDX header ({len(head)} bytes)")
    if head[0] != 0 or head[1] != 0:
        raise IdxError(
            f"{source}: wrong magic number 0x{head.hex()} (an IDX file starts with 00 00)"
        )
    code, ndim = head[2], head[3]
    if code not in _TYPES:
        raise IdxError(f"{source}: unknown IDX type code 0x{code:02x} in magic 0x{head.hex()}")
    if ndim == 0:
        raise IdxError(f"{source}: IDX header declares 0 dimensions")
    dims = read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise IdxError(f"{source}: truncated header ({4 + len(dims)} bytes, need "
                       f"{4 + 4 * ndim})")
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    return _TYPES[code], shape, head + dims


def _declared(shape: tuple[int, ...], dtype: np.dtype) -> int:
    # Python integers: a hostile header's dimensions must not wrap around (np.prod would).
    return math.prod(shape) * dtype.itemsize


def _truncated(source, shape, expected: int, got: int, what: str = "the file has") -> IdxError:
    return IdxError(f"{source}: truncated: header declares shape {shape} ({expected} bytes) "
                    f"but {what} {got} bytes")


def _trailing(source, shape, extra: int) -> IdxError:
    return IdxError(f"{source}: {extra} unexpected trailing bytes after the declared shape "
                    f"{shape}")


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
    dtype, shape, header = _read_header(io.BytesIO(data).read, source)
    expected = len(header) + _declared(shape, dtype)
    if len(data) < expected:
        raise _truncated(source, shape, expected, len(data))
    if len(data) > expected:
        raise _trailing(source, shape, len(data) - expected)
    array = np.frombuffer(data, dtype=dtype, offset=len(header)).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(
    path: str | Path,
    ndim: int | None = None,
    shape_tail: tuple[int, ...] | None = None,
    count: int | None = None,
    *,
    budget: int | None = None,
) -> IdxFile:
    """Read an IDX file (raw or gzip) and check what the caller expects of it.

    The header is read and checked first (module docstring): the expected shape, the
    declared size against a raw file's size, and the bytes the array needs against
    ``budget``, all before the array is allocated; a gzip stream is decompressed no
    further than :data:`TRAILING_CAP` bytes past the declared size.

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
    budget:
        Most bytes the array may take (``None``: :func:`common.data.budget.memory_budget`).

    Returns
    -------
    IdxFile
        The array, the path and the sha256 of the uncompressed bytes.

    Raises
    ------
    IdxError
        If the file is unreadable or malformed, does not have the required shape, or
        declares more bytes than ``budget``.
    """
    path = Path(path)
    with _Stream(path) as src:
        dtype, shape, header = _read_header(src.read, path)
        if ndim is not None and len(shape) != ndim:
            raise IdxError(f"{path}: expected {ndim} dimensions, found shape {shape}")
        if shape_tail is not None and tuple(shape[1:]) != tuple(shape_tail):
            raise IdxError(
                f"{path}: expected items of shape {tuple(shape_tail)}, found {tuple(shape[1:])}"
            )
        if count is not None and shape[0] != count:
            raise IdxError(f"{path}: expected {count} items, found {shape[0]}")
        nbytes = _declared(shape, dtype)
        expected = len(header) + nbytes
        if not src.compressed and src.size < expected:
            raise _truncated(path, shape, expected, src.size)
        if not src.compressed and src.size > expected:
            raise _trailing(path, shape, src.size - expected)
        budget = memory_budget() if budget is None else budget
        needed = nbytes * (2 if dtype.itemsize > 1 else 1)  # multi-byte: a swapped copy
        if needed > budget:
            raise IdxError(f"{path}: header declares shape {shape} ({format_bytes(nbytes)}), "
                           f"more than {budget_note(budget)}; not the dataset meant, or "
                           f"raise the budget")
        digest = hashlib.sha256(header)
        try:
            payload = np.empty(nbytes, dtype=np.uint8)
        except MemoryError:
            raise IdxError(f"{path}: out of memory for its declared shape {shape} "
                           f"({format_bytes(nbytes)}); set {MEMORY_BUDGET_ENV} lower than "
                           f"{format_bytes(budget)}") from None
        got = src.readinto(memoryview(payload), digest)
        if got < nbytes:
            raise _truncated(path, shape, expected, len(header) + got)
        extra = src.skip(TRAILING_CAP)
        if extra > TRAILING_CAP:
            raise IdxError(f"{path}: more than {TRAILING_CAP} unexpected trailing bytes after "
                           f"the declared shape {shape} (decompression stopped there)")
        if extra:
            raise _trailing(path, shape, extra)
    array = payload.view(dtype).reshape(shape)
    if dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
    return IdxFile(array=array, path=path, sha256=digest.hexdigest())


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
