"""Epoch checkpoints: a sweep killed at any moment resumes to the numbers of an
uninterrupted one, under both engines; generator states; foreign files; cleanup."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from ann.activations import MixLU
from ann.batched.layers import StackedActivation
from ann.checkpoint import Checkpoints, checkpoint_identity
from ann.run_store import RunStore
from ann.specs import mixlu_grid
from ann.sweep import make_specs, run_sweep, sweep_meta
from ann.train import TrainConfig

from helpers import synthetic
from writers import write_tiny_mnist

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = TrainConfig(lr=0.01, momentum=0.9, epochs=3, batch_size=50)
STEPS_PER_EPOCH = 6  # 300 training images, batches of 50


def sweep_specs():
    """ReLU, resampled and fixed MixLU members (data-order, mask and momentum state)."""
    return make_specs(mixlu_grid([0, 10], ["reference"], "resample")
                      + mixlu_grid([10], ["exact"], "fixed"), 2)


def tiny_data():
    return synthetic(n_train=300, n_test=100)


def stored_runs(directory):
    """Every stored run of ``directory``, ``seconds`` left out (wall time differs)."""
    return {p.name: {k: v for k, v in json.loads(p.read_text()).items() if k != "seconds"}
            for p in sorted((directory / "runs").glob("*.json"))}


def uninterrupted(directory, engine):
    data = tiny_data()
    store = RunStore(directory, sweep_meta("ck", data, CONFIG, engine))
    run_sweep(sweep_specs(), data, CONFIG, engine=engine, store=store, progress=False,
              log=lambda s: None)
    return stored_runs(directory)


class Boom(Exception):
    pass


def kill_at_step(monkeypatch, step):
    """Make the ``step``-th optimiser step (1-based, counted over the process) raise."""
    calls = [0]
    original = torch.optim.SGD.step

    def counting(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == step:
            raise Boom(f"step {step}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", counting)
    return lambda: monkeypatch.setattr(torch.optim.SGD, "step", original)


def killed_sweep(directory, monkeypatch, step):
    """The batched sweep of :func:`sweep_specs` into ``directory``, killed at optimiser
    step ``step`` (its checkpoints left behind); returns ``(data, specs, meta)``."""
    data, specs = tiny_data(), sweep_specs()
    meta = sweep_meta("ck", data, CONFIG, "batched")
    restore = kill_at_step(monkeypatch, step)
    with pytest.raises(Boom):
        run_sweep(specs, data, CONFIG, engine="batched", store=RunStore(directory, meta),
                  progress=False, log=lambda s: None)
    restore()
    return data, specs, meta


DRIVER = textwrap.dedent('''
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    import torch
    torch.set_num_threads(1)
    from helpers import synthetic
    from ann.run_store import RunStore
    from ann.specs import mixlu_grid
    from ann.sweep import make_specs, run_sweep, sweep_meta
    from ann.train import TrainConfig

    engine, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    calls = [0]
    step = torch.optim.SGD.step

    def counting(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind
        return step(self, *args, **kwargs)

    torch.optim.SGD.step = counting
    data = synthetic(n_train=300, n_test=100)
    config = TrainConfig(lr=0.01, momentum=0.9, epochs=3, batch_size=50)
    specs = make_specs(mixlu_grid([0, 10], ["reference"], "resample")
                       + mixlu_grid([10], ["exact"], "fixed"), 2)
    store = RunStore(out, sweep_meta("ck", data, config, engine))
    run_sweep(specs, data, config, engine=engine, store=store, progress=False)
''')


@pytest.mark.parametrize("engine, kill_at", [
    ("batched", STEPS_PER_EPOCH + 3),  # the one stack, in the middle of epoch 2
    # loop: 6 runs x 3 epochs x 6 steps; the third run, in the middle of epoch 2
    ("loop", 2 * 3 * STEPS_PER_EPOCH + STEPS_PER_EPOCH + 3),
])
@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_gives_the_uninterrupted_numbers(tmp_path, engine,
                                                                       kill_at):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(tests=str(ROOT / "tests")))
    out = tmp_path / "killed"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(driver), engine, str(out)]
    killed = subprocess.run(cmd + [str(kill_at)], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    checkpoints = sorted(p.name for p in (out / "checkpoints").glob("*.pt"))
    assert len(checkpoints) == 1 and checkpoints[0].startswith(f"{engine}-")
    assert (out / ".lock").exists()  # the killed writer's lock is left behind
    finished_before = stored_runs(out)
    assert len(finished_before) == (2 if engine == "loop" else 0)

    rerun = subprocess.run(cmd + ["0"], capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming: 1 epoch checkpoint(s)" in rerun.stderr + rerun.stdout
    resumed = stored_runs(out)
    assert resumed == uninterrupted(tmp_path / "reference", engine)  # bit for bit
    assert all(resumed[k] == v for k, v in finished_before.items())
    assert list((out / "checkpoints").glob("*")) == []  # deleted once the runs are stored
    assert not (out / ".lock").exists()


@pytest.mark.slow
def test_restored_stack_keeps_members_already_stored(tmp_path, monkeypatch):
    """A member stored after the last checkpoint (e.g. it diverged) keeps its stored
    file; the stack goes on from the checkpoint with every member (so that the others'
    rounding stays that of the uninterrupted stack)."""
    data, specs, meta = killed_sweep(tmp_path, monkeypatch, 2 * STEPS_PER_EPOCH + 2)  # epoch 3
    reference = uninterrupted(tmp_path / "reference", "batched")
    store = RunStore(tmp_path, meta)
    done = specs[3]
    stored = json.loads((tmp_path / "reference" / "runs" / f"{done.key}.json").read_text())
    store.save(done.key, stored)
    before = store.path(done.key).read_bytes()
    lines = []
    run_sweep(specs, data, CONFIG, engine="batched", store=store, progress=False,
              log=lines.append)
    assert store.path(done.key).read_bytes() == before  # not trained, not rewritten
    assert stored_runs(tmp_path) == reference
    assert [ln.split()[0] for ln in lines if "seed" in ln.split()[0]] == [
        s.canonical().activation.key + f"-seed{s.seed}" for s in specs if s != done]


@pytest.mark.slow
def test_a_narrower_rerun_keeps_the_checkpoints_of_runs_it_does_not_ask_for(tmp_path,
                                                                             monkeypatch):
    """Killed in epoch 2, then rerun with other activations only: the killed stack's
    checkpoint survives, and the full sweep then resumes from it to the same numbers."""
    data, specs, meta = killed_sweep(tmp_path, monkeypatch, STEPS_PER_EPOCH + 3)
    kept = sorted((tmp_path / "checkpoints").glob("*.pt"))
    assert len(kept) == 1
    other = make_specs(mixlu_grid([5], ["reference"], "resample"), 1)
    run_sweep(other, data, CONFIG, engine="batched", store=RunStore(tmp_path, meta),
              progress=False, log=lambda s: None)
    assert sorted((tmp_path / "checkpoints").glob("*.pt")) == kept
    lines = []
    run_sweep(specs, data, CONFIG, engine="batched", store=RunStore(tmp_path, meta),
              progress=False, log=lines.append)
    assert any("resuming: 1 epoch checkpoint" in ln for ln in lines)
    reference = uninterrupted(tmp_path / "reference", "batched")
    assert {k: v for k, v in stored_runs(tmp_path).items() if k in reference} == reference
    assert list((tmp_path / "checkpoints").glob("*")) == []


@pytest.mark.parametrize("content", [b"", b"not a torch file", None])
@pytest.mark.slow
def test_unreadable_or_foreign_checkpoint_is_ignored_in_one_warning(tmp_path, monkeypatch,
                                                                    content):
    data, specs, meta = killed_sweep(tmp_path, monkeypatch, STEPS_PER_EPOCH + 2)
    (path,) = (tmp_path / "checkpoints").glob("*.pt")
    if content is None:  # a valid checkpoint of another configuration
        state = torch.load(path, weights_only=True)
        state["identity"] = checkpoint_identity(CONFIG.replace(lr=0.5).to_dict(),
                                                data.fingerprint(), torch.device("cpu"))
        torch.save(state, path)
        why = "of another configuration"
    else:
        path.write_bytes(content)
        why = "unreadable"
    with pytest.warns(UserWarning, match=f"checkpoint .*{path.name} is {why}.*trained from "
                                         f"the start") as caught:
        run_sweep(specs, data, CONFIG, engine="batched", store=RunStore(tmp_path, meta),
                  progress=False, log=lambda s: None)
    assert len([w for w in caught if "checkpoint" in str(w.message)]) == 1
    assert stored_runs(tmp_path) == uninterrupted(tmp_path / "reference", "batched")
    # the bogus file was moved aside once (NAME.bad), so reruns do not warn again
    assert [p.name for p in (tmp_path / "checkpoints").glob("*")] == [path.name + ".bad"]


def test_verbose_sweep_logs_the_cost_of_its_checkpoints(tmp_path):
    data = tiny_data()
    lines = []
    run_sweep(sweep_specs()[:2], data, CONFIG, engine="batched",
              store=RunStore(tmp_path, sweep_meta("ck", data, CONFIG, "batched")),
              progress=False, log=lines.append, verbose=True)
    (cost,) = [ln for ln in lines if ln.startswith("checkpoints:")]
    # epochs 1 and 2 of the one stack (none after the last epoch)
    assert cost.startswith("checkpoints: 2 written, ") and " MB and " in cost
    assert list((tmp_path / "checkpoints").glob("*")) == []


def test_checkpoint_names_and_identity():
    assert Checkpoints.name("loop", ["lenet-relu-seed0"]) == "loop-lenet-relu-seed0"
    a = Checkpoints.name("batched", ["a", "b"])
    assert a.startswith("batched-") and a != Checkpoints.name("batched", ["b", "a"])
    with pytest.raises(ValueError):
        Checkpoints.name("loop", ["a", "b"])
    cpu = checkpoint_identity({"lr": 1}, "f", torch.device("cpu"))
    assert cpu["device_type"] == "cpu" and cpu["trainer_version"]


def draws(module, x, n=3):
    return [module(x).detach().clone() for _ in range(n)]


def test_mixlu_resample_generator_states_continue_the_draws():
    x = torch.randn(4, 20, 3, 3)
    a = MixLU(20, 0.3, mask="resample", seed=5)
    draws(a, x, 2)
    states = a.generator_states()
    expected = draws(a, x)
    b = MixLU(20, 0.3, mask="resample", seed=5)
    b.load_generator_states(states)
    assert all(torch.equal(p, q) for p, q in zip(draws(b, x), expected, strict=True))
    fresh = draws(MixLU(20, 0.3, mask="resample", seed=5), x)
    assert not all(torch.equal(p, q) for p, q in zip(fresh, expected, strict=True))


def test_stacked_activation_generator_states_are_per_member():
    members = [MixLU(8, 0.25, mask="resample", seed=s) for s in (1, 2)] + [torch.nn.ReLU()]
    x = torch.randn(5, 24)
    a = StackedActivation(members)
    draws(a, x, 2)
    states = a.generator_states()
    assert [bool(s) for s in states] == [True, True, False]
    expected = draws(a, x)
    b = StackedActivation(members)
    b.load_generator_states(states)
    assert all(torch.equal(p, q) for p, q in zip(draws(b, x), expected, strict=True))
    with pytest.raises(ValueError, match="2 member generator states for 3 members"):
        b.load_generator_states(states[:2])


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A write that fails midway leaves the previous checkpoint as it was, no temp file."""
    ck = Checkpoints(tmp_path, {"x": 1})
    ck.save("batched-x", "batched", {"members": ["a"], "value": torch.ones(3)})
    before = ck.path("batched-x").read_bytes()

    def failing_save(obj, f):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError):
        ck.save("batched-x", "batched", {"members": ["a"], "value": torch.zeros(3)})
    assert ck.path("batched-x").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batched-x.pt"]
    assert torch.equal(ck.load("batched-x", "batched")["value"], torch.ones(3))
    with pytest.warns(UserWarning, match="of another configuration, data, device or engine"):
        assert ck.load("batched-x", "loop") is None


