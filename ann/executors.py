"""Where a sweep's work units run: here (``local``) or as tasks on a Ray cluster (``ray``).

:func:`ann.sweep.run_sweep` plans the sweep on the driver — the work units of the
engine (:func:`ann.sweep_plan.plan_units`: one stack of runs, or one loop run, each) —
and hands them to an executor:

``local`` (the default)
    trains the units one after the other in this process, as the engines always did.
``ray``
    one Ray task per unit (:class:`RayExecutor`).  Without an address it starts a
    private Ray instance on this machine, bound to 127.0.0.1; with ``"auto"``,
    ``host:port`` or ``ray://host:port`` it joins a running cluster.  Each task
    declares ``num_cpus`` (and ``num_gpus`` when CUDA is asked for) and sets torch's
    thread count to its CPUs.  The dataset goes into Ray's object store once and reaches
    each node once.

Only the driver writes the run store: tasks return their results, and the driver
stores them atomically as they come back, exactly as the local executor does, so no
shared filesystem is needed and a run is never written twice.  Epoch checkpoints go
back to the driver too, through a small actor on the driver's node
(:class:`RemoteCheckpoints`), so a task that is retried after its worker or node died
resumes from its last complete epoch — to the numbers of an uninterrupted run.  Tasks
are retried when a worker or node dies; a task that raises (a bug, not a lost worker)
is reported once, with its run keys and traceback, and the other units go on.

Nothing waits on Ray without a bound.  Before Ray starts, :func:`check_target` checks
what was asked for (the address's syntax; for a cluster, a TCP connection and Ray's own
handshake, each within :data:`CONNECT_TIMEOUT_S` seconds; for a private instance, the
CPUs and GPUs of this machine), and after it started, :class:`RayExecutor` compares
each task's CPUs and GPUs with the nodes' before submitting anything: a request no node
can satisfy would wait forever.  Each refusal is one line (:class:`RayUnavailable`, a
:class:`~common.cli.UserError`).  The address is used as given: a loopback one
(``127.0.0.1:6379``, ``localhost:6379``) is not replaced by the machine's interface
address as Ray would, so the driver stays on loopback too.  While an executor is open,
SIGTERM raises ``KeyboardInterrupt`` in the driver as Ctrl-C does, and waiting for tasks
wakes up twice a second to let either through; the private instance is then stopped.
A private instance's processes share the driver's process group: Ctrl-C reaches only
the driver (Ray's processes block SIGINT), but a SIGTERM sent to the whole group
(systemd, a batch scheduler) reaches them too, and when they go first Ray ends the
driver itself (exit status 1).  Either way finished runs are stored and a rerun
resumes.  Under an address-space limit (``ulimit -v``) the private instance's object
store is sized to fit it.

Ray is optional: ``pip install 'neglu-stdp[ray]'``.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ann.checkpoint import Checkpoints
from ann.config import TrainConfig
from ann.data.datasets import TensorData
from ann.specs import RunSpec
from ann.step_observer import Observer
from common.checks import is_integer, is_real
from common.cli import UserError, raise_interrupt

__all__ = ["EXECUTORS", "RAY_INSTALL", "CONNECT_TIMEOUT_S", "RayNotInstalled",
           "RayUnavailable", "TaskFailed", "RayAddress", "RayExecutor", "RemoteCheckpoints",
           "check_target", "import_ray", "parse_address", "task_fits"]

EXECUTORS = ("local", "ray")
#: What to run when Ray is missing.
RAY_INSTALL = "pip install 'neglu-stdp[ray]'  (or: pip install 'ray==2.60.0')"
#: Seconds a cluster's address gets to accept a connection, and again to answer Ray's
#: handshake.
CONNECT_TIMEOUT_S = 5.0
#: How to get a cluster, said when the one asked for cannot be reached.
START_CLUSTER = ("start a cluster with `ray start --head --node-ip-address 127.0.0.1` (it prints "
                 "its address) or drop --ray-address for a private instance")
#: Seconds between two looks at the signals while waiting for tasks.
_POLL_S = 0.5
_UNSET = object()


class RayNotInstalled(ImportError):
    """``--executor ray`` without Ray installed."""


class RayUnavailable(UserError):
    """The Ray cluster asked for cannot be used: a malformed address, nothing (or no Ray)
    answering there, or a task's CPUs or GPUs that no node has.  One line naming the
    option."""


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


# ---- where Ray runs: the address, reaching it, and what its nodes hold ----------------


@dataclass(frozen=True)
class RayAddress:
    """A parsed ``--ray-address``.

    Attributes:
        text: the address as given.
        kind: ``"auto"`` (the cluster ``ray start`` recorded, or ``RAY_ADDRESS``),
            ``"gcs"`` (``host:port``: the head's GCS port, 6379 by default) or
            ``"client"`` (``ray://host:port``: a Ray Client server).
        host, port: where it points (``""`` and 0 for ``auto``).
    """

    text: str
    kind: str
    host: str = ""
    port: int = 0

    @property
    def hostport(self) -> str:
        """``host:port`` (``[host]:port`` for IPv6)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Whether it points at this machine's loopback interface."""
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def _malformed(text: str, why: str) -> RayUnavailable:
    return RayUnavailable(f"--ray-address {text!r}: {why}; give 'auto', host:port of the "
                          f"cluster's head (e.g. 127.0.0.1:6379) or ray://host:port")


def parse_address(text: str) -> RayAddress:
    """Parse ``'auto'``, ``host:port``, ``[ipv6]:port`` or ``ray://host:port`` (the last
    only when Ray Client's extra is installed); the port is in 1..65535.

    Raises:
        RayUnavailable: anything else, in one line.
    """
    if not isinstance(text, str) or not text.strip():
        raise _malformed(str(text), "empty")
    if text.strip() == "auto":
        return RayAddress(text, "auto")
    rest, kind = text.strip(), "gcs"
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        if scheme != "ray":
            raise _malformed(text, f"{scheme}:// is not a Ray address")
        kind = "client"
    if rest.startswith("["):
        host, bracket, port = rest[1:].partition("]")
        if not bracket or not port.startswith(":"):
            raise _malformed(text, "an IPv6 host must be [host]:port")
        port = port[1:]
    else:
        host, colon, port = rest.rpartition(":")
        if not colon:
            raise _malformed(text, "no port (host:port)")
        if ":" in host:
            raise _malformed(text, "write an IPv6 host in brackets, [host]:port")
    if not host or any(c.isspace() or c in "/?#@[]" for c in host):
        raise _malformed(text, f"{host!r} is not a host name")
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise _malformed(text, f"the port must be an integer in 1..65535, got {port!r}")
    if kind == "client" and importlib.util.find_spec("grpc") is None:
        raise RayUnavailable(
            f"--ray-address {text!r}: a ray:// address needs Ray Client, which is not "
            f"installed (pip install 'ray[client]==2.60.0'); or give the head's own address "
            f"host:port (6379 by default)")
    return RayAddress(text, kind, host, int(port))


def _resolve_auto(address: RayAddress) -> RayAddress:
    """The cluster ``auto`` stands for, as ``ray.init`` finds it: ``RAY_ADDRESS``, else
    the last ``ray start`` on this machine, else a running GCS here."""
    from ray._private.services import get_ray_address_from_environment

    try:
        found = get_ray_address_from_environment("auto", None)
    except ConnectionError:
        found = None
    if not found or found == "auto":
        raise RayUnavailable(f"--ray-address auto: no running Ray cluster on this machine "
                             f"(RAY_ADDRESS is unset and no `ray start` is recorded); "
                             f"{START_CLUSTER}")
    try:
        resolved = parse_address(found)
    except RayUnavailable as exc:
        raise RayUnavailable(f"--ray-address auto found {found!r}, which is unusable: "
                             f"{exc}") from None
    return RayAddress(address.text, resolved.kind, resolved.host, resolved.port)


def _resolve_host(host: str, timeout: float) -> str | None:
    """``None`` when ``host`` resolves within ``timeout`` seconds, else why not (the
    resolver has no timeout of its own: it runs in a thread left behind if late)."""
    outcome: list[str | None] = []

    def resolve() -> None:
        try:
            socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"unknown host {host!r} ({exc.strerror or exc})")

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"the name {host!r} did not resolve in {timeout:g} s"


def _tcp_problem(address: RayAddress, timeout: float) -> str | None:
    """``None`` when ``host:port`` accepts a TCP connection within ``timeout`` seconds,
    else why not."""
    problem = _resolve_host(address.host, timeout)
    if problem is not None:
        return problem
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "nothing answers there (connection refused)"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return f"cannot be reached ({exc.strerror or exc})"


#: Ray's handshake, in a process of its own: Ray's C++ client can neither be interrupted
#: nor given a short timeout once ``ray`` is imported, and it prints retries on stderr.
#: As ``ray.init``, it takes up the token of ``~/.ray/auth_token`` for ``auto`` only.
_HANDSHAKE = """\
import sys
try:
    if sys.argv[2] == "auto":
        try:
            from ray._private.authentication.authentication_token_setup import (
                maybe_enable_token_auth_if_token_available as enable)
        except ImportError:
            pass
        else:
            enable(warn_if_disabled=False)
    from ray._raylet import GcsClient
    GcsClient(address=sys.argv[1])
except Exception as exc:
    print(type(exc).__name__)
    print((str(exc).strip().splitlines() or [""])[0])
    sys.exit(1)
"""
#: host:port -> when its handshake last succeeded (time.monotonic).
_handshakes: dict[str, float] = {}


def _handshake_problem(address: RayAddress, timeout: float) -> str | None:
    """``None`` when a Ray head (GCS) answers at the address within about ``timeout``
    seconds (after starting a Python process), else why not.  A success is remembered
    for a minute."""
    if time.monotonic() - _handshakes.get(address.hostport, -math.inf) < 60:
        return None
    seconds = max(1, math.ceil(timeout))
    env = {**os.environ, "RAY_py_gcs_connect_timeout_s": str(seconds),
           "RAY_gcs_rpc_server_connect_timeout_s": "1"}
    auto = "auto" if address.text.strip() == "auto" else "explicit"
    try:
        done = subprocess.run([sys.executable, "-c", _HANDSHAKE, address.hostport, auto],
                              env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=seconds + 20)
    except subprocess.TimeoutExpired:
        return f"no Ray handshake within {seconds + 20} s"
    if done.returncode == 0:
        _handshakes[address.hostport] = time.monotonic()
        return None
    kind, _, said = done.stdout.strip().partition("\n")
    if kind == "AuthenticationError":
        return ("the Ray head there wants its token (token authentication); run with "
                "RAY_AUTH_MODE=token and the cluster's token in ~/.ray/auth_token or "
                "RAY_AUTH_TOKEN")
    said = f"{kind}: {said.strip()}"[:160] if kind else f"exit status {done.returncode}"
    return f"something answers there, but no Ray head did within {seconds} s ({said})"


def _object_store_bytes() -> int | None:
    """The object store of a private instance under an address-space limit (``ulimit
    -v``, which Ray's processes inherit): a quarter of the limit, at most Ray's default
    share of the memory (30 %) and at least Ray's minimum (75 MiB); ``None`` (Ray's
    default) without a limit.  Ray's default alone can exceed the limit: its store then
    fails to map and the instance never starts."""
    import resource

    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        memory = limit
    return max(80 * 2**20, min(limit // 4, int(memory * 0.3)))


def _local_cpus(local_cpus: int | None) -> int:
    """CPUs of a private instance: ``local_cpus``, else this machine's (Ray counts no
    more than ``os.cpu_count()``)."""
    return local_cpus if local_cpus is not None else (os.cpu_count() or 1)


def task_fits(num_cpus: float, num_gpus: float, nodes: Sequence[dict[str, float]],
              cluster: str | None = None, gpus_by_default: bool = False) -> None:
    """Refuse a task request that no node can hold (its tasks would wait forever).

    Args:
        num_cpus, num_gpus: what each task declares.
        nodes: the resources of each alive node (``{"CPU": 2.0, "GPU": 1.0, ...}``).
        cluster: the cluster's address for the message; ``None``: the private instance.
        gpus_by_default: ``num_gpus`` is the default of a CUDA device, not an option.

    Raises:
        RayUnavailable: one line naming the option, what the nodes have and what to ask.
    """
    for name, option, want in (("CPU", "--ray-cpus-per-task", num_cpus),
                               ("GPU", "--ray-gpus-per-task", num_gpus)):
        have = [float(node.get(name, 0.0)) for node in nodes]
        largest = max(have, default=0.0)
        if not want or want <= largest + 1e-9:
            continue
        asked = f"{option} {want:g}"
        if name == "GPU" and gpus_by_default:
            asked += " (the default with a CUDA --device)"
        if cluster is None:
            found = f"the private Ray instance has {largest:g} {name}s (this machine's)"
            instead = " or join a larger cluster with --ray-address"
        else:
            found = (f"no node of the Ray cluster at {cluster} has {want:g} {name}s "
                     f"(largest {largest:g}, {len(have)} node(s), {sum(have):g} in all)")
            instead = ""
        if largest > 0:
            fix = f"ask for at most {largest:g}{instead}"
        elif name == "GPU":
            fix = ("train on the CPU (--device cpu)" if gpus_by_default
                   else "drop --ray-gpus-per-task") + instead
        else:
            fix = f"add nodes with CPUs{instead}"
        raise RayUnavailable(f"{asked}: {found}, so its tasks would wait forever; {fix}")


def check_target(address: str | None, num_cpus: int = 1, num_gpus: float | None = None,
                 local_cpus: int | None = None, timeout: float = CONNECT_TIMEOUT_S,
                 gpus_by_default: bool = False) -> RayAddress | None:
    """Check, before Ray starts, that the Ray asked for can run the tasks.

    ``address`` ``None`` is a private instance: each task's CPUs must not exceed this
    machine's (``local_cpus``) nor its GPUs torch's visible ones.  Otherwise the address
    is parsed (:func:`parse_address`), ``auto`` resolved as ``ray.init`` would, and the
    host must accept a TCP connection within ``timeout`` seconds and answer Ray's
    handshake (``host:port``).

    Args:
        address: ``None``, ``"auto"``, ``"host:port"`` or ``"ray://host:port"``.
        num_cpus, num_gpus: what each task declares.
        local_cpus: CPUs of a private instance (default: this machine's).
        timeout: seconds for the TCP connection, and again for the handshake.
        gpus_by_default: ``num_gpus`` is the default of a CUDA device (the message
            says so).

    Returns:
        The parsed address (``auto`` resolved, ``text`` kept), or ``None`` (private).

    Raises:
        RayUnavailable: one line naming the address or option and what to do.
    """
    if address is None:
        task_fits(num_cpus, num_gpus or 0,
                  [{"CPU": _local_cpus(local_cpus), "GPU": torch.cuda.device_count()}],
                  gpus_by_default=gpus_by_default)
        return None
    parsed = parse_address(address)
    if parsed.kind == "auto":
        parsed = _resolve_auto(parsed)
    where = f"auto ({parsed.hostport})" if parsed.text.strip() == "auto" else parsed.text
    problem = _tcp_problem(parsed, timeout)
    if problem is None and parsed.kind == "gcs":
        problem = _handshake_problem(parsed, timeout)
    if problem is not None:
        remedy = "" if "token" in problem else f"; {START_CLUSTER}"
        raise RayUnavailable(f"--ray-address {where}: {problem}{remedy}")
    return parsed


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


class _TokenNotice(logging.Filter):
    """Drops Ray's notice that it turned token authentication on (a line on stderr at
    every start, not this toolkit's one-line format; authentication stays on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled for")


#: The logger of that notice.
_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"


def _loopback_only() -> None:
    """Make a Ray instance started from this process bind to 127.0.0.1 only, and a
    loopback cluster address stay as given.

    Ray (2.60) replaces a loopback address, the node's or the cluster's, by the
    machine's interface address (where a cluster started with ``--node-ip-address
    127.0.0.1`` does not listen) unless multi-machine clusters are switched off
    (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, read when ``ray`` is imported; the
    processes Ray starts inherit the variable, and the already-imported flag is set to
    match)."""
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
            :meth:`close`); ``"auto"``, ``"host:port"`` or ``"ray://host:port"`` joins a
            running cluster (:func:`check_target` first).
        num_cpus: CPUs each task declares (and torch threads it uses).
        num_gpus: GPUs each task declares (default: 1 when training on CUDA, else 0).
        max_retries: retries of a task whose worker or node died.
        local_cpus: CPUs of a private local instance (default: this machine's).

    Raises:
        RayUnavailable: the address is malformed or does not answer, or no node has a
            task's CPUs or GPUs (then Ray is stopped again).

    Attributes:
        nodes: ids of the nodes that ran a task (for tests and logs).
    """

    def __init__(self, address: str | None = None, num_cpus: int = 1,
                 num_gpus: float | None = None, max_retries: int = 3,
                 local_cpus: int | None = None):
        if not is_integer(num_cpus) or num_cpus < 1:
            raise ValueError(f"num_cpus must be a positive integer, got {num_cpus!r}")
        if num_gpus is not None and not (is_real(num_gpus) and 0 <= num_gpus < math.inf):
            raise ValueError(f"num_gpus must be a number >= 0, got {num_gpus!r}")
        self.ray = import_ray()
        self.address, self.num_cpus, self.num_gpus = address, num_cpus, num_gpus
        self.max_retries = max_retries
        self.nodes: set[str] = set()
        self._started = False
        self._cluster = address or "(connected before)"  # its name in messages
        self._sigterm: Any = _UNSET  # the SIGTERM handler to restore on close
        self._terminate_raises()
        try:
            if not self.ray.is_initialized():
                self._start(check_target(address, num_cpus, num_gpus, local_cpus),
                            local_cpus)
            self._check_resources(num_gpus or 0)
        except BaseException:
            self.close()
            raise

    def _terminate_raises(self) -> None:
        """SIGTERM raises ``KeyboardInterrupt`` here (main thread only; a SIGTERM that
        this process ignores stays ignored)."""
        if threading.current_thread() is not threading.main_thread():
            return
        current = signal.getsignal(signal.SIGTERM)
        if self._sigterm is _UNSET:  # the first call sees the process's own handler
            self._sigterm = current
        if self._sigterm is signal.SIG_IGN:  # ignored before Ray came: ignored again
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # (ray.init may have set one)
            return
        signal.signal(signal.SIGTERM, raise_interrupt)

    def _start(self, target: RayAddress | None, local_cpus: int | None) -> None:
        """Start the private instance (``target`` None) or join the cluster."""
        ray = self.ray
        if target is None or target.loopback:
            _loopback_only()
        if target is not None:
            self._cluster = (f"auto ({target.hostport})" if target.text.strip() == "auto"
                             else target.text)
        notice = _TokenNotice()
        logging.getLogger(_TOKEN_LOGGER).addFilter(notice)
        try:
            if target is None:
                # its processes share the driver's process group, so a SIGTERM to the
                # group stops them too; the driver's shutdown then waits for their task
                # events (5 s by default) in vain
                ray.init(address="local", num_cpus=local_cpus, include_dashboard=False,
                         log_to_driver=False, configure_logging=False,
                         object_store_memory=_object_store_bytes(),
                         _system_config={"task_events_shutdown_flush_timeout_ms": 500})
            else:
                # "auto" again, not what it stands for: Ray takes up the local token then
                where = ("auto" if target.text.strip() == "auto" else target.hostport
                         if target.kind == "gcs" else f"ray://{target.hostport}")
                ray.init(address=where, log_to_driver=False, configure_logging=False)
        except SystemExit as exc:  # Ray's own SIGTERM handler, there while ray.init runs
            ray.shutdown()
            if exc.code == signal.SIGTERM:
                raise KeyboardInterrupt from None
            raise
        except Exception as exc:  # Ray's errors here are plain Exception, RuntimeError ...
            ray.shutdown()
            said = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            if target is None:
                logs = Path(os.environ.get("RAY_TMPDIR", "/tmp"), "ray", "session_latest",
                            "logs")
                raise RayUnavailable(f"--executor ray: the private Ray instance did not "
                                     f"start ({said}); Ray's logs are in {logs}") from None
            raise RayUnavailable(f"--ray-address {target.text}: Ray could not join the "
                                 f"cluster at {target.hostport} ({said})") from None
        finally:
            logging.getLogger(_TOKEN_LOGGER).removeFilter(notice)
            self._terminate_raises()  # ray.init installed its own handler
        self._started = True

    def _check_resources(self, num_gpus: float) -> None:
        """Refuse tasks that no alive node can hold (:func:`task_fits`)."""
        nodes = [n["Resources"] for n in self.ray.nodes() if n.get("Alive")]
        private = self._started and self.address is None
        task_fits(self.num_cpus, num_gpus, nodes, None if private else self._cluster,
                  gpus_by_default=self.num_gpus is None)

    def close(self) -> None:
        """Disconnect (and stop the private instance this executor started); SIGTERM
        gets its handler back."""
        if self._started:
            self._started = False
            self.ray.shutdown()
        if self._sigterm is not _UNSET:
            # None: a handler not set from Python, which cannot be put back
            signal.signal(signal.SIGTERM, self._sigterm or signal.SIG_DFL)
            self._sigterm = _UNSET

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
        self._check_resources(num_gpus)  # before submitting: a task no node holds waits
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
                # a bounded wait, so that Ctrl-C and SIGTERM get through at once
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
                if not done:
                    continue
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
