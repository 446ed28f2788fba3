"""The hostile suite's harness: scripts run as a user runs them, and the error policy.

Every case of tests/hostile/ runs a command-line script of the toolkit in a subprocess,
one at a time, with ``cwd``, ``HOME``, ``NEGLU_STDP_CACHE`` and ``MPLCONFIGDIR`` in the
session's work folder, ``OMP_NUM_THREADS=1`` and an address-space limit (``MEMORY_GB``),
so that a runaway allocation fails instead of exhausting the machine.  One
:class:`Harness` (the session fixture ``cli``, tests/hostile/conftest.py) holds the work
folder, the data sets the cases corrupt, the uninterrupted reference runs and the mounts.

The policy (``common/cli.py``) that the judging functions below check:

- a user error prints exactly ONE line on stderr, starting ``error:``, naming the
  option or file, and exits with status 2, without a traceback, before any long
  computation (:func:`one_line_problems`);
- Ctrl-C prints one line and exits with 130 (:func:`interrupted_problems`);
- a fault is survived when nothing shows a traceback and no result is lost or
  mislabelled: a killed or interrupted sweep rerun with the same command finishes with
  the runs of an uninterrupted one (:func:`compare_runs`: JSON ``runs`` compared,
  ``seconds`` ignored).

Disk-full and read-only faults mount small tmpfs / read-only bind mounts under the work
folder; they need root (``CAP_SYS_ADMIN``) and are skipped, and say why, without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from writers import write_tiny_cifar, write_tiny_mnist

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
#: Address-space limit of every script run.
MEMORY_GB = 6.0

SCRIPTS = {
    "mnist": "experiments/mixlu_mnist.py",
    "cifar": "experiments/mixlu_cifar.py",
    "signs": "experiments/update_signs.py",
    "stdp": "experiments/stdp_table.py",
    "bench": "benchmarks/bench_sweep.py",
    "sbench": "benchmarks/stdp_bench.py",
    "claims": "experiments/thesis_claims.py",
}
TRACEBACK = "Traceback (most recent call last)"
PROGRESS = re.compile(r"\d+%\||\|\s*[\d.]+/[\d.]+ \[|it/s\]|s/it\]|sim/s\]")
#: ANSI/VT100 control sequences (CSI ``ESC [ ... final``, two-character ``ESC x``): a
#: stderr line made of nothing else (and blanks) is a progress bar's redraw, e.g. the
#: ``ESC [A`` (cursor up) that tqdm writes when it clears a closed nested bar.
ANSI_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
HUGE = str(10**12)

#: Sizes of the data sets every session writes (tiny: the input cases; med: long
#: enough that a fault can be injected between the first checkpoint and the end).
TINY_MNIST = {"n_train": 200, "n_test": 50}
MED_MNIST = {"n_train": 1500, "n_test": 300, "seed": 1}
TINY_CIFAR = {"per_batch": 40, "n_test": 40}
MED_CIFAR = {"per_batch": 200, "n_test": 100, "seed": 1}

# Arguments may name the session's files by these placeholders (Harness.expand):
# @TINY, @MED, @CIFAR, @CIFAR_MED (data folders), @REGULAR (a regular file), @WORK.

#: A sweep of two runs on the tiny / medium MNIST files, and on the medium CIFAR files.
TINY = ["--dataset", "mnist", "--data-dir", "@TINY", "--percents", "0,5", "--epochs", "2",
        "--no-progress"]
MED = ["--dataset", "mnist", "--data-dir", "@MED", "--percents", "0,5", "--epochs", "4",
       "--no-progress"]
CIF = ["--data-dir", "@CIFAR_MED", "--percents", "0,3", "--epochs", "3", "--no-progress"]
#: The shortest update_signs run.
BASE_SIGNS = ["--epochs", "1", "--train-size", "100", "--synapses", "2", "--ramp-duration-s",
              "0.1"]
#: What every bad-input case of a script runs with (its shortest run), before the bad part.
BASE = {
    "mnist": ["--quick", "--dataset", "mnist", "--data-dir", "@TINY", "--epochs", "1",
              "--no-progress"],
    "cifar": ["--quick", "--data-dir", "@CIFAR", "--epochs", "1", "--no-progress"],
    "signs": BASE_SIGNS,
    "stdp": ["--no-progress", "--trials", "1"],
    "bench": ["--percents", "0,5", "--steps", "2", "--test-size", "100"],
    "sbench": ["--n-pairings", "1", "--trials", "1", "--poisson-duration-s", "0.1",
               "--repeats", "1"],
}

# ---------------------------------------------------------------------------------
# subprocesses
# ---------------------------------------------------------------------------------


@dataclass
class Result:
    """One finished (or killed) subprocess."""

    cmd: list[str]
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    note: str = ""

    @property
    def stderr_lines(self) -> list[str]:
        """Non-empty stderr lines, tqdm progress bars left out (they are the run's output,
        not its error message), as are lines of only blanks and terminal control
        sequences (a bar's redraw or clean-up, e.g. tqdm's cursor-up after a nested bar)."""
        return [line for line in self.stderr.replace("\r", "\n").splitlines()
                if ANSI_CONTROL.sub("", line).strip() and not PROGRESS.search(line)]

    def shell(self) -> str:
        """The command as one would type it (script path relative to the repository)."""
        parts = []
        for p in self.cmd:
            p = p.replace(str(ROOT) + "/", "") if p.startswith(str(ROOT)) else p
            parts.append(p if p and all(c.isalnum() or c in "/._-:=,+" for c in p)
                         else "'" + p.replace("'", "'\\''") + "'")
        return " ".join(parts)


class Proc:
    """A running script: output collected by threads, killable as a process group."""

    def __init__(self, cmd, env, cwd, preexec, stdout):
        self.cmd = cmd
        self.started = time.perf_counter()
        self.popen = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                      stdout=stdout, stderr=subprocess.PIPE, text=True,
                                      errors="replace", start_new_session=True,
                                      preexec_fn=preexec)
        self.out: list[str] = []
        self.err: list[str] = []
        self.threads = []
        for stream, sink in ((self.popen.stdout, self.out), (self.popen.stderr, self.err)):
            if stream is None:
                continue
            t = threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
            t.start()
            self.threads.append(t)

    @staticmethod
    def _pump(stream, sink):
        for line in iter(stream.readline, ""):
            sink.append(line)
        stream.close()

    @property
    def stdout(self) -> str:
        return "".join(self.out)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait_for(self, predicate: Callable[[], bool], timeout: float, poll: float = 0.02
                 ) -> bool:
        """Wait until ``predicate()`` (True) or the process ends / ``timeout`` (False)."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            if predicate():
                return True
            if not self.running():
                return predicate()
            time.sleep(poll)
        return False

    def signal(self, sig: int) -> None:
        """``sig`` to the script's process group (as Ctrl-C in a terminal)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def wait(self, timeout: float) -> Result:
        """Wait up to ``timeout`` seconds since the start, then kill the group."""
        timed_out = False
        try:
            self.popen.wait(timeout=max(0.1, timeout - self.elapsed))
        except subprocess.TimeoutExpired:
            timed_out = True
            self.signal(signal.SIGKILL)
            self.popen.wait()
        seconds = self.elapsed
        for t in self.threads:
            t.join(timeout=5)
        return Result(self.cmd, None if timed_out else self.popen.returncode, self.stdout,
                      "".join(self.err), seconds, timed_out)


class Harness:
    """Work folder, environment, data sets, reference runs, mounts, and the
    one-at-a-time subprocess runner of one session."""

    def __init__(self, work: Path, memory_gb: float = MEMORY_GB):
        self.work = work
        self.memory = int(memory_gb * 2**30)
        self.scratch = work / "cwd"
        self.scratch.mkdir(parents=True, exist_ok=True)
        home = work / "home"
        home.mkdir(exist_ok=True)
        self.env = dict(os.environ)
        for key in ("PYTHONUNBUFFERED", "STDP_SIM_TARGET", "STDP_SIM_STANDALONE_DIR",
                    "XDG_CACHE_HOME", "CUDA_VISIBLE_DEVICES"):
            self.env.pop(key, None)
        self.env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HOME=str(home),
                        NEGLU_STDP_CACHE=str(work / "cache"), MPLCONFIGDIR=str(work / "mpl"),
                        PYTHONDONTWRITEBYTECODE="1")
        self.mounts: list[Path] = []
        self.can_mount = self._probe_mount()
        self.count = 0  # script processes started
        data = work / "data"
        self.tiny = write_tiny_mnist(data / "mnist-tiny", **TINY_MNIST)
        self.med = write_tiny_mnist(data / "mnist-med", **MED_MNIST)
        self.cifar = write_tiny_cifar(data / "cifar-tiny", **TINY_CIFAR)
        self.cifar_med = write_tiny_cifar(data / "cifar-med", **MED_CIFAR)
        self.regular = work / "regular_file.txt"
        self.regular.write_text("not a directory\n")
        self.placeholders = {"@CIFAR_MED": self.cifar_med, "@CIFAR": self.cifar,
                             "@TINY": self.tiny, "@MED": self.med, "@REGULAR": self.regular,
                             "@WORK": work}
        self.startup: dict[str, float] = {}
        self.refs: dict[str, tuple[list, Path]] = {}

    def warm_up(self) -> None:
        """Seconds each script needs to print --help (its imports: the baseline of a
        'late' refusal), and a first stdp_table run (Brian2's compiled-code cache)."""
        for script in SCRIPTS:
            self.startup[script] = self.run(script, ["--help"], timeout=60).seconds
        self.run("stdp", ["--no-progress", "--trials", "1"], timeout=240)

    # -- files --------------------------------------------------------------------------
    def expand(self, args) -> list[str]:
        """``args`` with the placeholders (@TINY, @REGULAR, ...) replaced by paths."""
        out = []
        for arg in args:
            for key, path in self.placeholders.items():
                arg = arg.replace(key, str(path))
            out.append(arg)
        return out

    def path(self, *parts) -> Path:
        """A path under work/cases, its folder made, nothing there removed."""
        p = self.work.joinpath("cases", *parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def fresh(self, *parts) -> Path:
        """A path under work/cases with nothing there (not made)."""
        p = self.path(*parts)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        return p

    def reference(self, name: str, script: str, args: list[str], stem: str) -> list:
        """The runs (``seconds`` left out) of an uninterrupted ``script args --out``,
        run once a session; its folder is :meth:`reference_dir`."""
        if name not in self.refs:
            out = self.work / "refs" / name
            if out.exists():
                shutil.rmtree(out)
            res = self.run(script, args + ["--out", str(out)], timeout=240)
            if res.rc != 0:
                raise RuntimeError(f"reference run failed: {res.shell()}\n{res.stderr[-2000:]}")
            self.refs[name] = (runs_of(out, stem), out)
        return self.refs[name][0]

    def reference_dir(self, name: str, script: str, args: list[str], stem: str) -> Path:
        self.reference(name, script, args, stem)
        return self.refs[name][1]

    def tiny_store(self) -> Path:
        """A finished mixlu_mnist store of two runs (``TINY``), to copy and corrupt."""
        return self.reference_dir("tiny", "mnist", TINY, "mixlu_mnist")

    # -- mounts (disk full, read-only) ------------------------------------------------
    def _probe_mount(self) -> bool:
        if os.geteuid() != 0 or not shutil.which("mount"):
            return False
        probe = self.work / "mount-probe"
        probe.mkdir(exist_ok=True)
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], capture_output=True)
        return ok

    def needs_mount(self) -> None:
        if not self.can_mount:
            pytest.skip("needs root and mount (tmpfs / bind mounts)")

    def tmpfs(self, path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       check=True, capture_output=True)
        self.mounts.append(path)
        return path

    def resize(self, path: Path, size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True,
                       capture_output=True)

    def bind(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(path), str(path)], check=True,
                       capture_output=True)
        self.mounts.append(path)
        return path

    def set_readonly(self, path: Path, readonly: bool) -> bool:
        mode = "ro" if readonly else "rw"
        for _ in range(50):  # EBUSY while a file there is open for writing
            if subprocess.run(["mount", "-o", f"remount,bind,{mode}", str(path)],
                              capture_output=True).returncode == 0:
                return True
            time.sleep(0.02)
        return False

    def umount(self, path: Path) -> None:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
        if path in self.mounts:
            self.mounts.remove(path)

    def umount_all(self) -> None:
        for path in reversed(list(self.mounts)):
            self.umount(path)

    # -- running ------------------------------------------------------------------------
    def _preexec(self, fsize: int | None):
        memory = self.memory

        def limits():
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            if fsize is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        return limits

    def start(self, script: str, args: list[str], *, env: dict | None = None,
              fsize: int | None = None, stdout=subprocess.PIPE) -> Proc:
        """``script`` (a key of SCRIPTS) started with ``args`` (placeholders expanded)."""
        cmd = [PY, str(ROOT / SCRIPTS[script]), *self.expand(args)]
        self.count += 1
        return Proc(cmd, {**self.env, **(env or {})}, self.scratch, self._preexec(fsize),
                    stdout)

    def run(self, script: str, args: list[str], *, timeout: float = 40, **kw) -> Result:
        """:meth:`start`, then wait (killed after ``timeout`` seconds)."""
        return self.start(script, args, **kw).wait(timeout)


