"""--engine auto: the probe's choice follows its timings, is printed in one line,
recorded in sweep.json, and kept on resume."""

import dataclasses
import json
import time
import warnings
from pathlib import Path

import pytest

import ann.engine_choice as engine_choice
import ann.experiments.runner as runner
from ann.batched.engine import StackedRun
from ann.config import MNIST_LENET
from ann.engine_choice import EngineChoice, choose_engine, probe_data
from ann.specs import KINDS, RunSpec, parse_activation
from common.data import mnist as mnist_module
from common.data.download import DownloadError

from helpers import load_script, synthetic
from writers import write_tiny_mnist

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = MNIST_LENET.replace(epochs=1, batch_size=20)
SPECS = [RunSpec.mixlu(p, "reference", 0) for p in (0, 5, 10)]


def test_a_small_sweep_trains_batched_without_a_probe(monkeypatch):
    monkeypatch.setattr(engine_choice, "train_one", lambda *a, **k: pytest.fail("probed"))
    choice = choose_engine(SPECS, synthetic(60, 20), CONFIG)
    assert choice.engine == "batched" and choice.probe == {}
    assert choice.line() == ("engine: auto chose batched: a sweep of 9 training steps in all "
                             "is too small to be worth a probe (one is made from 2,000); "
                             "stacks were measured faster here")
    # LeNet5 at batch 100 stacks one member to a stack on CPU: the loop, without a probe
    lenet5 = [RunSpec.mixlu(p, "reference", 0, "resample", "lenet5") for p in (0, 5)]
    data = synthetic(200, 20, size=32, channels=3)
    for probe_from in (2_000, 0):
        choice = choose_engine(lenet5, data, CONFIG.replace(batch_size=100),
                               probe_from=probe_from)
        assert choice.engine == "loop" and choice.probe == {}
        assert choice.reason == ("no stack of this sweep would hold more than one run on "
                                 "cpu (ann/batched/memory.py), and one run alone is the "
                                 "loop's work")


def test_a_sweep_without_a_stack_uses_the_loop(monkeypatch):
    monkeypatch.setitem(KINDS, "relu", dataclasses.replace(KINDS["relu"], stackable=False))
    specs = [RunSpec(parse_activation("relu"), s) for s in (0, 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        choice = choose_engine(specs, synthetic(60, 20), CONFIG, probe_from=0)
    assert choice.engine == "loop" and choice.reason == "no run of this sweep can be stacked"


@pytest.mark.parametrize("slow, chosen", [("loop", "batched"), ("batched", "loop")])
def test_the_probe_chooses_the_engine_it_timed_faster(monkeypatch, slow, chosen):
    """Each engine is slowed in turn (0.4 s per training call): the other one wins."""
    if slow == "loop":
        original = engine_choice.train_one

        def slowed(*args, **kwargs):
            time.sleep(0.4)
            return original(*args, **kwargs)
        monkeypatch.setattr(engine_choice, "train_one", slowed)
    else:
        original = StackedRun.train

        def slowed(self, *args, **kwargs):
            time.sleep(0.4 * self.members)
            yield from original(self, *args, **kwargs)
        monkeypatch.setattr(StackedRun, "train", slowed)
    choice = choose_engine(SPECS, synthetic(200, 40), CONFIG, probe_from=0, steps=2)
    assert choice.engine == chosen
    probe = choice.probe
    assert probe["members"] == 3 and probe["train_images"] == 40 and probe["test_images"] == 8
    per_run_batched = probe["batched_seconds"] / 3
    assert (per_run_batched <= probe["loop_seconds"]) == (chosen == "batched")
    assert probe["loop_over_batched"] == pytest.approx(probe["loop_seconds"] / per_run_batched)
    assert choice.record() == {"requested": "auto", "chosen": chosen, "reason": choice.reason,
                               "probe": probe}


def test_probe_data_keeps_the_test_share():
    small = probe_data(synthetic(1000, 300), CONFIG, steps=5)
    assert (small.train_size, small.test_size) == (100, 30)
    assert probe_data(synthetic(10, 300), CONFIG, steps=5).train_size == 10


def test_cli_records_the_choice_and_a_resumed_sweep_keeps_its_engine(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.setenv("NEGLU_STDP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist_module, "download_first",
                        lambda *a, **k: (_ for _ in ()).throw(DownloadError("offline")))
    script = load_script(ROOT / "experiments" / "mixlu_mnist.py")
    data_dir = write_tiny_mnist(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--quick", "--dataset", "mnist", "--data-dir", str(data_dir), "--out", str(out),
            "--no-progress"]
    choice = EngineChoice("loop", "timed slower stacked (test)", {"loop_over_batched": 0.5})
    monkeypatch.setattr(runner, "choose_engine", lambda *a, **k: choice)
    assert script.main(argv) == 0
    text = capsys.readouterr().out
    assert "engine: auto chose loop: timed slower stacked (test)\n" in text
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["engine"] == "loop"
    assert sweep["provenance"]["engine_choice"] == choice.record()
    doc = json.loads((out / "mixlu_mnist.json").read_text())
    assert doc["engine"] == "loop" and {r["engine"] for r in doc["runs"]} == {"loop"}
    monkeypatch.setattr(runner, "choose_engine", lambda *a, **k: pytest.fail("probed again"))
    assert script.main(argv) == 0  # resumed: the recorded engine, no probe
    assert f"engine: auto keeps loop, the engine recorded in {out / 'sweep.json'}" in \
        capsys.readouterr().out
    assert script.main([*argv, "--engine", "batched"]) == 2  # an explicit other engine
    assert "holds runs of engine 'loop', not 'batched'" in capsys.readouterr().err


def test_the_default_engine_is_auto():
    from ann.experiments.options import SweepOptions

    assert SweepOptions().engine == "auto"
    assert parse_activation("noisy:1").stackable
