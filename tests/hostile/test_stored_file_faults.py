"""Stored files that could hang a reader or lie to it: a FIFO, a device or a directory
where a run file, sweep.json, study.json or a report document goes, run records with
NaN or out-of-range numbers, corrupt study.json files, options that select another
study, a bogus checkpoint.  Each is one 'error:' line naming the file and how to set it
aside (or, for a checkpoint, one warning and the file moved aside once), never a hang
or a traceback; a refused thesis_claims.py run leaves study.json as it was.

Run by mixlu_mnist.py on a copy of the session's finished tiny store, and by
thesis_claims.py on a copy of (a part of) the committed offline study."""

import hashlib
import json
import os
import shutil

import pytest

from harness import (
    ROOT,
    TINY,
    compare_runs,
    expect_no_problems,
    one_line_problems,
    runs_of,
    success_problems,
)

pytestmark = pytest.mark.hostile

CLAIMS = ROOT / "experiments" / "thesis_claims.py"
OFFLINE = ROOT / "results" / "claims-offline"
#: The offline study's first sweep (MNIST), of which a copy keeps two runs.
SWEEP = "lenet-mnist-5k"
#: How long a refusal may take before it counts as a hang.
HANG_S = 40


def run_file(out, index=0):
    return sorted((out / "runs").glob("*.json"))[index]


def edit_run(field, value):
    """Edit: a run file of the store whose ``field`` is the JSON text ``value``."""
    def edit(out):
        path = run_file(out)
        run = json.loads(path.read_text())
        run[field] = "@"
        path.write_text(json.dumps(run).replace('"@"', value))
    return edit


def fifo(name):
    def edit(out):
        (out / name).unlink(missing_ok=True)
        os.mkfifo(out / name)
    return edit


def fifo_run_file(out):
    path = run_file(out)
    path.unlink()
    os.mkfifo(path)


def device_run_file(out):
    path = run_file(out)
    path.unlink()
    path.symlink_to("/dev/zero")


#: Each case costs a script start (3-5 s): the variants of each family (a FIFO
#: sweep.json, a directory, a .lock FIFO, -5, a truncated or bogus study.json, a
#: checkpoint that cannot be moved ...) are in tests/test_safe_read.py, in process.
MNIST_CASES = [  # id, edit of the copied store, extra arguments, what the error names
    ("run-file-fifo", fifo_run_file, [], "runs/"),
    ("run-file-dev-zero", device_run_file, ["--report-only"], "runs/"),
    ("test-error-nan", edit_run("test_error", "NaN"), ["--report-only"], "runs/"),
    ("neg-percent-1e300", edit_run("neg_percent", "1e300"), [], "runs/"),
]


def set_aside_problems(res, path_part):
    """The error line must say how to set the file aside (a ``mv`` of it)."""
    if res.rc == 2 and "move it aside (e.g. mv " not in res.stderr:
        return [f"the message does not say how to set {path_part} aside"]
    return []


@pytest.mark.parametrize(("name", "edit", "extra", "names"), MNIST_CASES,
                         ids=[f"mnist:{case[0]}" for case in MNIST_CASES])
def test_bad_stored_file_is_one_line(cli, name, edit, extra, names):
    out = cli.fresh("stored", name)
    shutil.copytree(cli.tiny_store(), out)
    edit(out)
    res = cli.run("mnist", TINY + extra + ["--out", str(out)], timeout=HANG_S)
    expect_no_problems(one_line_problems(res, [names], "mnist")
                       + set_aside_problems(res, names), [res], name)


