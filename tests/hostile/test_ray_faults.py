"""--executor ray never hangs: an address where nothing (or no Ray) answers, a malformed
address and a task no node can hold are each one ``error:`` line and exit 2 within
seconds; SIGTERM and Ctrl-C end a running Ray sweep within seconds, Ray's processes
with it.

Nothing here leaves loopback: the addresses are 127.0.0.1 ports that this test holds
(or left free), and the sweeps run on private Ray instances (127.0.0.1 only), each with
its own Ray folder.  No cluster is joined; no ``ray stop``: a script's Ray processes are
its own descendants, ended with it, and any left over are killed by their ids.
"""

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import tempfile
import threading
import time

import pytest

from harness import (
    BASE,
    MED,
    TRACEBACK,
    expect_no_problems,
    interrupted_problems,
    one_line_problems,
)

pytestmark = [pytest.mark.hostile,
              pytest.mark.skipif(importlib.util.find_spec("ray") is None
                                 or importlib.util.find_spec("psutil") is None,
                                 reason="the [ray] extra is not installed")]

RAY = ["--executor", "ray"]
#: The bound of the issue: every hang case ends within this many seconds.
HANG_BOUND_S = 30


@pytest.fixture
def ray_env():
    """A fresh Ray folder (short: socket paths are limited to 107 bytes), no RAY_ADDRESS."""
    folder = tempfile.mkdtemp(prefix="rayh", dir="/tmp")
    yield {"RAY_TMPDIR": folder, "RAY_ADDRESS": ""}
    shutil.rmtree(folder, ignore_errors=True)


def _ray_started(env) -> bool:
    return any(os.scandir(env["RAY_TMPDIR"]))


# ---- addresses where nothing, or no Ray, answers ------------------------------------


@contextlib.contextmanager
def refused():
    """A 127.0.0.1 port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield f"127.0.0.1:{port}", "connection refused"


@contextlib.contextmanager
def silent():
    """A port that accepts connections and never says anything (not Ray)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop, held = threading.Event(), []

    def accept():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}", "no Ray head"
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        server.close()


@contextlib.contextmanager
def backlog_full():
    """A port whose listen backlog is full: new connections wait unanswered."""
    with socket.socket() as server, socket.socket() as filler:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        filler.connect(server.getsockname())
        yield f"127.0.0.1:{server.getsockname()[1]}", "no answer within"


UNREACHABLE = [  # id, the address (and what the message says), description
    ("refused", refused, "--ray-address 127.0.0.1:PORT where nothing listens (the audit "
     "saw the address replaced by the interface's and a hang past 150 s)"),
    ("not-ray", silent, "--ray-address of a port that accepts and never answers"),
    ("no-answer", backlog_full, "--ray-address of a port that never accepts (SYNs dropped)"),
]


@pytest.mark.parametrize(("name", "target", "description"), UNREACHABLE,
                         ids=[f"mnist:ray-{case[0]}" for case in UNREACHABLE])
def test_an_address_that_does_not_answer_is_one_line_within_seconds(cli, ray_env, name,
                                                                   target, description):
    with target() as (address, says):
        res = cli.run("mnist", BASE["mnist"] + RAY + ["--ray-address", address],
                      env=ray_env, timeout=HANG_BOUND_S + 10)
    problems = one_line_problems(res, [address])
    if res.seconds > HANG_BOUND_S:
        problems.append(f"took {res.seconds:.1f} s (bound {HANG_BOUND_S} s)")
    if not problems and f"--ray-address {address}: " not in res.stderr:
        problems.append("the message does not name the address as given")
    if not problems and says not in res.stderr:
        problems.append(f"the message does not say {says!r}")
    if _ray_started(ray_env):
        problems.append("Ray was started")
    expect_no_problems(problems, [res], description)


# ---- malformed addresses, impossible resources: refused before Ray starts ------------

