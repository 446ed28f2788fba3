"""Stored files read back safely: regular files only, refused before they are opened, a
size cap, finite numbers; one check of every run record; study.json and the report
documents of the verdict study; the lock file; bogus checkpoints set aside once.

The command-line view of the same faults is tests/hostile/test_stored_file_faults.py;
the lock under races is tests/test_lock_race.py."""

import errno
import json
import math
import os
import re
import stat
import threading
import warnings
from pathlib import Path

import pytest

from ann.run_store import RunStore, StoreError, run_problem
from bridge.claims.records import rate_problem, spiking_problem
from common import run_store
from common.checks import is_within
from common.cli import UserError
from common.files import MAX_JSON_BYTES, UnreadableFile, read_json, read_regular_bytes
from common.run_store import LOCK_GRACE_S, read_document, set_aside

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]


def finishes(call, seconds=10.0):
    """``call()``'s outcome (value or exception), failing the test if it blocks."""
    outcome = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the read blocked"
    return outcome


# ------------------------------------------------------------------------ read_json


@pytest.mark.parametrize("kind", ["fifo", "directory", "device", "link-to-device",
                                  "link-to-fifo"])
def test_a_file_that_is_not_regular_is_refused_before_it_is_opened(tmp_path, kind):
    path = tmp_path / "r.json"
    if kind in ("fifo", "link-to-fifo"):
        os.mkfifo(tmp_path / "pipe")
    if kind == "fifo":
        path = tmp_path / "pipe"
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        path = Path("/dev/zero")
    else:
        path.symlink_to("/dev/zero" if kind == "link-to-device" else tmp_path / "pipe")
    outcome = finishes(lambda: read_json(path))
    error = outcome.get("error")
    assert isinstance(error, UnreadableFile), outcome
    assert str(path) in str(error) and "not a regular file" in str(error)
    assert "\n" not in str(error)


def test_a_link_to_a_regular_file_is_read(tmp_path):
    (tmp_path / "real.json").write_text('{"a": 1}')
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    assert read_json(tmp_path / "link.json") == {"a": 1}


def test_a_fifo_swapped_in_after_the_stat_is_refused_without_blocking(tmp_path, monkeypatch):
    """The stat said regular file, then a FIFO took its place: the non-blocking open
    returns at once and the descriptor's own stat refuses it."""
    regular, pipe = tmp_path / "regular.json", tmp_path / "pipe.json"
    regular.write_text("{}")
    os.mkfifo(pipe)
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: real_stat(
        regular if Path(p) == pipe else p, *a, **k))
    outcome = finishes(lambda: read_regular_bytes(pipe, 100))
    assert isinstance(outcome.get("error"), UnreadableFile), outcome
    assert "FIFO" in str(outcome["error"])


def test_a_file_over_the_cap_is_refused_unread(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 2000)
    with pytest.raises(UnreadableFile, match="2000 bytes, more than the 1000 bytes"):
        read_regular_bytes(path, 1000)
    assert read_regular_bytes(path, 2000) == b" " * 2000
    assert MAX_JSON_BYTES >= 2**20  # a stored run with diagnostics is tens of kB


