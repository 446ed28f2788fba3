"""STDPRule, its presets and its analytic window (no simulation here)."""

import numpy as np
import pytest
from brian2 import Hz, ms, mV, second
from numpy.testing import assert_allclose

from stdp_sim import PRESETS, Regime, STDPRule, pairing_dw, preset, preset_names
from stdp_sim.rule import TAU_MINUS_BI_POO, TAU_PLUS_BI_POO


def test_presets_cover_every_regime():
    produced = {r for rule in PRESETS.values() for r in rule.regimes}
    assert produced == set(Regime)


def test_required_presets():
    heb, anti = preset("hebbian"), preset("anti_hebbian")
    assert heb.regimes == (Regime.PRE_POST_POTENTIATION, Regime.POST_PRE_DEPRESSION)
    assert anti.regimes == (Regime.PRE_POST_DEPRESSION, Regime.POST_PRE_POTENTIATION)
    assert preset("potentiation_only").regimes == (
        Regime.PRE_POST_POTENTIATION,
        Regime.POST_PRE_POTENTIATION,
    )
    assert preset("depression_only").regimes == (
        Regime.PRE_POST_DEPRESSION,
        Regime.POST_PRE_DEPRESSION,
    )
    # Bi & Poo time constants; the mirror has the same window with the opposite sign
    assert heb.tau_pre_post == 16.8 * ms and heb.tau_post_pre == 33.7 * ms
    grid = np.linspace(-80, 80, 33) * ms
    assert_allclose(anti.window(grid), -heb.window(grid))
    assert preset("hebbian_multiplicative").weight_dependence == "multiplicative"
    song = preset("song2000")
    assert song.a_post_pre / song.a_pre_post == pytest.approx(-1.05)


def test_hebbian_window_is_balanced():
    heb = preset("hebbian")
    assert float(heb.window_integral) == pytest.approx(0.0, abs=1e-15)
    assert heb.a_post_pre == pytest.approx(
        -heb.a_pre_post * float(TAU_PLUS_BI_POO / TAU_MINUS_BI_POO)
    )
    assert float(heb.window_first_moment) < 0  # Hebbian: rising post rate potentiates


@pytest.mark.parametrize("name", preset_names())
def test_window_sign_and_exponential_magnitude(name):
    rule = preset(name)
    if rule.weight_dependence == "multiplicative":
        rule = rule.replace(weight_dependence="additive")
    d = np.array([1.0, 5.0, 10.0, 20.0, 40.0])
    before = rule.window(-d * ms)
    after = rule.window(d * ms)
    assert np.all(np.sign(before) == np.sign(rule.a_pre_post))
    assert np.all(np.sign(after) == np.sign(rule.a_post_pre))
    assert_allclose(before, rule.a_pre_post * np.exp(-d * ms / rule.tau_pre_post))
    assert_allclose(after, rule.a_post_pre * np.exp(-d * ms / rule.tau_post_pre))


def test_coincident_spikes_use_the_pre_post_amplitude():
    for rule in PRESETS.values():
        expected = rule.a_pre_post
        if rule.weight_dependence == "multiplicative":
            expected *= float(rule.soft_bound_factor(expected, rule.w_init))
        assert float(rule.window(0 * ms)) == pytest.approx(expected)


def test_multiplicative_window_depends_on_weight():
    rule = preset("hebbian_multiplicative")
    pot = [float(rule.window(-5 * ms, w=w)) for w in (0.0, 0.5, 1.0)]
    dep = [float(rule.window(5 * ms, w=w)) for w in (0.0, 0.5, 1.0)]
    assert pot[0] > pot[1] > pot[2] == 0.0
    assert dep[0] == 0.0 > dep[1] > dep[2]


def test_pairing_dw_closed_forms():
    heb = preset("hebbian")
    assert_allclose(pairing_dw(heb, -10 * ms, 60), 60 * heb.window(-10 * ms))
    # additive clipping at the bound
    big = heb.replace(a_pre_post=0.1)
    assert float(pairing_dw(big, 0 * ms, 60)) == pytest.approx(big.w_max - big.w_init)
    # multiplicative: the geometric recursion, never past the bound
    mult = preset("hebbian_multiplicative").replace(a_pre_post=0.2)
    w = mult.w_init
    for _ in range(30):
        w += 0.2 * (mult.w_max - w) / (mult.w_max - mult.w_min)
    assert float(pairing_dw(mult, 0 * ms, 30)) == pytest.approx(w - mult.w_init)


def test_rule_is_immutable_and_replace_validates():
    rule = preset("hebbian")
    with pytest.raises(AttributeError):
        rule.a_pre_post = 1.0
    assert rule.replace(name="x").name == "x"
    with pytest.raises(ValueError, match="replace"):
        rule.replace(tau=1 * ms)
    with pytest.raises(ValueError, match="tau_pre_post"):
        rule.replace(tau_pre_post=-1 * ms)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tau_pre_post": 0 * ms}, "tau_pre_post"),
        ({"tau_post_pre": -5 * ms}, "tau_post_pre"),
        ({"tau_pre_post": 20}, "tau_pre_post"),  # no units
        ({"tau_post_pre": 20 * mV}, "tau_post_pre"),  # wrong units
        ({"tau_pre_post": [10, 20] * ms}, "tau_pre_post"),
        ({"a_pre_post": float("nan")}, "a_pre_post"),
        ({"a_post_pre": "big"}, "a_post_pre"),
        ({"a_post_pre": 1 * Hz}, "a_post_pre"),
        ({"w_min": 1.0, "w_max": 1.0}, "w_min"),
        ({"w_min": 2.0, "w_max": 1.0}, "w_min"),
        ({"w_init": 1.5}, "w_init"),
        ({"weight_dependence": "power"}, "weight_dependence"),
        ({"pairing": "first"}, "pairing"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_rule_parameters_raise(kwargs, name):
    args = {"a_pre_post": 0.01, "a_post_pre": -0.01, **kwargs}
    with pytest.raises(ValueError, match=name):
        STDPRule(**args)


def test_bad_names_and_windows_raise():
    with pytest.raises(ValueError, match="preset.*'hebian'"):
        preset("hebian")
    rule = preset("hebbian")
    with pytest.raises(ValueError, match="delta_t"):
        rule.window(10)  # no units
    with pytest.raises(ValueError, match="delta_t"):
        rule.window(10 * Hz)
    with pytest.raises(ValueError, match="timing"):
        rule.regime("before")
    with pytest.raises(ValueError, match="n_pairings"):
        pairing_dw(rule, 10 * ms, 0)
    with pytest.raises(ValueError, match="formulation"):
        rule.equations("implicit")


def test_as_dict_round_trip():
    for rule in PRESETS.values():
        d = rule.as_dict()
        back = STDPRule(
            d["a_pre_post"],
            d["a_post_pre"],
            d["tau_pre_post_ms"] * ms,
            d["tau_post_pre_ms"] * ms,
            d["weight_dependence"],
            d["w_min"],
            d["w_max"],
            d["w_init"],
            d["pairing"],
            d["name"],
        )
        assert back == rule and hash(back) == hash(rule)
    assert float(preset("hebbian").tau_pre_post / second) == pytest.approx(0.0168)
