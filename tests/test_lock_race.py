"""One writer per output directory: :meth:`common.run_store.RunStore.lock` raced by
processes, hundreds of times, with ``flock`` and with the fallback of Windows and of file
systems without ``flock`` (a lock file created exclusively, with and without hard links,
or after a failed ``flock``).

Each trial starts 2-4 processes at a barrier on a fresh directory that holds no lock, a
stale one (a dead PID), or an empty or garbage lock older than the grace period; all of
them try before any lets go, and exactly one may hold the directory.  A second test has
processes take and release the lock in a loop and checks that no two are ever inside it
at once.
"""

import errno
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from common import run_store
from common.run_store import LOCK_GRACE_S, RunStore, StoreError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

#: flock; no fcntl module (Windows), with and without hard links; a file system whose
#: flock fails (ENOLCK: some NFS mounts), where the exclusive file is used instead.
MODES = ["flock", "exclusive", "exclusive-no-link", "flock-unsupported"]
RACERS = 4


def _use(mode: str) -> None:
    """In a child process: lock as ``mode`` does (no fcntl: the Windows fallback)."""
    if mode == "flock-unsupported":
        def no_flock(fd, how):
            raise OSError(errno.ENOLCK, "No locks available")
        run_store.fcntl.flock = no_flock
    elif mode != "flock":
        run_store.fcntl = None
    if mode == "exclusive-no-link":
        def no_link(src, dst):
            raise OSError(errno.EPERM, "hard links not supported here")
        os.link = no_link


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _prepare(directory, trial: int, dead: int) -> None:
    """Trial ``trial``'s directory: no lock, a dead PID's, an old empty one, old garbage."""
    directory.mkdir(parents=True)
    kind = trial % 4
    if kind == 0:
        return
    lock = directory / ".lock"
    lock.write_text({1: f"{dead}\n", 2: "", 3: "\x00garbage"}[kind])
    old = time.time() - 2 * LOCK_GRACE_S
    os.utime(lock, (old, old))


def _racer(index, mode, root, trials, start, tried, out):
    _use(mode)
    for trial in range(trials):
        start.wait()
        store, outcome = None, "idle"
        if index < 2 + trial % (RACERS - 1):  # 2, 3, 4 processes in turn
            store = RunStore(root / f"t{trial}", {}, _check=False)
            try:
                store.lock()
                outcome = "locked"
            except StoreError:
                outcome = "refused"
        out.put((trial, outcome))
        tried.wait()  # every racer has tried before the holder lets go
        if outcome == "locked":
            store.unlock()


def race(root, mode: str, trials: int) -> dict[int, list[str]]:
    """Outcomes per trial of :func:`_racer` (``locked`` / ``refused``, idle left out)."""
    dead = _dead_pid()
    for trial in range(trials):
        _prepare(root / f"t{trial}", trial, dead)
    ctx = multiprocessing.get_context("fork")
    start, tried, out = ctx.Barrier(RACERS), ctx.Barrier(RACERS), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(i, mode, root, trials, start, tried, out))
             for i in range(RACERS)]
    for proc in procs:
        proc.start()
    outcomes: dict[int, list[str]] = {t: [] for t in range(trials)}
    try:
        for _ in range(RACERS * trials):
            trial, outcome = out.get(timeout=60)
            if outcome != "idle":
                outcomes[trial].append(outcome)
    finally:
        for proc in procs:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
    assert all(proc.exitcode == 0 for proc in procs)
    return outcomes


def check_race(root, mode: str, trials: int) -> None:
    started = time.perf_counter()
    outcomes = race(root, mode, trials)
    seconds = time.perf_counter() - started
    double = {t: o for t, o in outcomes.items() if o.count("locked") > 1}
    none = {t: o for t, o in outcomes.items() if o.count("locked") == 0}
    assert not double, f"{len(double)} of {trials} trials had several holders: {double}"
    assert not none, f"{len(none)} of {trials} trials had no holder: {none}"
    assert all(len(o) == 2 + t % (RACERS - 1) for t, o in outcomes.items())
    # every lock released, no helper file left (.lock.break, private .tmp files)
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert left == []
    print(f"{mode}: {trials} trials of 2-{RACERS} racers, {seconds:.1f} s, 0 double holders")


@pytest.mark.parametrize("mode", MODES)
def test_one_holder_in_each_of_many_simultaneous_starts(tmp_path, mode):
    check_race(tmp_path, mode, 500)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_one_holder_in_each_of_two_thousand_simultaneous_starts(tmp_path, mode):
    check_race(tmp_path, mode, 2000)


def _loop(mode, directory, seconds, out):
    """Take and release the lock for ``seconds``; while holding it, prove no other
    holder is inside (an exclusively created marker)."""
    _use(mode)
    store = RunStore(directory, {}, _check=False)
    inside = directory / "inside"
    end = time.monotonic() + seconds
    held = overlaps = 0
    while time.monotonic() < end:
        try:
            store.lock()
        except StoreError:
            continue
        try:
            fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            overlaps += 1
        else:
            os.close(fd)
            time.sleep(0.0005)
            os.unlink(inside)
            held += 1
        store.unlock()
    out.put((held, overlaps))


@pytest.mark.parametrize("mode", MODES)
def test_taking_and_releasing_in_a_loop_never_lets_two_in(tmp_path, mode):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_loop, args=(mode, tmp_path, 1.0, out)) for _ in range(RACERS)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(60)
    held, overlaps = sum(h for h, _ in results), sum(o for _, o in results)
    assert overlaps == 0
    assert held >= 20, results  # the lock changed hands often enough to test anything
    assert sorted(p.name for p in tmp_path.iterdir()) == []
