"""The triplet rule (Pfister & Gerstner 2006): presets, an independent reference, and
Sjöström et al.'s (2001) frequency data.

The reference (:func:`walk`) sums exponentials over the spike history directly, no
traces.  Weight scaling for the data: the triplet presets start at ``w = 1`` and are
additive, so the simulated Δw is the relative change Δw/w0 that Sjöström et al. report
and Pfister & Gerstner fitted (their Δt = t_post − t_pre is minus ours).
"""

import math

import numpy as np
import pytest
from brian2 import Hz, ms, mV, prefs, second
from numpy.testing import assert_allclose

from stdp_sim import Condition, Regime, SpikeTrains, STDPRule, run_conditions
from stdp_sim.pairing_frequency import (
    SJOSTROM_2001,
    FrequencyProtocol,
    frequency_conditions,
    run_frequency,
    sjostrom_data,
    sjostrom_residuals,
)
from stdp_sim.rule import TRIPLET_PRESETS, preset, preset_names, triplet_rule
from stdp_sim.tables import TableConfig, run_tables
from stdp_sim.triplet import TRIPLET_PARAMETERS, triplet_parameters
from stdp_sim.window import replay

#: docs/reference.md#triplet-rule (Pfister & Gerstner 2006, Table 4):
#: tau_x, tau_y (ms), A2+, A3+, A2-, A3-
PUBLISHED = {
    "triplet_visual_all_to_all": (101, 125, 5e-10, 6.2e-3, 7e-3, 2.3e-4, "all-to-all"),
    "triplet_visual_nearest": (714, 40, 8.8e-11, 5.3e-2, 6.6e-3, 3.1e-3, "nearest-symmetric"),
    "triplet_hippocampus_all_to_all": (946, 27, 6.1e-3, 6.7e-3, 1.6e-3, 1.4e-3, "all-to-all"),
    "triplet_hippocampus_nearest": (575, 47, 4.6e-3, 9.1e-3, 3e-3, 7.5e-9, "nearest-symmetric"),
}
HAND_PRE_MS = [1, 5, 6, 7, 9, 11, 12, 13]
HAND_POST_MS = [2, 3, 4, 8, 9, 10, 12]
FAST_RATES = [10, 20, 40, 50] * Hz  # 0.1 Hz lasts 600 s: the slow test covers it


def test_presets_carry_the_published_parameters():
    assert preset_names("triplet") == list(PUBLISHED)
    for name, (tx, ty, a2p, a3p, a2m, a3m, pairing) in PUBLISHED.items():
        rule = preset(name)
        assert rule is TRIPLET_PRESETS[name] and rule.is_triplet
        assert "Table 4" in TRIPLET_PARAMETERS[name]["source"]
        assert float(rule.tau_x / ms) == pytest.approx(tx)
        assert float(rule.tau_y / ms) == pytest.approx(ty)
        assert float(rule.tau_pre_post / ms) == pytest.approx(16.8)
        assert float(rule.tau_post_pre / ms) == pytest.approx(33.7)
        # signed amplitudes: the paper's depression magnitudes become negative here
        assert (rule.a_pre_post, rule.a3_pre_post) == (a2p, a3p)
        assert (rule.a_post_pre, rule.a3_post_pre) == (-a2m, -a3m)
        assert rule.pairing == pairing and rule.weight_dependence == "additive"
        assert rule.w_init == 1.0  # Δw is the relative change
    # the pair presets are unchanged and still what preset_names() lists by default
    assert "hebbian" in preset_names() and "triplet_visual_nearest" not in preset_names()
    assert set(preset_names("all")) == set(preset_names()) | set(PUBLISHED)


def test_regimes_are_classified_like_every_rule():
    """Isolated pairings (low rates): the sign of the pair amplitudes decides."""
    for name in PUBLISHED:
        assert preset(name).regimes == (Regime.PRE_POST_POTENTIATION, Regime.POST_PRE_DEPRESSION)
    inverted = triplet_rule(0, 6e-3, 7e-3, 0, 100 * ms, 100 * ms)
    assert inverted.regime("pre-post") is None  # no pair term on that side
    assert inverted.regime("post-pre") is Regime.POST_PRE_DEPRESSION


def test_a_triplet_preset_runs_in_the_regime_table():
    cfg = TableConfig(rules=["triplet_visual_nearest"], trials=1, n_pairings=3,
                      pairing_rate_hz=4.0, poisson_duration_s=0.5,
                      window_presets=["hebbian"], window_grid_ms=[-10.0, 10.0],
                      frequency_rules=["triplet_visual_nearest"], frequency_rates_hz=[10.0],
                      schemes=["all-to-all"], target="numpy")  # fmt: skip
    run = run_tables(cfg, progress=False)
    rows = {row["regime"]: row for row in run["tables"]["pairing"]}
    assert rows["pre-post potentiation"]["matches"] and rows["post-pre depression"]["matches"]
    assert "triplet_visual_nearest" in run["markdown"]["frequency"]


