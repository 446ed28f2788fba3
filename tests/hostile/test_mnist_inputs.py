"""experiments/mixlu_mnist.py refuses bad options, folders, data and stores in one line."""

import json
import shutil

import pytest

from harness import HUGE, bad, bad_values, check_bad_input, data_dir, out_with, store

pytestmark = pytest.mark.hostile

# ---- every numeric and named option --------------------------------------------------
OPTIONS = [
    *[bad("mnist", f"seeds={v!r}", ["--seeds", v], ["--seeds"],
          note="huge: a seed count that cannot be trained" if v == HUGE else "")
      for v in ["-1", "0", "abc", "", "nan", HUGE]],
    *bad_values("mnist", "--epochs", ["-1", "0", "abc", "", "inf"]),
    *bad_values("mnist", "--train-subset", ["0", "1e3"]),
    *bad_values("mnist", "--test-subset", ["-5", "nan"]),
    *bad_values("mnist", "--percents", ["", ",", "5,,6", "1,1.0", "0,-0", "1,1.0000000000000002",
                                        "150", "abc", "nan", "1e400"]),
    *bad_values("mnist", "--activations", [
        "", "nope", "mixlu", "mixlu:150", "mixlu:5:sideways", "mixlu:5:reference:sometimes",
        "relu,relu", "mixlu:5:percent=6", "relu:dropout=nan", "mixlu:5:exact:fixed:extra",
        "mixlu:1,mixlu:1.0000000000000002"]),
    bad("mnist", "activations+percents", ["--activations", "relu", "--percents", "0"],
        ["--activations", "--percents"]),
    *bad_values("mnist", "--device", ["mps", "meta", "cuda", "cuda:7", "xla", ""]),
    *[bad("mnist", f"{opt[2:]}={v!r}", [opt, v], [opt, "dataset"])
      for opt, v in [("--backward", "sideways"), ("--engine", "turbo"), ("--mask", "sometimes"),
                     ("--dataset", "nope"), ("--dataset", "")]],
]

# ---- --out: unwritable, not a directory, pre-existing obstacles -----------------------
OUT = [
    *[bad("mnist", f"out={name}", ["--out", value], ["--out"])
      for name, value in [("proc", "/proc/x"), ("sys", "/sys/kernel"),
                          ("file/sub", "@REGULAR/sub"), ("regular-file", "@REGULAR"),
                          ("dev-null", "/dev/null"), ("long-name", "@WORK/" + "n" * 300)]],
    bad("mnist", "out=''", ["--out", ""], ["--out"],
        note="'' is Path('') = '.', the current folder"),
    bad("mnist", "out: runs is a file", names=["runs", "--out"],
        setup=out_with("runs-file", lambda d: (d / "runs").write_text("x"))),
    bad("mnist", "out: .lock is a directory", names=[".lock", "--out"],
        setup=out_with("lock-dir", lambda d: (d / ".lock").mkdir())),
    bad("mnist", "out: mixlu_mnist.json is a directory", names=["mixlu_mnist.json", "--out"],
        setup=out_with("json-dir", lambda d: (d / "mixlu_mnist.json").mkdir())),
]

# ---- --data-dir ------------------------------------------------------------------------
TI, TL = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"


