"""experiments/mixstdp_mnist.py: one-line errors, outputs, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "mixstdp_mnist.py"
TINY = ["--percents", "0,50", "--seeds", "1", "--n-exc", "4", "--n-train", "12",
        "--n-test", "10", "--chunk", "6", "--no-progress"]


def _run(args, cwd=None):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize(("args", "words"), [
    (["--percents", "0,150"], "--percents"),
    (["--percents", "a,b"], "--percents"),
    (["--seeds", "0"], "--seeds"),
    (["--n-train", "0"], "--n-train"),
    (["--n-train", "99999"], "--n-train"),
    (["--rule", "nope"], "--rule"),
    (["--by", "axon"], "--by"),
    (["--engine", "gpu"], "--engine"),
])
def test_bad_options_are_one_line_and_exit_2(args, words, capsys):
    try:
        status = load_script(SCRIPT).main(args)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], lines


def test_out_that_is_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert load_script(SCRIPT).main([*TINY, "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err



def test_standalone_without_a_compiler_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    assert load_script(SCRIPT).main([*TINY, "--engine", "standalone"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --engine"), lines
    assert "/nonexistent/c++" in lines[0]


def test_auto_without_a_compiler_says_runtime_in_one_line(monkeypatch):
    from stdp_sim.diehl_cook.experiment import MixSTDPOptions, choose_engine

    monkeypatch.setenv("CXX", "/nonexistent/c++")
    lines = []
    assert choose_engine(MixSTDPOptions(engine="auto"), lines.append) == "runtime"
    assert len(lines) == 1 and lines[0].startswith("engine: runtime"), lines
    assert "/nonexistent/c++" in lines[0]


def test_auto_continues_a_store_with_the_engine_it_was_made_with(tmp_path):
    from stdp_sim.diehl_cook.experiment import MixSTDPOptions, MixSTDPStore, choose_engine

    out = tmp_path / "out"
    MixSTDPStore(out, {"experiment": "mixstdp_mnist", "checkpoint_version": 2})  # runtime
    lines = []
    assert choose_engine(MixSTDPOptions(engine="auto", out=out), lines.append) == "runtime"
    assert len(lines) == 1 and lines[0].startswith("engine: runtime (as the runs"), lines
    assert choose_engine(MixSTDPOptions(engine="auto", out=tmp_path / "new"),
                         lines.append) in ("standalone", "runtime")
    assert lines[-1].startswith("engine: ") and "as the runs" not in lines[-1]


@pytest.mark.slow
def test_a_failed_standalone_build_is_one_line(tmp_path):
    import os
    import shutil

    real = shutil.which("g++") or shutil.which("c++")
    if real is None:
        pytest.skip("no C++ compiler to wrap")
    fake = tmp_path / "cxx"  # a compiler that fails on the project's code only
    fake.write_text(f'#!/bin/sh\ncase "$*" in *code_objects*) echo "fake failure" >&2; '
                    f'exit 1;; esac\nexec {real} "$@"\n')
    fake.chmod(0o755)
    env = dict(os.environ, CXX=str(fake), STDP_SIM_STANDALONE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, str(SCRIPT), *TINY, "--engine", "standalone"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --engine standalone:"), lines
    assert "--engine runtime" in lines[0]


@pytest.mark.slow
def test_outputs_figures_and_resume(tmp_path):
    out = tmp_path / "out"
    first = _run([*TINY, "--out", str(out)])
    assert first.returncode == 0, first.stderr
    doc = json.loads((out / "mixstdp_mnist.json").read_text())
    runs = doc["runs"]
    assert [r["share"] for r in runs] == [0.0, 0.5]
    for r in runs:
        for key in ("share", "seed", "train_accuracy", "test_accuracy", "images_per_second"):
            assert key in r
        assert 0 <= r["test_accuracy"] <= 1 and r["images_per_second"] > 0
    assert runs[1]["n_mixed_neurons"] == 2 and runs[0]["n_mixed_neurons"] == 0
    assert "mixed" in runs[1]["updates"] and "mixed" not in runs[0]["updates"]
    assert "| 50 |" in first.stdout
    engine = [line for line in first.stdout.splitlines() if line.startswith("engine: ")]
    assert len(engine) == 1, first.stdout  # auto: one line says which engine
    assert {r["engine"] for r in runs} == {engine[0].split()[1]}
    import matplotlib.image as mpimg

    for name, min_width in (("mixstdp_mnist.png", 1000), ("mixstdp_fields.png", 700),
                            ("mixstdp_weights.png", 1000)):
        image = mpimg.imread(out / name)
        assert image.shape[1] >= min_width and image.shape[0] >= 300, (name, image.shape)
    assert not list((out / "checkpoints").glob("*.npz"))  # finished runs leave none
    again = _run([*TINY, "--out", str(out)])
    assert again.returncode == 0, again.stderr
    assert "2 stored, 0 to run" in again.stdout
    assert json.loads((out / "mixstdp_mnist.json").read_text())["runs"] == runs
    other = _run([*TINY[:-1], "--n-exc", "5", "--no-progress", "--out", str(out)])
    assert other.returncode == 2 and "different sweep" in other.stderr


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_numbers_of_an_uninterrupted_one(tmp_path):
    import signal
    import time

    whole = tmp_path / "whole"
    assert _run([*TINY, "--out", str(whole)]).returncode == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *TINY, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((killed / "checkpoints").glob("*.npz")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((killed / "checkpoints").glob("*.npz")), "no checkpoint appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "mixstdp_mnist.json").exists()  # it died mid-way
    assert _run([*TINY, "--out", str(killed)]).returncode == 0
    same = ("share", "seed", "train_accuracy", "test_accuracy", "dead_neurons", "updates",
            "weights", "repeats", "mean_spikes_per_image")
    runs = [json.loads((d / "mixstdp_mnist.json").read_text())["runs"] for d in (whole, killed)]
    assert [{k: r[k] for k in same} for r in runs[0]] == \
        [{k: r[k] for k in same} for r in runs[1]]
