"""Atomic result files and a resumable store of finished runs.

Layout of a sweep's output directory (``--out DIR``)::

    DIR/sweep.json          what the runs share: configuration, dataset, fingerprint
    DIR/runs/<key>.json     one finished run each (``RunSpec.key``), written atomically

A rerun of the same sweep skips every run already in ``runs/``.  A directory whose
``sweep.json`` describes a different sweep (other epochs, data, ...) is refused
rather than mixed.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_text",
    "atomic_write_json",
    "read_json",
    "SweepMismatch",
    "RunStore",
    "environment",
]


class SweepMismatch(ValueError):
    """An output directory that already holds the runs of a different sweep."""


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``.

    Readers see either the old file or the complete new one, never a partial
    write, even if the process is killed mid-write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """:func:`atomic_write_text` of ``obj`` as indented JSON (NaN/inf rejected)."""
    return atomic_write_text(path, json.dumps(obj, indent=1, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; ``ValueError`` naming the file if it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


class RunStore:
    """Finished runs of one sweep, one JSON file per run, for resuming.

    Args:
        directory: output directory (created).
        meta: JSON-ready description of the sweep (configuration, dataset and its
            fingerprint, model).  Written to ``sweep.json`` on first use; later uses
            must pass an equal ``meta``.

    Raises:
        SweepMismatch: if ``directory`` already holds a different sweep.
    """

    def __init__(self, directory: str | Path, meta: dict[str, Any]):
        self.directory = Path(directory)
        self.runs_dir = self.directory / "runs"
        self.meta = json.loads(json.dumps(meta))  # normalise (tuples -> lists, ...)
        meta_path = self.directory / "sweep.json"
        if meta_path.exists():
            stored = read_json(meta_path)
            if stored != self.meta:
                diff = sorted(
                    k for k in set(stored) | set(self.meta) if stored.get(k) != self.meta.get(k)
                )
                raise SweepMismatch(
                    f"out directory {str(self.directory)!r} holds runs of a different sweep "
                    f"(differs in: {', '.join(diff)}); use another --out or delete it"
                )
        else:
            atomic_write_json(meta_path, self.meta)
        self.runs_dir.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """File of the run with ``key``."""
        return self.runs_dir / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        """The stored result of ``key``, or ``None`` if that run has not finished."""
        path = self.path(key)
        return read_json(path) if path.exists() else None

    def save(self, key: str, result: dict[str, Any]) -> Path:
        """Store a finished run atomically."""
        return atomic_write_json(self.path(key), result)

    def keys(self) -> list[str]:
        """Keys of all stored runs, sorted."""
        return sorted(p.stem for p in self.runs_dir.glob("*.json"))


def environment(device: str | None = None) -> dict[str, Any]:
    """Versions and hardware, saved beside results."""
    import numpy
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device is not None:
        env["device"] = str(device)
        if str(device).startswith("cuda") and torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env
