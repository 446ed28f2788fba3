"""experiments/mixlu_cifar.py: protocol reaching the optimizer, --quick on synthetic
CIFAR-format files, gray 28x28 data, resume, user errors."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from ann.data.datasets import TensorData
from ann.experiments.cifar import make_config, neg_counts
from ann.models import build_model
from ann.specs import RunSpec
from ann.train import train_one
from common.data.idx import write_idx

from helpers import call_main, load_script
from writers import write_tiny_cifar

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "mixlu_cifar.py"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Own cache, no network."""
    monkeypatch.setenv("NEGLU_STDP_CACHE", str(tmp_path / "cache"))

    def no_network(url, timeout=None):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def test_config_is_the_reference_protocol():
    c = make_config()
    assert c.epochs == 30 and c.lr_schedule == (0.05,) * 15 + (0.005,) * 10 + (0.0005,) * 5
    assert (c.momentum, c.weight_decay, c.batch_size, c.flip) == (0.9, 1e-4, 100, True)
    assert c.lr_mults() == {"weight": 0.1, "bias": 2.0, "last_weight": 0.01, "last_bias": 0.2}
    assert make_config(16).to_dict()["lr_schedule"] == [0.05] * 15 + [0.005]
    with pytest.raises(ValueError, match="epochs must be an integer in 1..30, got 31"):
        make_config(31)


def test_schedule_and_multipliers_reach_the_optimizer(monkeypatch):
    """All 30 epochs, one SGD step each: record every group's lr at every step."""
    config = make_config(30)
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randn(8, 3, 32, 32, generator=g), torch.arange(8) % 10,
                      torch.randn(4, 3, 32, 32, generator=g), torch.arange(4),
                      name="tiny")
    seen: list[dict] = []
    real_step = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        seen.append({grp["name"]: (grp["lr"], grp["momentum"], grp["weight_decay"],
                                   [tuple(p.shape) for p in grp["params"]])
                     for grp in self.param_groups})
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", recording_step)
    result = train_one(RunSpec.mixlu(1.0, "reference", 0, "resample", "lenet5"), data, config,
                       build_model)
    assert result["status"] == "ok" and len(result["epochs"]) == 30
    assert len(seen) == 30  # 8 images, batch 100: one step per epoch
    mults = {"weight": 0.1, "bias": 2.0, "last_weight": 0.01, "last_bias": 0.2}
    for epoch, groups in enumerate(seen):
        base = 0.05 if epoch < 15 else 0.005 if epoch < 25 else 0.0005
        assert set(groups) == set(mults)
        for name, (lr, momentum, wd, _) in groups.items():
            assert lr == pytest.approx(base * mults[name], rel=1e-12), (epoch, name)
            assert (momentum, wd) == (0.9, 1e-4)
    shapes = seen[0]
    assert shapes["last_weight"][3] == [(10, 64, 1, 1)] and shapes["last_bias"][3] == [(10,)]
    assert len(shapes["weight"][3]) == 4 and len(shapes["bias"][3]) == 4


