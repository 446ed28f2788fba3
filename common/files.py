"""Atomic result files: readers see the old file or the complete new one, never a part.

Every write goes to a temporary file in the target's directory, is flushed to disk and
then renamed over the target with :func:`os.replace`.  A process killed mid-write
leaves the old file (or none) and at most a hidden ``.NAME.*.tmp`` file, which is
removed when the write fails inside Python.  Finished files get the permissions a
plain ``open(path, "w")`` would give them (``0666`` less the umask, e.g. ``0644``).

Stored results are read back with :func:`read_regular_bytes` and :func:`read_json`,
which cannot hang or exhaust memory: only a regular file (or a link to one) is opened,
checked with ``os.stat`` before the open and again on the open descriptor (opened
non-blocking, so a FIFO swapped in between cannot block it), and no more than a size
cap is read.  A file they refuse raises :class:`UnreadableFile`, a ``ValueError``
naming the file and what is wrong with it, in one line.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "read_json",
    "read_regular_bytes",
    "UnreadableFile",
    "file_kind",
    "MAX_JSON_BYTES",
    "check_writable_dir",
    "directory_argument",
    "short_write_error",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Create ``path`` atomically: ``write(tmp)`` fills a temporary file, which is then
    fsynced and renamed to ``path``.  Parent directories are created.

    ``write`` receives the temporary file's path (an existing empty file), e.g.
    ``lambda tmp: fig.savefig(tmp, format="png")`` or ``lambda tmp: torch.save(obj, tmp)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno is None:  # a short write (e.g. a file-size limit) says no errno
            raise short_write_error(exc, path) from exc
        if exc.filename is None or Path(exc.filename) == tmp:  # name the file meant
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def short_write_error(exc: OSError, filename: str | Path) -> OSError:
    """The error of a short write to ``filename``: Python says "N requested and M
    written" with no errno.  ``EFBIG`` when N bytes exceed the file-size limit
    (``ulimit -f``), else ``EIO`` (a full disk, or a limit that cannot be read)."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        unlimited = resource.RLIM_INFINITY
    except ImportError:  # Windows
        limit = unlimited = None
    requested = re.match(r"(\d+) requested", str(exc))
    if limit != unlimited and requested and int(requested.group(1)) > limit:
        return OSError(errno.EFBIG, f"File too large ({exc}; the file-size limit is {limit} "
                                    f"bytes)", str(filename))
    return OSError(errno.EIO, f"Input/output error ({exc})", str(filename))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` of ``text`` (UTF-8)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """:func:`atomic_write_text` of ``obj`` as indented JSON.

    The JSON is encoded before anything touches the disk, so an object that cannot be
    written (NaN, infinity, a non-JSON type) raises ``ValueError``/``TypeError`` and
    leaves ``path`` as it was.
    """
    return atomic_write_text(path, json.dumps(obj, indent=1, allow_nan=False) + "\n")


#: The largest stored JSON document read (bytes): a run record, ``sweep.json``,
#: ``study.json`` and the report documents are kilobytes to a few megabytes.
MAX_JSON_BYTES = 64 * 2**20


class UnreadableFile(ValueError):
    """A stored file that is refused: not a regular file, over its size cap, not valid
    JSON ...; ``str()`` is one line ``PATH: REASON``."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(str(path), reason)  # args rebuild it: picklable
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words, for a refusal (``"a FIFO (named
    pipe)"``, ``"a directory"``, ...)."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} bytes"


def read_regular_bytes(path: str | Path, max_bytes: int) -> bytes:
    """The contents of the regular file ``path`` (a symbolic link to one is followed),
    at most ``max_bytes`` of them.

    ``os.stat`` refuses a FIFO, a device, a socket or a directory (or a link to one)
    before anything is opened; the file is then opened non-blocking and checked again
    on its descriptor, so one swapped in meanwhile is refused too, and never more than
    ``max_bytes + 1`` bytes are read.

    Raises:
        UnreadableFile: not a regular file, or larger than ``max_bytes``.
        OSError: the file is missing or cannot be read (``FileNotFoundError``,
            ``PermissionError`` ...).
    """
    path = Path(path)
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile(path, f"{file_kind(info.st_mode)}, not a regular file")
    if info.st_size > max_bytes:
        raise UnreadableFile(path, f"{_size(info.st_size)}, more than the {_size(max_bytes)} "
                                   f"a file of this kind may have")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
        | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # replaced between the stat and the open
            raise UnreadableFile(path, f"{file_kind(info.st_mode)}, not a regular file")
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(2**20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total > max_bytes:  # grew since the stat
        raise UnreadableFile(path, f"more than the {_size(max_bytes)} a file of this kind "
                                   f"may have")
    return b"".join(chunks)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to infinity
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: str | Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse the JSON file ``path`` through :func:`read_regular_bytes` (a regular file of
    at most ``max_bytes``).  Every number in the result is finite: ``NaN``,
    ``Infinity`` and numbers that overflow a float are refused, as the writers
    (:func:`atomic_write_json`) never write them.

    Raises:
        UnreadableFile: (a ``ValueError``) not a regular file, too large, not UTF-8, not
            valid JSON, a non-finite number, nested too deeply.
        OSError: missing or unreadable.
    """
    path = Path(path)
    data = read_regular_bytes(path, max_bytes)
    try:
        return json.loads(data.decode("utf-8"), parse_float=_finite_float,
                          parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise UnreadableFile(path, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise UnreadableFile(path, "not valid JSON (nested too deeply)") from None


def directory_argument(text: str) -> Path:
    """``argparse`` type of a directory option: refuses an empty name (which ``Path``
    would silently read as the current directory)."""
    import argparse

    if not str(text).strip():
        raise argparse.ArgumentTypeError(f"must name a directory, got {text!r}")
    return Path(text)


def check_writable_dir(path: str | Path, option: str = "--out") -> Path:
    """Create directory ``path`` (and parents) and prove it writable by creating and
    removing a file in it.  Call before any long computation.

    Raises:
        ValueError: one line naming ``option`` and what is wrong (a regular file, a
            path under a file, no permission, a read-only or pseudo file system).
    """
    path = Path(path)
    try:
        is_other = path.exists() and not path.is_dir()
    except OSError as exc:  # e.g. a name too long for the file system
        raise ValueError(f"{option} {str(path)[:80]!r}... is not a usable path "
                         f"({exc.strerror or type(exc).__name__}); choose another") from None
    if is_other:
        raise ValueError(f"{option} {str(path)!r} exists and is not a directory; "
                         f"choose a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"{option} {str(path)!r} is not a writable directory ({reason}); "
                         f"choose another") from None
    return path