# ---------------------------------------------------------------- the reference
def walk(rule: STDPRule, pre_ms, post_ms) -> float:
    """Final weight by direct sums over the history (all-to-all) or the last spikes
    (nearest); pre before post at equal times; nearest: zero-lag pairs discarded."""
    p = {k: float(getattr(rule, k) / ms) for k in ("tau_pre_post", "tau_post_pre", "tau_x",
                                                   "tau_y")}  # fmt: skip
    nearest = rule.pairing != "all-to-all"
    events = sorted([(t, 0) for t in pre_ms] + [(t, 1) for t in post_ms])
    pres, posts, w = [], [], rule.w_init

    def kernel(times, t, tau, strict):
        chosen = [s for s in times if (s < t if strict else s <= t)]
        if nearest:
            chosen = chosen[-1:]
        return sum(math.exp(-(t - s) / tau) for s in chosen)

    for t, kind in events:
        if kind == 0:
            o1 = kernel(posts, t, p["tau_post_pre"], strict=True)
            r2 = kernel(pres, t, p["tau_x"], strict=True)  # before this spike (t - ε)
            change = o1 * (rule.a_post_pre + rule.a3_post_pre * r2)
            pres.append(t)
        else:
            last = [s for s in pres if s <= t][-1:]
            if nearest and last and last[0] == t:
                r1 = 0.0  # the coincident pair is discarded
            else:
                r1 = kernel(pres, t, p["tau_pre_post"], strict=False)
            o2 = kernel(posts, t, p["tau_y"], strict=True)
            change = r1 * (rule.a_pre_post + rule.a3_pre_post * o2)
            posts.append(t)
        w = min(max(w + change, rule.w_min), rule.w_max)
    return w


def _poisson(seed, rate_hz=20.0, duration_ms=2000.0):
    rng = np.random.default_rng(seed)
    times = rng.uniform(0.1, duration_ms, rng.poisson(rate_hz * duration_ms / 1000))
    return np.unique(np.round(times * 10)) / 10  # on the 0.1 ms grid


@pytest.fixture(scope="module")
def against_the_walk():
    """Every triplet preset on the hand-written and on 20 Hz Poisson trains (2 s), one run."""
    sets = {"hand": (np.array(HAND_PRE_MS, float), np.array(HAND_POST_MS, float)),
            "poisson": (_poisson(1), _poisson(2))}  # fmt: skip
    conditions = [Condition(rule, SpikeTrains.from_times(pre * ms, post * ms),
                            tags={"rule": name, "trains": key})
                  for key, (pre, post) in sets.items()
                  for name, rule in TRIPLET_PRESETS.items()]  # fmt: skip
    return run_conditions(conditions, progress=False)


@pytest.mark.parametrize("trains", ["hand", "poisson"])
@pytest.mark.parametrize("name", list(PUBLISHED))
def test_brian2_equals_the_walk(against_the_walk, name, trains):
    (res,) = [r for r in against_the_walk if r.tags == {"rule": name, "trains": trains}]
    assert res.pre_spikes.size >= 8 and res.post_spikes.size >= 7
    assert abs(res.dw) > 1e-3  # learning happened
    expected = walk(res.rule, res.pre_spikes * 1e3, res.post_spikes * 1e3)
    assert_allclose(res.w_end, expected, rtol=0, atol=1e-10)
    assert res.dw == pytest.approx(replay(res.rule, res.pre_spikes, res.post_spikes), abs=1e-12)


def test_triplet_terms_matter():
    """Guard: on the hand-written trains the triplet terms change the result."""
    rule = preset("triplet_visual_all_to_all")
    pair_only = rule.replace(a3_pre_post=0.0, a3_post_pre=0.0)
    assert abs(walk(rule, HAND_PRE_MS, HAND_POST_MS)
               - walk(pair_only, HAND_PRE_MS, HAND_POST_MS)) > 0.01  # fmt: skip


@pytest.mark.parametrize("formulation", ["event-driven", "explicit"])
def test_the_rules_own_equations_equal_the_walk(formulation):
    from brian2 import Network, SpikeGeneratorGroup

    previous = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        pre = SpikeGeneratorGroup(1, [0] * len(HAND_PRE_MS), HAND_PRE_MS * ms)
        post = SpikeGeneratorGroup(1, [0] * len(HAND_POST_MS), HAND_POST_MS * ms)
        synapses = {name: rule.synapses(pre, post, connect=True, formulation=formulation)
                    for name, rule in TRIPLET_PRESETS.items()}  # fmt: skip
        Network(pre, post, *synapses.values()).run(15 * ms)
    finally:
        prefs.codegen.target = previous
    for name, syn in synapses.items():
        w = float(syn.w[0])
        assert abs(w - 1.0) > 1e-3
        assert w == pytest.approx(walk(preset(name), HAND_PRE_MS, HAND_POST_MS), abs=1e-12)


