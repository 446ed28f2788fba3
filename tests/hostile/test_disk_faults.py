"""Disks and streams that fail under a running script: a full disk, a file-size limit,
an output folder turned read-only, deleted or replaced after validation, a closed or
full stdout.  One line naming the folder or stream and no traceback; what was finished
is complete after a rerun.

The tmpfs and read-only bind mounts need root (CAP_SYS_ADMIN); without it those cases
are skipped and say so.
"""

import contextlib
import os
import shutil
import time

import pytest

from harness import (
    BASE_SIGNS,
    MED,
    TINY,
    TRACEBACK,
    compare_runs,
    expect_no_problems,
    one_line_problems,
    runs_of,
    success_problems,
)

pytestmark = pytest.mark.hostile


def reference(h):
    return h.reference("mnist-batched", "mnist", MED, "mixlu_mnist")


# ---- full disk --------------------------------------------------------------------------


def test_mnist_disk_full_then_rerun_with_space(cli):
    """mnist:disk-full: --out on a 1 MB tmpfs (checkpoints do not fit), then space freed
    and the same command rerun."""
    cli.needs_mount()
    want = reference(cli)
    mnt = cli.tmpfs(cli.path("mnt", "full-mnist"), "1m")
    try:
        out = mnt / "out"
        res = cli.run("mnist", MED + ["--out", str(out)], timeout=120)
        problems = [f"full disk: {p}" for p in one_line_problems(res, [str(mnt), "--out"])]
        cli.resize(mnt, "256m")
        again = cli.run("mnist", MED + ["--out", str(out)], timeout=240)
        p = success_problems(again) or compare_runs(runs_of(out, "mixlu_mnist"), want)
        problems += [f"rerun after freeing space: {x}" for x in p]
        expect_no_problems(problems, [res, again], "--out on a 1 MB tmpfs, then 256 MB")
    finally:
        cli.umount(mnt)


FULL = [  # script, arguments (@MNT: the tmpfs), tmpfs size, names, timeout, bytes to fill,
    # description
    ("stdp", ["--no-progress", "--trials", "1", "--out", "@MNT/out"], "48k", ["@MNT", "--out"],
     90, 0, "--out on a 48 KB tmpfs (the PNG does not fit)"),
    ("signs", BASE_SIGNS + ["--out", "@MNT/out"], "64k", ["@MNT", "--out"], 120, 0,
     "--out on a 64 KB tmpfs (the PNG does not fit)"),
    ("bench", ["--percents", "0,5", "--steps", "2", "--test-size", "100", "--json",
               "@MNT/b.json"], "16k", ["@MNT", "--json"], 120, 16 * 1024,
     "--json on a full 16 KB tmpfs"),
]


@pytest.mark.parametrize(("script", "args", "size", "names", "timeout", "fill", "description"),
                         FULL, ids=[f"{case[0]}:disk-full" for case in FULL])
def test_disk_full_is_one_error_line(cli, script, args, size, names, timeout, fill,
                                     description):
    cli.needs_mount()
    mnt = cli.tmpfs(cli.path("mnt", f"full-{script}"), size)
    try:
        if fill:
            with contextlib.suppress(OSError):
                (mnt / "filler").write_bytes(b"\0" * fill)
        res = cli.run(script, [a.replace("@MNT", str(mnt)) for a in args], timeout=timeout)
        problems = one_line_problems(res, [n.replace("@MNT", str(mnt)) for n in names])
        expect_no_problems(problems, [res], description)
    finally:
        cli.umount(mnt)


# ---- file-size limit --------------------------------------------------------------------

FSIZE = [  # script, arguments, RLIMIT_FSIZE, timeout, what the message may name, description
    ("mnist", MED, 256 * 1024, 120, ["--out"],
     "RLIMIT_FSIZE 256 KB (ulimit -f 256): checkpoints too large"),
    # the first file over 16 KB may be Brian2's compiled network in the cache (a
    # cpp_standalone build), not an --out file: then the line names that file and the limit
    ("stdp", ["--no-progress", "--trials", "1"], 16 * 1024, 90, ["--out", "file-size limit"],
     "RLIMIT_FSIZE 16 KB: stdp_table.json/PNG or the compiled network too large"),
]


@pytest.mark.parametrize(("script", "args", "limit", "timeout", "names", "description"), FSIZE,
                         ids=[f"{case[0]}:ulimit-f" for case in FSIZE])
def test_file_size_limit_is_one_error_line(cli, script, args, limit, timeout, names,
                                           description):
    """The message names the file too large: in the --out folder, or (``names``) what
    was written and the limit."""
    out = cli.fresh("faults", f"fsize-{script}")
    res = cli.run(script, args + ["--out", str(out)], fsize=limit, timeout=timeout)
    expect_no_problems(one_line_problems(res, [str(out), *names]), [res], description)


# ---- --out read-only, deleted or replaced after validation -------------------------------


