"""Cache folders that fall back to a temporary one when the user's cannot be written.

A read-only or full home folder must not stop a script that only needs a cache (the
C++ build of a Brian2 network, matplotlib's font list): :func:`writable_cache` then
uses a folder under the system's temporary directory and says so in one warning line
(the scripts print it as ``warning: ...``).  Nothing is lost but speed: the temporary
cache is rebuilt when it is gone.
"""

from __future__ import annotations

import os
import stat
import tempfile
import warnings
from pathlib import Path

__all__ = ["writable_cache", "user_cache_home", "quiet_matplotlib_cache", "private_temp_dir"]

_warned: set[str] = set()


def user_cache_home() -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()


def _usable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def private_temp_dir() -> Path:
    """This user's own folder in the system's temporary directory
    (``<tmp>/neglu-stdp-<uid>``), created with mode 0700; one that exists must belong
    to this user and be writable by nobody else (else another user could plant a
    build there), or a fresh private folder is made instead."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    path = Path(tempfile.gettempdir()) / f"neglu-stdp-{uid if uid is not None else 'user'}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return Path(tempfile.mkdtemp(prefix="neglu-stdp-"))
    if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid) or (
            info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        return Path(tempfile.mkdtemp(prefix="neglu-stdp-"))
    return path


def writable_cache(path: str | Path, what: str) -> Path:
    """``path`` (created) if it can be written, else ``<tmp>/neglu-stdp-<uid>/<name>``.

    Args:
        path: the preferred cache folder.
        what: what the cache holds, for the warning (e.g. "the C++ build cache").

    Raises:
        OSError: neither ``path`` nor the temporary folder can be written.
    """
    path = Path(path)
    if _usable(path):
        return path
    fallback = private_temp_dir() / path.name
    if not _usable(fallback):
        raise PermissionError(13, f"cannot write {what} in {path} or in {fallback}", str(path))
    if str(path) not in _warned:
        _warned.add(str(path))
        warnings.warn(f"{path} cannot be written; {what} goes to {fallback} for this run "
                      f"(slower next time: set XDG_CACHE_HOME to a writable folder)",
                      stacklevel=2)
    return fallback


def quiet_matplotlib_cache() -> None:
    """Point ``$MPLCONFIGDIR`` at a temporary folder when matplotlib's own cannot be
    written, before matplotlib is imported (Brian2 imports it), so that an unwritable
    home costs a rebuilt font list instead of matplotlib's paragraph of warnings.
    Silent: the font list is all that folder caches."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    # matplotlib writes its config folder, and its font list in the cache folder
    if all(_usable(d / "matplotlib") for d in (config_home.expanduser(), user_cache_home())):
        return
    try:
        fallback = private_temp_dir() / "matplotlib"
    except OSError:
        return
    if _usable(fallback):
        os.environ["MPLCONFIGDIR"] = str(fallback)