def test_quick_run_on_synthetic_cifar_writes_json_and_resumes(tmp_path, capsys):
    script = load_script(SCRIPT)
    data_dir = write_tiny_cifar(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--quick", "--data-dir", str(data_dir), "--out", str(out), "--no-progress"]
    assert script.main(argv) == 0
    text = capsys.readouterr().out
    for needle in ("Table 9", "Table 10", "thesis test accuracy %", "79.81", "10.00", "88.64",
                   "mask resample (the thesis's setting)", "preprocessing: cached in",
                   "one seed per configuration", "wrote", "engine loop"):
        assert needle in text, needle
    doc = json.loads((out / "mixlu_cifar.json").read_text())
    assert doc["experiment"] == "mixlu_cifar" and doc["dataset"] == "cifar10"
    assert doc["engine"] == "loop"  # auto: LeNet5 stacks one member to a stack on CPU
    assert doc["train_size"] == 200 and doc["test_size"] == 40
    cfg = doc["config"]
    assert cfg["epochs"] == 2 and cfg["lr_schedule"] == [0.05, 0.05] and cfg["flip"] is True
    assert (cfg["weight_lr_mult"], cfg["bias_lr_mult"], cfg["last_weight_lr_mult"],
            cfg["last_bias_lr_mult"], cfg["weight_decay"]) == (0.1, 2.0, 0.01, 0.2, 1e-4)
    assert doc["mask"] == "resample" and doc["model"].startswith("LeNet5")
    pp = doc["preprocessing"]
    assert (pp["min_std"], pp["zca_floor"], pp["whiten"], pp["contrast"]) == (40.0, 10.0,
                                                                              True, True)
    assert doc["dataset_info"]["preprocessing"][0] == "subtract mean training image"
    assert len(doc["runs"]) == 2
    for run in doc["runs"]:
        assert set(run) >= {"neg_percent", "backward", "seed", "status", "train_error",
                            "test_error", "epochs", "seconds"}
        assert run["status"] in ("ok", "diverged") and 0 <= run["test_error"] <= 1
        assert [e["epoch"] for e in run["epochs"]] == [1, 2]
    assert sorted(r["neg_percent"] for r in doc["runs"]) == [0.0, 3.0]
    assert (out / "mixlu_cifar.png").read_bytes()[:4] == b"\x89PNG"
    assert len((out / "mixlu_cifar.csv").read_text().splitlines()) == 1 + 2 * 2
    stored = {p.name: p.read_bytes() for p in (out / "runs").iterdir()}

    assert script.main(argv) == 0
    text = capsys.readouterr().out
    assert "resuming: 2 of 2 runs already finished" in text
    assert "preprocessing: loaded from cache" in text
    assert {p.name: p.read_bytes() for p in (out / "runs").iterdir()} == stored


def test_gray_28x28_dataset_runs_through_the_pipeline(tmp_path, capsys):
    script = load_script(SCRIPT)
    rng = np.random.default_rng(0)
    d = tmp_path / "mnist"
    d.mkdir()
    for split, n in (("train", 60), ("t10k", 20)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
        write_idx(d / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(d / f"{split}-labels-idx1-ubyte.gz", labels)
    argv = ["--dataset", "mnist", "--data-dir", str(d), "--percents", "2", "--epochs", "1",
            "--mask", "fixed", "--no-progress", "--out", str(tmp_path / "o")]
    assert script.main(argv) == 0
    text = capsys.readouterr().out
    assert "compare patterns, not values, on mnist" in text
    assert "NOT the thesis's setting, which is --mask resample" in text
    assert "1+1+1+1" in text  # round(0.02 * 32) = round(0.02 * 64) = 1 NegLU channel
    doc = json.loads((tmp_path / "o" / "mixlu_cifar.json").read_text())
    assert doc["dataset_info"]["preprocessing"][0].startswith("gray 28x28 zero-padded")
    assert doc["train_size"] == 60 and doc["mask"] == "fixed"


def test_mixlu_positions_and_baselines_reach_the_runs(tmp_path, capsys):
    """--mixlu-positions 1 puts the MixLU only after conv1 (NegLUs counted there only, and
    recorded per epoch); baseline specs run beside it; the sweep records the positions."""
    script = load_script(SCRIPT)
    data_dir = write_tiny_cifar(tmp_path / "data", per_batch=20, n_test=20)
    out = tmp_path / "o"
    argv = ["--quick", "--epochs", "1", "--data-dir", str(data_dir), "--no-progress",
            "--mask", "fixed", "--mixlu-positions", "1", "--out", str(out),
            "--activations", "mixlu:50:exact, leaky:0.1, bipolar"]
    assert script.main(argv) == 0
    text = capsys.readouterr().out
    assert "Unit diagnostics at the last epoch" in text
    doc = json.loads((out / "mixlu_cifar.json").read_text())
    assert doc["mixlu_positions"] == [1]
    runs = {r["activation"]: r for r in doc["runs"]}
    counts = [p["neglu_per_image"] for p in
              runs["mixlu50-exact-fixed"]["epochs"][-1]["diagnostics"]["positions"]]
    assert counts == [16 * 16 * 16, 0, 0, 0]  # 16 of conv1's 32 channels, 16x16 after pool
    bipolar = runs["bipolar"]["epochs"][-1]["diagnostics"]["positions"]
    assert [p["units"] for p in bipolar] == [{"relu": 16, "neglu": 16}] + [{"relu": c} for c
                                                                          in (32, 64, 64)]
    assert json.loads((out / "sweep.json").read_text())["mixlu_positions"] == [1]
    code, _, err = call_main(SCRIPT, argv[:-2] + ["--mixlu-positions", "1,1"], capsys)
    assert code == 2 and err == "error: --mixlu-positions: 1 given twice (in '1,1')\n"


def test_neg_counts_per_mask_mode():
    assert neg_counts([0.25, 1, 3], "fixed") == {0.25: "0+0+0+0", 1: "0+0+1+1",
                                                  3: "1+1+2+2"}
    assert neg_counts([1], "resample") == {1: "205/img"}  # 1 % of 20544


@pytest.mark.parametrize(("argv", "message"), [
    (["--epochs", "31"], "error: --epochs must be at most 30 (the reference schedule's "
                         "length), got 31"),
    (["--percents", "0,x"], "error: --percents: 'x' is not a number"),
    (["--dataset", "cifar-99"], "error: unknown dataset 'cifar-99'"),
    (["--mask", "sometimes"], "error: argument --mask: invalid choice: 'sometimes'"),
    (["--data-dir", "/nonexistent/dir"], "error: --data-dir '/nonexistent/dir' is not a "
                                         "directory"),
])
def test_bad_inputs_give_one_line_errors(argv, message, capsys):
    code, out, err = call_main(SCRIPT, argv, capsys)
    assert code == 2
    assert err.startswith(message), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_offline_without_cifar_exits_2_saying_what_to_download(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = call_main(SCRIPT, ["--quick", "--data-dir", str(empty)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: CIFAR-10 not found in ")
    assert "download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in err
    assert f"put it in {tmp_path / 'cache' / 'cifar10'}/" in err


def test_malformed_batch_is_a_one_line_error_naming_it(tmp_path, capsys):
    d = write_tiny_cifar(tmp_path / "data", per_batch=4, n_test=4)
    (d / "data_batch_3").write_bytes(b"\x80\x02}q\x00")  # truncated pickle
    code, _, err = call_main(SCRIPT, ["--quick", "--data-dir", str(d)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{d / 'data_batch_3'}: not a valid python pickle" in err


def test_help_documents_the_protocol_options(capsys):
    code, out, _ = call_main(SCRIPT, ["--help"], capsys)
    assert code == 0
    for needle in ("cifar10", "fashion-mnist", "--no-cache", "reproduces the thesis's",
                   "(default: resample)", "(default: 0,0.25,0.5,1,2,3)", "(default: 30"):
        assert needle in out, needle


def test_script_runs_as_a_program(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", NEGLU_STDP_CACHE=str(tmp_path / "cache"))
    bad = subprocess.run([sys.executable, str(SCRIPT), "--percents", "5,abc"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr == "error: --percents: 'abc' is not a number (in '5,abc')\n"


def test_report_only_refuses_a_store_of_another_experiment(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"experiment": "mixlu_mnist"}))
    code, _, err = call_main(SCRIPT, ["--report-only", "--out", str(out)], capsys)
    assert code == 2
    assert err == (f"error: --report-only: {str(out)!r} holds a mixlu_mnist sweep, not "
                   f"mixlu_cifar; report it with mixlu_mnist.py\n")


def test_signs_quick_smoke(tmp_path, capsys):
    script = load_script(SCRIPT)
    data_dir = write_tiny_cifar(tmp_path / "data", per_batch=20, n_test=20)
    argv = ["--quick", "--epochs", "1", "--data-dir", str(data_dir), "--no-progress",
            "--signs", "--percents", "0,5"]
    assert script.main(argv) == 0
    text = capsys.readouterr().out
    assert "Update signs (bridge monitor" in text and "signs: one step in 10" in text
