"""--executor ray: the same numbers as the local executor, several nodes, node loss, driver
kill and resume, and the one-line message without Ray.

Every cluster here is started by the test, bound to 127.0.0.1 (checked), and stopped by
its own handle (``ray.shutdown``, ``Cluster.shutdown``) or, for a killed driver, by the
process ids of that driver's own process tree.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from helpers import synthetic

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "mixlu_mnist.py"

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
psutil = pytest.importorskip("psutil")


from ann.config import MNIST_LENET  # noqa: E402
from ann.executors import RayExecutor  # noqa: E402
from ann.run_store import RunStore  # noqa: E402
from ann.specs import ActivationSpec, RunSpec  # noqa: E402
from ann.sweep import run_sweep, sweep_meta  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

SPECS = [RunSpec(ActivationSpec.make("relu"), 0), RunSpec.mixlu(5, "reference", 1),
         RunSpec.mixlu(5, "reference", 2, mask="resample"),
         RunSpec(ActivationSpec.make("minmaxout", min_percent=50), 3)]


@pytest.fixture(autouse=True)
def loopback(monkeypatch):
    """Ray nodes of this process bind to loopback and keep their files in a fresh, short
    temporary folder (Unix socket paths are limited to 107 bytes), so no leftover
    ``/tmp/ray/ray_current_cluster`` is read."""
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", folder)
    yield
    assert not ray.is_initialized()
    shutil.rmtree(folder, ignore_errors=True)


def _same(a, b):
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    return [strip(r) for r in a] == [strip(r) for r in b]


def _listening_off_loopback():
    """Listening sockets of this process's descendants on other interfaces."""
    pids = {p.pid for p in psutil.Process().children(recursive=True)}
    bad = []
    for c in psutil.net_connections(kind="inet"):
        if c.status == psutil.CONN_LISTEN and c.pid in pids:
            ip = c.laddr.ip.removeprefix("::ffff:")
            if ip not in ("127.0.0.1", "::1"):
                bad.append((psutil.Process(c.pid).name(), c.laddr))
    return bad


@pytest.mark.slow
def test_private_instance_gives_the_local_numbers_and_binds_loopback_only(tmp_path):
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
        with RayExecutor(cluster.address) as executor:
            assert _listening_off_loopback() == []
            results = run_sweep(specs, data, config, engine="loop", progress=False,
                                log=lambda s: None, executor=executor)
            assert len(executor.nodes) == 2
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
