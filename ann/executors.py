"""Where a sweep's work units run: here (``local``) or as tasks on a Ray cluster (``ray``).

:func:`ann.sweep.run_sweep` plans the sweep on the driver — the work units of the
engine (:func:`ann.sweep_plan.plan_units`: one stack of runs, or one loop run, each) —
and hands them to an executor:

``local`` (the default)
    trains the units one after the other in this process, as the engines always did.
``ray``
    one Ray task per unit (:class:`RayExecutor`).  Without an address it starts a
    private Ray instance on this machine, bound to 127.0.0.1; with ``"auto"`` or
    ``host:port`` it joins a running cluster.  Each task declares ``num_cpus`` (and
    ``num_gpus`` when CUDA is asked for) and sets torch's thread count to its CPUs.  The
    dataset goes into Ray's object store once and reaches each node once.

Only the driver writes the run store: tasks return their results, and the driver
stores them atomically as they come back, exactly as the local executor does, so no
shared filesystem is needed and a run is never written twice.  Epoch checkpoints go
back to the driver too, through a small actor on the driver's node
(:class:`RemoteCheckpoints`), so a task that is retried after its worker or node died
resumes from its last complete epoch — to the numbers of an uninterrupted run.  Tasks
are retried when a worker or node dies; a task that raises (a bug, not a lost worker)
is reported once, with its run keys and traceback, and the other units go on.

Ray is optional: ``pip install 'neglu-stdp[ray]'``.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ann.checkpoint import Checkpoints
from ann.config import TrainConfig
from ann.data.datasets import TensorData
from ann.specs import RunSpec
from ann.step_observer import Observer
from common.checks import is_integer

__all__ = ["EXECUTORS", "RAY_INSTALL", "RayNotInstalled", "TaskFailed", "RayExecutor",
           "RemoteCheckpoints", "import_ray"]

EXECUTORS = ("local", "ray")
#: What to run when Ray is missing.
RAY_INSTALL = "pip install 'neglu-stdp[ray]'  (or: pip install 'ray==2.60.0')"


class RayNotInstalled(ImportError):
    """``--executor ray`` without Ray installed."""


class TaskFailed(RuntimeError):
    """Work units whose task raised; the others finished and were stored."""

    def __init__(self, failures: list[tuple[list[str], str]]):
        self.failures = failures
        keys = [k for ks, _ in failures for k in ks]
        super().__init__(f"{len(failures)} task(s) failed (runs {', '.join(keys)}); the "
                         f"tracebacks are above, the other runs are stored")


def import_ray():
    """The ``ray`` module, or :class:`RayNotInstalled` saying what to install."""
    try:
        import ray
    except ImportError:
        raise RayNotInstalled(f"--executor ray needs Ray, which is not installed: "
                              f"{RAY_INSTALL}") from None
    return ray


class _Sink:
    """The checkpoint files of the driver, served to tasks (a Ray actor on the driver's
    node: only the driver's machine holds files)."""

    def __init__(self, directory: str):
        self.store = Checkpoints(directory, {})

    def write(self, name: str, data: bytes) -> None:
        self.store._write_bytes(name, data)

    def read(self, name: str) -> bytes | None:
        return self.store._read_bytes(name)

    def delete(self, name: str) -> None:
        self.store.delete(name)

    def names(self, engine: str) -> list[str]:
        return self.store.names(engine)


class RemoteCheckpoints(Checkpoints):
    """:class:`~ann.checkpoint.Checkpoints` whose files live on the driver, reached
    through the driver's checkpoint actor (same names, identity and format)."""

    def __init__(self, sink: Any, directory: str, identity: dict[str, Any]):
        super().__init__(directory, identity)
        self.sink = sink

    def _write_bytes(self, name: str, data: bytes) -> None:
        import ray

        ray.get(self.sink.write.remote(name, data))

    def _read_bytes(self, name: str) -> bytes | None:
        import ray

        return ray.get(self.sink.read.remote(name))

    def delete(self, name: str) -> None:
        import ray

        ray.get(self.sink.delete.remote(name))

    def names(self, engine: str) -> list[str]:
        import ray

        return ray.get(self.sink.names.remote(engine))


def _loopback_only() -> None:
    """Make a Ray instance started from this process bind to 127.0.0.1 only.

    Ray (2.60) replaces a loopback node address by the machine's interface address
    unless multi-machine clusters are switched off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``,
    read when ``ray`` is imported; the processes Ray starts inherit the variable, and
    the already-imported flag is set to match)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _run_task(unit, data, config, build_model, device_type, num_cpus, sink, directory,
              identity, observer):
    """A Ray task: train one work unit; return its results, this node's id and the
    observer (its step timings)."""
    import ray

    from ann.models import build_model as default_build_model
    from ann.sweep_plan import run_unit

    torch.set_num_threads(max(1, int(num_cpus)))
    checkpoints = RemoteCheckpoints(sink, directory, identity) if sink is not None else None
    device = torch.device(device_type)
    results = list(run_unit(unit, data, config, build_model or default_build_model, device,
                            progress=False, checkpoints=checkpoints, observer=observer))
    return results, ray.get_runtime_context().get_node_id(), observer


class RayExecutor:
    """Run work units as Ray tasks (module docstring).

    Args:
        address: ``None`` starts a private local instance (127.0.0.1 only, stopped by
            :meth:`close`); ``"auto"`` or ``"host:port"`` joins a running cluster.
        num_cpus: CPUs each task declares (and torch threads it uses).
        num_gpus: GPUs each task declares (default: 1 when training on CUDA, else 0).
        max_retries: retries of a task whose worker or node died.
        local_cpus: CPUs of a private local instance (default: this machine's).

    Attributes:
        nodes: ids of the nodes that ran a task (for tests and logs).
    """

    def __init__(self, address: str | None = None, num_cpus: int = 1,
                 num_gpus: float | None = None, max_retries: int = 3,
                 local_cpus: int | None = None):
        if not is_integer(num_cpus) or num_cpus < 1:
            raise ValueError(f"num_cpus must be a positive integer, got {num_cpus!r}")
        self.ray = import_ray()
        self.address, self.num_cpus, self.num_gpus = address, num_cpus, num_gpus
        self.max_retries = max_retries
        self.nodes: set[str] = set()
        self._started = False
        if not self.ray.is_initialized():
            if address is None:
                _loopback_only()
                self.ray.init(address="local", num_cpus=local_cpus, include_dashboard=False,
                              log_to_driver=False, configure_logging=False)
            else:
                self.ray.init(address=address, log_to_driver=False, configure_logging=False)
            self._started = True

    def close(self) -> None:
        """Disconnect (and stop the private instance this executor started)."""
        if self._started:
            self.ray.shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, units: Sequence[Any], data: TensorData, config: TrainConfig,
            build_model: Callable[[RunSpec], nn.Module] | None, device: torch.device,
            checkpoints: Checkpoints | None = None, observer: Observer | None = None,
            log: Callable[[str], None] = print) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
        """Submit every unit; yield ``(spec, result)`` as their tasks finish.  Raises
        :class:`TaskFailed` at the end if a task raised (after logging each once)."""
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        num_gpus = self.num_gpus
        if num_gpus is None:
            num_gpus = 1 if device.type == "cuda" else 0
        data_ref = ray.put(data.to("cpu"))
        sink = directory = identity = None
        if checkpoints is not None:
            here = ray.get_runtime_context().get_node_id()
            sink = ray.remote(num_cpus=0)(_Sink).options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)
            ).remote(str(Path(checkpoints.directory).resolve()))
            directory, identity = str(checkpoints.directory), checkpoints.identity
        task = ray.remote(_run_task).options(num_cpus=self.num_cpus, num_gpus=num_gpus,
                                             max_retries=self.max_retries,
                                             retry_exceptions=False)
        pending = {task.remote(u, data_ref, config, build_model, device.type, self.num_cpus,
                               sink, directory, identity, observer): u for u in units}
        failures: list[tuple[list[str], str]] = []
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                unit = pending.pop(done[0])
                try:
                    results, node, seen = ray.get(done[0])
                except ray.exceptions.RayError as exc:  # raised, or its workers kept dying
                    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                    log(f"task of runs {', '.join(unit.keys)} failed:\n{text}")
                    failures.append((unit.keys, text))
                    continue
                self.nodes.add(node)
                if observer is not None and seen is not None:
                    observer.merge(seen)
                yield from results
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if sink is not None:
                ray.kill(sink)
        if failures:
            raise TaskFailed(failures)