def test_mnist_out_readonly_after_validation_then_rerun(cli):
    """mnist:out-readonly-after-validation: --out remounted read-only once sweep.json is
    written; then writable again and rerun."""
    cli.needs_mount()
    want = reference(cli)
    mnt = cli.bind(cli.path("mnt", "ro-mnist"))
    description = "--out read-only once sweep.json is written; then writable and rerun"
    try:
        out = mnt / "out"
        proc = cli.start("mnist", MED + ["--out", str(out)])
        if not proc.wait_for(lambda: (out / "sweep.json").exists(), 120):
            expect_no_problems(["could not inject: sweep.json never appeared"], [proc.wait(5)],
                               description)
        if not cli.set_readonly(mnt, True):
            expect_no_problems(["could not remount read-only"], [proc.wait(240)], description)
        res = proc.wait(120)
        problems = [f"read-only: {p}" for p in one_line_problems(res, [str(mnt), "read-only"])]
        cli.set_readonly(mnt, False)
        again = cli.run("mnist", MED + ["--out", str(out)], timeout=240)
        p = success_problems(again) or compare_runs(runs_of(out, "mixlu_mnist"), want)
        problems += [f"rerun after making it writable: {x}" for x in p]
        expect_no_problems(problems, [res, again], description)
    finally:
        cli.set_readonly(mnt, False)
        cli.umount(mnt)


READONLY = [  # script, arguments, seconds after --out appears, description
    ("stdp", ["--no-progress"], 0.5, "--out remounted read-only during the simulation"),
    ("signs", BASE_SIGNS, 1.0, "--out remounted read-only during the run"),
]


@pytest.mark.parametrize(("script", "args", "delay", "description"), READONLY,
                         ids=[f"{case[0]}:out-readonly-after-validation" for case in READONLY])
def test_out_readonly_during_run_is_one_error_line(cli, script, args, delay, description):
    cli.needs_mount()
    mnt = cli.bind(cli.path("mnt", f"ro-{script}"))
    try:
        out = mnt / "out"
        proc = cli.start(script, args + ["--out", str(out)])
        if not proc.wait_for(lambda: out.is_dir(), 60):
            expect_no_problems(["could not inject: --out never created"], [proc.wait(5)],
                               description)
        time.sleep(delay)
        if not proc.running():
            expect_no_problems(["could not inject: ended first"], [proc.wait(5)], description)
        cli.set_readonly(mnt, True)
        res = proc.wait(120)
        expect_no_problems(one_line_problems(res, [str(cli.work), "read-only"]), [res],
                           description)
    finally:
        cli.set_readonly(mnt, False)
        cli.umount(mnt)


VANISHED = [  # id, replaced by a file?, description, note
    ("out-deleted-mid-run", False, "rm -rf --out while training",
     "the sweep recreates what it writes; finished results must still be complete"),
    ("out-replaced-by-file", True, "--out replaced by a regular file while training", ""),
]


@pytest.mark.parametrize(("name", "replace_with_file", "description", "note"), VANISHED,
                         ids=[f"mnist:{case[0]}" for case in VANISHED])
def test_out_vanishing_mid_run(cli, name, replace_with_file, description, note):
    want = reference(cli)
    out = cli.fresh("faults", "out-replaced" if replace_with_file else "out-deleted")
    proc = cli.start("mnist", MED + ["--out", str(out)])
    if not proc.wait_for(lambda: (out / "sweep.json").exists(), 120):
        expect_no_problems(["could not inject"], [proc.wait(5)], description, note)
    shutil.rmtree(out, ignore_errors=True)
    if replace_with_file:
        out.write_text("I am a file now\n")
    res = proc.wait(240)
    if replace_with_file:
        problems = one_line_problems(res, [str(out), "--out"])
    else:
        problems = success_problems(res) or compare_runs(runs_of(out, "mixlu_mnist"), want)
    expect_no_problems(problems, [res], description, note)


# ---- stdout closed or full --------------------------------------------------------------

CLOSED = [("stdp", ["--no-progress", "--trials", "1"]), ("mnist", TINY)]


@pytest.mark.parametrize(("script", "args"), CLOSED,
                         ids=[f"{case[0]}:stdout-closed" for case in CLOSED])
def test_stdout_whose_reader_has_gone(cli, script, args):
    r, w = os.pipe()
    os.close(r)  # the reader of the pipe is gone, as with `| head -0`
    proc = cli.start(script, args, stdout=w)
    os.close(w)
    res = proc.wait(120)
    problems = []
    if TRACEBACK in res.stderr:
        problems.append(f"traceback ({res.stderr_lines[-1][:120]})")
    if res.rc not in (0, 2, 120, 141) and res.rc is not None:
        problems.append(f"exit {res.rc}")
    if len(res.stderr_lines) > 1:
        problems.append(f"{len(res.stderr_lines)} stderr lines")
    expect_no_problems(problems, [res], "stdout is a pipe whose reader has gone (| head -0)")


def test_mnist_stdout_dev_full_is_not_silent(cli):
    """mnist:stdout-dev-full: stdout redirected to /dev/full (ENOSPC on every write): the
    printed tables are the only result without --out, so exit 0 would lose them."""
    with open("/dev/full", "w") as full:
        res = cli.start("mnist", TINY, stdout=full).wait(120)
    if res.rc == 0:
        problems = ["exit 0 and nothing on stderr although stdout (the printed tables, the "
                    "only result without --out) could not be written: results lost silently"]
    else:
        problems = one_line_problems(res, ["stdout"])
    expect_no_problems(problems, [res], "stdout redirected to /dev/full")
