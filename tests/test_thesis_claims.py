"""The verdict study: analyses and report on stored synthetic runs; the smoke scale end to end."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from ann.specs import RunSpec, parse_activation
from bridge.claims.analysis import (
    analyse,
    claim1,
    claim2,
    claim3,
    claim7,
    claim8,
    collapsed,
)
from bridge.claims.plan import Sweep, scale_sweeps, single_position_share
from bridge.claims.report import SMOKE_LABEL, build_report, label_scale
from common.data import mnist as mnist_module
from common.data.download import DownloadError

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "thesis_claims.py"
WORDS = {"supported", "refuted", "not distinguishable", "not tested", "untestable",
         "false by construction", "true by construction", "finding"}


def record(spec: str, seed: int, train: float, test: float, status: str = "ok",
           epochs: int = 3, inverted: float | None = None, dead: int = 0) -> dict:
    """A run record with the fields the analyses read (errors as fractions)."""
    run = RunSpec(parse_activation(spec), seed).fields()
    curve = [{"epoch": e + 1, "train_error": train * (3 - e), "test_error": test + 0.01 * (2 - e),
              "loss": 1.0 / (e + 1),
              "diagnostics": {"positions": [{"units": {"relu": 100}, "dead": {"relu": dead},
                                             "large_negative_bias_share": 0.0}]}}
             for e in range(epochs)]
    curve[-1].update(train_error=train, test_error=test)
    run.update(status=status, train_error=0.9 if status == "diverged" else train,
               test_error=0.9 if status == "diverged" else test, epochs=curve, seconds=1.0)
    if inverted is not None:
        run["signs"] = {"every": 1, "by_unit_type": {
            "neglu": {"inverted_fraction": inverted}, "relu": {"inverted_fraction": 0.0}}}
    return run


# 60,000 images x 20 epochs: the thesis's 12,000 SGD steps, so claim 2 has its primary test
SWEEP = Sweep("lenet-synthetic", "mixlu_mnist", "synthetic", "mnist", epochs=20, seeds=5,
              activations="relu", claims=(1, 2, 3, 4, 6, 7), train_subset=60_000)


def thesis_like_runs(seeds: int = 5):
    """ReLU and MixLU reference/resample: the gap shrinks with the share, the training
    error rises up to 9 %, every 10 % run diverges, NegLUs never invert."""
    rng = np.random.default_rng(0)
    runs = []
    for seed in range(seeds):
        noise = lambda: float(rng.normal(0, 0.0003))  # noqa: E731
        runs.append(record("relu", seed, 0.000 + abs(noise()), 0.0300 + noise(), dead=10))
        for p, train in ((1, 0.002), (5, 0.006), (9, 0.012)):
            runs.append(record(f"mixlu:{p}:reference:resample", seed, train + abs(noise()),
                               0.0300 + noise(), inverted=0.0, dead=2))
        runs.append(record("mixlu:10:reference:resample", seed, 0.9, 0.9, status="diverged",
                           inverted=0.0))
    return {SWEEP.name: runs}


def test_synthetic_thesis_pattern_gets_the_expected_verdicts():
    runs = thesis_like_runs()
    c1 = claim1(runs, [SWEEP])
    assert c1["verdict"] == "supported"  # the gap shrinks from 3 to 1.8 points
    slope = next(t for t in c1["tests"] if t["kind"] == "slope")
    assert slope["hi"] < 0 and slope["n"] == [20]  # the diverged 10 % runs are left out
    assert slope["family"] == "primary" and slope["p_holm"] == pytest.approx(slope["p"])
    assert "versus_thesis" in slope and slope["thesis_se"] >= 0.0208
    assert "The plan, fixed" not in c1["plan"] and "**Primary test.**" in c1["plan"]

    c2 = claim2(runs, [SWEEP])
    # 5 of 5 collapsed: the exact interval [0.48, 1] still holds 50 %, 6 of 6 would not
    assert c2["verdict"] == "not distinguishable" and "n ≈ 6 needed" in c2["verdict_text"]
    t = c2["tests"][0]
    assert (t["k"], t["n"], t["reproduces_pattern"], t["family"]) == (5, 5, False, "primary")
    assert t["lo"] == pytest.approx(0.025 ** (1 / 5), abs=1e-6)
    assert "— (n = 0)" in c2["tables"][0]  # diverged runs never averaged in as 90 %
    six = claim2(thesis_like_runs(6), [SWEEP])
    assert six["verdict"] == "supported" and six["tests"][0]["reproduces_pattern"]

    c7 = claim7(runs, [SWEEP])  # the published backward cannot invert
    assert c7["verdict"] == "false by construction"
    assert "never negative" in c7["verdict_text"]

    claims = analyse(runs, [SWEEP], None)
    assert [c["claim"] for c in claims] == list(range(1, 10))
    assert {c["verdict"] for c in claims} <= WORDS
    assert claims[4]["verdict"] == "not tested" and claims[7]["verdict"] == "not tested"
    assert claims[8]["verdict"] == "not tested"
    c4 = claims[3]
    # 2 % dead vs 10 % in ReLU nets; no large biases anywhere: that measure is untestable
    assert c4["verdict"] == "supported"
    bias = next(t for t in c4["tests"] if t["test"].startswith("large negative bias %, "
                                                                "reference/resample 5 %"))
    assert bias["verdict"].startswith("untestable on this data: large negative bias %: ReLU "
                                       "nets' 95 % interval holds 0")


def test_opposite_patterns_are_refuted():
    runs = {SWEEP.name: [record("relu", s, 0.001, 0.03 + 0.0001 * s) for s in range(6)]
            + [record(f"mixlu:{p}:reference:resample", s, 0.001, 0.03 + 0.002 * p + 0.0001 * s)
               for p in (1, 5, 9, 10) for s in range(6)]}
    c1 = claim1(runs, [SWEEP])
    assert c1["verdict"] == "refuted"  # the gap grows, significantly
    assert c1["verdict_text"] == "refuted: significantly opposite"
    c2 = claim2(runs, [SWEEP])
    assert c2["verdict"] == "refuted" and c2["tests"][0]["k"] == 0  # nothing collapses
    assert c2["tests"][0]["hi"] < 0.5 and c2["tests"][0]["p"] == pytest.approx(2 * 0.5 ** 6)


def test_zero_training_error_makes_claim1_untestable_and_few_steps_claim2():
    runs = {SWEEP.name: [record("relu", s, 0.0, 0.03 + 0.0001 * s) for s in range(3)]
            + [record(f"mixlu:{p}:reference:resample", s, 0.0, 0.03 + 0.001 * s)
               for p in (1, 5, 10) for s in range(3)]}
    c1 = claim1(runs, [SWEEP])
    assert c1["verdict"] == "untestable"
    assert "training error 0.00 %" in c1["verdict_text"]
    short = dataclasses.replace(SWEEP, train_subset=5_000)  # 1,000 steps
    c2 = claim2(runs, [short])
    assert c2["verdict"] == "untestable" and "12,000 SGD steps" in c2["verdict_text"]
    # a planned sweep that has not run yet: not tested, not "untestable"
    waiting = dataclasses.replace(SWEEP, name="lenet-fashion-mnist")
    c2 = claim2(runs, [short, waiting])
    assert c2["verdict"] == "not tested" and "lenet-fashion-mnist has no runs" in c2["notes"][0]


def test_claim3_keeps_censored_pairs_and_is_untestable_at_epoch_one():
    def curve_run(spec, seed, errors):
        r = record(spec, seed, 0.0, errors[-1], epochs=len(errors))
        for e, err in zip(r["epochs"], errors, strict=True):
            e["test_error"] = err
        return r

    # ReLU ends at 1.0 %: level 1.63 %; ReLU reaches it at epoch 2, the 1 % net never
    # (censored at epoch 10): a later net, kept in the test
    relu = [curve_run("relu", s, [0.03, 0.015 + 0.0001 * s, 0.01, 0.01]) for s in range(4)]
    late = [curve_run("mixlu:1:reference:resample", s, [0.03, 0.03, 0.02 + 0.001 * s, 0.02])
            for s in range(4)]
    c3 = claim3({SWEEP.name: relu + late}, [SWEEP])
    head = next(t for t in c3["tests"] if t["family"] == "primary")
    assert head["n"] == [4] and head["estimate"] == pytest.approx(10 - 2)
    assert c3["verdict"] == "refuted"  # significantly later, not earlier
    # both nets reach the level at epoch 3 in every pair: a zero-width interval would
    # "refute" the thesis's -1 epoch; the rounding floor (0.41 epochs) keeps it undecided
    same = [curve_run(spec, s, [0.03, 0.02, 0.01, 0.01]) for s in range(5)
            for spec in ("relu", "mixlu:1:reference:resample")]
    c3 = claim3({SWEEP.name: same}, [SWEEP])
    head = next(t for t in c3["tests"] if t["family"] == "primary")
    assert head["estimate"] == 0.0 and head["sd"] == pytest.approx((2 / 12) ** 0.5)
    assert c3["verdict"] == "not distinguishable"
    early = [curve_run("relu", s, [0.01, 0.01, 0.01]) for s in range(4)]
    c3 = claim3({SWEEP.name: early + late}, [SWEEP])
    assert c3["verdict"] == "untestable" and "epoch 1" in c3["verdict_text"]


def test_claim6_is_prespecified_counts_collapses_and_shows_a_control():
    from bridge.claims.baselines import claim6

    runs = [record("relu", s, 0.0, 0.030 + 0.001 * (s % 2)) for s in range(5)]
    runs += [record("noisy:1", s, 0.0, 0.030 + 0.001 * (s % 2)) for s in range(5)]
    runs += [record("mixlu:5:reference:resample", s, 0.0, 0.030 + 0.001 * (s % 2))
             for s in range(5)]
    # a better-looking configuration that the pre-specified test must not pick
    runs += [record("mixlu:1:reference:fixed", s, 0.0, 0.020) for s in range(5)]
    c6 = claim6({SWEEP.name: runs}, [SWEEP])
    assert c6["verdict"] == "supported" and c6["verdict_text"].startswith("equivalent")
    primary = next(t for t in c6["tests"] if t["family"] == "primary")
    assert "mixlu 5 % reference/resample − noisy1-fixed" in primary["test"]
    control = next(t for t in c6["tests"] if "control" in t["test"])
    assert control["verdict"] == "supported"
    assert any("cannot tell NegLUs from plain ReLUs" in n for n in c6["notes"])
    # one collapsed MixLU run is a failure, not left out
    runs[10] = record("mixlu:5:reference:resample", 0, 0.9, 0.9, status="diverged")
    c6 = claim6({SWEEP.name: runs}, [SWEEP])
    assert c6["verdict"] != "supported"
    primary = next(t for t in c6["tests"] if t["family"] == "primary")
    assert primary["collapsed"] == 1 and primary["n"] == [5, 5]


def test_collapse_counts_chance_level_finishes():
    assert collapsed(record("relu", 0, 0.85, 0.9))
    assert collapsed(record("relu", 0, 0.1, 0.1, status="diverged"))
    assert not collapsed(record("relu", 0, 0.1, 0.1))


def test_claim8_reads_the_rate_verdicts():
    rate = {"params": {"n_synapses": 100, "duration_s": 1.0, "seed": 0}, "verdicts": [
        {"preset": "hebbian", "effect_up": 2.0, "effect_up_sem": 0.1, "effect_down": -2.0,
         "effect_down_sem": 0.1, "supports": "rate"},
        {"preset": "potentiation_only", "effect_up": 1.0, "effect_up_sem": 0.1,
         "effect_down": -1.0, "effect_down_sem": 0.1, "supports": "either"}]}
    c8 = claim8(rate)
    assert c8["verdict"] == "finding"  # a convention is not refuted, it disagrees
    assert c8["verdict_text"] == ("finding: the literal reading is inconsistent with the rate "
                                  "correspondence (1 deciding preset(s), 1 independent "
                                  "window(s))")
    mirrored = {**rate, "verdicts": [*rate["verdicts"], {**rate["verdicts"][0],
                                                         "preset": "anti_hebbian"},
                                     {**rate["verdicts"][0], "preset": "song2000"}]}
    assert "3 deciding preset(s), 2 independent window(s)" in claim8(mirrored)["verdict_text"]
    assert c8["tests"][0]["lo"] == pytest.approx(2.0 - 1.96 * 0.1)
    rate["verdicts"][0].update(supports="undecided", effect_down=-0.2)  # z = 2
    undecided = claim8(rate)
    assert undecided["verdict"] == "not distinguishable"
    assert "n ≈ 225 synapses needed" in undecided["verdict_text"]  # (3 / 2)^2 x 100


def test_report_has_a_summary_and_a_section_per_claim():
    runs = thesis_like_runs()
    claims = analyse(runs, [SWEEP], None)
    sweeps = [{"name": SWEEP.name, "data": SWEEP.describe_data(), "claims": [1], "runs": 25,
               "expected": 25, "seconds": 25.0, "command": SWEEP.command(Path("x"))}]
    text, doc = build_report(claims, sweeps, scale="smoke", command="cmd", wall_seconds=60.0,
                             environment={})
    assert text.index("## Summary") < text.index("## Claim 1:")
    for n in range(1, 10):
        assert f"## Claim {n}:" in text
    header = next(line for line in text.splitlines() if "thesis's evidence" in line)
    assert header.startswith("|") and "verdict" in header and "data used" in header
    assert "python experiments/mixlu_mnist.py --dataset synthetic" in text
    json.dumps(doc, allow_nan=False)  # strict JSON
    assert len(doc["claims"]) == 9 and doc["wall_seconds"] == 60.0


def test_only_smoke_verdicts_are_labelled_machinery_checks():
    claims = analyse(thesis_like_runs(), [SWEEP], None)
    words = [c["verdict"] for c in claims]
    smoke = label_scale(claims, "smoke")
    assert all(c["verdict_text"].endswith(f"({SMOKE_LABEL})") for c in smoke)
    assert [c["verdict"] for c in smoke] == words  # the words stay for the tests
    assert label_scale(claims, "offline") == claims
    sweeps = [{"name": SWEEP.name, "data": SWEEP.describe_data(), "claims": [1], "runs": 25,
               "expected": 25, "seconds": 25.0, "command": "cmd"}]
    offline, doc = build_report(claims, sweeps, scale="offline", command="cmd",
                                wall_seconds=1.0, environment={})
    assert SMOKE_LABEL not in offline and doc["evidence"] is True


def test_plans_name_their_data_and_matched_totals():
    ratio = single_position_share(1.0)
    assert 2.0 < ratio < 3.0  # 20,544 NegLU elements at four positions vs 8,192 at one
    for scale in ("smoke", "offline", "full"):
        sweeps = scale_sweeps(scale)
        assert {c for s in sweeps for c in s.claims} == {1, 2, 3, 4, 5, 6, 7}
        for s in sweeps:
            assert s.dataset in s.describe_data()
    offline = {s.name: s for s in scale_sweeps("offline")}
    assert offline["lenet-mnist-5k"].seeds >= 5
    assert offline["lenet-fashion-mnist"].train_subset is None  # all 60,000 images
    assert scale_sweeps("full", cifar=True)[2].dataset == "cifar10"
    with pytest.raises(ValueError, match="scale"):
        scale_sweeps("huge")


# ------------------------------------------------------------------ the smoke scale
@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Own cache, no network."""
    monkeypatch.setenv("NEGLU_STDP_CACHE", str(tmp_path / "cache"))

    def no_network(urls, dest, sha256, timeout=0, urlopen=None):
        raise DownloadError("network disabled in tests")

    monkeypatch.setattr(mnist_module, "download_first", no_network)


