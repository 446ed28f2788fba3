"""Epoch checkpoints: training that was computed survives a kill and resumes exactly.

Both engines write, at the end of every epoch but the last, one checkpoint per unit of
training they hold in memory (a stack of K runs under the batched engine, one run under
the loop), with :meth:`Checkpoints.save`; a rerun of the same sweep restores it with
:func:`restore_state` and goes on from the next epoch.  A checkpoint holds everything
the next epoch reads:

- the parameters and the optimiser's state (momentum buffers, learning rates);
- every random number generator's state: each run's data-order generator (the
  permutation and flips of :func:`ann.epoch.draw_epoch`), the private generators of
  resampled MixLU masks (:func:`ann.generators.generator_states`), and
  torch's global generator (for models that draw from it);
- the per-run epoch records, the completed epoch count, the wall time so far;
- which runs it holds (``members``: the runs that diverged have left it).

So a resumed run gives the numbers of an uninterrupted one, bit for bit on the same
device.  A checkpoint is deleted once its runs' results are safely in the run store.

Files are written atomically (:func:`common.files.atomic_write_bytes`) by ``torch.save``
and read with ``torch.load(weights_only=True)`` (tensors, numbers, strings, lists and
dicts only: a checkpoint cannot run code).  Each file records the identity of what it
trained (configuration, data fingerprint, trainer version, device type, engine); a
checkpoint of something else, or one that cannot be read (not a regular file, over
:data:`MAX_CHECKPOINT_BYTES`, corrupt), is moved aside to ``NAME.pt.bad`` with one
warning line, once, and its runs are trained from the start.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ann.config import TRAINER_VERSION
from ann.generators import generator_states, load_generator_states
from common.files import UnreadableFile, atomic_write_bytes, read_regular_bytes

__all__ = ["FORMAT", "Checkpoints", "capture_state", "restore_state", "checkpoint_identity",
           "MAX_CHECKPOINT_BYTES"]

#: Version of the checkpoint file layout.
FORMAT = 1
#: The largest checkpoint file read (a stack of LeNet5 runs is tens of MB).
MAX_CHECKPOINT_BYTES = 4 * 2**30


def checkpoint_identity(config_dict: dict[str, Any], data_fingerprint: str,
                        device: torch.device) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: configuration, data, trainer version
    and device type (generator states of one device type do not fit another)."""
    return {"config": config_dict, "data_fingerprint": data_fingerprint,
            "trainer_version": TRAINER_VERSION, "device_type": torch.device(device).type}