REFUSED = [  # id, arguments, the message names one of, description
    ("address='not an address'", ["--ray-address", "not an address"], ["--ray-address"],
     "a malformed address (the audit saw a traceback)"),
    ("address=ray-client", ["--ray-address", "ray://127.0.0.1:1"], ["--ray-address"],
     "a Ray Client address (without the client extra: what to install; with it: refused)"),
    ("cpus=1000", ["--ray-cpus-per-task", "1000"], ["--ray-cpus-per-task"],
     "more CPUs per task than this machine has, private instance (the audit saw a silent "
     "hang and a 25 s Ctrl-C)"),
    ("gpus=64", ["--ray-gpus-per-task", "64"], ["--ray-gpus-per-task"],
     "more GPUs per task than this machine has, private instance"),
]


@pytest.mark.parametrize(("name", "args", "names", "description"), REFUSED,
                         ids=[f"mnist:ray-{case[0]}" for case in REFUSED])
def test_bad_ray_options_are_refused_before_ray_starts(cli, ray_env, name, args, names,
                                                       description):
    if name == "cpus=1000" and (os.cpu_count() or 1) >= 1000:
        pytest.skip("this machine has 1000 CPUs")
    res = cli.run("mnist", BASE["mnist"] + RAY + args, env=ray_env, timeout=HANG_BOUND_S + 10)
    problems = one_line_problems(res, names, "mnist", cli.startup.get("mnist", 3) + 8)
    if _ray_started(ray_env):
        problems.append("Ray was started before the refusal")
    expect_no_problems(problems, [res], description)


# ---- signals during a running Ray sweep ------------------------------------------------


def _tree(pid):
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _task_running(proc):
    """A Ray worker of the script is running a task."""
    def running():
        for p in _tree(proc.popen.pid):
            with contextlib.suppress(Exception):
                if "_run_task" in p.name():
                    return True
        return False
    return running


def _left_over(processes, wait_s=5.0) -> list[str]:
    """Names of ``processes`` still alive after ``wait_s`` seconds (then killed by id)."""
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=wait_s)
    names = []
    for p in alive:
        with contextlib.suppress(psutil.Error):
            names.append(p.name())
            p.kill()
    return names


SIGNALS = [  # id, signal, to the process group, description
    ("sigterm", signal.SIGTERM, False, "SIGTERM to the driver (kill PID) while a task runs"),
    ("ctrl-c", signal.SIGINT, True, "Ctrl-C (SIGINT to the process group) while a task runs"),
    ("sigterm-group", signal.SIGTERM, True,
     "SIGTERM to the process group (systemd, a batch scheduler) while a task runs: it reaches "
     "Ray's processes too; when they go first, Ray ends the driver itself (exit 1)"),
]


@pytest.mark.parametrize(("name", "sig", "group", "description"), SIGNALS,
                         ids=[f"mnist:ray-{case[0]}" for case in SIGNALS])
def test_a_signal_ends_a_ray_sweep_within_seconds(cli, ray_env, name, sig, group,
                                                  description):
    out = cli.fresh("ray", name)
    args = [a if a != "4" else "30" for a in MED] + RAY + ["--out", str(out)]  # 30 epochs
    proc = cli.start("mnist", args, env=ray_env)
    if not proc.wait_for(_task_running(proc), 120):
        expect_no_problems(["could not inject: no Ray task ran"], [proc.wait(5)], description)
    processes = _tree(proc.popen.pid)
    sent = time.perf_counter()
    if group:
        proc.signal(sig)
    else:
        proc.popen.send_signal(sig)
    res = proc.wait(proc.elapsed + HANG_BOUND_S)
    after = time.perf_counter() - sent
    res.note = (f"{signal.Signals(sig).name} at {res.seconds - after:.1f} s, ended "
                f"{after:.1f} s later")
    problems = []
    if res.timed_out:
        problems.append(f"still running {HANG_BOUND_S} s after the signal (killed)")
    elif name == "sigterm-group" and res.rc != 130:
        if res.rc == 0:
            problems.append("finished before the signal took effect (inconclusive)")
        if TRACEBACK in res.stderr:
            problems.append("traceback")
    else:
        problems += interrupted_problems(res)
    if after > 15:
        problems.append(f"ended {after:.1f} s after the signal (more than 15 s)")
    print(f"{name}: exit {res.rc}, {res.note}")  # shown by pytest -rP
    left = _left_over(processes)
    if left:
        problems.append(f"{len(left)} Ray processes outlived the driver: {sorted(left)}")
    expect_no_problems(problems, [res], description)
