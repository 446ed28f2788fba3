"""--executor ray: the same numbers as the local executor, several nodes, node loss, driver
kill and resume, and the one-line message without Ray; the address parsed and probed,
impossible task resources refused, and SIGTERM raising in the driver (fast, no Ray
started: a stand-in for the ``ray`` module where one is needed).

Every cluster here is started by the test, bound to 127.0.0.1 (checked), and stopped by
its own handle (``ray.shutdown``, ``Cluster.shutdown``) or, for a killed driver, by the
process ids of that driver's own process tree.  The command-line cases (unreachable and
malformed addresses, impossible CPUs, signals) are tests/hostile/test_ray_faults.py.
"""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import synthetic

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "mixlu_mnist.py"

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
psutil = pytest.importorskip("psutil")


import ann.executors as executors  # noqa: E402
from ann.config import MNIST_LENET  # noqa: E402
from ann.executors import (  # noqa: E402
    RayExecutor,
    RayUnavailable,
    check_target,
    parse_address,
    task_fits,
)
from ann.experiments.options import check_executor_options  # noqa: E402
from ann.run_store import RunStore  # noqa: E402
from ann.specs import KINDS, ActivationSpec, RunSpec  # noqa: E402
from ann.sweep import run_sweep, sweep_meta  # noqa: E402
from common.cli import UserError, raise_interrupt  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

SPECS = [RunSpec(ActivationSpec.make("relu"), 0), RunSpec.mixlu(5, "reference", 1),
         RunSpec.mixlu(5, "reference", 2, mask="resample"),
         RunSpec(ActivationSpec.make("minmaxout", min_percent=50), 3)]


@pytest.fixture(autouse=True)
def loopback(monkeypatch):
    """Ray nodes of this process bind to loopback and keep their files in a fresh, short
    temporary folder (Unix socket paths are limited to 107 bytes), so no leftover
    ``/tmp/ray/ray_current_cluster`` is read."""
    from ray._private import ray_constants

    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)  # read at import
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", folder)
    yield
    assert not ray.is_initialized()
    shutil.rmtree(folder, ignore_errors=True)


def _same(a, b):
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    return [strip(r) for r in a] == [strip(r) for r in b]


def _listening_off_loopback():
    """Listening sockets of this process (the driver) and its descendants on other
    interfaces."""
    pids = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
    bad = []
    for c in psutil.net_connections(kind="inet"):
        if c.status == psutil.CONN_LISTEN and c.pid in pids:
            ip = c.laddr.ip.removeprefix("::ffff:")
            if ip not in ("127.0.0.1", "::1"):
                bad.append((psutil.Process(c.pid).name(), c.laddr))
    return bad


@pytest.mark.slow
def test_private_instance_gives_the_local_numbers_and_binds_loopback_only(tmp_path,
                                                                          monkeypatch):
    # Min-Maxout registered as not stackable: the driver plans a loop unit beside the stacks
    monkeypatch.setitem(KINDS, "minmaxout",
                        dataclasses.replace(KINDS["minmaxout"], stackable=False))
    data = synthetic(200, 40)
    config = MNIST_LENET.replace(epochs=2)
    local = run_sweep(SPECS, data, config, engine="batched", progress=False,
                      log=lambda s: None)
    with RayExecutor(num_cpus=1, local_cpus=2) as executor:
        assert _listening_off_loopback() == []
        remote = run_sweep(SPECS, data, config, engine="batched", progress=False,
                           log=lambda s: None, executor=executor)
    assert _same(local, remote)
    assert {r["engine"] for r in remote} == {"batched", "loop"}


def _cluster(workers=2):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(workers):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    return cluster


