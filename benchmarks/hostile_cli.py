"""Hostile inputs and injected faults against every command-line script.

Runs each script of the toolkit (``experiments/mixlu_mnist.py``, ``mixlu_cifar.py``,
``update_signs.py``, ``stdp_table.py``, ``benchmarks/bench_sweep.py``,
``stdp_bench.py``) in subprocesses with a catalogue of bad option values and files,
and injects faults into real runs (corrupt data and store files, locks, corrupt
checkpoints, Ctrl-C, SIGKILL then rerun, full disks, file-size limits, an output
folder turned read-only after validation, a closed stdout), and checks the project's
error policy (``common/cli.py``):

- a user error prints exactly ONE line on stderr, starting ``error:``, naming the
  option or file, and exits with status 2, without a traceback, before any long
  computation;
- Ctrl-C prints one line and exits with 130;
- a fault is survived when nothing shows a traceback and no result is lost or
  mislabelled: a killed or interrupted sweep rerun with the same command finishes
  with the runs of an uninterrupted one (JSON ``runs`` compared, ``seconds`` ignored).

It prints one row per case and the totals, then every case that did not behave,
with its command, exit status and stderr.  Everything is written under a fresh
folder in /tmp (``--work``), the scripts run with ``cwd`` there, with their own
``HOME``, ``NEGLU_STDP_CACHE`` and ``MPLCONFIGDIR`` there, one process at a time, with
``OMP_NUM_THREADS=1`` and an address-space limit (``--memory-gb``, default 6) so
that a runaway allocation fails instead of exhausting the machine.  Disk-full and
read-only faults mount small tmpfs / read-only bind mounts under the work folder;
they need root (``CAP_SYS_ADMIN``) and are skipped, and said so, without it.

Run (about 20-25 minutes on 2 cores)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/hostile_cli.py
    .venv/bin/python benchmarks/hostile_cli.py --only stdp --json /tmp/hostile.json

Exit status: 0 when every case behaved, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import pickle
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))

SCRIPTS = {
    "mnist": "experiments/mixlu_mnist.py",
    "cifar": "experiments/mixlu_cifar.py",
    "signs": "experiments/update_signs.py",
    "stdp": "experiments/stdp_table.py",
    "bench": "benchmarks/bench_sweep.py",
    "sbench": "benchmarks/stdp_bench.py",
}
TRACEBACK = "Traceback (most recent call last)"
PROGRESS = re.compile(r"\d+%\||\|\s*[\d.]+/[\d.]+ \[|it/s\]|s/it\]|sim/s\]")
HUGE = str(10**12)

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
        not its error message)."""
        lines = []
        for line in self.stderr.replace("\r", "\n").splitlines():
            if line.strip() and not PROGRESS.search(line):
                lines.append(line)
        return lines

    @property
    def progress_lines(self) -> int:
        return sum(1 for line in self.stderr.replace("\r", "\n").splitlines()
                   if PROGRESS.search(line))

    def shell(self) -> str:
        """The command as one would type it (script path relative to the repository)."""
        parts = []
        for p in self.cmd:
            p = p.replace(str(ROOT) + "/", "") if p.startswith(str(ROOT)) else p
            parts.append(p if p and all(c.isalnum() or c in "/._-:=,+" for c in p)
                         else "'" + p.replace("'", "'\\''") + "'")
        return " ".join(parts)


class Harness:
    """Work folder, environment and the one-at-a-time subprocess runner."""

    def __init__(self, work: Path, memory_gb: float):
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
        self.count = 0

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
    def command(self, script: str, args: list[str]) -> list[str]:
        return [PY, str(ROOT / SCRIPTS[script]), *args]

    def _preexec(self, fsize: int | None):
        memory = self.memory

        def limits():
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            if fsize is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        return limits

    def start(self, script: str, args: list[str], *, env: dict | None = None,
              fsize: int | None = None, stdout=subprocess.PIPE) -> Proc:
        cmd = self.command(script, args)
        self.count += 1
        return Proc(cmd, {**self.env, **(env or {})}, self.scratch, self._preexec(fsize),
                    stdout)

    def run(self, script: str, args: list[str], *, timeout: float = 40, **kw) -> Result:
        proc = self.start(script, args, **kw)
        return proc.wait(timeout)


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

    def signal(self, sig: int, group: bool = True) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.popen.pid, sig)
            else:
                self.popen.send_signal(sig)

    def wait(self, timeout: float) -> Result:
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


# ---------------------------------------------------------------------------------
# data fixtures (self-contained: numpy, gzip and pickle only)
# ---------------------------------------------------------------------------------

_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
              np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array: np.ndarray, code: int | None = None, shape=None) -> bytes:
    array = np.asarray(array)
    code = _IDX_CODES[array.dtype] if code is None else code
    shape = array.shape if shape is None else shape
    header = bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True, **kw) -> Path:
    data = idx_bytes(array, **kw)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


MNIST_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def mnist_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, 2 * c: 2 * c + 6, 4:10] = 250
    return images, labels