@pytest.mark.parametrize("text, match", [
    ('{"test_error": NaN}', "NaN is not a JSON number"),
    ('{"test_error": -Infinity}', "-Infinity is not a JSON number"),
    ('{"test_error": 1e999}', "out of range"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"seed": ' + "9" * 5000 + "}", "not valid JSON"),
    ('{"loss": [1.0, 2.0', "not valid JSON"),
])
def test_json_that_the_writers_never_write_is_refused_in_one_line(tmp_path, text, match):
    path = tmp_path / "r.json"
    path.write_text(text)
    with pytest.raises(UnreadableFile, match=match) as info:
        read_json(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_is_within_is_finite_and_in_range():
    assert is_within(0.5, 0, 1) and is_within(0, 0, 1) and is_within(1e300)
    assert not any(is_within(v, 0, 1) for v in (math.nan, math.inf, -0.1, 1.5, True, "0.5",
                                                None, 10**400))


# ------------------------------------------------------------------- read_document


def test_read_document_says_how_to_set_a_bad_file_aside(tmp_path):
    path = tmp_path / "with space" / "study.json"
    path.parent.mkdir()
    path.write_text("[]")
    with pytest.raises(StoreError) as info:
        read_document(path, "study.json")
    message = str(info.value)
    assert message.startswith(f"{path} is not a study.json (a JSON list")
    assert f"move it aside (e.g. mv '{path}' '{path}.bad') and rerun" in message
    os.unlink(path)
    os.mkfifo(path)
    outcome = finishes(lambda: read_document(path, "study.json"))
    assert isinstance(outcome.get("error"), StoreError)
    assert "FIFO" in str(outcome["error"]) and set_aside(path) in str(outcome["error"])


# ------------------------------------------------------------------ run records


def good_run():
    diagnostics = {"positions": [{"name": "act", "units": {"relu": 500, "neglu": 25},
                                  "dead": {"relu": 31, "neglu": 0}, "active_fraction": 0.5,
                                  "neglu_per_image": 25.0, "large_negative_bias_share": 0.0,
                                  "prelu": {"mean": 0.25}}],
                   "layers": {"conv1": {"weight_norm": 0.2, "bias": {"mean": -1e-7}}},
                   "neglu_per_image": 25.0}
    return {"neg_percent": 5.0, "backward": "reference", "seed": 0, "status": "ok",
            "train_error": 0.1, "test_error": 0.12, "seconds": 1.5, "parameters": 431080,
            "epochs": [{"epoch": 1, "train_error": 0.1, "test_error": 0.12, "loss": 0.3,
                        "diagnostics": diagnostics}],
            "activation_spec": {"kind": "mixlu", "percent": 5.0, "backward": "reference",
                                "mask": "fixed"},
            "signs": {"every": 10, "by_unit_type": {"relu": {
                "shares": {"normal": 0.5, "inverted": None}, "inverted_fraction": 0.1,
                "silent_fraction": 0.2, "normal_fraction": 0.7, "agreement": 0.9}}}}


def changed(path, value):
    run = good_run()
    *parents, last = path
    target = run
    for key in parents:
        target = target[key]
    target[last] = value
    return run


@pytest.mark.parametrize("path, value, match", [
    (("test_error",), 1e9, "test_error is 1000000000.0, not a fraction in \\[0, 1\\]"),
    (("test_error",), -5, "test_error is -5, not a fraction"),
    (("train_error",), math.nan, "train_error is nan, not a fraction"),
    (("neg_percent",), 1e300, "neg_percent is 1e\\+300, not a percent in \\[0, 100\\]"),
    (("neg_percent",), 10**400, "neg_percent is 1000.*, not a percent"),
    (("seed",), -1, "seed is -1, not a non-negative integer"),
    (("seconds",), -2.0, "seconds is -2.0, not a duration"),
    (("parameters",), "many", "parameters is 'many', not a count"),
    (("epochs", 0, "epoch"), 0, "epoch 0 is not an epoch number"),
    (("epochs", 0, "test_error"), 2.0, "epoch 1 test_error is 2.0, not a fraction"),
    (("epochs", 0, "loss"), -1.0, "epoch 1 loss is -1.0, not a loss"),
    (("epochs", 0, "diagnostics", "positions"), [], "positions is not a non-empty list"),
    (("epochs", 0, "diagnostics", "positions", 0, "dead"), {"relu": -1},
     "lacks unit counts"),
    (("epochs", 0, "diagnostics", "positions", 0, "active_fraction"), 3.0,
     "active_fraction is 3.0, not a fraction"),
    (("epochs", 0, "diagnostics", "layers"), "x", "layers is not a record of layers"),
    (("signs", "by_unit_type", "relu", "inverted_fraction"), 7, "inverted_fraction is 7"),
    (("signs", "every"), 0, "signs lacks its step interval"),
    (("activation_spec", "percent"), 500, "activation_spec .* is not a spec"),
])
def test_every_run_record_is_checked_for_types_and_finite_ranges(path, value, match):
    assert run_problem(good_run()) == ""
    assert re.search(match, run_problem(changed(path, value)))


def test_run_problem_names_a_record_that_is_not_an_object_or_lacks_fields():
    assert run_problem([]) == "a JSON list, not an object"
    assert run_problem({"seed": 0}).startswith("missing neg_percent, backward")


@pytest.mark.parametrize("kind", ["fifo", "directory", "link-to-device"])
def test_a_run_file_that_is_not_regular_is_one_line_naming_it(tmp_path, kind):
    store = RunStore(tmp_path, {"experiment": "x"})
    path = store.path("k")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    outcome = finishes(lambda: store.load("k"))
    error = outcome.get("error")
    assert isinstance(error, StoreError), outcome
    assert str(error).startswith(f"{path} is not a readable stored run (")
    assert f"mv {path} {path}.bad" in str(error) and "\n" not in str(error)


def test_a_corrupt_value_in_a_stored_run_is_one_line_naming_it(tmp_path):
    store = RunStore(tmp_path, {"experiment": "x"})
    store.path("k").write_text(json.dumps(changed(("test_error",), -5)))
    with pytest.raises(StoreError, match="is not a stored run \\(test_error is -5") as info:
        store.load("k")
    assert "rerun to train that run again" in str(info.value)


def test_a_sweep_json_that_is_not_regular_is_refused(tmp_path):
    os.mkfifo(tmp_path / "sweep.json")
    outcome = finishes(lambda: RunStore(tmp_path, {"experiment": "x"}))
    assert "FIFO" in str(outcome.get("error"))
    outcome = finishes(lambda: RunStore.open(tmp_path))
    assert isinstance(outcome.get("error"), StoreError) and "FIFO" in str(outcome["error"])


# ------------------------------------------------------------------------- the lock


@pytest.mark.parametrize("kind, match", [("fifo", "is a FIFO"), ("link", "symbolic link"),
                                          ("directory", "is a directory")])
def test_a_lock_path_that_is_not_a_regular_file_is_refused(tmp_path, kind, match):
    lock = tmp_path / ".lock"
    if kind == "fifo":
        os.mkfifo(lock)
    elif kind == "link":
        lock.symlink_to(tmp_path / "elsewhere")
    else:
        lock.mkdir()
    outcome = finishes(lambda: RunStore(tmp_path, {}, _check=False).lock())
    assert isinstance(outcome.get("error"), StoreError), outcome
    assert match in str(outcome["error"]) and ".lock" in str(outcome["error"])
    assert not (tmp_path / "elsewhere").exists()


@pytest.fixture
def no_flock(monkeypatch):
    """The lock as on Windows: no fcntl."""
    monkeypatch.setattr(run_store, "fcntl", None)


def age(path, seconds):
    then = os.stat(path).st_mtime - seconds
    os.utime(path, (then, then))


@pytest.mark.usefixtures("no_flock")
def test_without_flock_a_lock_appears_with_its_pid_and_goes_on_unlock(tmp_path):
    store = RunStore(tmp_path, {}, _check=False)
    store.lock()
    assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    other = RunStore(tmp_path, {}, _check=False)
    other.lock()  # the same process: shared, as RunStore.claim needs
    other.unlock()
    assert (tmp_path / ".lock").exists()
    store.unlock()
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.usefixtures("no_flock")
@pytest.mark.parametrize("content, old, held", [
    ("1\n", False, True),               # PID 1 is alive
    ("", False, True),                  # a writer between creating and writing: held
    ("\x00garbage", False, True),
    ("", True, False),                  # ... for LOCK_GRACE_S only
    ("\x00garbage", True, False),
    ("999999999\n", False, False),      # a PID that is gone
])
def test_without_flock_a_lock_is_held_while_its_pid_lives_or_it_is_young(
        tmp_path, content, old, held):
    lock = tmp_path / ".lock"
    lock.write_text(content)
    if old:
        age(lock, 2 * LOCK_GRACE_S)
    store = RunStore(tmp_path, {}, _check=False)
    if held:
        with pytest.raises(StoreError, match="is writing to"):
            store.lock()
        assert lock.read_text() == content
    else:
        store.lock()
        assert lock.read_text() == f"{os.getpid()}\n"
        store.unlock()
    assert not (tmp_path / ".lock.break").exists()


@pytest.mark.usefixtures("no_flock")
def test_without_flock_a_takeover_left_by_a_dead_process_is_named(tmp_path):
    (tmp_path / ".lock").write_text("999999999\n")
    (tmp_path / ".lock.break").write_text("999999998\n")
    with pytest.raises(StoreError, match=r"\.lock\.break was left by a process that died"):
        RunStore(tmp_path, {}, _check=False).lock()


def test_a_file_system_without_flock_uses_the_exclusive_file(tmp_path, monkeypatch):
    def no_flock(fd, how):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(run_store.fcntl, "flock", no_flock)
    store = RunStore(tmp_path, {}, _check=False)
    store.lock()
    assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    store.unlock()
    assert not (tmp_path / ".lock").exists()


def test_windows_asks_the_kernel_not_os_kill(monkeypatch):
    """On Windows ``os.kill(pid, 0)`` sends Ctrl-C to a process group (signal 0 is
    CTRL_C_EVENT), so the liveness check must not call it."""
    def kill(pid, sig):
        raise AssertionError("os.kill called")

    monkeypatch.setattr(run_store, "_WINDOWS", True)
    monkeypatch.setattr(os, "kill", kill)
    monkeypatch.setattr(run_store, "_windows_pid_alive", lambda pid: pid == 42)
    assert run_store._pid_alive(42) and not run_store._pid_alive(43)
    assert not run_store._pid_alive(0)


@pytest.mark.skipif(os.name != "nt", reason="Windows only")
def test_windows_pid_alive():  # pragma: no cover - runs on Windows
    assert run_store._windows_pid_alive(os.getpid())
    assert not run_store._windows_pid_alive(2**31 - 4)


# ------------------------------------------------------------------------ checkpoints


def test_a_bogus_checkpoint_is_moved_aside_once_with_one_warning(tmp_path):
    from ann.checkpoint import Checkpoints

    directory = tmp_path / "checkpoints"
    directory.mkdir()
    (directory / "batched-x.pt").write_bytes(b"not a checkpoint")
    os.mkfifo(directory / "batched-y.pt")
    with pytest.warns(UserWarning) as caught:
        found = finishes(lambda: list(Checkpoints(directory, {}).stacks("batched")))
    assert found == {"value": []}
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert "batched-x.pt is unreadable (UnpicklingError); moved to batched-x.pt.bad" \
        in messages[0]
    assert "batched-y.pt is a FIFO (named pipe), not a regular file; moved to " \
        "batched-y.pt.bad" in messages[1]
    assert sorted(os.listdir(directory)) == ["batched-x.pt.bad", "batched-y.pt.bad"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(Checkpoints(directory, {}).stacks("batched")) == []  # no warning


def test_a_bogus_checkpoint_that_cannot_be_moved_is_ignored_with_one_warning(
        tmp_path, monkeypatch):
    from ann.checkpoint import Checkpoints

    (tmp_path / "batched-x.pt").write_bytes(b"junk")

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", read_only)
    checkpoints = Checkpoints(tmp_path, {})
    with pytest.warns(UserWarning, match="ignored, its runs are trained") as caught:
        assert checkpoints.load("batched-x", "batched") is None
        assert checkpoints.load("batched-x", "batched") is None
    assert len(caught) == 1


# --------------------------------------------------------------- the verdict study


@pytest.fixture(scope="module")
def claims():
    return load_script(ROOT / "experiments" / "thesis_claims.py")


def study_dir(tmp_path, document):
    (tmp_path / "study.json").write_text(document if isinstance(document, str)
                                         else json.dumps(document))
    return tmp_path


STUDY = {"scale": "smoke", "cifar": False, "wall_seconds": 12.0,
         "data_dirs": {"mnist_dir": "/data/mnist", "fashion_dir": None}}


@pytest.mark.parametrize("document, match", [
    ('{"scale": "sm', "not a readable study.json \\(not valid JSON"),
    ("[]", "not a study.json \\(a JSON list"),
    ({**STUDY, "scale": "huge"}, "scale is 'huge', not one of smoke, offline, full"),
    ({**STUDY, "cifar": "no"}, "cifar is 'no', not true or false"),
    ({**STUDY, "wall_seconds": -3}, "wall_seconds is '-3', not a duration"),
    ('{"scale": "smoke", "wall_seconds": NaN}', "NaN is not a JSON number"),
    ({**STUDY, "data_dirs": "data"}, "data_dirs is 'data', not folders by option"),
    ({**STUDY, "data_dirs": {"mnist_dir": 3}}, "data_dirs is .*, not folders by option"),
])
def test_a_corrupt_study_json_is_one_line_naming_it(claims, tmp_path, document, match):
    out = study_dir(tmp_path, document)
    with pytest.raises(StoreError, match=match) as info:
        claims.read_study(out)
    assert "study.json" in str(info.value) and "move it aside (e.g. mv " in str(info.value)
    assert claims.read_study(study_dir(tmp_path, STUDY)) == STUDY


def args_of(claims, out, *argv):
    return claims.build_parser().parse_args(["--out", str(out), "--report-only", *argv])


@pytest.mark.parametrize("argv, match", [
    (["--scale", "offline"], "--scale offline: .* holds the 'smoke' study"),
    (["--cifar-dir", "."], "--cifar-dir: .* holds a study without CIFAR-10"),
    (["--mnist-dir", "."], "--mnist-dir '.': the sweeps of .* read '/data/mnist'"),
    (["--fashion-dir", "."], "--fashion-dir '.': the sweeps of .* read the loader's default"),
])
def test_report_only_refuses_options_of_another_study(claims, tmp_path, argv, match):
    with pytest.raises(UserError, match=match):
        claims.check_report_options(args_of(claims, tmp_path, *argv), STUDY)


def test_report_only_accepts_the_options_of_its_own_study(claims, tmp_path):
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    study = {**STUDY, "data_dirs": {"mnist_dir": str(mnist)}}
    claims.check_report_options(args_of(claims, tmp_path, "--scale", "smoke"), study)
    claims.check_report_options(  # the same folder, spelt another way
        args_of(claims, tmp_path, "--mnist-dir", str(tmp_path / "." / "mnist")), study)
    claims.check_report_options(  # a study recorded without data_dirs names none
        args_of(claims, tmp_path, "--mnist-dir", "."), {"scale": "smoke"})


def test_a_study_refused_early_leaves_study_json_as_it_was(claims, tmp_path):
    out = study_dir(tmp_path, STUDY)
    before = (out / "study.json").read_bytes()
    with pytest.raises(UserError):
        with claims.WallClock(out, STUDY) as clock:
            clock.confirm("mnist_dir", tmp_path / "other")
            raise UserError("the sweep holds other data")
    assert (out / "study.json").read_bytes() == before
    with pytest.raises(KeyboardInterrupt):  # stopped, not refused: its time counts
        with claims.WallClock(out, STUDY) as clock:
            clock.confirm("mnist_dir", tmp_path / "mnist")
            raise KeyboardInterrupt
    stored = json.loads((out / "study.json").read_text())
    assert stored["wall_seconds"] > STUDY["wall_seconds"]
    assert stored["data_dirs"] == {"mnist_dir": str(tmp_path / "mnist"), "fashion_dir": None}


def test_claim_study_checks_without_writing(claims, tmp_path):
    assert claims.claim_study(tmp_path, "smoke", False) == {"scale": "smoke", "cifar": False,
                                                            "wall_seconds": 0.0}
    assert not (tmp_path / "study.json").exists()
    study_dir(tmp_path, STUDY)
    with pytest.raises(UserError, match="holds the 'smoke' study"):
        claims.claim_study(tmp_path, "offline", False)


RATE = {"params": {"n_synapses": 200, "duration_s": 1.0, "seed": 0}, "rows": [],
        "verdicts": [{"preset": "hebbian", "effect_up": 0.1, "effect_up_sem": 0.01,
                      "effect_down": -0.1, "effect_down_sem": 0.01, "supports": "rate"}]}
SPIKING = {"options": {}, "meta": {"n_exc": 10, "n_train": 40, "n_test": 40,
                                   "rule": "mirror", "by": "neuron"},
           "runs": [{"key": "k", "share": 0.5, "train_accuracy": 0.4, "test_accuracy": 0.3,
                     "dead_neurons": 0, "n_mixed_neurons": 5, "settings": {"n_exc": 10}}]}


@pytest.mark.parametrize("change, match", [
    ({"verdicts": "x"}, "verdicts is not a list of records"),
    ({"verdicts": [{**RATE["verdicts"][0], "preset": "nope"}]}, "'nope' is not a preset"),
    ({"verdicts": [{**RATE["verdicts"][0], "effect_up_sem": -1}]}, "lacks finite effects"),
    ({"params": []}, "params lacks"),
])
def test_the_rate_document_is_checked(change, match):
    assert rate_problem(RATE) == ""
    assert match in rate_problem({**RATE, **change})


@pytest.mark.parametrize("change, match", [
    ({"runs": [{**SPIKING["runs"][0], "test_accuracy": 1e9}]}, "not fractions in [0, 1]"),
    ({"runs": [{**SPIKING["runs"][0], "dead_neurons": -1}]}, "are not counts"),
    ({"meta": {}}, "meta lacks"),
    ({"runs": {}}, "runs is not a list of records"),
])
def test_the_spiking_document_is_checked(change, match):
    assert spiking_problem(SPIKING) == ""
    assert match in spiking_problem({**SPIKING, **change})


def test_a_run_without_seconds_has_a_blank_csv_cell():
    from ann.experiments.outputs import run_csv

    run = good_run()
    del run["seconds"]
    header, row = run_csv([run], "mnist").splitlines()
    assert dict(zip(header.split(","), row.split(","), strict=False))["seconds"] == ""


def test_a_regular_file_mode_is_named():
    from common.files import file_kind

    assert file_kind(stat.S_IFIFO) == "a FIFO (named pipe)"
    assert file_kind(stat.S_IFREG) == "a regular file"


def test_a_refusal_survives_pickling(tmp_path):
    """It crosses process boundaries (a Ray task reading the driver's checkpoints)."""
    import pickle

    error = pickle.loads(pickle.dumps(UnreadableFile(tmp_path / "x.pt", "a FIFO")))
    assert isinstance(error, ValueError) and error.reason == "a FIFO"
    assert str(error) == f"{tmp_path / 'x.pt'}: a FIFO"