@pytest.mark.slow
def test_tasks_land_on_more_than_one_node(tmp_path):
    data = synthetic(200, 40)
    config = MNIST_LENET.replace(epochs=1)
    specs = [RunSpec.mixlu(5, "reference", s) for s in range(2)]
    cluster = _cluster()
    try:
        assert cluster.address.startswith("127.0.0.1:")
        with RayExecutor(cluster.address) as executor:
            assert _listening_off_loopback() == []
            assert ray.util.get_node_ip_address() == "127.0.0.1"  # the address as given
            results = run_sweep(specs, data, config, engine="loop", progress=False,
                                log=lambda s: None, executor=executor)
            assert len(executor.nodes) == 2
        # 2 CPUs in all, but no node has 2: refused, nothing submitted, Ray left again
        with pytest.raises(RayUnavailable, match=r"^--ray-cpus-per-task 2: no node of the "
                           r"Ray cluster at 127\.0\.0\.1:\d+ has 2 CPUs \(largest 1, 3 node"):
            RayExecutor(cluster.address, num_cpus=2)
        assert not ray.is_initialized()
    finally:
        cluster.shutdown()
    assert _same(results, run_sweep(specs, data, config, engine="loop", progress=False,
                                    log=lambda s: None))


@pytest.mark.slow
def test_a_lost_node_is_retried_from_its_checkpoint_and_every_run_stored_once(tmp_path):
    data = synthetic(1500, 40)
    config = MNIST_LENET.replace(epochs=6)
    specs = [RunSpec.mixlu(5, "reference", s) for s in range(2)]
    meta = sweep_meta("ray", data, config, "loop")
    saves = []
    store = RunStore(tmp_path / "ray", meta)
    original = store.save
    store.save = lambda key, result: (saves.append(key), original(key, result))[1]
    cluster = _cluster()
    out = {}

    def sweep():
        with RayExecutor(cluster.address) as executor:
            out["results"] = run_sweep(specs, data, config, engine="loop", store=store,
                                       progress=False, log=lambda s: None,
                                       executor=executor)

    try:
        thread = threading.Thread(target=sweep)
        thread.start()
        checkpoints = tmp_path / "ray" / "checkpoints"
        deadline = time.monotonic() + 240
        while not list(checkpoints.glob("loop-*.pt")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list(checkpoints.glob("loop-*.pt")), "no epoch checkpoint before the deadline"
        victim = cluster.list_all_nodes()[1]  # a worker node, running one of the tasks
        cluster.remove_node(victim)
        thread.join(timeout=600)
        assert not thread.is_alive()
    finally:
        cluster.shutdown()
    assert sorted(saves) == sorted(s.key for s in specs)  # each run stored exactly once
    local = run_sweep(specs, data, config, engine="loop", progress=False, log=lambda s: None)
    assert _same(out["results"], local)


def _tiny_mnist(directory):
    from writers import write_tiny_mnist

    return write_tiny_mnist(directory, n_train=400, n_test=50)


@pytest.mark.slow
def test_a_killed_driver_is_resumed_without_recomputing_finished_runs(tmp_path):
    data_dir = _tiny_mnist(tmp_path / "data")
    out = tmp_path / "out"
    argv = [sys.executable, str(SCRIPT), "--dataset", "mnist-5k", "--data-dir", str(data_dir),
            "--train-subset", "300", "--percents", "0,1,2,3", "--epochs", "3",
            "--engine", "loop", "--executor", "ray",
            "--ray-cpus-per-task", "2", "--no-progress", "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1", NEGLU_STDP_CACHE=str(tmp_path / "cache"))
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    runs = out / "runs"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and len(list(runs.glob("*.json"))) < 1:
            time.sleep(0.2)
        tree = [proc.pid] + [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    finally:
        for pid in tree if "tree" in locals() else [proc.pid]:  # this driver's own processes
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=60)
    finished = {p.name: p.read_bytes() for p in runs.glob("*.json")}
    assert 1 <= len(finished) < 4, "the driver was not killed mid-sweep"
    rerun = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"resuming: {len(finished)} of 4 runs already finished" in rerun.stdout
    for name, content in finished.items():
        assert (runs / name).read_bytes() == content  # not recomputed, not rewritten
    doc = json.loads((out / "mixlu_mnist.json").read_text())
    assert len(doc["runs"]) == 4


# ---- the address, the resources, the signals: no Ray started ---------------------------


@pytest.mark.parametrize(("text", "kind", "host", "port", "loopback"), [
    ("auto", "auto", "", 0, False),
    ("127.0.0.1:6379", "gcs", "127.0.0.1", 6379, True),
    (" localhost:1 ", "gcs", "localhost", 1, True),
    ("[::1]:65535", "gcs", "::1", 65535, True),
    ("head-0.cluster.example:6379", "gcs", "head-0.cluster.example", 6379, False),
    ("10.1.2.3:6380", "gcs", "10.1.2.3", 6380, False),
])
def test_addresses_parse_as_given(text, kind, host, port, loopback):
    address = parse_address(text)
    assert (address.text, address.kind, address.host, address.port) == (text, kind, host, port)
    assert address.loopback is loopback


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty"),
    ("   ", "empty"),
    ("not an address", "no port"),
    ("127.0.0.1", "no port"),
    ("127.0.0.1:0", "1..65535"),
    ("127.0.0.1:65536", "1..65535"),
    ("127.0.0.1:abc", "1..65535"),
    ("127.0.0.1:-5", "1..65535"),
    ("127.0.0.1:6379/x", "1..65535"),
    (":6379", "not a host name"),
    ("two words:6379", "not a host name"),
    ("::1:6379", "IPv6 host in brackets"),
    ("[::1]6379", "[host]:port"),
    ("http://127.0.0.1:6379", "http:// is not a Ray address"),
])
def test_malformed_addresses_are_one_line_naming_the_option(text, says):
    with pytest.raises(RayUnavailable) as caught:
        parse_address(text)
    message = str(caught.value)
    assert message.startswith(f"--ray-address {text!r}: ") and says in message
    assert "\n" not in message and "127.0.0.1:6379" in message  # says what to give


