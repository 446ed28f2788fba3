"""The verdict study's false-verdict rates, measured on simulated run stores by the real
claim analyses (a small version of benchmarks/verdict_calibration.py)."""

import math
from pathlib import Path

import pytest

from bridge.claims.calibration import TARGETS, TRUTHS, calibrate, simulate, worst_false_rate

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
REPS = 60


@pytest.mark.slow
def test_false_verdict_rates_stay_within_their_targets():
    rates = calibrate(REPS)
    bounded = [r for r in rates if r.target is not None]
    # every claim and truth with a target is measured, a word that never came out as 0
    assert {(r.claim, r.truth, r.word) for r in bounded} == {
        (c, t, w) for c, truths in TRUTHS.items() for t in truths
        for (tt, w) in TARGETS if tt == t}
    for r in bounded:
        mc = 3 * math.sqrt(r.target * (1 - r.target) / REPS)
        assert r.rate <= r.target + mc, r
    # and the studies decide where they should: the opposite truth is mostly refuted
    opposite = {r.claim: r.rate for r in rates if r.truth == "opposite" and r.word == "refuted"}
    assert opposite[3] > 0.5 and opposite[4] > 0.5
    assert worst_false_rate(rates).rate == max(r.rate for r in bounded)


def test_simulations_are_seeded_and_use_the_real_analysis():
    a, b = simulate(1, "none", 3), simulate(1, "none", 3)
    assert a == b and a["claim"] == 1 and a["tests"][0]["family"] == "primary"
    assert simulate(6, "margin", 0)["tests"][-2]["margin"] == pytest.approx(0.34)
    with pytest.raises(ValueError, match="no simulation"):
        simulate(5, "thesis", 0)


def test_benchmark_ends_with_the_worst_rate(capsys):
    script = load_script(ROOT / "benchmarks" / "verdict_calibration.py")
    assert script.main(["--reps", "3"]) in (0, 1)
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("worst false-verdict rate: ")
    assert script.main(["--reps", "0"]) == 2
    assert "--reps" in capsys.readouterr().err