# ---------------------------------------------------------------- Sjöström et al. 2001
def _by(rows):
    return {(r.order, float(r.rate / Hz)): r for r in rows}


@pytest.fixture(scope="module")
def frequency_rows():
    """Triplet (visual, all-to-all), the hebbian pair rule and the triplet set without its
    triplet terms, at 10–50 Hz, 60 pairings, Δt = ∓10 ms: one network run."""
    visual = preset("triplet_visual_all_to_all")
    rules = [visual, visual.replace(a3_pre_post=0.0, a3_post_pre=0.0, name="pair_part"),
             preset("hebbian"), preset("song2000")]  # fmt: skip
    rows = run_frequency(rules, FrequencyProtocol(rates=FAST_RATES), progress=False)
    return {name: _by([r for r in rows if r.rule == name]) for name in
            ("triplet_visual_all_to_all", "pair_part", "hebbian", "song2000")}  # fmt: skip


def _print_residuals(rows, name):
    fit = sjostrom_residuals(rows, name)
    print(f"\n{name}: relative Δw vs Sjöström et al. 2001 (their Δt; model, data, residual)")
    for p in fit["points"]:
        print(f"  {p['sjostrom_delta_t_ms']:+5.0f} ms {p['rate_hz']:5g} Hz  "
              f"{p['model']:+.3f}  {p['data']:+.2f}  {p['residual']:+.3f}")  # fmt: skip
    print(f"  RMS {fit['rms_residual']:.3f} over {fit['n_points']} points")
    return fit


def test_triplet_rule_reproduces_sjostroms_pattern(frequency_rows):
    rows = frequency_rows["triplet_visual_all_to_all"]
    assert all(r.n_pre_spikes == 60 and r.n_post_spikes == 60 for r in rows.values())
    assert all(r.time_scale == 1.0 for r in rows.values())
    # post before pre (ours: post-pre) depresses at low rates...
    for rate in (10.0, 20.0):
        assert rows[("post-pre", rate)].dw < -0.1
    # ...and both orders potentiate at 40-50 Hz
    for order in ("pre-post", "post-pre"):
        for rate in (40.0, 50.0):
            assert rows[(order, rate)].dw > 0.1
    assert rows[("post-pre", 40.0)].regime is Regime.POST_PRE_POTENTIATION
    fit = _print_residuals(list(rows.values()), "triplet_visual_all_to_all")
    assert fit["n_points"] == 8
    # within a few data sd (0.05-0.32) everywhere but one point; RMS is reported
    assert fit["rms_residual"] < 0.2
    assert sum(abs(p["residual"]) > 0.2 for p in fit["points"]) <= 1


@pytest.mark.parametrize("name", ["hebbian", "song2000", "pair_part"])
def test_pair_rule_does_not_reproduce_high_rate_potentiation(frequency_rows, name):
    """All-to-all pair rules: post-before-pre pairings never potentiate, not even at
    40-50 Hz, where Sjöström et al. measured +0.56 and +0.75."""
    rows = frequency_rows[name]
    for rate in (40.0, 50.0):
        assert sjostrom_data(10 * ms, rate * Hz) > 0.5  # what the data say (post first)
        row = rows[("post-pre", rate)]
        assert row.dw < 0 and row.regime is Regime.POST_PRE_DEPRESSION
        assert row.residual < -0.5


def test_data_are_stored_in_their_sign_convention():
    assert SJOSTROM_2001["relative_dw"][-10.0][0] == -0.29  # post 10 ms before pre, 0.1 Hz
    # ours: post before pre is delta_t = t_pre - t_post = +10 ms
    assert sjostrom_data(10 * ms, 0.1 * Hz) == -0.29
    assert sjostrom_data(-10 * ms, 50 * Hz) == 0.56
    assert sjostrom_data(-10 * ms, 30 * Hz) is None and sjostrom_data(5 * ms, 10 * Hz) is None


def test_time_compression_is_exact():
    """2 pairings at 0.1 Hz: simulated as they are (dt = 1 ms) and compressed 10x
    (dt = 0.1 ms, every time and time constant divided by 10) give the same Δw."""
    rules = [preset("triplet_hippocampus_all_to_all"), preset("hebbian")]
    protocol = FrequencyProtocol(rates=[0.1] * Hz, n_pairings=2)
    plain = frequency_conditions(rules, protocol, dt=1 * ms)
    squeezed = frequency_conditions(rules, protocol, max_duration=2.01 * second, dt=0.1 * ms)
    assert {c.tags["time_scale"] for c in plain} == {1.0}
    assert {c.tags["time_scale"] for c in squeezed} == {0.1}
    assert squeezed[0].trains.duration == pytest.approx(plain[0].trains.duration / 10)
    a = run_conditions(plain, dt=1 * ms, progress=False)
    b = run_conditions(squeezed, dt=0.1 * ms, progress=False)
    assert all(abs(r.dw) > 1e-3 for r in a)
    assert_allclose([r.dw for r in b], [r.dw for r in a], rtol=1e-10)