def test_a_ray_client_address_needs_the_client_extra(monkeypatch):
    find_spec = executors.importlib.util.find_spec
    monkeypatch.setattr(executors.importlib.util, "find_spec",
                        lambda name: None if name == "grpc" else find_spec(name))
    with pytest.raises(RayUnavailable, match=r"^--ray-address 'ray://127\.0\.0\.1:10001': a "
                       r"ray:// address needs Ray Client.*pip install 'ray\[client\]"):
        parse_address("ray://127.0.0.1:10001")
    monkeypatch.setattr(executors.importlib.util, "find_spec", lambda name: object())
    address = parse_address("ray://127.0.0.1:10001")
    assert (address.kind, address.host, address.port) == ("client", "127.0.0.1", 10001)


def test_a_task_must_fit_on_one_node_not_in_the_sum():
    task_fits(2, 0.5, [{"CPU": 1.0}, {"CPU": 2.0, "GPU": 1.0}])  # fits the second node
    with pytest.raises(RayUnavailable) as caught:
        task_fits(2, 0, [{"CPU": 1.0}, {"CPU": 1.0}], "127.0.0.1:6379")
    assert str(caught.value) == (
        "--ray-cpus-per-task 2: no node of the Ray cluster at 127.0.0.1:6379 has 2 CPUs "
        "(largest 1, 2 node(s), 2 in all), so its tasks would wait forever; ask for at most 1")
    with pytest.raises(RayUnavailable, match=r"^--ray-gpus-per-task 1 \(the default with a "
                       r"CUDA --device\): .*0 GPUs.*train on the CPU \(--device cpu\)"):
        task_fits(1, 1, [{"CPU": 4.0}], gpus_by_default=True)
    with pytest.raises(RayUnavailable, match=r"^--ray-gpus-per-task 0\.5: .*drop "
                       r"--ray-gpus-per-task$"):
        task_fits(1, 0.5, [{"CPU": 4.0, "GPU": 0.0}], "auto (127.0.0.1:6379)")
    with pytest.raises(RayUnavailable, match=r"^--ray-cpus-per-task 1000: the private Ray "
                       r"instance has 2 CPUs \(this machine's\), .*at most 2 or join a larger "
                       r"cluster with --ray-address$"):
        task_fits(1000, 0, [{"CPU": 2.0}])