def test_bogus_checkpoint_is_moved_aside_once(cli):
    """A resumed sweep with a checkpoint that is not one: one warning, the file moved to
    NAME.pt.bad (which no rerun reads: tests/test_safe_read.py), the runs of an
    uninterrupted sweep."""
    want = cli.reference("tiny", "mnist", TINY, "mixlu_mnist")
    out = cli.fresh("stored", "bogus-checkpoint")
    shutil.copytree(cli.tiny_store(), out)
    for path in (out / "runs").glob("*.json"):  # retrain the stack (its runs together:
        path.unlink()                            # a stack of one sums in another order)
    bogus = out / "checkpoints" / "batched-0123456789abcdef.pt"
    bogus.parent.mkdir(exist_ok=True)
    bogus.write_bytes(b"not a checkpoint")
    first = cli.run("mnist", TINY + ["--out", str(out)], timeout=120)
    warned = [ln for ln in first.stderr_lines if "checkpoint" in ln]
    problems = success_problems(first) or compare_runs(runs_of(out, "mixlu_mnist"), want)
    if len(warned) != 1 or "moved to batched-0123456789abcdef.pt.bad" not in warned[0]:
        problems.append(f"checkpoint warnings: {warned}")
    if bogus.exists() or not bogus.with_name(bogus.name + ".bad").exists():
        problems.append("the bogus checkpoint was not moved to NAME.pt.bad")
    expect_no_problems(problems, [first], "bogus checkpoint")


# ---------------------------------------------------------------------- thesis_claims


def run_claims(h, args, timeout=HANG_S):
    """thesis_claims.py ``args``, run as every script of the suite is."""
    return h.run("claims", args, timeout=timeout)


def study_copy(h, name, edit):
    """A copy of the offline study's study.json, rate document and two runs of its
    MNIST sweep, changed by ``edit(folder)``."""
    out = h.fresh("claims", name)
    runs = out / "sweeps" / SWEEP / "runs"
    runs.mkdir(parents=True)
    for part in ("study.json", "rate_experiment.json", f"sweeps/{SWEEP}/sweep.json"):
        shutil.copy(OFFLINE / part, out / part)
    for path in sorted((OFFLINE / "sweeps" / SWEEP / "runs").glob("*.json"))[:2]:
        shutil.copy(path, runs / path.name)
    edit(out)
    return out


def edit_study(change):
    def edit(out):
        path = out / "study.json"
        path.write_text(change(path.read_text()))
    return edit


def study_with(key, value):
    return edit_study(lambda text: json.dumps({**json.loads(text), key: value}))


def claims_run_file(value):
    def edit(out):
        edit_run("test_error", value)(out / "sweeps" / SWEEP)
    return edit


CLAIMS_CASES = [  # id, edit of the copied study, extra arguments, what the error names
    ("study-json-fifo", fifo("study.json"), [], "study.json"),
    ("study-json-list", edit_study(lambda text: "[]"), [], "study.json"),
    ("study-json-data-dirs-string", study_with("data_dirs", "data"), [], "study.json"),
    ("run-file-1e9", claims_run_file("1e9"), [], "runs/"),
    ("other-scale", lambda out: None, ["--scale", "full"], "--scale"),
]


@pytest.mark.parametrize(("name", "edit", "extra", "names"), CLAIMS_CASES,
                         ids=[f"claims:{case[0]}" for case in CLAIMS_CASES])
def test_bad_study_file_or_option_is_one_line(cli, name, edit, extra, names):
    out = study_copy(cli, name, edit)
    res = run_claims(cli, ["--out", str(out), "--report-only", *extra])
    problems = one_line_problems(res, [names])
    if names != "--scale":
        problems += set_aside_problems(res, names)
    expect_no_problems(problems, [res], name)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_refused_study_run_leaves_study_json_as_it_was(cli):
    """Resuming the offline study with the MNIST files of another data set is refused
    (its sweep holds other data) without rewriting study.json."""
    name = "other-mnist-dir"
    out = study_copy(cli, name, lambda out: None)
    before = digest(out / "study.json")
    res = run_claims(cli, ["--out", str(out), "--mnist-dir", "@TINY", "--no-progress"],
                     timeout=90)
    problems = one_line_problems(res, ["sweeps/", "runs/", "--mnist-dir"])
    if digest(out / "study.json") != before:
        problems.append("study.json was rewritten by the refused run")
    expect_no_problems(problems, [res], name)
