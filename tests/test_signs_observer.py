"""Update signs through the engines' observer hook: stacked = solo, sampling, layering."""

import subprocess
import sys
from pathlib import Path

import pytest

from ann.batched import train_batched
from ann.config import MNIST_LENET
from ann.specs import ActivationSpec, RunSpec, parse_activation
from ann.train import train_one
from bridge.sign_observer import SignObserver

from helpers import synthetic

ROOT = Path(__file__).resolve().parents[1]


def _counts(result):
    return {unit: (row["counts"], row["events"]) for unit, row in
            result["signs"]["by_unit_type"].items()}


SPECS = [RunSpec(ActivationSpec.make("relu"), 0),
         RunSpec.mixlu(10, "inverted", 1),
         RunSpec.mixlu(10, "reference", 2, mask="resample"),
         RunSpec(parse_activation("leaky:0.1"), 3)]


@pytest.mark.slow
def test_stacked_members_count_what_each_counts_alone():
    data = synthetic(120, 20)
    config = MNIST_LENET.replace(epochs=2, batch_size=40)
    stacked = dict(train_batched(SPECS, data, config, progress=False,
                                 observer=SignObserver(every=2)))
    for spec in SPECS:
        alone = train_one(spec, data, config, observer=SignObserver(every=2))
        got = stacked[spec]
        assert got["engine"] == "batched" and alone["engine"] == "loop"
        assert got["signs"]["steps"] == alone["signs"]["steps"] == 3  # steps 0, 2, 4 of 6
        assert _counts(got) == _counts(alone), spec.key
        for unit, row in alone["signs"]["by_unit_type"].items():
            other = got["signs"]["by_unit_type"][unit]
            for key in ("inverted_fraction", "silent_fraction", "agreement"):
                assert other[key] == pytest.approx(row[key], abs=1e-3)
    types = set(stacked[SPECS[1]]["signs"]["by_unit_type"])
    assert types == {"relu", "neglu"}
    assert set(stacked[SPECS[3]]["signs"]["by_unit_type"]) == {"leaky"}
    inverted = stacked[SPECS[1]]["signs"]["by_unit_type"]["neglu"]["inverted_fraction"]
    assert inverted > 0.2  # inverted NegLUs apply -1 wherever x < 0
    assert stacked[SPECS[2]]["signs"]["by_unit_type"]["neglu"]["inverted_fraction"] == 0.0


@pytest.mark.slow
def test_sampled_shares_equal_every_step_shares_within_tolerance():
    data = synthetic(400, 20)
    config = MNIST_LENET.replace(epochs=2, batch_size=20)  # 40 steps
    spec = RunSpec.mixlu(10, "inverted", 0)
    every = train_one(spec, data, config, observer=SignObserver(every=1))["signs"]
    sampled = train_one(spec, data, config, observer=SignObserver(every=4))["signs"]
    assert every["steps"] == 40 and sampled["steps"] == 10
    # stated tolerance (docs/update-signs.md): 3 points on every share and fraction
    for unit, row in every["by_unit_type"].items():
        other = sampled["by_unit_type"][unit]
        for label, share in row["shares"].items():
            assert other["shares"][label] == pytest.approx(share, abs=0.03), (unit, label)
        for key in ("inverted_fraction", "silent_fraction", "agreement"):
            assert other[key] == pytest.approx(row[key], abs=0.03), (unit, key)


@pytest.mark.slow
def test_observer_survives_divergence_and_reports_overhead():
    data = synthetic(100, 20)
    config = MNIST_LENET.replace(lr=1e6, epochs=2, batch_size=20)
    observer = SignObserver(every=2)
    results = dict(train_batched(SPECS[:2], data, config, progress=False, observer=observer))
    assert all(r["status"] == "diverged" for r in results.values())
    assert all("signs" in r for r in results.values())
    line = observer.overhead_line()
    assert line.startswith("signs: one step in 2 watched")


@pytest.mark.slow
def test_watching_leaves_the_training_numbers_unchanged():
    data = synthetic(200, 20)
    config = MNIST_LENET.replace(epochs=2, batch_size=20)
    spec = RunSpec.mixlu(10, "inverted", 0, mask="resample")
    plain = train_one(spec, data, config)
    watched = train_one(spec, data, config, observer=SignObserver(every=3))
    assert watched["epochs"] == plain["epochs"] and "signs" not in plain


@pytest.mark.slow
def test_ann_does_not_import_bridge():
    code = ("import sys, ann, ann.train, ann.batched, ann.sweep, ann.experiments.runner, "
            "ann.step_observer; "
            "bad = [m for m in sys.modules if m == 'bridge' or m.startswith('bridge.')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_must_be_positive():
    with pytest.raises(ValueError, match="every"):
        SignObserver(every=0)


@pytest.mark.slow
def test_a_resumed_run_counts_what_an_uninterrupted_one_counts(tmp_path):
    from ann.checkpoint import Checkpoints, checkpoint_identity

    data = synthetic(100, 20)
    config = MNIST_LENET.replace(epochs=2, batch_size=20)
    spec = RunSpec.mixlu(10, "inverted", 0)
    checkpoints = Checkpoints(tmp_path, checkpoint_identity(config.to_dict(), "x", "cpu"))
    whole = train_one(spec, data, config, checkpoints=checkpoints,
                      observer=SignObserver(every=3))
    # the checkpoint of epoch 1 is still there (train_loop deletes it, train_one does not):
    # a second call resumes from it and trains epoch 2 only
    resumed = train_one(spec, data, config, checkpoints=checkpoints,
                        observer=SignObserver(every=3))
    assert resumed["epochs"] == whole["epochs"]
    assert whole["signs"]["steps"] == 4  # steps 0, 3, 6, 9 of 10
    assert resumed["signs"] == whole["signs"]
