"""Rate view: constant presynaptic rate, ramping postsynaptic rate (Bengio et al. 2015)."""

import numpy as np
import pytest
from brian2 import Hz, ms, second

from stdp_sim import RAMPS, expected_rate_ramp_dw, preset, rate_ramp_conditions, run_rate_ramp


@pytest.fixture(scope="module")
def hebbian_rows():
    return {r["ramp"]: r for r in run_rate_ramp(["hebbian"], n_synapses=2000, progress=False)}


def test_every_ramp_is_reported(hebbian_rows):
    assert set(hebbian_rows) == set(RAMPS)
    for row in hebbian_rows.values():
        assert row["n_synapses"] == 2000 and row["preset"] == "hebbian"
        assert row["n_pre_spikes_mean"] == pytest.approx(40, rel=0.05)  # 40 Hz for 1 s
        assert row["n_post_spikes_mean"] == pytest.approx(25 * 1.4, rel=0.05)  # same mean rate
        assert row["dw_sem"] > 0 and row["dw_sd"] > 0.005  # weights moved


def test_hebbian_rising_post_rate_potentiates_falling_depresses(hebbian_rows):
    up, flat, down = (hebbian_rows[r] for r in ("up", "flat", "down"))
    assert up["dw_mean"] > 4 * up["dw_sem"]
    assert down["dw_mean"] < -4 * down["dw_sem"]
    # flat: the balanced window's analytic offset (zero up to edge terms)
    assert abs(flat["dw_expected"]) < 0.2 * up["dw_sem"]
    assert abs(flat["dw_mean"] - flat["dw_expected"]) < 4 * flat["dw_sem"]
    for row in (up, down):
        assert abs(row["dw_mean"] - row["dw_expected"]) < 4 * row["dw_sem"]


def test_expectation_matches_rate_formula():
    """Exact finite-protocol expectation vs ν_pre D (ν̄ ∫W - ν' ∫sW)."""
    for name in ("hebbian", "anti_hebbian", "song2000", "potentiation_only"):
        rule = preset(name)
        out = expected_rate_ramp_dw(
            rule,
            pre_rate=40 * Hz,
            post_rate_start=5 * Hz,
            post_rate_end=45 * Hz,
            duration=1 * second,
            pad=200 * ms,
        )
        scale = abs(out["flat_offset"]) + abs(out["slope_term"])
        assert out["dw_expected"] == pytest.approx(out["dw_rate_theory"], abs=0.02 * scale)
    heb = expected_rate_ramp_dw(
        preset("hebbian"),
        pre_rate=40 * Hz,
        post_rate_start=5 * Hz,
        post_rate_end=45 * Hz,
        duration=1 * second,
        pad=200 * ms,
    )
    slope = 40 / 1.4  # Hz per second
    manual = -40 * 1.0 * slope * float(preset("hebbian").window_first_moment)
    assert heb["slope_term"] == pytest.approx(manual) and heb["slope_term"] > 0
    assert heb["flat_offset"] == pytest.approx(0.0, abs=1e-15)


def test_bad_rate_ramp_input_raises():
    with pytest.raises(ValueError, match="n_synapses"):
        run_rate_ramp(["hebbian"], n_synapses=1)
    with pytest.raises(ValueError, match="preset"):
        run_rate_ramp(["hebb"])
    with pytest.raises(ValueError, match="duration"):
        run_rate_ramp(["hebbian"], duration=0 * second)
    with pytest.raises(ValueError, match="pre_rate"):
        run_rate_ramp(["hebbian"], pre_rate=40)
    with pytest.raises(ValueError, match="post_rate_high"):
        run_rate_ramp(["hebbian"], post_rate_low=50 * Hz, post_rate_high=10 * Hz)
    with pytest.raises(ValueError, match="presets"):
        run_rate_ramp([])
    with pytest.raises(ValueError, match="distinct names"):
        run_rate_ramp(["hebbian", "hebbian"], n_synapses=2)
    with pytest.raises(ValueError, match="distinct names"):
        rate_ramp_conditions(["hebbian", "hebbian"], n_synapses=2)


def test_rows_are_plain_floats(hebbian_rows):
    for row in hebbian_rows.values():
        for key in ("dw_mean", "dw_sem", "dw_expected", "dw_rate_theory"):
            assert type(row[key]) is float and np.isfinite(row[key])
