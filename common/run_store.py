"""A resumable store of finished runs (an experiment's output directory).

Layout of an output directory (``--out DIR``)::

    DIR/sweep.json          what the runs share (checked on resume) and provenance
    DIR/runs/<key>.json     one finished run each, written atomically
    DIR/.lock               the process writing DIR (PID, under an exclusive ``flock``)
    DIR/checkpoints/        state of unfinished runs, deleted as their runs finish

A rerun of the same experiment skips every run already in ``runs/``.  ``sweep.json``
holds the identity of the experiment, which a rerun must match, and its provenance
(toolkit commit, versions, hardware: recorded, not checked).  A directory holding a
different experiment is refused in one line rather than mixed.

This module knows nothing of what a run holds: a subclass names the fields every run
record has (:attr:`RunStore.fields`), checks them (:meth:`RunStore.problem`) and names
the identity keys whose difference deserves its own message
(:attr:`RunStore.named_keys`); :class:`ann.run_store.RunStore` is the sweeps' one.
Torch- and Brian2-free, so both sides use it.
"""

from __future__ import annotations

import contextlib
import json
import os

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.cli import UserError
from common.files import atomic_write_json, read_json

__all__ = ["SweepMismatch", "StoreError", "RunStore"]

class SweepMismatch(UserError):
    """An output directory that holds the runs of a different experiment (or engine, or
    version, or layout)."""


class StoreError(UserError):
    """A stored file that cannot be read (corrupt, foreign), or a directory that another
    process is writing."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: Lock files this process holds -> their open descriptors (the ``flock`` lives as
#: long as the descriptor).
_HELD: dict[str, int] = {}


def _busy(path: Path, pid: int) -> StoreError:
    holder = f"another process (PID {pid})" if pid > 0 else "another process"
    return StoreError(f"{holder} is writing to {str(path.parent)!r}; wait for it to finish, "
                      f"or use another --out")


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().strip() or "0")
    except (OSError, ValueError):
        return 0


def _flock(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its exclusive ``flock``, with this
    process's PID written in it; ``None`` when ``path`` was unlinked or replaced between
    the open and the lock (its holder released it), so the caller tries again.

    The held descriptor is read-only (``flock`` needs no write access) and the PID is
    written through a second, short-lived one: a descriptor open for writing for the
    whole run would keep its file system from being remounted read-only."""
    fd = os.open(path, os.O_CREAT | os.O_RDONLY, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(path, _read_pid(path)) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return None
        pid = _read_pid(path)
        if pid > 0 and pid != os.getpid() and _pid_alive(pid):
            raise _busy(path, pid)  # an earlier version's writer: a PID, no flock
        writer = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(writer, f"{os.getpid()}\n".encode())
        finally:
            os.close(writer)
        return fd
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def _create_exclusive(path: Path) -> int | None:
    """Without ``fcntl``: create ``path`` exclusively; a PID of a process that is gone
    is stale (removed, ``None``: try again)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        pid = _read_pid(path)
        if pid > 0 and _pid_alive(pid):
            raise _busy(path, pid) from None
        path.unlink(missing_ok=True)
        return None
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


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
        if not path.is_file():
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

    def _read(self, path: Path, what: str) -> dict[str, Any]:
        try:
            value = read_json(path)
        except (ValueError, OSError) as exc:
            raise StoreError(f"{path} is not a readable {what} ({exc}); move it aside "
                             f"(e.g. mv {path} {path}.bad) and rerun") from None
        if not isinstance(value, dict):
            raise StoreError(f"{path} is not a {what} (a JSON {type(value).__name__}, not an "
                             f"object); move it aside (e.g. mv {path} {path}.bad) and rerun")
        return value

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
        if not path.exists():
            return None
        result = self._read(path, "stored run")
        missing = [f for f in self.fields if f not in result]
        problem = (f"missing {', '.join(missing)}" if missing else self.problem(result))
        if problem:
            raise StoreError(f"{path} is not a stored run ({problem}); move it aside (e.g. "
                             f"mv {path} {path}.bad) and rerun to train that run again")
        return result

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
        no ``flock`` (a writer of an earlier version) is respected too.  Without
        ``fcntl`` (Windows) the file is created exclusively and a PID whose process is
        gone counts as stale, which is not safe against a simultaneous start.

        Raises:
            StoreError: another live process holds the lock (its PID named).
        """
        path = self.directory / ".lock"
        self.directory.mkdir(parents=True, exist_ok=True)
        key = str(path.resolve())
        if key in _HELD:  # this process holds it already (RunStore.claim)
            self._lock_path, self._owns_lock = path, False
            return
        for _ in range(3):
            if path.is_dir():
                raise StoreError(f"{path} is a directory where the lock file goes; move it "
                                 f"aside and rerun")
            fd = (_flock(path) if fcntl is not None else _create_exclusive(path))
            if fd is None:
                continue  # the file was replaced or removed meanwhile: try again
            _HELD[key] = fd
            self._lock_path, self._owns_lock = path, True
            return
        raise StoreError(f"could not lock {str(self.directory)!r}; remove {path} and rerun")

    def unlock(self) -> None:
        """Release :meth:`lock` (if this object took it; a lock this process already held
        stays with its first holder)."""
        if self._lock_path is not None and self._owns_lock:
            fd = _HELD.pop(str(self._lock_path.resolve()), None)
            self._lock_path.unlink(missing_ok=True)  # while still held: see _flock
            if fd is not None:
                os.close(fd)
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