def images_only(h, d):
    for name in (TI, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(h.tiny / name, d)


def labels_only(h, d):
    shutil.copy(h.tiny / TL, d)


def images_dir(h, d):
    for f in h.tiny.iterdir():
        shutil.copy(f, d)
    (d / TI).unlink()
    (d / TI).mkdir()


def broken_link(h, d):
    images_dir(h, d)
    (d / TI).rmdir()
    (d / TI).symlink_to(d / "nowhere")


def dev_zero(h, d):
    images_dir(h, d)
    (d / TI).rmdir()
    (d / "train-images-idx3-ubyte").symlink_to("/dev/zero")


def tiny_data_dir(name, make):
    """Setup: a fresh --data-dir made by ``make(harness, folder)`` (from the tiny files)."""
    def setup(h):
        return data_dir(name, lambda d: make(h, d))(h)
    return setup


DATA_DIR = [
    bad("mnist", "data-dir missing", ["--data-dir", "@WORK/no-such-dir"], ["--data-dir"]),
    bad("mnist", "data-dir is a file", ["--data-dir", "@REGULAR"], ["--data-dir"]),
    bad("mnist", "data-dir: images but no labels", names=["train-labels", "train-images"],
        setup=tiny_data_dir("images-only", images_only)),
    bad("mnist", "data-dir: labels but no images", names=["train-images", "train-labels"],
        setup=tiny_data_dir("labels-only", labels_only)),
    bad("mnist", "data-dir: images path is a directory", names=["train-images"],
        setup=tiny_data_dir("images-dir", images_dir)),
    bad("mnist", "data-dir: images is a broken symlink", names=["train-images"],
        setup=tiny_data_dir("broken-link", broken_link)),
    bad("mnist", "data-dir: images -> /dev/zero", names=["train-images"],
        setup=tiny_data_dir("dev-zero", dev_zero)),
]

# ---- --report-only on empty / foreign / corrupt stores --------------------------------


def foreign(d):
    (d / "notes.txt").write_text("holiday photos\n")
    (d / "photo.jpg").write_bytes(b"\xff\xd8\xff")


def truncate_sweep(d):
    (d / "sweep.json").write_text((d / "sweep.json").read_text()[:40])


def foreign_sweep_no_runs(d):
    shutil.rmtree(d / "runs")
    (d / "sweep.json").write_text('{"foo": 1}')


def sweep_is_dir(d):
    (d / "sweep.json").unlink()
    (d / "sweep.json").mkdir()


def edit_first_run(edit):
    """Store change: the first run file replaced by ``edit(its JSON, its text)``."""
    def make(d):
        path = sorted((d / "runs").glob("*.json"))[0]
        new = edit(json.loads(path.read_text()), path.read_text())
        if isinstance(new, bytes):
            path.write_bytes(new)
        else:
            path.write_text(new)
    return make


RUN_FILE_EDITS = {  # name: (edit, names)
    "truncated": (lambda r, text: text[: len(text) // 2], ["runs/"]),
    "list": (lambda r, text: "[]", ["runs/"]),
    "missing": (lambda r, text: json.dumps({k: v for k, v in r.items()
                                            if k not in ("test_error", "epochs")}), ["runs/"]),
    "seed_str": (lambda r, text: json.dumps({**r, "seed": "zero"}), ["runs/", "seed"]),
    "percent_str": (lambda r, text: json.dumps({**r, "neg_percent": "abc", "test_error": "x"}),
                    ["runs/", "neg_percent", "test_error"]),
    "epochs_bad": (lambda r, text: json.dumps({**r, "epochs": [1, 2, 3]}), ["runs/", "epochs"]),
    "binary": (lambda r, text: b"\xff\xfe\x00binary\x80", ["runs/"]),
    "spec_bad": (lambda r, text: json.dumps({**r, "activation_spec": {"kind": "warp-drive"}}),
                 ["runs/", "activation"]),
}

REPORT_ONLY = [
    bad("mnist", "report-only without --out", ["--report-only"], ["--report-only", "--out"]),
    bad("mnist", "report-only: empty dir", names=["sweep.json", "--out", "report-only"],
        setup=store("empty", copy=False)),
    bad("mnist", "report-only: foreign dir", names=["sweep.json", "--out", "report-only"],
        setup=store("foreign", foreign, copy=False)),
    bad("mnist", "report-only: sweep.json truncated", names=["sweep.json"],
        setup=store("sweep-trunc", truncate_sweep)),
    bad("mnist", "report-only: sweep.json = []", names=["sweep.json"],
        setup=store("sweep-list", lambda d: (d / "sweep.json").write_text("[]"))),
    bad("mnist", "report-only: sweep.json foreign object, no runs", names=["--out", "runs"],
        setup=store("sweep-foreign", foreign_sweep_no_runs)),
    bad("mnist", "report-only: sweep.json is a directory", names=["sweep.json"],
        setup=store("sweep-dir", sweep_is_dir)),
    *[bad("mnist", f"report-only: run file {name}", names=names,
          setup=store(f"run_{name}", edit_first_run(edit)))
      for name, (edit, names) in RUN_FILE_EDITS.items()],
]

CASES = OPTIONS + OUT + DATA_DIR + REPORT_ONLY


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_is_one_error_line(cli, case):
    check_bad_input(cli, case)
