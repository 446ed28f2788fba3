"""Kill, interrupt, resume: Ctrl-C is one line and exit 130; a sweep killed (or whose
checkpoint is then damaged) and rerun with the same command ends with the runs of an
uninterrupted one."""

import shutil
import signal
import time

import numpy as np
import pytest

from harness import (
    BASE,
    BASE_SIGNS,
    CIF,
    MED,
    compare_runs,
    expect_no_problems,
    interrupted_problems,
    runs_of,
    success_problems,
)

pytestmark = pytest.mark.hostile


def has_checkpoint(out):
    return lambda: any((out / "checkpoints").glob("*.pt"))


def has_finished_run(out):
    return lambda: (out / "runs").is_dir() and any((out / "runs").glob("*.json"))


KILLED = [  # id, script, arguments, stem of the results JSON, signal, when, description
    ("mnist-sigkill", "mnist", MED, "mixlu_mnist", signal.SIGKILL, "checkpoint",
     "SIGKILL after the first epoch checkpoint, rerun the same command"),
    ("mnist-sigint", "mnist", MED, "mixlu_mnist", signal.SIGINT, "checkpoint",
     "Ctrl-C (SIGINT to the process group) after the first checkpoint: 130 and one line; "
     "rerun"),
    ("mnist-sigterm", "mnist", MED, "mixlu_mnist", signal.SIGTERM, "checkpoint",
     "SIGTERM after the first checkpoint; rerun"),
    ("mnist-sigkill-loop", "mnist", MED + ["--engine", "loop"], "mixlu_mnist", signal.SIGKILL,
     "run", "--engine loop: SIGKILL after the first finished run; rerun"),
    ("cifar-sigkill", "cifar", CIF, "mixlu_cifar", signal.SIGKILL, "checkpoint",
     "SIGKILL after the first checkpoint; rerun"),
]


@pytest.mark.parametrize(("name", "script", "args", "stem", "sig", "when", "description"),
                         KILLED, ids=[f"{case[1]}:{case[0]}" for case in KILLED])
def test_killed_sweep_rerun_equals_uninterrupted(cli, name, script, args, stem, sig, when,
                                                 description):
    engine = "loop" if "loop" in args else "batched"
    want = cli.reference(f"{script}-{engine}", script, args, stem)
    out = cli.fresh("faults", name)
    proc = cli.start(script, args + ["--out", str(out)])
    ready = has_checkpoint(out) if when == "checkpoint" else has_finished_run(out)
    if not proc.wait_for(ready, 120):
        expect_no_problems([f"could not inject: the run ended before the {when} appeared"],
                           [proc.wait(5)], description)
    proc.signal(sig)
    first = proc.wait(60)
    first.note = f"{signal.Signals(sig).name} at {first.seconds:.1f} s"
    problems = []
    if sig == signal.SIGINT:
        problems += [f"on SIGINT: {p}" for p in interrupted_problems(first)]
    elif first.rc == 0:
        problems.append("finished before the signal took effect (inconclusive)")
    res = cli.run(script, args + ["--out", str(out)], timeout=240)
    problems += [f"rerun: {p}" for p in
                 success_problems(res) or compare_runs(runs_of(out, stem), want)]
    expect_no_problems(problems, [first, res], description)


# ---- a killed sweep's checkpoint damaged before the rerun -------------------------------


def garbage(h, out):
    for f in (out / "checkpoints").glob("*.pt"):
        f.write_bytes(np.random.default_rng(0).bytes(4096))


def truncated(h, out):
    for f in (out / "checkpoints").glob("*.pt"):
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def foreign(h, out):
    """The checkpoint of another configuration (--epochs 3), killed the same way."""
    other = h.fresh("faults", "ckpt-foreign-source")
    args = [a if a != "4" else "3" for a in MED]
    proc = h.start("mnist", args + ["--out", str(other)])
    proc.wait_for(has_checkpoint(other), 120)
    proc.signal(signal.SIGKILL)
    proc.wait(30)
    for f in (out / "checkpoints").glob("*.pt"):
        f.unlink()
    for f in (other / "checkpoints").glob("*.pt"):
        shutil.copy(f, out / "checkpoints" / f.name)


