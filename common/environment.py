"""What ran a result: versions, hardware and the toolkit's git commit.

Versions come from the installed distributions' metadata, so nothing here imports
torch or brian2 (a Brian2 user without PyTorch gets ``"torch": None``).
"""

from __future__ import annotations

import os
import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["package_versions", "git_commit", "environment"]

#: Distributions whose versions are recorded beside every result.
PACKAGES = ("torch", "brian2", "numpy")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """``{name: version}`` of installed distributions, ``None`` for one not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@cache
def git_commit() -> str | None:
    """The toolkit's git commit (``HEAD``, with ``-dirty`` for uncommitted changes) when it
    runs from a git checkout, else ``None``."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], check=True, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def environment(device: str | None = None, **extra: Any) -> dict[str, Any]:
    """Versions, hardware and commit, saved beside results; ``extra`` adds keys
    (e.g. ``torch_threads``, ``gpu``, ``target``)."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        **package_versions(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "git_commit": git_commit(),
    }
    if device is not None:
        env["device"] = str(device)
    env.update(extra)
    return env