@pytest.mark.usefixtures("isolated", "one_thread")
@pytest.mark.slow
def test_smoke_scale_end_to_end_resumes_and_reports(tmp_path, capsys):
    from writers import write_tiny_mnist

    script = load_script(SCRIPT)
    # learnable in a few steps (class = position of a bright block), in the IDX format of
    # both MNIST and Fashion-MNIST
    mnist = write_tiny_mnist(tmp_path / "mnist", n_train=800, n_test=500)
    fashion = write_tiny_mnist(tmp_path / "fashion", n_train=800, n_test=300, seed=1)
    out = tmp_path / "claims"
    argv = ["--scale", "smoke", "--out", str(out), "--mnist-dir", str(mnist),
            "--fashion-dir", str(fashion), "--no-progress"]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    assert "thesis's evidence" in printed and "wall time" in printed
    assert printed.count("(machinery check, not evidence)") == 9  # every smoke verdict
    done = [line for line in printed.splitlines() if " done in " in line]
    assert done and all(line.split(" on ")[-1].split(" (")[0] in ("mnist", "fashion-mnist")
                        for line in done), done  # the data the sweep actually used
    doc = json.loads((out / "report.json").read_text())
    assert [c["claim"] for c in doc["claims"]] == list(range(1, 10))
    assert {c["verdict"] for c in doc["claims"]} <= WORDS
    tested = {c["claim"] for c in doc["claims"] if c["verdict"] != "not tested"}
    assert tested >= {1, 2, 3, 4, 7, 8, 9}  # LeNet5 (5) and Noisy ReLU (6) barely train here
    assert all(c["notes"] for c in doc["claims"] if c["claim"] not in tested)
    assert all(s["runs"] == s["expected"] for s in doc["sweeps"])
    text = (out / "report.md").read_text()
    assert "## Summary" in text and "Scale **smoke**" in text
    assert "**Smoke scale: a machinery check, not evidence.**" in text
    assert doc["evidence"] is False
    for name in ("gap_vs_share.png", "divergence_vs_share.png", "errors_over_epochs.png",
                 "dead_units_vs_share.png", "prelu_slopes.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    runs = sorted((out / "sweeps").glob("*/runs/*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in runs}
    wall = doc["wall_seconds"]

    assert script.main(argv) == 0  # resumes: nothing retrained
    capsys.readouterr()
    assert {p: p.stat().st_mtime_ns for p in runs} == stamps
    again = json.loads((out / "report.json").read_text())
    assert again["wall_seconds"] > wall
    verdicts = lambda d: [c["verdict_text"] for c in d["claims"]]  # noqa: E731
    assert verdicts(again) == verdicts(doc)

    assert script.main(["--out", str(out), "--report-only"]) == 0
    capsys.readouterr()
    assert json.loads((out / "report.json").read_text())["wall_seconds"] == again["wall_seconds"]
    assert f"--data-dir {mnist}" in (out / "report.md").read_text()  # as the sweeps ran


@pytest.mark.usefixtures("isolated")
def test_user_errors_are_one_line(tmp_path, capsys):
    script = load_script(SCRIPT)
    assert script.main(["--out", str(tmp_path / "none"), "--report-only"]) == 2
    assert "study.json" in capsys.readouterr().err
    assert script.main(["--mnist-dir", str(tmp_path / "missing")]) == 2
    assert "--mnist-dir" in capsys.readouterr().err
    assert script.main(["--cifar-dir", str(tmp_path), "--scale", "smoke"]) == 2
    assert "--scale full" in capsys.readouterr().err
    out = tmp_path / "study"
    out.mkdir()
    (out / "study.json").write_text(json.dumps({"scale": "offline", "cifar": False}))
    assert script.main(["--scale", "smoke", "--out", str(out)]) == 2
    assert "holds the 'offline' study" in capsys.readouterr().err


@pytest.mark.usefixtures("isolated")
@pytest.mark.slow
def test_sigterm_stops_the_study_and_keeps_its_wall_time(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from writers import write_tiny_mnist

    mnist = write_tiny_mnist(tmp_path / "mnist", n_train=800, n_test=500)
    out = tmp_path / "claims"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--scale", "smoke", "--out", str(out), "--mnist-dir",
         str(mnist), "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), cwd=ROOT)
    deadline = time.monotonic() + 120
    while not (out / "sweeps" / "lenet-mnist" / "sweep.json").exists():  # training started
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "rerun the same command to resume" in err
    assert json.loads((out / "study.json").read_text())["wall_seconds"] > 2


def test_figures_draw_all_or_none_collapsed_shares(tmp_path):
    from bridge.claims import figures

    runs = thesis_like_runs()[SWEEP.name]  # every 10 % run diverged, none of the others
    for draw in (figures.divergence_vs_share, figures.gap_vs_share,
                 figures.errors_over_epochs, figures.dead_units_vs_share):
        path = draw(runs, tmp_path / f"{draw.__name__}.png", "synthetic")
        assert path.read_bytes()[:4] == b"\x89PNG"
    assert figures.prelu_slopes_figure(runs, tmp_path / "p.png", "x") is None  # no PReLU


def _spiking(gap_per_percent, noise, seeds=4, percents=(0, 10, 25, 50, 100), test=0.6):
    # noise +-noise by seed: the spread is known and the slope exactly gap_per_percent
    runs = [{"share": p / 100, "seed": s, "test_accuracy": test,
             "train_accuracy": test + (5 + gap_per_percent * p + noise * (-1) ** s) / 100,
             "dead_neurons": 0}
            for p in percents for s in range(seeds)]
    meta = {"n_exc": 100, "n_train": 500, "n_test": 500, "rule": "mirror", "by": "neuron"}
    return {"runs": runs, "meta": meta}


def test_claim9_verdicts_follow_the_plan():
    from bridge.claims.spiking import claim9

    assert claim9(None)["verdict"] == "not tested"
    shrinking = claim9(_spiking(-0.1, 0.5))
    assert shrinking["verdict"] == "supported", shrinking["verdict_text"]
    head = shrinking["tests"][0]
    assert head["estimate"] == pytest.approx(-0.1)  # points per percent
    collapsing = _spiking(0.0, 0.5)  # the gap shrinks only because 50 % collapsed
    for r in collapsing["runs"]:
        if r["share"] == 0.5:
            r.update(test_accuracy=0.1, train_accuracy=0.1)
    kept = claim9(collapsing)
    assert kept["verdict"] == "not distinguishable", kept["verdict_text"]
    assert any("50 %" in note for note in kept["notes"])
    growing = claim9(_spiking(+0.1, 0.5))
    assert growing["verdict"] == "refuted", growing["verdict_text"]
    flat = claim9(_spiking(0.0, 2.0))  # slope exactly 0
    assert flat["verdict"] == "not distinguishable", flat["verdict_text"]
    assert "needed" in flat["verdict_text"]
    # the 100 % network does not enter the primary slope
    only_full = claim9(_spiking(0.0, 0.5, percents=(0, 100)))
    assert only_full["verdict"] == "untestable" and "two shares" in only_full["verdict_text"]
    chance = claim9(_spiking(-0.1, 0.5, test=0.12))
    assert chance["verdict"] == "untestable" and "did not learn" in chance["verdict_text"]
    weak = claim9(_spiking(-0.005, 2.0))  # half the LeNet effect, noisy: n needed > 4
    assert weak["verdict"] == "not distinguishable", weak["verdict_text"]
    one_seed = claim9(_spiking(-0.1, 0.5, seeds=1))
    assert one_seed["verdict"] == "untestable" and "two seeds" in one_seed["verdict_text"]
    assert re.search(r"\|\s*100 \|", shrinking["tables"][0])  # reported, not tested