@pytest.mark.slow
def test_sjostrom_all_rates_with_residuals():
    """The full protocol (0.1 Hz compressed as in stdp_table.py), both visual sets."""
    rules = [preset("triplet_visual_all_to_all"), preset("triplet_visual_nearest")]
    rows = run_frequency(rules, max_duration=60.01 * second, progress=False)
    for name in ("triplet_visual_all_to_all", "triplet_visual_nearest"):
        mine = _by([r for r in rows if r.rule == name])
        for rate in (0.1, 10.0, 20.0):
            assert mine[("post-pre", rate)].dw < -0.1
        for order in ("pre-post", "post-pre"):
            assert mine[(order, 40.0)].dw > 0.1 and mine[(order, 50.0)].dw > 0.1
        assert mine[("pre-post", 0.1)].time_scale == 0.1
        fit = _print_residuals(list(mine.values()), name)
        assert fit["n_points"] == 10 and fit["rms_residual"] < 0.2


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tau_x": 101, "a3_post_pre": -1e-3}, "tau_x"),  # no units
        ({"tau_x": 101 * mV, "a3_post_pre": -1e-3}, "tau_x"),  # wrong units
        ({"tau_y": 40 * Hz, "a3_pre_post": 1e-3}, "tau_y"),
        ({"tau_y": -40 * ms, "a3_pre_post": 1e-3}, "tau_y"),
        ({"a3_pre_post": 1e-3}, "tau_y"),  # needed with a3_pre_post
        ({"a3_post_pre": -1e-3}, "tau_x"),
        ({"a3_pre_post": 1 * ms, "tau_y": 40 * ms}, "a3_pre_post"),
        ({"a3_post_pre": "big", "tau_x": 40 * ms}, "a3_post_pre"),
        ({"a3_post_pre": float("inf"), "tau_x": 40 * ms}, "a3_post_pre"),
    ],
)
def test_bad_triplet_parameters_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        STDPRule(0.01, -0.01, **kwargs)


def test_bad_paper_parameters_and_protocols_raise():
    with pytest.raises(ValueError, match="a2_minus.*magnitude"):
        triplet_rule(1e-3, 1e-3, -7e-3, 0, 100 * ms, 100 * ms)
    with pytest.raises(ValueError, match="a3_plus"):
        triplet_parameters(1e-3, 1 * ms, 7e-3, 0, 100 * ms, 100 * ms)
    with pytest.raises(ValueError, match="tau_x"):
        triplet_rule(1e-3, 1e-3, 7e-3, 1e-3, 100, 100 * ms)
    with pytest.raises(ValueError, match="tau_plus must carry time units"):
        triplet_rule(1e-3, 1e-3, 7e-3, 1e-3, 100 * ms, 100 * ms, tau_plus=16.8)
    with pytest.raises(ValueError, match="tau_minus must carry time units"):
        triplet_parameters(1e-3, 1e-3, 7e-3, 1e-3, 100 * ms, 100 * ms, tau_minus=33.7 * mV)
    with pytest.raises(ValueError, match="start must carry time units"):
        FrequencyProtocol(start=10)
    with pytest.raises(ValueError, match="dt must carry time units"):
        frequency_conditions([preset("hebbian")], dt=0.1)
    with pytest.raises(ValueError, match="rates.*rate units"):
        FrequencyProtocol(rates=[10, 50])
    with pytest.raises(ValueError, match="rates.*rate units"):
        FrequencyProtocol(rates=[10, 50] * ms)
    with pytest.raises(ValueError, match="delta_t.*time units"):
        FrequencyProtocol(delta_t=[-10, 10])
    with pytest.raises(ValueError, match="delta_t.*period"):
        FrequencyProtocol(delta_t=[-25, 25] * ms, rates=[50] * Hz)
    with pytest.raises(ValueError, match="delta_t must be non-zero"):
        FrequencyProtocol(delta_t=[0] * ms)
    with pytest.raises(ValueError, match="n_pairings"):
        FrequencyProtocol(n_pairings=0)
    with pytest.raises(ValueError, match="max_duration"):
        frequency_conditions([preset("hebbian")], max_duration=60)
    with pytest.raises(ValueError, match="rate"):
        sjostrom_data(10 * ms, 10)
