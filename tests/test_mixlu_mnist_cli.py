"""experiments/mixlu_mnist.py: --quick smoke on tiny data, outputs, resume, user errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.data import mnist as mnist_module
from common.data.download import DownloadError

from helpers import call_main, load_script
from writers import write_tiny_mnist

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "mixlu_mnist.py"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Own cache, no network."""
    monkeypatch.setenv("NEGLU_STDP_CACHE", str(tmp_path / "cache"))

    def no_network(urls, dest, sha256, timeout=0, urlopen=None):
        raise DownloadError("network disabled in tests")

    monkeypatch.setattr(mnist_module, "download_first", no_network)


def run_cli(*argv, env_cache=None):
    """The script in a subprocess (for exit codes and stderr as a user sees them)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if env_cache is not None:
        env["NEGLU_STDP_CACHE"] = str(env_cache)
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_quick_run_writes_outputs_and_resumes(tmp_path, capsys):
    script = load_script(SCRIPT)
    data_dir = write_tiny_mnist(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--quick", "--dataset", "mnist", "--data-dir", str(data_dir), "--backward", "all",
            "--out", str(out), "--no-progress"]
    assert script.main(argv) == 0
    text = capsys.readouterr().out
    for needle in ("Table 6", "Table 7", "Table 8", "thesis test error %", "0.92", "1.26",
                   "one seed per configuration", "wrote"):
        assert needle in text
    doc = json.loads((out / "mixlu_mnist.json").read_text())
    assert doc["dataset"] == "mnist" and doc["train_size"] == 200 and doc["test_size"] == 50
    assert doc["config"]["epochs"] == 3 and doc["mask"] == "fixed"
    assert len(doc["runs"]) == 6  # percents 0,5 x three backward modes
    for run in doc["runs"]:
        assert set(run) >= {"neg_percent", "backward", "seed", "status", "train_error",
                            "test_error", "epochs"}
        assert run["status"] == "ok" and run["test_error"] == run["epochs"][-1]["test_error"]
        assert run["epochs"][-1]["loss"] < run["epochs"][0]["loss"]  # it trained
        assert [e["epoch"] for e in run["epochs"]] == [1, 2, 3]
        assert run["engine"] == "batched" and run["model"] == "lenet"
    zeros = [r for r in doc["runs"] if r["neg_percent"] == 0]  # one ReLU net, three columns
    assert len(zeros) == 3 and all(r["trained_as"] == "relu" for r in zeros)
    assert len({json.dumps(r["epochs"]) for r in zeros}) == 1
    assert {r["backward"] for r in doc["runs"]} == {"exact", "reference", "inverted"}
    csv_rows = (out / "mixlu_mnist.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 6 * 3
    assert (out / "mixlu_mnist.png").read_bytes()[:4] == b"\x89PNG"
    stored = {p.name: p.read_bytes() for p in (out / "runs").iterdir()}
    assert len(stored) == 4  # relu + 5 % under each backward
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["engine"] == "batched" and sweep["trainer_version"]
    assert {"torch", "brian2", "numpy", "git_commit"} <= set(sweep["provenance"])

    # Same command again: nothing is retrained, results identical.
    assert script.main(argv) == 0
    text = capsys.readouterr().out
    assert "resuming: 4 of 4 runs already finished" in text
    assert {p.name: p.read_bytes() for p in (out / "runs").iterdir()} == stored
    assert json.loads((out / "mixlu_mnist.json").read_text())["runs"] == doc["runs"]


def test_report_only_combines_partial_sweeps_without_training(tmp_path, capsys):
    script = load_script(SCRIPT)
    data_dir = write_tiny_mnist(tmp_path / "data", n_train=100, n_test=20)
    base = ["--quick", "--epochs", "1", "--data-dir", str(data_dir), "--no-progress",
            "--out", str(tmp_path / "o")]
    assert script.main(base + ["--percents", "0", "--backward", "exact"]) == 0
    assert script.main(base + ["--percents", "5", "--backward", "inverted"]) == 0
    capsys.readouterr()
    runs_before = {p.name: p.read_bytes() for p in (tmp_path / "o" / "runs").iterdir()}
    assert script.main(base + ["--report-only"]) == 0
    out = capsys.readouterr().out
    assert "report only: 2 stored runs" in out and "backward=inverted" in out
    doc = json.loads((tmp_path / "o" / "mixlu_mnist.json").read_text())
    # the 0 % run is one ReLU net: reported under the store's backward mode
    assert [(r["backward"], r["neg_percent"]) for r in doc["runs"]] == [("inverted", 0.0),
                                                                        ("inverted", 5.0)]
    assert doc["report_only"] and doc["runs"][0]["trained_as"] == "relu"
    assert {p.name: p.read_bytes() for p in (tmp_path / "o" / "runs").iterdir()} == runs_before
    code, _, err = call_main(SCRIPT, ["--report-only", "--data-dir", str(data_dir)], capsys)
    assert code == 2 and err.startswith("error: --report-only needs --out DIR")


def test_fallback_from_mnist_to_mnist_5k_in_one_line(tmp_path, capsys):
    script = load_script(SCRIPT)
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["--quick", "--percents", "0", "--epochs", "1", "--train-subset", "100",
            "--test-subset", "50", "--data-dir", str(empty), "--no-progress"]
    assert script.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    fallback = [line for line in lines if "falling back to mnist-5k" in line]
    assert len(fallback) == 1 and "network disabled in tests" in fallback[0]
    assert any("stratified split" in line for line in lines)
    assert any("MixLU-LeNet on mnist-5k" in line for line in lines)


def test_help_documents_every_option(capsys):
    code, out, _ = call_main(SCRIPT, ["--help"], capsys)
    assert code == 0
    for option in ("--percents", "--seeds", "--backward", "--epochs", "--dataset", "--data-dir",
                   "--device", "--out", "--quick", "--engine", "--mask", "--train-subset",
                   "--test-subset", "--no-progress", "--report-only", "mnist-5k",
                   "fashion-mnist"):
        assert option in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--percents", "0,x"], "error: --percents: 'x' is not a number"),
    (["--percents", "0,120"], "error: --percents: 120 is outside 0..100"),
    (["--percents", "-5"], "error: --percents: -5 is outside 0..100"),
    (["--dataset", "cifar-99"], "error: unknown dataset 'cifar-99'"),
    (["--data-dir", "/nonexistent/dir"], "error: --data-dir '/nonexistent/dir' is not a directory"),
    (["--backward", "sideways"], "error: argument --backward: invalid choice: 'sideways'"),
    (["--seeds", "0"], "error: --seeds must be an integer in 1..1000, got 0"),
    (["--seeds", "1000000000000"], "error: --seeds must be an integer in 1..1000, got 1000000"),
    (["--epochs", "-1"], "error: --epochs must be an integer in 1..10000, got -1"),
    (["--percents", "1,1.0000000000000002"], "error: --percents lists 1.0000000000000002 "
                                             "twice (as '1'; values are compared to 15"),
    (["--activations", "mixlu:1,mixlu:1.0000000000000002"],
     "error: --activations: 'mixlu:1.0000000000000002' is the same activation as 'mixlu:1'"),
    (["--out", ""], "error: argument --out: must name a directory, got ''"),
    (["--out", "/tmp/" + "n" * 300], "error: --out '/tmp/nnnn"),
    (["--device", "tpu"], "error: --device:"),
    (["--train-subset", "0"], "error: --train-subset must be positive, got 0"),
    (["--percents", ""], "error: --percents must be a comma-separated list"),
    (["--percents", "1,1.0"], "error: --percents lists 1.0 twice"),
    (["--device", "mps"], "error: --device: device must be 'auto', 'cpu', 'cuda'"),
    (["--device", "meta"], "error: --device: device must be 'auto', 'cpu', 'cuda'"),
    (["--out", "/proc/x"], "error: --out '/proc/x' is not a writable directory"),
    (["--out", "/sys/kernel"], "error: --out '/sys/kernel' is not a writable directory"),
    (["--activations", "relu, mixlu:5:sideways"], "error: --activations: 'mixlu:5:sideways'"),
    (["--activations", "tanh"], "error: --activations: 'tanh': unknown activation kind"),
    (["--activations", "relu,relu"], "error: --activations: 'relu' is the same activation"),
    (["--activations", ""], "error: --activations: needs at least one activation spec"),
    (["--activations", "relu", "--percents", "1"], "error: give either --activations or"),
    (["--signs", "--signs-every", "0"], "error: --signs-every must be an integer in 1..1000000"),
    (["--signs-every", "5"], "error: --signs-every needs --signs"),
    # digit separators, hexadecimal and the like are not numbers here (Python's float()
    # and int() take "1_0" as 10)
    (["--percents", "0,1_0"], "error: --percents: '1_0' is not a number"),
    (["--activations", "relu, mixlu:1_0"], "error: --activations: 'mixlu:1_0': activation "
                                           "'mixlu': percent must be a number"),
    (["--seeds", "1_0"], "error: argument --seeds: invalid int value: '1_0'"),
    (["--epochs", "0x10"], "error: argument --epochs: invalid int value: '0x10'"),
    (["--activations", "minmaxout:50:0"], "error: --activations: 'minmaxout:50:0': activation "
                                          "'minmaxout': pieces must be an integer in [1, 16]"),
])
def test_bad_inputs_give_one_line_errors(argv, message, capsys):
    code, out, err = call_main(SCRIPT, argv, capsys)
    assert code == 2
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("make, message", [
    (lambda o: (o / "runs").write_text("x"), "runs is a file where the run store keeps a"),
    (lambda o: (o / "checkpoints").write_text("x"), "checkpoints is a file where the run"),
    (lambda o: (o / ".lock").mkdir(), ".lock is a directory where a file is written"),
    (lambda o: (o / "mixlu_mnist.json").mkdir(), "mixlu_mnist.json is a directory where a"),
])
def test_out_entries_of_the_wrong_type_are_refused_before_training(tmp_path, capsys, make,
                                                                  message):
    out = tmp_path / "o"
    out.mkdir()
    make(out)
    code, stdout, err = call_main(SCRIPT, ["--quick", "--out", str(out)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert "config:" not in stdout  # nothing was loaded or trained


def test_out_under_a_regular_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    for out in (tmp_path / "f", tmp_path / "f" / "sub"):
        code, _, err = call_main(SCRIPT, ["--quick", "--out", str(out)], capsys)
        assert code == 2 and err.startswith(f"error: --out {str(out)!r}")
        assert len(err.strip().splitlines()) == 1


def test_activations_option_sweeps_any_registered_kind(tmp_path, capsys):
    script = load_script(SCRIPT)
    data_dir = write_tiny_mnist(tmp_path / "data", n_train=100, n_test=20)
    doc = script.run(script.build_parser().parse_args([
        "--quick", "--epochs", "1", "--data-dir", str(data_dir), "--no-progress",
        "--activations", "relu, mixlu:5:exact:resample, mixlu:percent=5:mask=fixed"]))
    assert [r["activation"] for r in doc["runs"]] == [
        "relu", "mixlu5-exact-resample", "mixlu5-reference-fixed"]
    out = capsys.readouterr().out
    assert "backward=exact+resample" in out and "backward=relu" in out


def test_corrupt_file_in_data_dir_is_a_one_line_error(tmp_path, capsys):
    data_dir = write_tiny_mnist(tmp_path / "data")
    (data_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x00\x00\x08\x01")  # header only
    code, _, err = call_main(SCRIPT, ["--quick", "--dataset", "mnist-5k", "--data-dir",
                                      str(data_dir)], capsys)
    assert code == 2
    assert err.startswith("error: ") and "t10k-labels-idx1-ubyte.gz" in err
    assert len(err.strip().splitlines()) == 1


def test_out_dir_of_a_different_sweep_is_refused(tmp_path, capsys):
    script = load_script(SCRIPT)
    data_dir = write_tiny_mnist(tmp_path / "data")
    base = ["--quick", "--percents", "0", "--data-dir", str(data_dir), "--no-progress",
            "--out", str(tmp_path / "o")]
    assert script.main(base + ["--epochs", "1"]) == 0
    # auto: one run has nothing to stack
    assert "engine: auto chose loop: no stack" in capsys.readouterr().out
    assert script.main(base + ["--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "holds runs of a different sweep" in err and "differs in: config" in err
    assert script.main(base + ["--epochs", "1", "--engine", "batched"]) == 2
    err = capsys.readouterr().err
    assert "holds runs of engine 'loop', not 'batched'; choose a new --out" in err
    assert len(err.strip().splitlines()) == 1


def test_store_of_the_earlier_layout_is_refused_for_training_and_read_by_report_only(
        tmp_path, capsys):
    script = load_script(SCRIPT)
    data_dir = write_tiny_mnist(tmp_path / "data", n_train=100, n_test=20)
    out = tmp_path / "o"
    argv = ["--quick", "--percents", "5", "--epochs", "1", "--mask", "resample",
            "--data-dir", str(data_dir), "--no-progress", "--out", str(out)]
    # what the earlier layout wrote: no trainer version, runs keyed neg<p>-<backward>-seed<s>
    meta = {"experiment": "mixlu_mnist", "dataset": "mnist-5k", "mask": "resample",
            "mask_draw": "subset-v2", "config": {"epochs": 1}}
    (out / "runs").mkdir(parents=True)
    (out / "sweep.json").write_text(json.dumps(meta))
    run = {"neg_percent": 5.0, "backward": "reference", "seed": 0, "status": "ok",
           "train_error": 0.1, "test_error": 0.2, "seconds": 1.0,
           "epochs": [{"epoch": 1, "train_error": 0.1, "test_error": 0.2, "loss": 1.0}]}
    (out / "runs" / "neg5-reference-seed0.json").write_text(json.dumps(run))
    assert script.main(argv) == 2
    err = capsys.readouterr().err
    assert "earlier layout" in err and "--report-only" in err
    assert script.main(argv + ["--report-only"]) == 0
    doc = json.loads((out / "mixlu_mnist.json").read_text())
    assert doc["runs"][0]["activation"] == "mixlu5-reference-resample"
    assert doc["runs"][0]["layout"] == "earlier" and doc["dataset"] == "mnist-5k"


@pytest.mark.parametrize(("content", "message"), [
    ("{", "is not a readable stored run"),
    ("[]", "is not a stored run"),
    ('{"seed": 0}', "is not a stored run (missing neg_percent"),
])
def test_corrupt_stored_run_is_a_one_line_error(tmp_path, capsys, content, message):
    script = load_script(SCRIPT)
    data_dir = write_tiny_mnist(tmp_path / "data", n_train=100, n_test=20)
    argv = ["--quick", "--percents", "0", "--epochs", "1", "--data-dir", str(data_dir),
            "--no-progress", "--out", str(tmp_path / "o")]
    assert script.main(argv) == 0
    (run,) = (tmp_path / "o" / "runs").iterdir()
    run.write_text(content)
    capsys.readouterr()
    for extra in ([], ["--report-only"]):
        assert script.main(argv + extra) == 2
        err = capsys.readouterr().err
        assert message in err and run.name in err and "move it aside" in err
        assert len(err.strip().splitlines()) == 1


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path, capsys):
    script = load_script(SCRIPT)
    data_dir = write_tiny_mnist(tmp_path / "data", n_train=100, n_test=20)
    out = tmp_path / "o"
    argv = ["--quick", "--percents", "0", "--epochs", "1", "--data-dir", str(data_dir),
            "--no-progress", "--out", str(out)]
    out.mkdir()
    (out / ".lock").write_text("1\n")  # PID 1 (init) is alive: another writer
    assert script.main(argv) == 2
    err = capsys.readouterr().err
    assert "another process (PID 1) is writing" in err and len(err.strip().splitlines()) == 1
    (out / ".lock").write_text("999999999\n")  # a killed writer's stale lock
    assert script.main(argv) == 0
    assert not (out / ".lock").exists()


@pytest.mark.slow
def test_script_runs_as_a_program(tmp_path):
    data_dir = write_tiny_mnist(tmp_path / "data", n_train=100, n_test=20)
    result = run_cli("--quick", "--percents", "1", "--epochs", "1", "--data-dir", str(data_dir),
                     "--no-progress", env_cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert "mixlu1-reference-fixed-seed0" in result.stdout and "Table 6" in result.stdout
    bad = run_cli("--percents", "5,abc", env_cache=tmp_path / "cache")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "error: --percents: 'abc' is not a number (in '5,abc')\n"


@pytest.mark.slow
def test_signs_in_both_engines_print_the_table_and_overhead_and_store_per_run(tmp_path,
                                                                             capsys):
    """--signs: a stacked MixLU run and a stacked Min-Maxout run (a stack of its own) both
    carry signs; the table, the overhead line and the figure come out; resume keeps them."""
    script = load_script(SCRIPT)
    data_dir = write_tiny_mnist(tmp_path / "data")
    out = tmp_path / "o"
    argv = ["--quick", "--epochs", "2", "--dataset", "mnist-5k", "--data-dir", str(data_dir),
            "--no-progress", "--signs", "--signs-every", "2", "--out", str(out),
            "--activations", "relu,mixlu:10:inverted,minmaxout:50"]
    assert script.main(argv) == 0
    text = capsys.readouterr().out
    assert "Update signs (bridge monitor, steps watched: 1 in 2" in text
    assert "signs: one step in 2 watched" in text and "timed in this process" in text
    doc = json.loads((out / "mixlu_mnist.json").read_text())
    runs = {r["activation"]: r for r in doc["runs"]}
    assert runs["mixlu10-inverted-fixed"]["engine"] == "batched"
    assert runs["minmaxout50-2"]["engine"] == "batched"
    assert set(runs["minmaxout50-2"]["signs"]["by_unit_type"]) == {"max", "min"}
    neglu = runs["mixlu10-inverted-fixed"]["signs"]["by_unit_type"]["neglu"]
    assert neglu["inverted_fraction"] > 0 and runs["relu"]["signs"]["steps"] > 0
    assert (out / "mixlu_mnist_signs.png").stat().st_size > 0
    assert json.loads((out / "sweep.json").read_text())["observer"] == {
        "signs_every": 2, "convention": "rate"}
    assert script.main(argv) == 0  # resume: nothing retrained, signs still reported
    text = capsys.readouterr().out
    assert "resuming: 3 of 3 runs already finished" in text and "Update signs" in text
    other = list(argv)
    other[other.index("--signs-every") + 1] = "3"
    code, _, err = call_main(SCRIPT, other, capsys)
    assert code == 2 and "differs in: observer" in err  # another sampling: refused


def test_without_ray_the_executor_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, out, err = call_main(SCRIPT, ["--quick", "--executor", "ray"], capsys)
    assert code == 2 and out == ""
    assert err == ("error: --executor ray needs Ray, which is not installed: pip install "
                   "'neglu-stdp[ray]'  (or: pip install 'ray==2.60.0')\n")


def test_ray_options_need_the_ray_executor(capsys):
    code, _, err = call_main(SCRIPT, ["--quick", "--ray-address", "auto"], capsys)
    assert code == 2 and err == "error: --ray-address needs --executor ray\n"