def copy_dir(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    return dst


def source_fingerprint() -> dict[str, str]:
    """sha256 of every Python/TOML file of the project (not .venv): to notice a source
    tree that changes while the suite runs (the outcomes then mix two versions)."""
    prints = {}
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", ".git", "results", "build", "dist") or \
                "__pycache__" in rel.parts or path.suffix not in (".py", ".toml"):
            continue
        with contextlib.suppress(OSError):
            prints[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return prints


# ---------------------------------------------------------------------------------
# judging
# ---------------------------------------------------------------------------------

#: stdout lines that show a script already computing (validation should be over).
STARTED = {"mnist": (), "cifar": (), "signs": ("Brian2:",), "bench": ("device:",), "stdp": (),
           "sbench": ()}


def one_line_problems(res: Result, names: list[str], script: str | None = None,
                      late_s: float | None = None) -> list[str]:
    """What is wrong with ``res`` as the answer to a user error (empty: per policy):
    one ``error:`` line naming one of ``names``, exit 2, no traceback, and (given
    ``script``) refused before the computation started / within ``late_s`` seconds."""
    problems = []
    lines = res.stderr_lines
    if res.timed_out:
        problems.append(f"not refused: still running after {res.seconds:.0f} s (killed)")
        return problems
    if TRACEBACK in res.stderr:
        last = lines[-1] if lines else ""
        problems.append(f"traceback ({last[:120]})")
    if res.rc != 2:
        problems.append("accepted (exit 0)" if res.rc == 0 else f"exit {res.rc}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines")
    if lines and not lines[-1].startswith("error:"):
        problems.append("last stderr line does not start with 'error:'")
    if names and res.rc != 0 and not any(n.lower() in res.stderr.lower() for n in names):
        problems.append("message names none of " + ", ".join(repr(n) for n in names))
    if script and res.rc == 2:
        marks = [m for m in STARTED.get(script, ()) if m in res.stdout]
        if marks:
            problems.append(f"refused late: after {marks[0]!r} (computation had started, "
                            f"{res.seconds:.1f} s)")
        elif late_s is not None and res.seconds > late_s:
            problems.append(f"refused late: after {res.seconds:.1f} s")
    return problems


def interrupted_problems(res: Result) -> list[str]:
    """Ctrl-C: one stderr line, exit 130, no traceback."""
    problems = []
    lines = res.stderr_lines
    if res.timed_out:
        return ["did not stop after SIGINT (killed)"]
    if TRACEBACK in res.stderr:
        problems.append(f"traceback ({(lines[-1] if lines else '')[:120]})")
    if res.rc != 130:
        problems.append(f"exit {res.rc}, not 130")
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines")
    return problems


def success_problems(res: Result) -> list[str]:
    """A run that must finish: exit 0, no traceback, in time."""
    problems = []
    if res.timed_out:
        return [f"did not finish within {res.seconds:.0f} s (killed)"]
    if TRACEBACK in res.stderr:
        lines = res.stderr_lines
        problems.append(f"traceback ({(lines[-1] if lines else '')[:120]})")
    if res.rc != 0:
        problems.append(f"exit {res.rc}")
    return problems


def strip_seconds(obj):
    if isinstance(obj, dict):
        return {k: strip_seconds(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [strip_seconds(v) for v in obj]
    return obj


def runs_of(out: Path, stem: str):
    """The ``runs`` of ``out/stem.json`` without ``seconds``, or a sentence why not."""
    path = out / f"{stem}.json"
    try:
        return strip_seconds(json.loads(path.read_text())["runs"])
    except (OSError, ValueError, KeyError) as exc:
        return f"unreadable {path} ({type(exc).__name__})"


def compare_runs(got, want) -> list[str]:
    """What differs between the runs of a resumed sweep and an uninterrupted one."""
    if isinstance(got, str):
        return [got]
    if got == want:
        return []
    if len(got) != len(want):
        return [f"{len(got)} runs, uninterrupted run has {len(want)}"]
    diffs = []
    for g, w in zip(got, want, strict=True):
        keys = sorted(k for k in set(g) | set(w) if g.get(k) != w.get(k))
        if keys:
            diffs.append(f"{w.get('activation', '?')}-seed{w.get('seed')}: {', '.join(keys)}")
    return ["results differ from the uninterrupted run: " + "; ".join(diffs)]


def expect_no_problems(problems: list[str], results: list[Result], what: str = "",
                       note: str = "") -> None:
    """Fail the test with the problems and every command, exit status and stderr."""
    if not problems:
        return
    text = [what] if what else []
    if note:
        text.append(f"note: {note}")
    text.append(f"problems: {'; '.join(problems)}")
    for r in results:
        text.append(f"$ {r.shell()}")
        text.append(f"  exit {r.rc}, {r.seconds:.1f} s{', ' + r.note if r.note else ''}")
        lines = r.stderr.splitlines()
        shown = lines if len(lines) <= 8 else lines[:3] + ["  ..."] + lines[-4:]
        text += [f"  | {line[:300]}" for line in shown]
    pytest.fail("\n".join(text), pytrace=False)


# ---------------------------------------------------------------------------------
# bad inputs: each must be one 'error:' line, exit 2
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadInput:
    """One bad command line: the script's ``BASE`` arguments, then ``args``."""

    script: str
    name: str
    args: tuple[str, ...] = ()
    #: the error message must name one of these
    names: tuple[str, ...] = ()
    #: makes files under the work folder and returns the arguments to use instead of args
    setup: Callable[[Harness], list[str]] | None = None
    timeout: float = 40
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.script}:{self.name}"


def bad(script: str, name: str, args=(), names=(), **kw) -> BadInput:
    return BadInput(script, name, tuple(args), tuple(names), **kw)


def bad_values(script: str, option: str, values, names=None, **kw) -> list[BadInput]:
    """``option value`` for each value, named ``option=value``; the message must name
    the option (or one of ``names``)."""
    return [bad(script, f"{option[2:]}={v!r}", [option, v], names or [option], **kw)
            for v in values]


def check_bad_input(h: Harness, case: BadInput) -> None:
    """Run ``case``; fail unless it is refused per policy, in time."""
    args = case.setup(h) if case.setup else list(case.args)
    late = h.startup.get(case.script, 3.0) + 8.0
    res = h.run(case.script, BASE[case.script] + args, timeout=case.timeout)
    what = case.name if case.setup else " ".join(h.expand(case.args))
    expect_no_problems(one_line_problems(res, list(case.names), case.script, late), [res],
                       what, case.note)


def _fresh_folder(kind: str, option: str, name: str, make: Callable[[Path], object]
                  ) -> Callable[[Harness], list[str]]:
    def setup(h: Harness) -> list[str]:
        d = h.fresh(kind, name)
        d.mkdir(parents=True)
        make(d)
        return [option, str(d)]
    return setup


def out_with(name: str, make: Callable[[Path], object]) -> Callable[[Harness], list[str]]:
    """Setup: ``--out`` a fresh folder in which ``make(folder)`` put an obstacle."""
    return _fresh_folder("out", "--out", name, make)


def data_dir(name: str, make: Callable[[Path], object]) -> Callable[[Harness], list[str]]:
    """Setup: ``--data-dir`` a fresh folder filled by ``make(folder)``."""
    return _fresh_folder("data", "--data-dir", name, make)


def store(name: str, make: Callable[[Path], object] | None = None, copy: bool = True
          ) -> Callable[[Harness], list[str]]:
    """Setup: ``--report-only --out`` a copy of the tiny store (or an empty folder, not
    ``copy``) changed by ``make(folder)``."""
    def setup(h: Harness) -> list[str]:
        d = h.fresh("store", name)
        if copy:
            shutil.copytree(h.tiny_store(), d)
        else:
            d.mkdir(parents=True)
        if make is not None:
            make(d)
        return ["--report-only", "--out", str(d)]
    return setup