def capture_state(*, members: Sequence[str], model: nn.Module,
                  optimizer: torch.optim.Optimizer, generators: Sequence[torch.Generator],
                  epochs: Sequence[list[dict[str, Any]]], completed: int,
                  seconds: float) -> dict[str, Any]:
    """Everything the next epoch of ``members`` reads (the module docstring's list)."""
    state: dict[str, Any] = {
        "members": list(members),
        "completed": completed,
        "seconds": seconds,
        "epochs": [list(e) for e in epochs],
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generators": [g.get_state() for g in generators],
        "mask_generators": generator_states(model),
        "torch_rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def restore_state(state: dict[str, Any], *, model: nn.Module,
                  optimizer: torch.optim.Optimizer,
                  generators: Sequence[torch.Generator]) -> None:
    """Load a :func:`capture_state` into freshly built ``model``, ``optimizer`` and
    ``generators`` of the same runs (the model already on its device)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if len(generators) != len(state["generators"]):
        raise ValueError(f"checkpoint holds {len(state['generators'])} data generators, "
                         f"expected {len(generators)}")
    for g, s in zip(generators, state["generators"], strict=True):
        g.set_state(s)
    load_generator_states(model, state["mask_generators"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])


class Checkpoints:
    """The epoch checkpoints of one sweep, one file per stack or run.

    Args:
        directory: where the files go (created on the first save), e.g.
            ``DIR/checkpoints`` of a :class:`~ann.run_store.RunStore`.
        identity: what the checkpoints belong to (:func:`checkpoint_identity`);
            files of another identity are ignored.

    Attributes:
        written, seconds, bytes: checkpoints written by this object, the wall time
            spent writing them, and their total size (the cost of checkpointing).
    """

    def __init__(self, directory: str | Path, identity: dict[str, Any]):
        self.directory = Path(directory)
        self.identity = json.loads(json.dumps(identity))
        self.written = 0
        self.seconds = 0.0
        self.bytes = 0
        self._ignored: set[Path] = set()

    @staticmethod
    def name(engine: str, members: Sequence[str]) -> str:
        """File stem of the checkpoint of ``members`` (run keys, in stack order) under
        ``engine``: ``loop-<key>`` for one run, ``batched-<hash of the keys>``."""
        if engine == "loop":
            (key,) = members
            return f"loop-{key}"
        digest = hashlib.sha256("\n".join(members).encode()).hexdigest()[:16]
        return f"{engine}-{digest}"

    def path(self, name: str) -> Path:
        """The file of checkpoint ``name``."""
        return self.directory / f"{name}.pt"

    def save(self, name: str, engine: str, state: dict[str, Any]) -> Path:
        """Write ``state`` (:func:`capture_state`) as checkpoint ``name``, atomically."""
        start = time.perf_counter()
        document = {"format": FORMAT, "engine": engine, "identity": self.identity, **state}
        buffer = io.BytesIO()  # serialised in memory: a full disk is then a plain OSError
        torch.save(document, buffer)
        data = buffer.getvalue()
        self._write_bytes(name, data)
        self.seconds += time.perf_counter() - start
        self.bytes += len(data)
        self.written += 1
        return self.path(name)

    # -- storage: a directory here; RemoteCheckpoints (ann.executors) overrides these ------
    def _write_bytes(self, name: str, data: bytes) -> None:
        atomic_write_bytes(self.path(name), data)

    def _read_bytes(self, name: str) -> bytes | None:
        """The file of checkpoint ``name``, ``None`` if there is none.

        Raises:
            UnreadableFile: not a regular file, or over :data:`MAX_CHECKPOINT_BYTES`.
            OSError: it cannot be read.
        """
        path = self.path(name)
        if not os.path.lexists(path):
            return None
        return read_regular_bytes(path, MAX_CHECKPOINT_BYTES)

    def _set_aside(self, name: str) -> Path | None:
        """Move the file of checkpoint ``name`` to ``NAME.pt.bad`` (replacing an earlier
        one); the new path, or ``None`` if it could not be moved."""
        path = self.path(name)
        bad = path.with_name(path.name + ".bad")
        try:
            os.replace(path, bad)
        except OSError:
            return None
        return bad

    def load(self, name: str, engine: str) -> dict[str, Any] | None:
        """Checkpoint ``name`` if it exists, can be read and belongs here, else ``None``
        (a file that is unreadable or foreign is moved aside with one warning line,
        :meth:`_ignore`)."""
        try:
            data = self._read_bytes(name)
        except UnreadableFile as exc:  # (through Ray: a wrapped copy, maybe without .reason)
            self._ignore(name, getattr(exc, "reason", None) or str(exc))
            return None
        except OSError as exc:
            self._ignore(name, f"unreadable ({exc.strerror or type(exc).__name__})")
            return None
        if data is None:
            return None
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is ignored, and said
            self._ignore(name, f"unreadable ({type(exc).__name__})")
            return None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            self._ignore(name, "not a checkpoint of this toolkit version")
            return None
        if state.get("identity") != self.identity or state.get("engine") != engine:
            self._ignore(name, "of another configuration, data, device or engine")
            return None
        return state

    def _ignore(self, name: str, why: str) -> None:
        """Move checkpoint ``name`` aside (:meth:`_set_aside`) with one warning line, so
        that a rerun neither reads it nor warns again; where it cannot be moved, warn
        once per file in this process."""
        path = self.path(name)
        if path in self._ignored:
            return
        bad = self._set_aside(name)
        if bad is None:
            self._ignored.add(path)
            warnings.warn(f"checkpoint {path} is {why}; ignored, its runs are trained from "
                          f"the start", stacklevel=3)
            return
        warnings.warn(f"checkpoint {path} is {why}; moved to {bad.name}, its runs are "
                      f"trained from the start", stacklevel=3)

    def names(self, engine: str) -> list[str]:
        """Names of the checkpoint files of ``engine`` in the directory, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob(f"{engine}-*.pt"))

    def stacks(self, engine: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(name, state)`` of every usable checkpoint of ``engine``."""
        for name in self.names(engine):
            state = self.load(name, engine)
            if state is not None:
                yield name, state

    def delete(self, name: str) -> None:
        """Remove checkpoint ``name`` (if present)."""
        self.path(name).unlink(missing_ok=True)

    def cost_line(self, train_seconds: float | None = None) -> str:
        """One line of what checkpointing cost (for ``--verbose`` and benchmarks)."""
        if not self.written:
            return "checkpoints: none written"
        line = (f"checkpoints: {self.written} written, {self.bytes / self.written / 1e6:.1f} MB "
                f"and {self.seconds / self.written:.3f} s each")
        if train_seconds:
            line += f" ({100 * self.seconds / train_seconds:.1f} % of {train_seconds:.1f} s)"
        return line
