"""Atomic result files: readers see the old file or the complete new one, never a part.

Every write goes to a temporary file in the target's directory, is flushed to disk and
then renamed over the target with :func:`os.replace`.  A process killed mid-write
leaves the old file (or none) and at most a hidden ``.NAME.*.tmp`` file, which is
removed when the write fails inside Python.  Finished files get the permissions a
plain ``open(path, "w")`` would give them (``0666`` less the umask, e.g. ``0644``).
"""

from __future__ import annotations

import errno
import json
import os
import re
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


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; ``ValueError`` naming the file if it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


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