@pytest.mark.slow
def test_cli_ctrl_c_is_one_line_and_sigkill_at_any_moment_resumes(tmp_path):
    """The user's view: Ctrl-C says what is kept and exits 130; a kill -9 while a stack
    trains, then the same command again, gives the uninterrupted sweep's numbers."""
    data_dir = write_tiny_mnist(tmp_path / "data", n_train=400, n_test=50)
    env = dict(os.environ, OMP_NUM_THREADS="1", NEGLU_STDP_CACHE=str(tmp_path / "cache"))
    script = str(ROOT / "experiments" / "mixlu_mnist.py")

    def command(out):
        return [sys.executable, script, "--percents", "0,5", "--mask", "resample",
                "--epochs", "6", "--seeds", "2", "--data-dir", str(data_dir),
                "--no-progress", "--out", str(out)]

    def start_and_signal(out, sig):
        proc = subprocess.Popen(command(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=ROOT)
        deadline = time.monotonic() + 240
        while not list((out / "checkpoints").glob("*.pt")):  # epoch 1 done
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
        return proc.returncode, stdout, stderr

    code, _, err = start_and_signal(tmp_path / "int", signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("interrupted; 0 finished runs kept in ")
    assert err.strip().endswith("rerun the same command to resume")

    out = tmp_path / "kill"
    code, _, _ = start_and_signal(out, signal.SIGKILL)
    assert code == -signal.SIGKILL
    again = subprocess.run(command(out), capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    reference = subprocess.run(command(tmp_path / "ref"), capture_output=True, text=True,
                               env=env, cwd=ROOT, timeout=300)
    assert reference.returncode == 0, reference.stderr
    assert stored_runs(out) == stored_runs(tmp_path / "ref")
    strip = lambda d: [{k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
                       for r in json.loads((d / "mixlu_mnist.json").read_text())["runs"]]
    assert strip(out) == strip(tmp_path / "ref")
