"""A mixlu_mnist run store (--out) that is locked, corrupt or half-written: either a
one-line error naming what is wrong, or a sweep that finishes with the runs of an
uninterrupted one."""

import json
import shutil
import subprocess

import pytest

from harness import (
    TINY,
    compare_runs,
    expect_no_problems,
    one_line_problems,
    runs_of,
    success_problems,
)

pytestmark = pytest.mark.hostile


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def with_lock(text):
    """Preparation: an empty store holding a .lock with ``text`` (or ``text()``)."""
    def prepare(h, out):
        out.mkdir(parents=True)
        (out / ".lock").write_text(text() if callable(text) else text)
    return prepare


def checkpoints_file(h, out):
    out.mkdir(parents=True)
    (out / "checkpoints").write_text("x")


def first_run_file(out):
    return sorted((out / "runs").glob("*.json"))[0]


def from_tiny_store(edit):
    """Preparation: a copy of the finished tiny store changed by ``edit(folder)``."""
    def prepare(h, out):
        shutil.copytree(h.tiny_store(), out)
        edit(out)
    return prepare


def truncate_run_file(out):
    first_run_file(out).write_text(first_run_file(out).read_text()[:50])


def run_file_without_test_error(out):
    run = json.loads(first_run_file(out).read_text())
    first_run_file(out).write_text(json.dumps({k: v for k, v in run.items()
                                               if k != "test_error"}))


def truncate_sweep(out):
    (out / "sweep.json").write_text((out / "sweep.json").read_text()[:30])


def leftovers(h, out):
    out.mkdir(parents=True)
    (out / "runs").mkdir()
    (out / "checkpoints").mkdir()
    (out / "runs" / ".lenet-relu-seed0.json.k3j4.tmp").write_text('{"half": ')
    (out / "checkpoints" / ".batched-0000.pt.x1.tmp").write_bytes(b"PK\x03\x04")
    (out / ".mixlu_mnist.json.zz.tmp").write_text("{")


CASES = [  # id, description, preparation of --out, "ok" or "error", names, extra arguments
    ("lock-dead-pid", "stale .lock of a dead PID", with_lock(lambda: f"{dead_pid()}\n"), "ok",
     [], []),
    ("lock-pid-1", ".lock held by a live PID (1)", with_lock("1\n"), "error",
     ["PID 1", ".lock", "--out"], []),
    ("lock-garbage", ".lock holding garbage", with_lock("\x00garbage\n"), "ok", [], []),
    # either a one-line error or training without checkpoints
    ("checkpoints-is-a-file", "DIR/checkpoints is a regular file", checkpoints_file, "error",
     ["checkpoints"], []),
    ("run-file-truncated", "runs/<key>.json cut in half (resume)",
     from_tiny_store(truncate_run_file), "error", ["runs/"], []),
    ("run-file-list", "runs/<key>.json = [] (resume)",
     from_tiny_store(lambda out: first_run_file(out).write_text("[]")), "error", ["runs/"], []),
    ("run-file-missing-fields", "runs/<key>.json without test_error (resume)",
     from_tiny_store(run_file_without_test_error), "error", ["runs/"], []),
    ("sweep-json-truncated", "sweep.json cut (resume)", from_tiny_store(truncate_sweep),
     "error", ["sweep.json"], []),
    ("sweep-other-engine", "resume a batched store with --engine loop",
     from_tiny_store(lambda out: None), "error", ["engine"], ["--engine", "loop"]),
    ("tmp-leftovers", "leftover .tmp files of killed writes", leftovers, "ok", [], []),
]


@pytest.mark.parametrize(("name", "description", "prepare", "expect", "names", "extra"), CASES,
                         ids=[f"mnist:{case[0]}" for case in CASES])
def test_store_fault(cli, name, description, prepare, expect, names, extra):
    want = cli.reference("tiny", "mnist", TINY, "mixlu_mnist")
    out = cli.fresh("faults", "store-" + name)
    prepare(cli, out)
    res = cli.run("mnist", TINY + extra + ["--out", str(out)], timeout=120)
    if expect == "error":
        problems = one_line_problems(res, names, "mnist")
    else:
        problems = success_problems(res) or compare_runs(runs_of(out, "mixlu_mnist"), want)
    expect_no_problems(problems, [res], description)
