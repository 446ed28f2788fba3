"""A resumable store of finished runs (an experiment's output directory).

Layout of an output directory (``--out DIR``)::

    DIR/sweep.json          what the runs share (checked on resume) and provenance
    DIR/runs/<key>.json     one finished run each, written atomically
    DIR/.lock               the process writing DIR (PID, under an exclusive ``flock``;
                            without one, a file created exclusively: RunStore.lock)
    DIR/checkpoints/        state of unfinished runs, deleted as their runs finish

A rerun of the same experiment skips every run already in ``runs/``.  ``sweep.json``
holds the identity of the experiment, which a rerun must match, and its provenance
(toolkit commit, versions, hardware: recorded, not checked).  A directory holding a
different experiment is refused in one line rather than mixed.

Every stored file is read with :func:`read_document` (a regular file under a size cap,
finite numbers only, a JSON object) and every run record is checked by
:meth:`RunStore.record_problem` before any reader sees it; a bad file is one line
naming it and how to set it aside (:func:`set_aside`).

This module knows nothing of what a run holds: a subclass names the fields every run
record has (:attr:`RunStore.fields`), checks them (:meth:`RunStore.problem`) and names
the identity keys whose difference deserves its own message
(:attr:`RunStore.named_keys`); :class:`ann.run_store.RunStore` is the sweeps' one.
Torch- and Brian2-free, so both sides use it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shlex
import stat
import threading
import time

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.cli import UserError
from common.files import (
    UnreadableFile,
    atomic_write_json,
    file_kind,
    read_json,
    read_regular_bytes,
)

__all__ = ["SweepMismatch", "StoreError", "RunStore", "read_document", "set_aside",
           "LOCK_GRACE_S"]

#: Without ``flock`` (Windows, or a file system that has none), how long a lock file
#: that holds no PID (empty, or garbage) counts as held: its writer may be between
#: creating it and writing its PID.  Older than this, its writer died in between, and
#: the lock is stale.
LOCK_GRACE_S = 10.0
#: The most bytes of a lock file read (it holds a PID and a newline).
_LOCK_BYTES = 4096
#: ``flock`` errors of a file system without it (some NFS and FUSE mounts): the lock
#: falls back to a file created exclusively.
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS}
#: How often :meth:`RunStore.lock` tries again when the lock file changed under it.
_ATTEMPTS = 100
#: Whether processes are asked after on Windows (:func:`_windows_pid_alive`).
_WINDOWS = os.name == "nt"


class SweepMismatch(UserError):
    """An output directory that holds the runs of a different experiment (or engine, or
    version, or layout)."""


class StoreError(UserError):
    """A stored file that cannot be read (corrupt, foreign), or a directory that another
    process is writing."""


def set_aside(path: str | Path) -> str:
    """The end of a one-line message about a bad stored file: how to move it aside
    (``move it aside (e.g. mv PATH PATH.bad) and rerun``), shell-quoted."""
    path = str(path)
    return f"move it aside (e.g. mv {shlex.quote(path)} {shlex.quote(path + '.bad')}) and rerun"


def read_document(path: str | Path, what: str, hint: str = "and rerun") -> dict[str, Any]:
    """The JSON object stored in ``path`` (:func:`common.files.read_json`: a regular
    file under the size cap, finite numbers only).

    Args:
        path: the file.
        what: what it should be, for the message (``"stored run"``, ``"study.json"``).
        hint: what rerunning does once it is moved aside (``"and rerun to train that
            run again"``), the end of the message.

    Raises:
        StoreError: one line naming ``path``, what is wrong and how to set it aside:
            not a regular file, too large, not valid JSON, not an object, unreadable.
    """
    path = Path(path)
    aside = set_aside(path).removesuffix("and rerun") + hint
    try:
        value = read_json(path)
    except UnreadableFile as exc:
        raise StoreError(f"{path} is not a readable {what} ({exc.reason}); {aside}") from None
    except OSError as exc:
        raise StoreError(f"{path} is not a readable {what} ({exc.strerror or type(exc).__name__}"
                         f"); fix it or {aside}") from None
    if not isinstance(value, dict):
        raise StoreError(f"{path} is not a {what} (a JSON {type(value).__name__}, not an "
                         f"object); {aside}")
    return value


# -- the lock: one writer per directory ------------------------------------------------

def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (``pid`` > 0)."""
    if pid <= 0:
        return False
    if _WINDOWS:
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user's
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs, asked of the kernel.  Not ``os.kill(pid, 0)``:
    on Windows signal 0 is ``CTRL_C_EVENT``, sent to a process group, and any other
    number terminates the process."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    query_limited_information, access_denied, still_active = 0x1000, 5, 259
    handle = kernel32.OpenProcess(query_limited_information, False, pid)
    if not handle:
        return ctypes.get_last_error() == access_denied  # exists, not ours to query
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


#: Lock files this process holds -> the open descriptor that holds the ``flock`` (it
#: lives as long as the descriptor), or -1 for a lock file created exclusively.
_HELD: dict[str, int] = {}
#: Serialises lock() and unlock() between the threads of this process.
_MUTEX = threading.Lock()


def _busy(path: Path, pid: int) -> StoreError:
    holder = f"another process (PID {pid})" if pid > 0 else "another process"
    return StoreError(f"{holder} is writing to {str(path.parent)!r}; wait for it to finish, "
                      f"or use another --out")


def _lock_text(path: Path) -> str | None:
    """What lock file ``path`` says (``""`` if it cannot be read), ``None`` if gone."""
    try:
        return read_regular_bytes(path, _LOCK_BYTES).decode("ascii", "replace")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return ""


def _pid_of(text: str | None) -> int:
    """The PID on the first line of a lock file's text, or 0 (none, garbage)."""
    try:
        return max(0, int((text or "").split("\n", 1)[0].strip() or "0"))
    except ValueError:
        return 0


def _read_pid(path: Path) -> int:
    return _pid_of(_lock_text(path))


def _check_lock_file(path: Path) -> None:
    """Refuse a lock path that is not a regular file (before anything opens it: a FIFO
    would block the open)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise StoreError(f"{path} is a directory where the lock file goes; move it aside "
                         f"and rerun")
    if not stat.S_ISREG(mode):
        raise StoreError(f"{path} is {file_kind(mode)} where the lock file goes; "
                         f"{set_aside(path)}")


def _flock(path: Path) -> int | None | bool:
    """An open descriptor of ``path`` holding its exclusive ``flock``, with this
    process's PID written in it; ``None`` when ``path`` was unlinked or replaced between
    the open and the lock (its holder released it), so the caller tries again;
    ``False`` on a file system without ``flock``.

    The ``flock`` decides: a file that no process has locked is free whatever it holds
    (empty, garbage, a dead PID), except the PID of a live process that holds no
    ``flock`` (a writer of an earlier version, or one without ``flock``), which is
    respected.  The held descriptor is read-only (``flock`` needs no write access) and
    the PID is written through a second, short-lived one: a descriptor open for writing
    for the whole run would keep its file system from being remounted read-only."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        try:
            fd, created = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            fd, created = os.open(path, flags), False
    except FileNotFoundError:
        return None  # removed between the two opens: try again
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symbolic link appeared since the check
            _check_lock_file(path)
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the check
            raise StoreError(f"{path} is not a regular file; {set_aside(path)}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(path, _read_pid(path)) from None
        except OSError as exc:
            if exc.errno in _NO_FLOCK:
                os.close(fd)
                fd = -1  # closed: the handler below must not close it again
                if created:  # empty, and not a lock without flock: leave no trace
                    path.unlink(missing_ok=True)
                return False
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return None
        pid = _read_pid(path)
        if pid > 0 and pid != os.getpid() and _pid_alive(pid):
            raise _busy(path, pid)  # a writer without flock: a PID, no flock
        writer = os.open(path, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.write(writer, f"{os.getpid()}\n".encode())
        finally:
            os.close(writer)
        return fd
    except BaseException:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise


def _create_with_pid(path: Path) -> bool:
    """Make ``path`` a new file holding this process's PID; ``False`` if it exists.

    The PID is written to a private file first, which is then hard-linked to ``path``
    (the link fails if ``path`` exists), so that no process ever sees ``path`` empty.
    Where the file system has no hard links, ``path`` is created exclusively and then
    written: the moment it is empty is what :data:`LOCK_GRACE_S` covers."""
    content = f"{os.getpid()}\n".encode()
    private = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        try:
            os.link(private, path)
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            pass
    finally:
        _remove(private)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, content)
    finally:
        os.close(fd)
    return True


def _remove(path: Path) -> None:
    """Unlink ``path`` (if there).  On Windows a file that another process has open
    (reading the lock's PID) cannot be unlinked for that moment: tried again for up to
    a second."""
    for attempt in range(100):
        try:
            path.unlink(missing_ok=True)
            return
        except PermissionError:
            if not _WINDOWS or attempt == 99:
                raise
            time.sleep(0.01)


def _stale(path: Path, text: str) -> bool:
    """Whether lock file ``path`` (saying ``text``) is no longer held: its PID's process
    is gone (or is this process, which does not hold it: an earlier process's PID
    reused), or it holds no PID and is older than :data:`LOCK_GRACE_S`."""
    pid = _pid_of(text)
    if pid > 0:
        return pid == os.getpid() or not _pid_alive(pid)
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return False  # gone: the caller tries again
    return age > LOCK_GRACE_S


def _exclusive(path: Path) -> bool:
    """Without ``flock``: take ``path`` by creating it with this process's PID in it
    (:func:`_create_with_pid`); ``False`` when the caller should try again (a stale
    lock was removed, or is being removed by another process).

    A stale lock (:func:`_stale`) is removed only by the process that holds
    ``PATH.break``, created the same way, and only if it is still stale then: so of
    processes that find the same stale lock, one removes it, and none removes a lock
    that another has taken meanwhile."""
    if _create_with_pid(path):
        return True
    text = _lock_text(path)
    if text is None:
        return False  # released meanwhile
    if not _stale(path, text):
        raise _busy(path, _pid_of(text))
    breaker = path.with_name(path.name + ".break")
    if not _create_with_pid(breaker):
        left = _lock_text(breaker)
        if left is not None and _stale(breaker, left):
            raise StoreError(f"{breaker} was left by a process that died while taking over "
                             f"the stale lock {path}; remove both and rerun")
        return False  # another process is taking the stale lock over
    try:
        text = _lock_text(path)
        if text is not None and _stale(path, text):
            _remove(path)
    finally:
        _remove(breaker)
    return False


class RunStore:
    """Finished runs of one experiment, one JSON file per run, for resuming.

    Args:
        directory: output directory (created).
        meta: JSON-ready identity of the experiment (configuration, dataset and its
            fingerprint, model, engine, version).  Written to ``sweep.json`` on first
            use; later uses must pass an equal ``meta``.
        provenance: JSON-ready record of what ran it (commit, versions, hardware),
            written with a new ``sweep.json`` and never checked.

    Raises:
        SweepMismatch: ``directory`` holds a different experiment (the message names
            the keys that differ and what to do).
        StoreError: ``sweep.json`` is corrupt.
    """

    #: Keys every stored run has (the published fields of a run record).
    fields: tuple[str, ...] = ()
    #: ``(key, what)`` pairs of ``meta`` whose difference gets its own message
    #: ("holds runs of <what> X, not Y"), checked in this order.
    named_keys: tuple[tuple[str, str], ...] = ()
    #: A key of ``meta`` that every current layout has; a stored ``sweep.json``
    #: without it is an earlier layout (readable with :meth:`open` only).
    version_key: str | None = None

    def problem(self, result: dict[str, Any]) -> str:
        """What makes ``result`` (which has every field of :attr:`fields`) not a run
        record of this store, or ``""``.  Subclasses check their fields here."""
        return ""

    def __init__(self, directory: str | Path, meta: dict[str, Any],
                 provenance: dict[str, Any] | None = None, *, _check: bool = True):
        self.directory = Path(directory)
        self.runs_dir = self.directory / "runs"
        self.meta = json.loads(json.dumps(meta))  # normalise (tuples -> lists, ...)
        self.meta_path = self.directory / "sweep.json"
        self._lock_path: Path | None = None
        self._owns_lock = False
        if not _check:
            return
        if self.meta_path.exists():
            stored = self._read(self.meta_path, "sweep.json")
            stored.pop("provenance", None)
            if stored != self.meta:
                raise SweepMismatch(self._mismatch(stored))
        else:
            document = dict(self.meta)
            if provenance is not None:
                document["provenance"] = provenance
            atomic_write_json(self.meta_path, document)
        self.runs_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def open(cls, directory: str | Path) -> RunStore:
        """A store read as it is (``--report-only``): any sweep, any layout.

        Raises:
            StoreError: no ``sweep.json`` in ``directory``, or a corrupt one.
        """
        directory = Path(directory)
        path = directory / "sweep.json"
        if not os.path.lexists(path):
            raise StoreError(f"{path} not found: {str(directory)!r} holds no stored sweep")
        store = cls(directory, {}, _check=False)
        store.meta = store._read(path, "sweep.json")
        return store

    def _mismatch(self, stored: dict[str, Any]) -> str:
        where = f"--out {str(self.directory)!r}"
        if self.version_key is not None and self.version_key not in stored:
            return (f"{where} holds runs of an earlier layout of the toolkit (no "
                    f"{self.version_key.replace('_', ' ')}); read them with --report-only, "
                    f"or choose a new --out")
        for key, what in self.named_keys:
            if stored.get(key) != self.meta.get(key):
                return (f"{where} holds runs of {what} {stored.get(key)!r}, not "
                        f"{self.meta.get(key)!r}; choose a new --out (or rerun with "
                        f"that {what})")
        diff = sorted(k for k in set(stored) | set(self.meta)
                      if stored.get(k) != self.meta.get(k))
        return (f"{where} holds runs of a different sweep (differs in: {', '.join(diff)}); "
                f"use another --out or delete it")

    def _read(self, path: Path, what: str, hint: str = "and rerun") -> dict[str, Any]:
        return read_document(path, what, hint)

    @property
    def stored_meta(self) -> dict[str, Any]:
        """The identity in ``sweep.json`` (``provenance`` left out)."""
        meta = dict(self.meta)
        meta.pop("provenance", None)
        return meta

    @property
    def checkpoint_dir(self) -> Path:
        """Where the checkpoints of this experiment's unfinished runs go."""
        return self.directory / "checkpoints"

    def path(self, key: str) -> Path:
        """File of the run with ``key``."""
        return self.runs_dir / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """The stored result of ``key``, or ``None`` if that run has not finished.

        Raises:
            StoreError: the file is corrupt or not a run record (one line naming it).
        """
        path = self.path(key)
        if not os.path.lexists(path):
            return None
        hint = "and rerun to train that run again"
        result = self._read(path, "stored run", hint)
        problem = self.record_problem(result)
        if problem:
            raise StoreError(f"{path} is not a stored run ({problem}); "
                             f"{set_aside(path).removesuffix('and rerun')}{hint}")
        return result

    def record_problem(self, result: dict[str, Any]) -> str:
        """What makes ``result`` (a JSON object) not a run record of this store, or
        ``""``: a missing field of :attr:`fields`, else :meth:`problem`.  The one check
        of a stored run, which every reader of the store goes through (:meth:`load`)."""
        missing = [f for f in self.fields if f not in result]
        return f"missing {', '.join(missing)}" if missing else self.problem(result)

    def save(self, key: str, result: dict[str, Any]) -> Path:
        """Store a finished run atomically."""
        return atomic_write_json(self.path(key), result)

    def keys(self) -> list[str]:
        """Keys of all stored runs, sorted."""
        return sorted(p.stem for p in self.runs_dir.glob("*.json"))

    # -- one writer at a time -------------------------------------------------

    def lock(self) -> None:
        """Claim the directory for this process (``DIR/.lock`` holds its PID).

        The claim is an exclusive ``flock`` on ``DIR/.lock``, which the kernel takes
        atomically and releases when its process ends, however it ends: of processes
        that call this at the same moment exactly one gets the lock, and the lock of a
        killed process is taken over.  A PID in the file of a live process that holds
        no ``flock`` (a writer of an earlier version) is respected too.

        Without ``flock`` (Windows, or a file system without it) the lock file is
        created exclusively with the PID already in it (written to a private file, then
        hard-linked), so that it is never seen empty; a lock whose process is gone is
        stale and is removed by one process at a time (:func:`_exclusive`); a lock that
        holds no PID counts as held until it is :data:`LOCK_GRACE_S` old.  Of processes
        that start together exactly one gets the lock either way.

        Raises:
            StoreError: another live process holds the lock (its PID named), or
                ``DIR/.lock`` is not a regular file.
        """
        path = self.directory / ".lock"
        self.directory.mkdir(parents=True, exist_ok=True)
        key = str(path.resolve())
        with _MUTEX:
            if key in _HELD:  # this process holds it already (RunStore.claim)
                self._lock_path, self._owns_lock = path, False
                return
            for attempt in range(_ATTEMPTS):
                _check_lock_file(path)
                fd = _flock(path) if fcntl is not None else False
                if fd is False:
                    fd = -1 if _exclusive(path) else None
                if fd is None:  # the file was replaced or removed meanwhile: try again
                    time.sleep(min(0.05, 0.001 * attempt))
                    continue
                _HELD[key] = fd
                self._lock_path, self._owns_lock = path, True
                return
        raise StoreError(f"could not lock {str(self.directory)!r}; remove {path} and rerun")

    def unlock(self) -> None:
        """Release :meth:`lock` (if this object took it; a lock this process already held
        stays with its first holder)."""
        if self._lock_path is not None and self._owns_lock:
            with _MUTEX:
                fd = _HELD.pop(str(self._lock_path.resolve()), None)
                if fd is not None and fd >= 0:
                    self._lock_path.unlink(missing_ok=True)  # while still held: see _flock
                    os.close(fd)
                elif _read_pid(self._lock_path) == os.getpid():  # created exclusively
                    _remove(self._lock_path)
        self._lock_path, self._owns_lock = None, False

    @classmethod
    @contextlib.contextmanager
    def claim(cls, directory: str | Path) -> Iterator[RunStore]:
        """Lock ``directory`` for this process and check every stored run file, before
        anything is loaded or computed; released on leaving the block.  A
        :class:`RunStore` of the same directory opened inside the block shares the lock.

        Raises:
            StoreError: another live process writes there, or a stored run is corrupt.
        """
        holder = cls(directory, {}, _check=False)
        holder.lock()
        try:
            for key in holder.keys():
                holder.load(key)
            yield holder
        finally:
            holder.unlock()

    def __enter__(self) -> RunStore:
        self.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()