def test_a_private_instance_refuses_more_cpus_than_the_machine_has_before_starting():
    cpus = os.cpu_count() or 1
    assert check_target(None, cpus) is None  # no Ray started: nothing to stop
    with pytest.raises(RayUnavailable, match=rf"^--ray-cpus-per-task {cpus + 1}: the private"):
        check_target(None, cpus + 1)
    with pytest.raises(RayUnavailable, match=r"has 3 CPUs"):
        check_target(None, 4, local_cpus=3)
    assert not ray.is_initialized()


def test_the_object_store_of_a_private_instance_fits_an_address_space_limit(monkeypatch):
    """Ray's default store (30 % of the memory) cannot be mapped under ``ulimit -v``:
    the instance would never start (the hostile suite runs scripts under 6 GiB)."""
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda kind: (6 * 2**30, 6 * 2**30))
    assert executors._object_store_bytes() == min(6 * 2**30 // 4, int(
        os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 0.3))
    monkeypatch.setattr(resource, "getrlimit", lambda kind: (2**20, 2**20))
    assert executors._object_store_bytes() == 80 * 2**20  # Ray's minimum is 75 MiB
    monkeypatch.setattr(resource, "getrlimit",
                        lambda kind: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert executors._object_store_bytes() is None  # Ray's default


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_is_refused_at_once_naming_the_address_as_given():
    port = _free_port()
    start = time.perf_counter()
    with pytest.raises(RayUnavailable) as caught:
        check_target(f"127.0.0.1:{port}")
    assert time.perf_counter() - start < 2
    assert str(caught.value) == (
        f"--ray-address 127.0.0.1:{port}: nothing answers there (connection refused); start "
        f"a cluster with `ray start --head --node-ip-address 127.0.0.1` (it prints its "
        f"address) or drop --ray-address for a private instance")


def test_a_host_that_never_answers_times_out():
    """A listener whose backlog is full drops new connections: connect() waits."""
    with socket.socket() as server, socket.socket() as filler:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        filler.connect(server.getsockname())  # fills the backlog; nobody accepts
        start = time.perf_counter()
        with pytest.raises(RayUnavailable, match=r"^--ray-address 127\.0\.0\.1:\d+: no answer "
                           r"within 0\.5 s; start a cluster"):
            check_target(f"127.0.0.1:{server.getsockname()[1]}", timeout=0.5)
        assert time.perf_counter() - start < 3


def test_something_that_is_not_ray_fails_the_handshake_in_bounded_time():
    """Ray's own client would retry for minutes against a port that accepts and says
    nothing; the handshake runs in a process of its own, with a timeout."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        stop = threading.Event()

        def accept():
            held = []
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    held.append(server.accept()[0])
                except OSError:
                    pass
            for connection in held:
                connection.close()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        start = time.perf_counter()
        try:
            with pytest.raises(RayUnavailable, match=r"^--ray-address 127\.0\.0\.1:\d+: "
                               r"something answers there, but no Ray head did within 1 s"):
                check_target(f"127.0.0.1:{server.getsockname()[1]}", timeout=1)
        finally:
            stop.set()
            thread.join(5)
    assert time.perf_counter() - start < 25


def test_auto_without_a_cluster_is_one_line_and_auto_names_what_it_found(monkeypatch):
    from ray._private import services

    def nothing(addr, temp_dir):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(services, "get_ray_address_from_environment", nothing)
    with pytest.raises(RayUnavailable, match=r"^--ray-address auto: no running Ray cluster on "
                       r"this machine .*; start a cluster with `ray start --head"):
        check_target("auto")
    port = _free_port()
    monkeypatch.setattr(services, "get_ray_address_from_environment",
                        lambda addr, temp_dir: f"127.0.0.1:{port}")
    with pytest.raises(RayUnavailable, match=rf"^--ray-address auto \(127\.0\.0\.1:{port}\): "
                       rf"nothing answers there"):
        check_target("auto")


def test_the_sweep_options_refuse_bad_addresses_and_cpus_as_user_errors():
    def options(**kw):
        return SimpleNamespace(**{"executor": "ray", "ray_address": None,
                                  "ray_cpus_per_task": 1, "ray_gpus_per_task": None,
                                  "device": "cpu", **kw})

    check_executor_options(options())
    check_executor_options(options(ray_address=f"127.0.0.1:{_free_port()}", report_only=True))
    for bad, says in [({"ray_address": "not an address"}, "--ray-address 'not an address'"),
                      ({"ray_address": f"127.0.0.1:{_free_port()}"}, "connection refused"),
                      ({"ray_cpus_per_task": (os.cpu_count() or 1) + 1}, "the private Ray"),
                      ({"ray_cpus_per_task": 0}, "1..1024")]:
        with pytest.raises(UserError, match=".") as caught:
            check_executor_options(options(**bad))
        assert says in str(caught.value)
    assert not ray.is_initialized()


class _StandInRay:
    """What :class:`RayExecutor` calls of ``ray``, for one node of ``cpus`` CPUs whose
    tasks never finish: ``wait`` blocks for its timeout, as Ray's does."""

    exceptions = ray.exceptions

    def __init__(self, cpus=2.0):
        self.resources = {"CPU": cpus}
        self.submitted, self.cancelled, self.waits = [], [], 0

    def is_initialized(self):
        return True

    def nodes(self):
        return [{"Alive": True, "Resources": self.resources}]

    def put(self, value):
        return "data"

    def remote(self, function):
        return SimpleNamespace(options=lambda **kw: SimpleNamespace(remote=self._submit))

    def _submit(self, *args):
        self.submitted.append(f"ref{len(self.submitted)}")
        return self.submitted[-1]

    def wait(self, refs, num_returns, timeout):
        self.waits += 1
        time.sleep(timeout)
        return [], refs

    def cancel(self, ref, force):
        self.cancelled.append(ref)

    def shutdown(self):
        raise AssertionError("an executor that did not start Ray must not stop it")


def _stand_in(monkeypatch, cpus=2.0):
    stand_in = _StandInRay(cpus)
    monkeypatch.setattr(executors, "import_ray", lambda: stand_in)
    return stand_in


class _Data:
    def to(self, device):
        return self


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signal handlers are the main thread's")
def test_sigterm_raises_in_the_driver_while_waiting_for_tasks(monkeypatch):
    stand_in = _stand_in(monkeypatch)
    monkeypatch.setattr(executors, "_POLL_S", 0.05)
    before = signal.getsignal(signal.SIGTERM)
    units = [SimpleNamespace(keys=[f"run{i}"]) for i in range(3)]
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    executor = RayExecutor(num_cpus=1)
    try:
        assert signal.getsignal(signal.SIGTERM) is raise_interrupt  # else SIGTERM kills pytest
        start = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            list(executor.run(units, _Data(), MNIST_LENET, None, torch_cpu()))
        assert time.perf_counter() - start < 2
    finally:
        timer.cancel()
        executor.close()
    assert stand_in.waits >= 2  # bounded waits, one after the other
    assert len(stand_in.submitted) == 3 and sorted(stand_in.cancelled) == stand_in.submitted
    assert signal.getsignal(signal.SIGTERM) is before


def test_tasks_no_node_can_hold_are_refused_before_anything_is_submitted(monkeypatch):
    stand_in = _stand_in(monkeypatch, cpus=2.0)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RayUnavailable, match=r"^--ray-cpus-per-task 3: no node of the Ray "
                       r"cluster at \(connected before\) has 3 CPUs"):
        RayExecutor(num_cpus=3)
    executor = RayExecutor(num_cpus=2, num_gpus=None)
    with pytest.raises(RayUnavailable, match=r"^--ray-gpus-per-task 1 \(the default with a CUDA "
                       r"--device\)"):
        list(executor.run([SimpleNamespace(keys=["run0"])], _Data(), MNIST_LENET, None,
                          SimpleNamespace(type="cuda")))
    executor.close()
    assert stand_in.submitted == []
    assert signal.getsignal(signal.SIGTERM) is before


def torch_cpu():
    import torch

    return torch.device("cpu")
