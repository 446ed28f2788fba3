"""Smoke test of experiments/update_signs.py --quick, and its user errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "update_signs.py"


@pytest.mark.slow
def test_quick_run_writes_the_documented_json(tmp_path):
    out = tmp_path / "signs"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--synapses", "50", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "## Rate experiment" in proc.stdout
    doc = json.loads((out / "update_signs.json").read_text())
    assert (out / "update_signs.png").stat().st_size > 0
    assert doc["convention"] == "rate"
    labels = {
        "pre-post potentiation",
        "pre-post depression",
        "post-pre potentiation",
        "post-pre depression",
    }
    # biology: each regime produced and classified by its own rule
    assert {b["regime"] for b in doc["biology"]} == labels
    assert all(b["classified_as"] == b["regime"] for b in doc["biology"])
    # ANN: one entry per model x backward x unit type
    keys = {(a["model"], a["backward"], a["unit_type"]) for a in doc["ann"]}
    assert ("ReLU-LeNet", "none", "relu") in keys
    for mode in ("exact", "reference", "inverted"):
        assert ("MixLU-LeNet", mode, "neglu") in keys and ("MixLU-LeNet", mode, "relu") in keys
    assert {("MinMaxout-LeNet", "none", "max"), ("MinMaxout-LeNet", "none", "min"),
            ("ConvAct-LeNet", "none", "convact")} <= keys
    for a in doc["ann"]:
        assert set(a["counts"]) == labels
        assert a["events"] == sum(a["counts"].values()) > 0
        assert 0.0 <= a["agreement"] <= 1.0
        assert 0.0 <= a["silent_fraction"] <= 1.0
        if a["unit_type"] == "convact":  # learned slopes may turn negative: not asserted
            continue
        inverted_neglu = a["unit_type"] == "neglu" and a["backward"] == "inverted"
        assert (a["inverted_fraction"] > 0) == inverted_neglu, a  # Max and Min units never
    # rate experiment: every preset, three ramps
    ramps = {(r["preset"], r["ramp"]) for r in doc["rate"]}
    assert {"up", "flat", "down"} == {ramp for p, ramp in ramps if p == "hebbian"}
    assert all({"dw_mean", "dw_sem"} <= set(r) for r in doc["rate"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "0"], "error: --epochs must be an integer in 1..10000"),
        (["--seed", str(2**40)], "error: --seed must be an integer in 0..4294967295"),
        (["--synapses", "1000000000000"], "error: --synapses must be an integer in 2..1000000"),
        (["--ramp-duration-s", "1e300"], "error: --ramp-duration-s must be in (0, 10000]"),
        (["--out", ""], "error: argument --out: must name a directory"),
        (["--neg-percent", "150"], "error: --neg-percent"),
        (["--synapses", "1"], "error: --synapses"),
        (["--convention", "causal"], "error: argument --convention"),
        (["--seed", "-1"], "error: --seed must be an integer in 0..4294967295"),
        (["--device", "mps"], "error: device must be"),
        (["--out", "/proc/x"], "error: --out '/proc/x' is not a writable directory"),
        (["--data-dir", "/nonexistent"], "error: --data-dir '/nonexistent' is not a directory"),
    ],
)
def test_bad_options_exit_2_with_one_line_before_any_simulation(args, message, capsys,
                                                                monkeypatch):
    script = load_script(SCRIPT)
    monkeypatch.setattr(script, "run", lambda a: pytest.fail("simulated with bad options"))
    try:
        code = script.main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_quick_keeps_the_options_the_user_gave():
    script = load_script(SCRIPT)
    args = script.build_parser().parse_args(["--quick", "--epochs", "4", "--train-size", "3000"])
    script.check_args(args)
    assert (args.epochs, args.train_size, args.synapses) == (4, 3000, 300)
    args = script.build_parser().parse_args(["--quick"])
    script.check_args(args)
    assert (args.epochs, args.train_size, args.synapses) == (1, 1000, 300)


def test_missing_labels_file_is_refused_before_any_simulation(tmp_path, capsys, monkeypatch):
    """The data is loaded first: a --data-dir with images but no labels file is one line,
    before Brian2 runs."""
    import numpy as np

    from common.data.idx import write_idx

    script = load_script(SCRIPT)
    monkeypatch.setattr(script, "pairing_signs",
                        lambda **kw: pytest.fail("simulated before the data was checked"))
    images = np.zeros((10, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    code = script.main(["--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and "Brian2" not in out
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