DAMAGED = [  # id, damage(harness, --out), description
    ("ckpt-garbage", garbage,
     "killed sweep's checkpoint replaced by 4 KB of random bytes, rerun"),
    ("ckpt-truncated", truncated, "killed sweep's checkpoint truncated to half, rerun"),
    ("ckpt-foreign", foreign,
     "killed sweep's checkpoint replaced by one of another configuration (--epochs 3), rerun"),
]


@pytest.mark.parametrize(("name", "damage", "description"), DAMAGED,
                         ids=[f"mnist:{case[0]}" for case in DAMAGED])
def test_damaged_checkpoint_is_not_used(cli, name, damage, description):
    want = cli.reference("mnist-batched", "mnist", MED, "mixlu_mnist")
    out = cli.fresh("faults", name)
    proc = cli.start("mnist", MED + ["--out", str(out)])
    if not proc.wait_for(has_checkpoint(out), 120):
        expect_no_problems(["could not inject: no checkpoint appeared"], [proc.wait(5)],
                           description)
    proc.signal(signal.SIGKILL)
    first = proc.wait(30)
    if not any((out / "checkpoints").glob("*.pt")):
        expect_no_problems(["could not inject: the checkpoint vanished"], [first], description)
    damage(cli, out)
    res = cli.run("mnist", MED + ["--out", str(out)], timeout=240)
    problems = success_problems(res)
    if not problems:
        problems += compare_runs(runs_of(out, "mixlu_mnist"), want)
        if "checkpoint" not in res.stderr + res.stdout:
            problems.append("no warning about the unusable checkpoint")
    expect_no_problems(problems, [first, res], description)


# ---- Ctrl-C in every script -------------------------------------------------------------

SIGINT = [  # script, arguments, stdout text to wait for, then seconds, description, env
    # stdp_table, stdp_bench: the delay counts from the start and adds the script's startup
    # 10x the default simulated time, so that a built and cached network is still running
    # when the signal comes (the default run can end before it)
    ("stdp", ["--no-progress", "--n-pairings", "600"], None, 1.5,
     "Ctrl-C (SIGINT to the process group) during the Brian2 run", None),
    ("signs", BASE_SIGNS, "Brian2: pairing", 1.0,
     "Ctrl-C during the Brian2 pairing simulation", None),
    ("bench", ["--steps", "20", "--percents", "0,1,2,3,4,5"], "torch ", 1.5,
     "Ctrl-C while the engines train", {"PYTHONUNBUFFERED": "1"}),
    ("sbench", BASE["sbench"], None, 5, "Ctrl-C during (b), one run per condition", None),
]


@pytest.mark.parametrize(("script", "args", "marker", "delay", "description", "env"), SIGINT,
                         ids=[f"{case[0]}:sigint" for case in SIGINT])
def test_ctrl_c_is_one_line_and_130(cli, script, args, marker, delay, description, env):
    proc = cli.start(script, args, env=env)
    if marker is None:
        delay += cli.startup.get(script, 3)
    elif not proc.wait_for(lambda: marker in proc.stdout, 120):
        expect_no_problems([f"could not inject: {marker!r} never printed"], [proc.wait(5)],
                           description)
    t = time.perf_counter() + delay
    while time.perf_counter() < t and proc.running():
        time.sleep(0.02)
    if not proc.running():
        expect_no_problems(["could not inject: the run ended first"], [proc.wait(5)],
                           description)
    proc.signal(signal.SIGINT)
    res = proc.wait(60)
    res.note = f"SIGINT at {proc.elapsed:.1f} s"
    expect_no_problems(interrupted_problems(res), [res], description)