def write_mnist(directory: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """MNIST-format files with class-dependent bright blocks (as the tests write)."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images, labels = mnist_arrays(n, seed + (split == "t10k"))
        write_idx(directory / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{split}-labels-idx1-ubyte.gz", labels)
    return directory


CIFAR_BATCHES = [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]


def cifar_batch_bytes(images: np.ndarray, labels) -> bytes:
    obj = {b"batch_label": b"batch", b"labels": [int(v) for v in labels],
           b"data": np.ascontiguousarray(images.reshape(len(images), 3072)),
           b"filenames": [f"image_{i}.png".encode() for i in range(len(images))]}
    return pickle.dumps(obj, protocol=2)


def cifar_meta_bytes(names=None) -> bytes:
    names = names or ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                      "horse", "ship", "truck"]
    return pickle.dumps({b"label_names": [n.encode() for n in names],
                         b"num_cases_per_batch": 10000, b"num_vis": 3072}, protocol=2)


def write_cifar(directory: Path, per_batch: int, n_test: int, seed: int = 0) -> Path:
    """CIFAR-format batches with class-dependent coloured blocks (as the tests write)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, name in enumerate(CIFAR_BATCHES):
        n = n_test if name == "test_batch" else per_batch
        labels = (np.arange(n) + i) % 10
        images = rng.integers(0, 60, size=(n, 3, 32, 32)).astype(np.uint8)
        for j, c in enumerate(labels):
            images[j, c % 3, 3 * c: 3 * c + 6, 4:20] = 250
        (directory / name).write_bytes(cifar_batch_bytes(images, labels))
    (directory / "batches.meta").write_bytes(cifar_meta_bytes())
    return directory


def copy_dir(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True)
    return dst


# ---------------------------------------------------------------------------------
# judging
# ---------------------------------------------------------------------------------

#: stdout lines that show a script already computing (validation should be over).
STARTED = {"mnist": (), "cifar": (), "signs": ("Brian2:",), "bench": ("device:",), "stdp": (),
           "sbench": ()}


def one_line_problems(res: Result, names: list[str], script: str | None = None,
                      late_s: float | None = None) -> list[str]:
    """What is wrong with ``res`` as the answer to a user error (empty: per policy)."""
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
    path = out / f"{stem}.json"
    try:
        return strip_seconds(json.loads(path.read_text())["runs"])
    except (OSError, ValueError, KeyError) as exc:
        return f"unreadable {path} ({type(exc).__name__})"


def compare_runs(got, want) -> list[str]:
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


# ---------------------------------------------------------------------------------
# the catalogue
# ---------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    script: str
    kind: str  # "input" or "fault"
    description: str
    action: Callable[[], tuple[list[str], list[Result]]]
    note: str = ""


@dataclass
class Outcome:
    case: Case
    problems: list[str]
    results: list[Result]
    seconds: float
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.skipped


@dataclass
class Fixtures:
    work: Path
    tiny: Path = field(init=False)
    med: Path = field(init=False)
    cifar: Path = field(init=False)
    cifar_med: Path = field(init=False)
    regular: Path = field(init=False)
    refs: dict = field(default_factory=dict)

    def __post_init__(self):
        data = self.work / "data"
        self.tiny = write_mnist(data / "mnist-tiny", 200, 50)
        self.med = write_mnist(data / "mnist-med", 1500, 300, seed=1)
        self.cifar = write_cifar(data / "cifar-tiny", 40, 40)
        self.cifar_med = write_cifar(data / "cifar-med", 200, 100, seed=1)
        self.regular = self.work / "regular_file.txt"
        self.regular.write_text("not a directory\n")

    def path(self, *parts) -> Path:
        p = self.work.joinpath("cases", *parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


def input_cases(h: Harness, fx: Fixtures, startup: dict[str, float]) -> list[Case]:
    """Bad option values and files: each must be one 'error:' line, exit 2."""
    cases: list[Case] = []
    W = fx.work

    def add(cid, script, bad, names, *, base=None, setup=None, timeout=40, note=""):
        base_args = BASE[script] if base is None else base

        def action():
            args = (setup() if setup else None) or bad
            late = startup.get(script, 3.0) + 8.0
            res = h.run(script, base_args + list(args), timeout=timeout)
            return one_line_problems(res, names, script, late), [res]
        cases.append(Case(f"{script}:{cid}", script, "input", " ".join(map(str, bad))
                          if not setup else cid, action, note))

    BASE = {
        "mnist": ["--quick", "--dataset", "mnist", "--data-dir", str(fx.tiny), "--epochs", "1",
                  "--no-progress"],
        "cifar": ["--quick", "--data-dir", str(fx.cifar), "--epochs", "1", "--no-progress"],
        "signs": ["--epochs", "1", "--train-size", "100", "--synapses", "2",
                  "--ramp-duration-s", "0.1"],
        "stdp": ["--no-progress", "--trials", "1"],
        "bench": ["--percents", "0,5", "--steps", "2", "--test-size", "100"],
        "sbench": ["--n-pairings", "1", "--trials", "1", "--poisson-duration-s", "0.1",
                   "--repeats", "1"],
    }

    # ---- mixlu_mnist: every numeric option ------------------------------------------
    for v in ["-1", "0", "abc", "", "nan", HUGE]:
        add(f"seeds={v!r}", "mnist", ["--seeds", v], ["--seeds"],
            note="huge: a seed count that cannot be trained" if v == HUGE else "")
    for v in ["-1", "0", "abc", "", "inf"]:
        add(f"epochs={v!r}", "mnist", ["--epochs", v], ["--epochs"])
    for v in ["0", "1e3"]:
        add(f"train-subset={v!r}", "mnist", ["--train-subset", v], ["--train-subset"])
    for v in ["-5", "nan"]:
        add(f"test-subset={v!r}", "mnist", ["--test-subset", v], ["--test-subset"])
    for v in ["", ",", "5,,6", "1,1.0", "0,-0", "1,1.0000000000000002", "150", "abc", "nan",
              "1e400"]:
        add(f"percents={v!r}", "mnist", ["--percents", v], ["--percents"])
    for v in ["", "nope", "mixlu", "mixlu:150", "mixlu:5:sideways", "mixlu:5:reference:sometimes",
              "relu,relu", "mixlu:5:percent=6", "relu:dropout=nan", "mixlu:5:exact:fixed:extra",
              "mixlu:1,mixlu:1.0000000000000002"]:
        add(f"activations={v!r}", "mnist", ["--activations", v], ["--activations"])
    add("activations+percents", "mnist", ["--activations", "relu", "--percents", "0"],
        ["--activations", "--percents"])
    for v in ["mps", "meta", "cuda", "cuda:7", "xla", ""]:
        add(f"device={v!r}", "mnist", ["--device", v], ["--device"])
    for opt, v in [("--backward", "sideways"), ("--engine", "turbo"), ("--mask", "sometimes"),
                   ("--dataset", "nope"), ("--dataset", "")]:
        add(f"{opt[2:]}={v!r}", "mnist", [opt, v], [opt, "dataset"])

    # ---- --out: unwritable, not a directory, pre-existing obstacles ------------------
    def out_with(name, make):
        def setup():
            d = fx.path("out", name)
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
            make(d)
            return ["--out", str(d)]
        return setup

    for cid, v in [("proc", "/proc/x"), ("sys", "/sys/kernel"), ("file/sub", f"{fx.regular}/sub"),
                   ("regular-file", str(fx.regular)), ("dev-null", "/dev/null"),
                   ("long-name", str(W / ("n" * 300)))]:
        add(f"out={cid}", "mnist", ["--out", v], ["--out"])
    add("out=''", "mnist", ["--out", ""], ["--out"],
        note="'' is Path('') = '.', the current folder")
    add("out: runs is a file", "mnist", [], ["runs", "--out"],
        setup=out_with("runs-file", lambda d: (d / "runs").write_text("x")))
    add("out: .lock is a directory", "mnist", [], [".lock", "--out"],
        setup=out_with("lock-dir", lambda d: (d / ".lock").mkdir()))
    add("out: mixlu_mnist.json is a directory", "mnist", [], ["mixlu_mnist.json", "--out"],
        setup=out_with("json-dir", lambda d: (d / "mixlu_mnist.json").mkdir()))

    # ---- --data-dir --------------------------------------------------------------------
    def data_dir(name, make):
        def setup():
            d = fx.path("data", name)
            if d.exists() or d.is_symlink():
                shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            make(d)
            return ["--data-dir", str(d)]
        return setup

    add("data-dir missing", "mnist", ["--data-dir", str(W / "no-such-dir")], ["--data-dir"])
    add("data-dir is a file", "mnist", ["--data-dir", str(fx.regular)], ["--data-dir"])

    def images_only(d):
        shutil.copy(fx.tiny / "train-images-idx3-ubyte.gz", d)
        shutil.copy(fx.tiny / "t10k-images-idx3-ubyte.gz", d)
        shutil.copy(fx.tiny / "t10k-labels-idx1-ubyte.gz", d)

    def labels_only(d):
        shutil.copy(fx.tiny / "train-labels-idx1-ubyte.gz", d)

    def images_dir(d):
        for f in fx.tiny.iterdir():
            shutil.copy(f, d)
        (d / "train-images-idx3-ubyte.gz").unlink()
        (d / "train-images-idx3-ubyte.gz").mkdir()

    def broken_link(d):
        images_dir(d)
        (d / "train-images-idx3-ubyte.gz").rmdir()
        (d / "train-images-idx3-ubyte.gz").symlink_to(d / "nowhere")

    def dev_zero(d):
        images_dir(d)
        (d / "train-images-idx3-ubyte.gz").rmdir()
        (d / "train-images-idx3-ubyte").symlink_to("/dev/zero")

    add("data-dir: images but no labels", "mnist", [], ["train-labels", "train-images"],
        setup=data_dir("images-only", images_only))
    add("data-dir: labels but no images", "mnist", [], ["train-images", "train-labels"],
        setup=data_dir("labels-only", labels_only))
    add("data-dir: images path is a directory", "mnist", [], ["train-images"],
        setup=data_dir("images-dir", images_dir))
    add("data-dir: images is a broken symlink", "mnist", [], ["train-images"],
        setup=data_dir("broken-link", broken_link))
    add("data-dir: images -> /dev/zero", "mnist", [], ["train-images"],
        setup=data_dir("dev-zero", dev_zero))

    # ---- --report-only on empty / foreign / corrupt stores ----------------------------
    def store(name, make, copy=True):
        def setup():
            d = fx.path("store", name)
            if d.exists():
                shutil.rmtree(d)
            ref = fx.refs.get("tiny_store")
            if copy and ref is not None:
                shutil.copytree(ref, d)
            else:
                d.mkdir(parents=True)
            if make is not None:
                make(d)
            return ["--report-only", "--out", str(d)]
        return setup

    def empty(d):
        pass

    def foreign(d):
        (d / "notes.txt").write_text("holiday photos\n")
        (d / "photo.jpg").write_bytes(b"\xff\xd8\xff")

    def first_run(d):
        return sorted((d / "runs").glob("*.json"))[0]

    def edit_run(fn):
        def make(d):
            p = first_run(d)
            new = fn(json.loads(p.read_text()), p.read_text())
            if isinstance(new, bytes):
                p.write_bytes(new)
            else:
                p.write_text(new)
        make.__name__ = fn.__name__
        return make

    add("report-only without --out", "mnist", ["--report-only"], ["--report-only", "--out"])
    add("report-only: empty dir", "mnist", [], ["sweep.json", "--out", "report-only"],
        setup=store("empty", empty, copy=False))
    add("report-only: foreign dir", "mnist", [], ["sweep.json", "--out", "report-only"],
        setup=store("foreign", foreign, copy=False))
    def truncate_sweep(d):
        (d / "sweep.json").write_text((d / "sweep.json").read_text()[:40])
    add("report-only: sweep.json truncated", "mnist", [], ["sweep.json"],
        setup=store("sweep-trunc", truncate_sweep))
    add("report-only: sweep.json = []", "mnist", [], ["sweep.json"],
        setup=store("sweep-list", lambda d: (d / "sweep.json").write_text("[]")))
    add("report-only: sweep.json foreign object, no runs", "mnist", [], ["--out", "runs"],
        setup=store("sweep-foreign", lambda d: (shutil.rmtree(d / "runs"),
                                                 (d / "sweep.json").write_text('{"foo": 1}'))))
    add("report-only: sweep.json is a directory", "mnist", [], ["sweep.json"],
        setup=store("sweep-dir", lambda d: ((d / "sweep.json").unlink(),
                                             (d / "sweep.json").mkdir())))

    def run_truncated(r, text):
        return text[: len(text) // 2]

    def run_list(r, text):
        return "[]"

    def run_missing(r, text):
        return json.dumps({k: v for k, v in r.items() if k not in ("test_error", "epochs")})

    def run_seed_str(r, text):
        return json.dumps({**r, "seed": "zero"})

    def run_percent_str(r, text):
        return json.dumps({**r, "neg_percent": "abc", "test_error": "x"})

    def run_epochs_bad(r, text):
        return json.dumps({**r, "epochs": [1, 2, 3]})

    def run_binary(r, text):
        return b"\xff\xfe\x00binary\x80"

    def run_spec_bad(r, text):
        return json.dumps({**r, "activation_spec": {"kind": "warp-drive"}})

    for fn, names in [(run_truncated, ["runs/"]), (run_list, ["runs/"]),
                      (run_missing, ["runs/"]), (run_seed_str, ["runs/", "seed"]),
                      (run_percent_str, ["runs/", "neg_percent", "test_error"]),
                      (run_epochs_bad, ["runs/", "epochs"]), (run_binary, ["runs/"]),
                      (run_spec_bad, ["runs/", "activation"])]:
        add(f"report-only: run file {fn.__name__[4:]}", "mnist", [], names,
            setup=store(fn.__name__, edit_run(fn)))

    # ---- mixlu_cifar -------------------------------------------------------------------
    for v in ["31", "0", "abc", HUGE]:
        add(f"epochs={v!r}", "cifar", ["--epochs", v], ["--epochs"])
    for v in ["101", "1,1"]:
        add(f"percents={v!r}", "cifar", ["--percents", v], ["--percents"])
    add("activations bad mask", "cifar", ["--activations", "mixlu:5:reference:sometimes"],
        ["--activations"])
    for v in ["mps", "cuda:7"]:
        add(f"device={v!r}", "cifar", ["--device", v], ["--device"])
    add("out=/proc/x", "cifar", ["--out", "/proc/x"], ["--out"])
    add("out=regular-file", "cifar", ["--out", str(fx.regular)], ["--out"])
    add("data-dir missing", "cifar", ["--data-dir", str(W / "no-such-dir")], ["--data-dir"])
    add("dataset=nope", "cifar", ["--dataset", "nope"], ["dataset"])
    add("seeds=0", "cifar", ["--seeds", "0"], ["--seeds"])
    add("train-subset=0", "cifar", ["--train-subset", "0"], ["--train-subset"])
    add("data-dir lacks data_batch_3", "cifar", [], ["data_batch_3", "cifar-10"],
        setup=data_dir("cifar-lacks-3", lambda d: ([shutil.copy(f, d) for f in fx.cifar.iterdir()],
                                                   (d / "data_batch_3").unlink())))
    add("report-only on a mixlu_mnist store", "cifar", [], ["mixlu_mnist", "--out"],
        setup=store("mnist-for-cifar", lambda d: None),
        note="a store of another experiment read as CIFAR results")

    # ---- update_signs ------------------------------------------------------------------
    sig_to = 90
    for v in ["-1", "0", "abc"]:
        add(f"epochs={v!r}", "signs", ["--epochs", v], ["--epochs"])
    for v in ["0", "101", "nan"]:
        add(f"neg-percent={v!r}", "signs", ["--neg-percent", v], ["--neg-percent"])
    for v in ["99", "abc"]:
        add(f"train-size={v!r}", "signs", ["--train-size", v], ["--train-size"])
    for v in ["-1"]:
        add(f"seed={v!r}", "signs", ["--seed", v], ["--seed"], timeout=sig_to)
    for v in ["1", "abc", HUGE]:
        add(f"synapses={v!r}", "signs", ["--synapses", v], ["--synapses"], timeout=sig_to)
    for v in ["0", "nan", "1e300"]:
        add(f"ramp-duration-s={v!r}", "signs", ["--ramp-duration-s", v], ["--ramp-duration-s"],
            timeout=sig_to)
    add("convention=bogus", "signs", ["--convention", "bogus"], ["--convention"])
    add("dataset=nope", "signs", ["--dataset", "nope"], ["--dataset"])
    for v in ["mps", "cuda:7"]:
        add(f"device={v!r}", "signs", ["--device", v], ["--device", "device"])
    add("out=/proc/x", "signs", ["--out", "/proc/x"], ["--out"])
    add("out=file/sub", "signs", ["--out", f"{fx.regular}/sub"], ["--out"])
    add("out: update_signs.json is a directory", "signs", [], ["update_signs.json", "--out"],
        setup=out_with("signs-json-dir", lambda d: (d / "update_signs.json").mkdir()),
        timeout=sig_to)
    add("data-dir missing", "signs", ["--data-dir", str(W / "no-such-dir")], ["--data-dir"])
    add("data-dir: t10k images but no labels", "signs", [], ["t10k-labels", "t10k-images"],
        setup=data_dir("signs-images-only", lambda d: shutil.copy(
            fx.tiny / "t10k-images-idx3-ubyte.gz", d)), timeout=sig_to)
    add("dataset mnist, files absent (no download)", "signs", [], ["mnist", "train-images"],
        setup=lambda: ["--dataset", "mnist"] + data_dir("signs-empty", lambda d: None)(),
        timeout=sig_to)

    # ---- stdp_table ----------------------------------------------------------------------
    for opt, values in [
        ("--delta-t-ms", ["0", "nan", "abc"]),
        ("--n-pairings", ["0", HUGE]),
        ("--pairing-rate-hz", ["0", "1e9"]),
        ("--jitter-ms", ["-1"]),
        ("--trials", ["0", str(10**9)]),
        ("--poisson-rate-hz", ["inf"]),
        ("--correlation", ["1.5"]),
        ("--poisson-duration-s", ["0", "1e12"]),
        ("--window-grid-ms", ["nan"]),
        ("--seed", ["-1"]),
        ("--dt-ms", ["50", "0"]),
        ("--rules", ["bogus"]),
        ("--window-presets", ["bogus"]),
        ("--convention", ["bogus"]),
        ("--target", ["bogus"]),
    ]:
        for v in values:
            add(f"{opt[2:]}={v!r}", "stdp", [opt, v], [opt], timeout=30)
    add("rules twice", "stdp", ["--rules", "hebbian", "hebbian"], ["--rules"])
    for cid, v in [("proc", "/proc/x"), ("regular-file", str(fx.regular)),
                   ("file/sub", f"{fx.regular}/sub")]:
        add(f"out={cid}", "stdp", ["--out", v], ["--out"])
    add("out: stdp_windows.png is a directory", "stdp", [], ["stdp_windows.png", "--out"],
        setup=out_with("stdp-png-dir", lambda d: (d / "stdp_windows.png").mkdir()))

    # ---- bench_sweep -------------------------------------------------------------------
    for opt, values in [("--seeds", ["0"]), ("--batch-size", ["0", HUGE]),
                        ("--steps", ["0", HUGE]), ("--test-size", [HUGE]),
                        ("--epochs", ["0"]), ("--max-members", ["0"]),
                        ("--threads", ["0", str(10**6)]), ("--percents", ["", "1,1"]),
                        ("--backward", ["bogus", "reference,reference"]),
                        ("--engines", ["turbo"]), ("--device", ["mps"]),
                        ("--timer", ["bogus"])]:
        for v in values:
            add(f"{opt[2:]}={v!r}", "bench", [opt, v], [opt], timeout=40)
    add("rounding-floor with one engine", "bench", ["--rounding-floor", "--engines", "loop"],
        ["--rounding-floor"])
    add("checkpoint-cost with 1 epoch", "bench", ["--checkpoint-cost"], ["--checkpoint-cost"])
    add("json is a directory", "bench", ["--json", str(W)], ["--json"])
    add("json=/proc/x/y.json", "bench", ["--json", "/proc/x/y.json"], ["--json"])

    # ---- stdp_bench --------------------------------------------------------------------
    for opt, values in [("--n-pairings", ["0"]), ("--pairing-rate-hz", ["nan"]),
                        ("--poisson-duration-s", ["0"]), ("--trials", ["0"]),
                        ("--target", ["cpp_standalone", "bogus"]), ("--repeats", ["0"])]:
        for v in values:
            add(f"{opt[2:]}={v!r}", "sbench", [opt, v], [opt], timeout=60)
    return cases


# ---------------------------------------------------------------------------------
# faults
# ---------------------------------------------------------------------------------


def fault_cases(h: Harness, fx: Fixtures, startup: dict[str, float]) -> list[Case]:
    cases: list[Case] = []

    def add(cid, script, description, action, note=""):
        cases.append(Case(f"{script}:{cid}", script, "fault", description, action, note))

    TINY = ["--dataset", "mnist", "--data-dir", str(fx.tiny), "--percents", "0,5", "--epochs",
            "2", "--no-progress"]
    MED = ["--dataset", "mnist", "--data-dir", str(fx.med), "--percents", "0,5", "--epochs", "4",
           "--no-progress"]
    CIF = ["--data-dir", str(fx.cifar_med), "--percents", "0,3", "--epochs", "3", "--no-progress"]

    def ref(name: str, script: str, args: list[str], stem: str):
        """Runs of an uninterrupted run (computed once)."""
        key = f"ref-{name}"
        if key not in fx.refs:
            out = fx.work / "refs" / name
            if out.exists():
                shutil.rmtree(out)
            res = h.run(script, args + ["--out", str(out)], timeout=240)
            if res.rc != 0:
                raise RuntimeError(f"reference run failed: {res.shell()}\n{res.stderr[-2000:]}")
            fx.refs[key] = runs_of(out, stem)
            fx.refs[f"{key}-dir"] = out
        return fx.refs[key]

    # ---- corrupt MNIST files: one line naming the file ---------------------------------
    def mnist_data_fault(cid, description, mutate, names):
        def action():
            d = copy_dir(fx.tiny, fx.path("faults", "mnist-" + cid))
            mutate(d)
            res = h.run("mnist", ["--quick", "--dataset", "mnist", "--data-dir", str(d),
                                  "--epochs", "1", "--no-progress"], timeout=60)
            return one_line_problems(res, names, "mnist"), [res]
        add(cid, "mnist", description, action)

    TI = "train-images-idx3-ubyte.gz"
    TL = "train-labels-idx1-ubyte.gz"

    def raw_images(d, data: bytes, gz=True):
        (d / TI).unlink()
        if gz:
            (d / TI).write_bytes(gzip.compress(data, mtime=0))
        else:
            (d / "train-images-idx3-ubyte").write_bytes(data)

    images, labels = mnist_arrays(200, 0)
    good = idx_bytes(images)

    def gz_truncated(d):
        b = (d / TI).read_bytes()
        (d / TI).write_bytes(b[: len(b) // 2])

    def gz_crc(d):
        b = bytearray((d / TI).read_bytes())
        for i in range(len(b) // 2, len(b) // 2 + 64):
            b[i] ^= 0x5A
        (d / TI).write_bytes(bytes(b))

    mnist_data_fault("idx-gz-truncated", "train images .gz cut in half", gz_truncated, [TI])
    mnist_data_fault("idx-gz-corrupt", "64 bytes of the deflate stream flipped", gz_crc, [TI])
    mnist_data_fault("idx-wrong-magic", "raw file with magic 08 03 00 00", lambda d: raw_images(
        d, b"\x08\x03\x00\x00" + good[4:], gz=False), ["train-images"])
    mnist_data_fault("idx-unknown-type", "IDX type code 0x07", lambda d: raw_images(
        d, good[:2] + b"\x07" + good[3:]), [TI])
    mnist_data_fault("idx-payload-truncated", "header says 200 images, 150 present",
                     lambda d: raw_images(d, good[: 16 + 150 * 784]), [TI])
    mnist_data_fault("idx-trailing-bytes", "1000 bytes after the declared shape",
                     lambda d: raw_images(d, good + b"\0" * 1000), [TI])
    mnist_data_fault("idx-count-mismatch", "199 labels for 200 images", lambda d: write_idx(
        d / TL, labels[:199]), ["labels", "images"])
    mnist_data_fault("idx-label-12", "a label 12", lambda d: write_idx(
        d / TL, np.where(np.arange(200) == 7, 12, labels).astype(np.uint8)), [TL, "label"])
    mnist_data_fault("idx-32x32", "images of 32x32", lambda d: write_idx(
        d / TI, np.zeros((200, 32, 32), np.uint8)), [TI])
    mnist_data_fault("idx-int32", "int32 images", lambda d: write_idx(
        d / TI, images.astype(np.int32)), [TI])
    mnist_data_fault("idx-empty-file", "zero-byte images file", lambda d: (d / TI).write_bytes(b""),
                     [TI])
    mnist_data_fault("idx-huge-dims", "header declares 4294967295 x 28 x 28", lambda d: raw_images(
        d, good[:4] + struct.pack(">I", 2**32 - 1) + good[8:]), [TI])

    # ---- corrupt CIFAR batches: one line naming the file -------------------------------
    def cifar_fault(cid, description, mutate, names, survive_ok=False):
        def action():
            d = copy_dir(fx.cifar, fx.path("faults", "cifar-" + cid))
            mutate(d)
            res = h.run("cifar", ["--quick", "--data-dir", str(d), "--epochs", "1",
                                  "--no-progress", "--no-cache"], timeout=90)
            if survive_ok and res.rc == 0 and TRACEBACK not in res.stderr:
                return [], [res]  # a harmless mutation
            problems = one_line_problems(res, names, "cifar")
            if (fx.work / "PWNED").exists():
                problems.append("the pickle's code RAN (PWNED file created)")
            return problems, [res]
        add(cid, "cifar", description, action)

    def fuzz(seed):
        def mutate(d):
            rng = np.random.default_rng(seed)
            b = bytearray((d / "data_batch_2").read_bytes())
            for i in rng.integers(2, 400, size=12):
                b[i] = int(rng.integers(0, 256))
            (d / "data_batch_2").write_bytes(bytes(b))
        return mutate

    deep = b"\x80\x02" + b"]" * 100000 + b"a" * 99999 + b"."
    evil = (b"cos\nsystem\n(S'touch " + str(fx.work / "PWNED").encode() + b"'\ntR.")
    cyclic = b"\x80\x02]q\x00h\x00a."
    rng = np.random.default_rng(5)
    imgs = rng.integers(0, 255, size=(40, 3, 32, 32)).astype(np.uint8)
    cifar_fault("pickle-truncated", "data_batch_3 cut in half", lambda d: (d / "data_batch_3")
                .write_bytes((d / "data_batch_3").read_bytes()[:60000]), ["data_batch_3"])
    cifar_fault("pickle-random-bytes", "data_batch_1 = 4 KB of random bytes", lambda d: (
        d / "data_batch_1").write_bytes(np.random.default_rng(1).bytes(4096)), ["data_batch_1"])
    for s in (1, 2, 3):
        cifar_fault(f"pickle-fuzz-{s}", f"12 random bytes of data_batch_2's first 400 (seed {s})",
                    fuzz(s), ["data_batch_2"], survive_ok=True)
    cifar_fault("pickle-deep", "a list nested 100,000 deep", lambda d: (d / "data_batch_4")
                .write_bytes(deep), ["data_batch_4"])
    cifar_fault("pickle-evil-global", "a pickle calling os.system", lambda d: (d / "test_batch")
                .write_bytes(evil), ["test_batch"])
    cifar_fault("pickle-cycle", "a list containing itself", lambda d: (d / "data_batch_5")
                .write_bytes(cyclic), ["data_batch_5"])
    cifar_fault("batch-no-labels", "dict without labels", lambda d: (d / "data_batch_1")
                .write_bytes(pickle.dumps({b"data": imgs.reshape(40, 3072)}, protocol=2)),
                ["data_batch_1"])
    cifar_fault("batch-float-data", "float64 data (40, 3072)", lambda d: (d / "data_batch_1")
                .write_bytes(pickle.dumps({b"data": imgs.reshape(40, 3072).astype(float),
                                           b"labels": [0] * 40}, protocol=2)), ["data_batch_1"])
    cifar_fault("batch-label-10", "a label 10", lambda d: (d / "data_batch_1").write_bytes(
        cifar_batch_bytes(imgs, [10] + [0] * 39)), ["data_batch_1"])
    cifar_fault("meta-3-names", "batches.meta with 3 class names", lambda d: (
        d / "batches.meta").write_bytes(cifar_meta_bytes(["a", "b", "c"])), ["batches.meta"])

    def bad_archive(d):
        for f in list(d.iterdir()):
            f.unlink()
        (d / "cifar-10-python.tar.gz").write_bytes(np.random.default_rng(2).bytes(10000))
    cifar_fault("archive-corrupt", "only a corrupt cifar-10-python.tar.gz", bad_archive,
                ["cifar-10-python.tar.gz"])

    def cache_corrupt():
        cache = fx.work / "cache-corrupt"
        env = {"NEGLU_STDP_CACHE": str(cache)}
        args = ["--quick", "--data-dir", str(fx.cifar), "--epochs", "1", "--no-progress"]
        first = h.run("cifar", args, env=env, timeout=90)
        files = sorted((cache / "preprocessed").glob("*.pt"))
        if first.rc != 0 or not files:
            return ["setup run failed or wrote no cache file"], [first]
        for f in files:
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
        res = h.run("cifar", args, env=env, timeout=90)
        problems = success_problems(res)
        if "recomputing" not in res.stdout + res.stderr:
            problems.append("no line saying the cache was unreadable")
        return problems, [first, res]
    add("preprocess-cache-truncated", "cifar", "cached preprocessing truncated to a third",
        cache_corrupt)

    def cache_is_file():
        cache = fx.work / "cache-is-a-file"
        cache.write_text("x")
        res = h.run("cifar", ["--quick", "--data-dir", str(fx.cifar), "--epochs", "1",
                              "--no-progress"], env={"NEGLU_STDP_CACHE": str(cache)}, timeout=90)
        if res.rc == 2:
            return one_line_problems(res, ["NEGLU_STDP_CACHE", str(cache)], "cifar"), [res]
        return success_problems(res), [res]
    add("cache-is-a-file", "cifar", "NEGLU_STDP_CACHE names a regular file", cache_is_file)

    # ---- run store: locks, corrupt run files, checkpoints --------------------------------
    def tiny_store_case(cid, description, prepare, expect, names=(), args=None, note=""):
        def action():
            want = ref("tiny", "mnist", TINY, "mixlu_mnist")
            out = fx.path("faults", "store-" + cid)
            if out.exists():
                shutil.rmtree(out)
            prepare(out)
            res = h.run("mnist", (args or TINY) + ["--out", str(out)], timeout=120)
            if expect == "error":
                return one_line_problems(res, list(names), "mnist"), [res]
            problems = success_problems(res)
            if not problems:
                problems += compare_runs(runs_of(out, "mixlu_mnist"), want)
            return problems, [res]
        add(cid, "mnist", description, action, note)

    def dead_pid() -> int:
        p = subprocess.Popen(["true"])
        p.wait()
        return p.pid

    def with_lock(text):
        def prepare(out):
            out.mkdir(parents=True)
            (out / ".lock").write_text(text() if callable(text) else text)
        return prepare

    def from_ref(edit):
        def prepare(out):
            ref("tiny", "mnist", TINY, "mixlu_mnist")
            shutil.copytree(fx.refs["ref-tiny-dir"], out)
            edit(out)
        return prepare

    def first_run_file(out):
        return sorted((out / "runs").glob("*.json"))[0]

    tiny_store_case("lock-dead-pid", "stale .lock of a dead PID", with_lock(
        lambda: f"{dead_pid()}\n"), "ok")
    tiny_store_case("lock-pid-1", ".lock held by a live PID (1)", with_lock("1\n"), "error",
                    ["PID 1", ".lock", "--out"])
    tiny_store_case("lock-garbage", ".lock holding garbage", with_lock("\x00garbage\n"), "ok")
    tiny_store_case("checkpoints-is-a-file", "DIR/checkpoints is a regular file",
                    lambda out: (out.mkdir(parents=True), (out / "checkpoints").write_text("x")),
                    "error", ["checkpoints"],
                    note="either a one-line error or training without checkpoints")
    tiny_store_case("run-file-truncated", "runs/<key>.json cut in half (resume)", from_ref(
        lambda out: first_run_file(out).write_text(first_run_file(out).read_text()[:50])),
        "error", ["runs/"])
    tiny_store_case("run-file-list", "runs/<key>.json = [] (resume)", from_ref(
        lambda out: first_run_file(out).write_text("[]")), "error", ["runs/"])
    tiny_store_case("run-file-missing-fields", "runs/<key>.json without test_error (resume)",
                    from_ref(lambda out: first_run_file(out).write_text(json.dumps(
                        {k: v for k, v in json.loads(first_run_file(out).read_text()).items()
                         if k != "test_error"}))), "error", ["runs/"])
    tiny_store_case("sweep-json-truncated", "sweep.json cut (resume)", from_ref(
        lambda out: (out / "sweep.json").write_text((out / "sweep.json").read_text()[:30])),
        "error", ["sweep.json"])
    tiny_store_case("sweep-other-engine", "resume a batched store with --engine loop",
                    from_ref(lambda out: None), "error", ["engine"],
                    args=TINY + ["--engine", "loop"])

    def leftovers(out):
        ref("tiny", "mnist", TINY, "mixlu_mnist")
        out.mkdir(parents=True)
        (out / "runs").mkdir()
        (out / "checkpoints").mkdir()
        (out / "runs" / ".lenet-relu-seed0.json.k3j4.tmp").write_text('{"half": ')
        (out / "checkpoints" / ".batched-0000.pt.x1.tmp").write_bytes(b"PK\x03\x04")
        (out / ".mixlu_mnist.json.zz.tmp").write_text("{")
    tiny_store_case("tmp-leftovers", "leftover .tmp files of killed writes", leftovers, "ok")

    # ---- kill, interrupt, resume: results equal an uninterrupted run ------------------------
    def has_checkpoint(out):
        return lambda: any((out / "checkpoints").glob("*.pt"))

    def killed_then_rerun(cid, script, args, stem, sig, *, when="checkpoint", description=""):
        def action():
            want = ref(f"{script}-{args_key(args)}", script, args, stem)
            out = fx.path("faults", cid)
            if out.exists():
                shutil.rmtree(out)
            proc = h.start(script, args + ["--out", str(out)])
            if when == "checkpoint":
                hit = proc.wait_for(has_checkpoint(out), 120)
            else:  # a first finished run in runs/
                hit = proc.wait_for(lambda: (out / "runs").is_dir() and any(
                    (out / "runs").glob("*.json")), 120)
            if not hit:
                return [f"could not inject: the run ended before the {when} appeared"], \
                    [proc.wait(5)]
            proc.signal(sig)
            first = proc.wait(60)
            first.note = f"{signal.Signals(sig).name} at {first.seconds:.1f} s"
            problems = []
            if sig == signal.SIGINT:
                problems += [f"on SIGINT: {p}" for p in interrupted_problems(first)]
            elif first.rc == 0:
                problems.append("finished before the signal took effect (inconclusive)")
            res = h.run(script, args + ["--out", str(out)], timeout=240)
            p = success_problems(res) or compare_runs(runs_of(out, stem), want)
            problems += [f"rerun: {x}" for x in p]
            return problems, [first, res]
        add(cid, script, description, action)

    def args_key(args):
        return "loop" if "loop" in args else "batched"

    def garbage_ckpt(d):
        for f in (d / "checkpoints").glob("*.pt"):
            f.write_bytes(np.random.default_rng(0).bytes(4096))

    def truncated_ckpt(d):
        for f in (d / "checkpoints").glob("*.pt"):
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])

    killed_then_rerun("mnist-sigkill", "mnist", MED, "mixlu_mnist", signal.SIGKILL,
                      description="SIGKILL after the first epoch checkpoint, rerun the same "
                      "command")
    def ckpt_variant(cid, mutate, description):
        def action():
            want = ref("mnist-batched", "mnist", MED, "mixlu_mnist")
            out = fx.path("faults", cid)
            if out.exists():
                shutil.rmtree(out)
            proc = h.start("mnist", MED + ["--out", str(out)])
            if not proc.wait_for(has_checkpoint(out), 120):
                return ["could not inject: no checkpoint appeared"], [proc.wait(5)]
            proc.signal(signal.SIGKILL)
            first = proc.wait(30)
            if not any((out / "checkpoints").glob("*.pt")):
                return ["could not inject: the checkpoint vanished"], [first]
            mutate(out)
            res = h.run("mnist", MED + ["--out", str(out)], timeout=240)
            problems = success_problems(res)
            if not problems:
                problems += compare_runs(runs_of(out, "mixlu_mnist"), want)
                if "checkpoint" not in res.stderr + res.stdout:
                    problems.append("no warning about the unusable checkpoint")
            return problems, [first, res]
        add(cid, "mnist", description, action)

    ckpt_variant("ckpt-garbage", garbage_ckpt, "killed sweep's checkpoint replaced by 4 KB of "
                 "random bytes, rerun")
    ckpt_variant("ckpt-truncated", truncated_ckpt, "killed sweep's checkpoint truncated to half, "
                 "rerun")

    def foreign_ckpt(d):
        other = fx.path("faults", "ckpt-foreign-source")
        if other.exists():
            shutil.rmtree(other)
        args = [a if a != "4" else "3" for a in MED]  # --epochs 3: another configuration
        proc = h.start("mnist", args + ["--out", str(other)])
        proc.wait_for(has_checkpoint(other), 120)
        proc.signal(signal.SIGKILL)
        proc.wait(30)
        for f in (d / "checkpoints").glob("*.pt"):
            f.unlink()
        for f in (other / "checkpoints").glob("*.pt"):
            shutil.copy(f, d / "checkpoints" / f.name)
    ckpt_variant("ckpt-foreign", foreign_ckpt, "killed sweep's checkpoint replaced by one of "
                 "another configuration (--epochs 3), rerun")

    killed_then_rerun("mnist-sigint", "mnist", MED, "mixlu_mnist", signal.SIGINT,
                      description="Ctrl-C (SIGINT to the process group) after the first "
                      "checkpoint: 130 and one line; rerun")
    killed_then_rerun("mnist-sigterm", "mnist", MED, "mixlu_mnist", signal.SIGTERM,
                      description="SIGTERM after the first checkpoint; rerun")
    killed_then_rerun("mnist-sigkill-loop", "mnist", MED + ["--engine", "loop"], "mixlu_mnist",
                      signal.SIGKILL, when="run",
                      description="--engine loop: SIGKILL after the first finished run; rerun")
    killed_then_rerun("cifar-sigkill", "cifar", CIF, "mixlu_cifar", signal.SIGKILL,
                      description="SIGKILL after the first checkpoint; rerun")

    def sigint_script(cid, script, args, wait_marker, delay, description, env=None):
        def action():
            proc = h.start(script, args, env=env)
            if wait_marker:
                if not proc.wait_for(lambda: wait_marker in proc.stdout, 120):
                    return [f"could not inject: {wait_marker!r} never printed"], [proc.wait(5)]
            t = time.perf_counter() + delay
            while time.perf_counter() < t and proc.running():
                time.sleep(0.02)
            if not proc.running():
                return ["could not inject: the run ended first"], [proc.wait(5)]
            proc.signal(signal.SIGINT)
            res = proc.wait(60)
            res.note = f"SIGINT at {proc.elapsed:.1f} s"
            return interrupted_problems(res), [res]
        add(cid, script, description, action)

    sigint_script("sigint", "stdp", ["--no-progress"], None, startup.get("stdp", 3) + 1.5,
                  "Ctrl-C (SIGINT to the process group) during the Brian2 run")
    sigint_script("sigint", "signs", BASE_SIGNS, "Brian2: pairing", 1.0,
                  "Ctrl-C during the Brian2 pairing simulation")
    sigint_script("sigint", "bench", ["--steps", "20", "--percents", "0,1,2,3,4,5"],
                  "torch ", 1.5, "Ctrl-C while the engines train",
                  env={"PYTHONUNBUFFERED": "1"})
    sigint_script("sigint", "sbench", ["--n-pairings", "1", "--trials", "1",
                                       "--poisson-duration-s", "0.1", "--repeats", "1"],
                  None, startup.get("sbench", 3) + 5, "Ctrl-C during (b), one run per condition")

    # ---- disks: full, file-size limit, read-only after validation, vanished --------------------
    def needs_mount(fn):
        def action():
            if not h.can_mount:
                raise Skip("needs root and mount (tmpfs / bind mounts)")
            return fn()
        return action

    def full_disk_mnist():
        want = ref("mnist-batched", "mnist", MED, "mixlu_mnist")
        mnt = h.tmpfs(fx.path("mnt", "full-mnist"), "1m")
        try:
            out = mnt / "out"
            res = h.run("mnist", MED + ["--out", str(out)], timeout=120)
            problems = [f"full disk: {p}" for p in one_line_problems(res, [str(mnt), "--out"])]
            h.resize(mnt, "256m")
            again = h.run("mnist", MED + ["--out", str(out)], timeout=240)
            p = success_problems(again) or compare_runs(runs_of(out, "mixlu_mnist"), want)
            problems += [f"rerun after freeing space: {x}" for x in p]
            return problems, [res, again]
        finally:
            h.umount(mnt)
    add("disk-full", "mnist", "--out on a 1 MB tmpfs (checkpoints do not fit), then space freed "
        "and the same command rerun", needs_mount(full_disk_mnist))

    def full_disk(script, args, size, names, timeout=120, fill=0):
        def fn():
            mnt = h.tmpfs(fx.path("mnt", f"full-{script}"), size)
            try:
                if fill:
                    with contextlib.suppress(OSError):
                        (mnt / "filler").write_bytes(b"\0" * fill)
                a = [x.replace("@MNT", str(mnt)) for x in args]
                res = h.run(script, a, timeout=timeout)
                return one_line_problems(res, [n.replace("@MNT", str(mnt)) for n in names]), \
                    [res]
            finally:
                h.umount(mnt)
        return needs_mount(fn)

    add("disk-full", "stdp", "--out on a 48 KB tmpfs (the PNG does not fit)", full_disk(
        "stdp", ["--no-progress", "--trials", "1", "--out", "@MNT/out"], "48k",
        ["@MNT", "--out"], timeout=90))
    add("disk-full", "signs", "--out on a 64 KB tmpfs (the PNG does not fit)", full_disk(
        "signs", BASE_SIGNS + ["--out", "@MNT/out"], "64k", ["@MNT", "--out"],
        timeout=120))
    add("disk-full", "bench", "--json on a full 16 KB tmpfs", full_disk(
        "bench", ["--percents", "0,5", "--steps", "2", "--test-size", "100", "--json",
                  "@MNT/b.json"], "16k", ["@MNT", "--json"], fill=16 * 1024))

    def fsize(script, args, names, limit, timeout=120):
        def action():
            out = fx.path("faults", f"fsize-{script}")
            if out.exists():
                shutil.rmtree(out)
            res = h.run(script, args + ["--out", str(out)], fsize=limit, timeout=timeout)
            return one_line_problems(res, [str(out), "--out"]), [res]
        return action

    add("ulimit-f", "mnist", "RLIMIT_FSIZE 256 KB (ulimit -f 256): checkpoints too large",
        fsize("mnist", MED, ["fsize", "large", "checkpoints", "limit"], 256 * 1024))
    add("ulimit-f", "stdp", "RLIMIT_FSIZE 16 KB: stdp_table.json/PNG too large",
        fsize("stdp", ["--no-progress", "--trials", "1"], ["large", "stdp_", "limit"],
              16 * 1024, timeout=90))

    def readonly_mnist():
        want = ref("mnist-batched", "mnist", MED, "mixlu_mnist")
        mnt = h.bind(fx.path("mnt", "ro-mnist"))
        try:
            out = mnt / "out"
            proc = h.start("mnist", MED + ["--out", str(out)])
            if not proc.wait_for(lambda: (out / "sweep.json").exists(), 120):
                return ["could not inject: sweep.json never appeared"], [proc.wait(5)]
            if not h.set_readonly(mnt, True):
                return ["could not remount read-only"], [proc.wait(240)]
            res = proc.wait(120)
            problems = [f"read-only: {p}" for p in one_line_problems(res, [str(mnt), "read-only"])]
            h.set_readonly(mnt, False)
            again = h.run("mnist", MED + ["--out", str(out)], timeout=240)
            p = success_problems(again) or compare_runs(runs_of(out, "mixlu_mnist"), want)
            problems += [f"rerun after making it writable: {x}" for x in p]
            return problems, [res, again]
        finally:
            h.set_readonly(mnt, False)
            h.umount(mnt)
    add("out-readonly-after-validation", "mnist", "--out remounted read-only once sweep.json "
        "is written; then writable again and rerun", needs_mount(readonly_mnist))

    def readonly_script(script, args, delay, names):
        def fn():
            mnt = h.bind(fx.path("mnt", f"ro-{script}"))
            try:
                out = mnt / "out"
                proc = h.start(script, args + ["--out", str(out)])
                if not proc.wait_for(lambda: out.is_dir(), 60):
                    return ["could not inject: --out never created"], [proc.wait(5)]
                time.sleep(delay)
                if not proc.running():
                    return ["could not inject: ended first"], [proc.wait(5)]
                h.set_readonly(mnt, True)
                res = proc.wait(120)
                return one_line_problems(res, names), [res]
            finally:
                h.set_readonly(mnt, False)
                h.umount(mnt)
        return needs_mount(fn)

    add("out-readonly-after-validation", "stdp", "--out remounted read-only during the "
        "simulation", readonly_script("stdp", ["--no-progress"], 0.5, [str(fx.work), "read-only"]))
    add("out-readonly-after-validation", "signs", "--out remounted read-only during the run",
        readonly_script("signs", BASE_SIGNS, 1.0, [str(fx.work), "read-only"]))

    def out_vanishes(replace_with_file):
        def action():
            want = ref("mnist-batched", "mnist", MED, "mixlu_mnist")
            out = fx.path("faults", "out-replaced" if replace_with_file else "out-deleted")
            if out.exists() or out.is_file():
                shutil.rmtree(out) if out.is_dir() else out.unlink()
            proc = h.start("mnist", MED + ["--out", str(out)])
            if not proc.wait_for(lambda: (out / "sweep.json").exists(), 120):
                return ["could not inject"], [proc.wait(5)]
            shutil.rmtree(out, ignore_errors=True)
            if replace_with_file:
                out.write_text("I am a file now\n")
            res = proc.wait(240)
            if replace_with_file:
                problems = one_line_problems(res, [str(out), "--out"])
                if out.is_file():
                    out.unlink()
                return problems, [res]
            problems = success_problems(res)
            if not problems:
                problems += compare_runs(runs_of(out, "mixlu_mnist"), want)
            return problems, [res]
        return action
    add("out-deleted-mid-run", "mnist", "rm -rf --out while training", out_vanishes(False),
        note="the sweep recreates what it writes; finished results must still be complete")
    add("out-replaced-by-file", "mnist", "--out replaced by a regular file while training",
        out_vanishes(True))

    def closed_stdout(script, args):
        def action():
            r, w = os.pipe()
            os.close(r)  # the reader of the pipe is gone, as with `| head -0`
            proc = h.start(script, args, stdout=w)
            os.close(w)
            res = proc.wait(120)
            problems = []
            if TRACEBACK in res.stderr:
                problems.append(f"traceback ({res.stderr_lines[-1][:120]})")
            if res.rc not in (0, 2, 120, 141) and res.rc is not None:
                problems.append(f"exit {res.rc}")
            if len(res.stderr_lines) > 1:
                problems.append(f"{len(res.stderr_lines)} stderr lines")
            return problems, [res]
        return action
    add("stdout-closed", "stdp", "stdout is a pipe whose reader has gone (| head -0)",
        closed_stdout("stdp", ["--no-progress", "--trials", "1"]))
    add("stdout-closed", "mnist", "stdout is a pipe whose reader has gone (| head -0)",
        closed_stdout("mnist", TINY))

    def dev_full():
        with open("/dev/full", "w") as full:
            proc = h.start("mnist", TINY, stdout=full)
            res = proc.wait(120)
        if res.rc == 0:
            return ["exit 0 and nothing on stderr although stdout (the printed tables, the "
                    "only result without --out) could not be written: results lost silently"
                    ], [res]
        return one_line_problems(res, ["stdout"]), [res]
    add("stdout-dev-full", "mnist", "stdout redirected to /dev/full (ENOSPC on every write)",
        dev_full)
    return cases


BASE_SIGNS = ["--epochs", "1", "--train-size", "100", "--synapses", "2", "--ramp-duration-s",
              "0.1"]


class Skip(Exception):
    pass


# ---------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------


def source_fingerprint() -> dict[str, str]:
    """sha256 of every Python/TOML file of the project (not .venv): to notice a source
    tree that changes while the catalogue runs (the outcomes then mix two versions)."""
    import hashlib

    prints = {}
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", ".git", "results", "build", "dist") or \
                "__pycache__" in rel.parts or path.suffix not in (".py", ".toml"):
            continue
        with contextlib.suppress(OSError):
            prints[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return prints


def git_state() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if dirty:
        head += f" + uncommitted changes in {len(dirty.splitlines())} paths"
    return head


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def measure_startup(h: Harness) -> dict[str, float]:
    """Seconds each script needs to print --help (imports): the baseline of 'late'."""
    out = {}
    for script in SCRIPTS:
        res = h.run(script, ["--help"], timeout=60)
        out[script] = res.seconds
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=None,
                   help="work folder (default: a new /tmp/hostile_cli-*)")
    p.add_argument("--only", default=None,
                   help="run only cases whose id contains one of these comma-separated texts "
                        "(e.g. 'stdp:' or 'sigkill,disk-full')")
    p.add_argument("--kind", choices=["input", "fault", "both"], default="both")
    p.add_argument("--memory-gb", type=float, default=6.0,
                   help="address-space limit of every script run (default 6)")
    p.add_argument("--json", type=Path, default=None, help="also write every outcome here")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    args = p.parse_args(argv)

    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="hostile_cli-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    h = Harness(work, args.memory_gb)
    mounts = "available" if h.can_mount else "NOT available"
    print(f"work folder {work}; python {PY}; mounts {mounts}", flush=True)
    print(f"project {ROOT} at {git_state()}; load average {load()}", flush=True)
    before = source_fingerprint()
    outcomes: list[Outcome] = []
    try:
        fx = Fixtures(work)
        startup = measure_startup(h)
        print("startup (--help) seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in startup.items()),
              flush=True)
        # warm-up: the Brian2 C++ project cache of stdp_table, and a store to corrupt
        warm = h.run("stdp", ["--no-progress", "--trials", "1"], timeout=240)
        print(f"warm-up stdp_table: exit {warm.rc}, {warm.seconds:.1f} s", flush=True)
        store = work / "refs" / "tiny-store"
        res = h.run("mnist", ["--dataset", "mnist", "--data-dir", str(fx.tiny), "--percents", "0,5",
                              "--epochs", "2", "--no-progress", "--out", str(store)], timeout=120)
        if res.rc == 0:
            fx.refs["tiny_store"] = store
        print(f"reference store: exit {res.rc}, {res.seconds:.1f} s", flush=True)

        cases = []
        if args.kind in ("input", "both"):
            cases += input_cases(h, fx, startup)
        if args.kind in ("fault", "both"):
            cases += fault_cases(h, fx, startup)
        if args.only:
            wanted = [w for w in args.only.split(",") if w]
            cases = [c for c in cases if any(w in c.id for w in wanted)]
        print(f"{len(cases)} cases\n", flush=True)
        print(f"{'verdict':<7} {'kind':<5} {'case':<58} {'exit':>4} {'s':>6}  problems", flush=True)
        for case in cases:
            t0 = time.perf_counter()
            try:
                problems, results = case.action()
                skipped = ""
            except Skip as exc:
                problems, results, skipped = [], [], str(exc)
            except Exception as exc:  # the harness's own failure: say so, go on
                problems, results, skipped = [f"HARNESS ERROR {type(exc).__name__}: {exc}"], [], ""
            o = Outcome(case, problems, results, time.perf_counter() - t0, skipped)
            outcomes.append(o)
            rc = results[-1].rc if results else ""
            verdict = "skip" if skipped else "ok" if o.ok else "FAIL"
            print(f"{verdict:<7} {case.kind:<5} {case.id[:58]:<58} {str(rc):>4} {o.seconds:6.1f}  "
                  f"{skipped or '; '.join(problems)}", flush=True)
    finally:
        h.umount_all()
    total = time.perf_counter() - started
    report(outcomes, total, h.count)
    after = source_fingerprint()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    print(f"\nload average at the end {load()}")
    if changed:
        print(f"WARNING: {len(changed)} source files changed while the catalogue ran, so its "
              f"outcomes mix versions: {', '.join(changed)}")
    else:
        print("source files unchanged during the run")
    if args.json:
        args.json.write_text(json.dumps([{
            "id": o.case.id, "kind": o.case.kind, "description": o.case.description,
            "ok": o.ok, "skipped": o.skipped, "problems": o.problems, "note": o.case.note,
            "seconds": o.seconds,
            "results": [{"cmd": r.shell(), "rc": r.rc, "seconds": r.seconds, "stderr": r.stderr,
                         "stdout_tail": r.stdout[-2000:], "note": r.note} for r in o.results],
        } for o in outcomes], indent=1))
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(o.ok or o.skipped for o in outcomes) else 1


def report(outcomes: list[Outcome], total: float, processes: int) -> None:
    print()
    for kind, label in (("input", "bad inputs"), ("fault", "faults")):
        rows = [o for o in outcomes if o.case.kind == kind]
        if not rows:
            continue
        good = [o for o in rows if o.ok]
        skipped = [o for o in rows if o.skipped]
        print(f"{label}: {len(rows)} tried, {len(good)} per policy, "
              f"{len(rows) - len(good) - len(skipped)} not, {len(skipped)} skipped")
        if kind == "input":
            cats = {"traceback": 0, "stderr lines": 0, "exit": 0, "names none": 0,
                    "not refused": 0, "accepted": 0, "late": 0}
            for o in rows:
                text = "; ".join(o.problems)
                for c in cats:
                    if c in text:
                        cats[c] += 1
            print("  of those not per policy: " + ", ".join(f"{v} {k}" for k, v in cats.items()))
        else:
            print(f"  faults survived: {len(good)} of {len(rows) - len(skipped)} injected")
    print(f"{processes} script processes, {total / 60:.1f} min")
    bad = [o for o in outcomes if not o.ok and not o.skipped]
    if not bad:
        return
    print(f"\n{len(bad)} cases not per policy:\n")
    for o in bad:
        print(f"- [{o.case.kind}] {o.case.id}: {o.case.description}")
        if o.case.note:
            print(f"    note: {o.case.note}")
        print(f"    problems: {'; '.join(o.problems)}")
        for r in o.results:
            print(f"    $ {r.shell()}")
            print(f"      exit {r.rc}, {r.seconds:.1f} s{', ' + r.note if r.note else ''}")
            lines = r.stderr.splitlines()
            shown = lines if len(lines) <= 8 else lines[:3] + ["      ..."] + lines[-4:]
            for line in shown:
                print(f"      | {line[:300]}")
        print()


if __name__ == "__main__":
    sys.exit(main())
