"""The sign mapping's truth table under both timing conventions."""

import itertools
import math

import pytest
import torch

from ann.activations import MixLU, NegLU
from bridge.derivative import effective_derivative, probe_derivative
from bridge.sign_mapping import map_event, timing_from_descent
from stdp_sim.regime import Regime

SIGNS = (-1.0, 0.0, 1.0)
PPP, PPD = Regime.PRE_POST_POTENTIATION, Regime.PRE_POST_DEPRESSION
QPP, QPD = Regime.POST_PRE_POTENTIATION, Regime.POST_PRE_DEPRESSION

# Excitatory synapse (a_A > 0, w > 0), written out by hand:
# (descent, derivative) -> regime, per convention.
HAND_TABLE = {
    "rate": {
        (+1, +1): PPP,  # rising post rate under normal STDP: textbook Hebbian
        (-1, +1): QPD,
        (+1, -1): PPD,  # inverted derivative flips the consequence only
        (-1, -1): QPP,
    },
    "literal": {
        (+1, +1): QPP,  # dC/da < 0: "B fired first" as Table 3 is printed
        (-1, +1): PPD,
        (+1, -1): QPD,
        (-1, -1): PPP,
    },
}


@pytest.mark.parametrize("convention", ["rate", "literal"])
def test_hand_table_for_excitatory_synapses(convention):
    for (descent, deriv), expected in HAND_TABLE[convention].items():
        got = map_event(descent * 0.3, deriv * 2.0, 0.7, 0.1, convention)
        assert got.regime is expected, (descent, deriv, got)
        assert got.synapse_effect == 1
        assert got.stdp_type == ("normal" if deriv > 0 else "inverted")


@pytest.mark.parametrize("convention", ["rate", "literal"])
def test_all_sign_combinations(convention):
    for descent, deriv, pre, w in itertools.product(SIGNS, repeat=4):
        m = map_event(descent, deriv, pre, w, convention)
        if 0.0 in (descent, deriv, pre, w):
            assert m.regime is None
            assert m.consequence is None
            continue
        effect = int(pre * w)
        assert m.synapse_effect == effect
        # An inhibitory synapse flips the consequence of the excitatory case.
        base = HAND_TABLE[convention][(int(descent), int(deriv))]
        consequence = base.consequence
        if effect < 0:
            consequence = "depression" if consequence == "potentiation" else "potentiation"
        assert m.regime is Regime.from_parts(base.timing, consequence)
        # potentiation is exactly "the descent update grows |w|"
        dw = descent * deriv * pre  # sign of -dC/dw
        assert (m.consequence == "potentiation") == (dw * w > 0)


def test_conventions_differ_only_in_timing():
    for descent, deriv, pre, w in itertools.product((-1.0, 1.0), repeat=4):
        r = map_event(descent, deriv, pre, w, "rate")
        lit = map_event(descent, deriv, pre, w, "literal")
        assert r.consequence == lit.consequence
        assert r.timing != lit.timing


def test_timing_zero_and_stdp_type_silent():
    assert timing_from_descent(0.0) is None
    assert map_event(1.0, 0.0, 1.0, 1.0).stdp_type == "silent"


def test_bad_inputs():
    with pytest.raises(ValueError, match="convention"):
        map_event(1, 1, 1, 1, convention="causal")
    with pytest.raises(ValueError, match="NaN"):
        map_event(math.nan, 1, 1, 1)


def test_effective_derivative_of_each_activation():
    z = torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
    expected = {
        "relu": [0, 0, 0, 1, 1],
        "exact": [1, 1, 0, 0, 0],
        "reference": [0, 0, 0, 1, 1],
        "inverted": [-1, -1, 0, 0, 0],
    }
    assert probe_derivative(torch.nn.ReLU(), z).tolist() == expected["relu"]
    for mode in ("exact", "reference", "inverted"):
        assert probe_derivative(NegLU(mode), z).tolist() == expected[mode], mode
    # a MixLU whose every unit is a NegLU behaves as that NegLU, unit by unit
    mix = MixLU(5, 1.0, backward="inverted")
    assert probe_derivative(mix, z.view(1, 5)).flatten().tolist() == expected["inverted"]


def test_effective_derivative_unobservable_is_nan():
    d = effective_derivative(torch.tensor([0.0, 3.0]), torch.tensor([0.0, 1.5]))
    assert math.isnan(d[0]) and d[1] == 2.0
    with pytest.raises(ValueError, match="element-wise"):
        effective_derivative(torch.zeros(2), torch.zeros(3))


def test_sign_patterns_cover_each_regime_once_per_synapse_effect():
    from bridge.patterns import sign_patterns, unit_derivative_signs

    assert unit_derivative_signs() == {
        "ReLU": [1],
        "NegLU (exact)": [1],
        "NegLU (reference)": [1],
        "NegLU (inverted)": [-1],
    }
    for convention in ("rate", "literal"):
        rows = {r["regime"]: r["patterns"] for r in sign_patterns(convention)}
        assert len(rows) == 4
        for regime, patterns in rows.items():
            assert sorted(p["synapse"] for p in patterns) == ["excitatory", "inhibitory"]
            for p in patterns:
                effect = 1 if p["synapse"] == "excitatory" else -1
                got = map_event(p["descent"], p["derivative"], 1.0, effect, convention)
                assert got.regime.label == regime
    # only the inverted NegLU makes excitatory pre-post depression under "rate"
    rows = {r["regime"]: r["patterns"] for r in sign_patterns("rate")}
    (exc,) = [p for p in rows["pre-post depression"] if p["synapse"] == "excitatory"]
    assert exc["unit_types"] == ["NegLU (inverted)"]


def _rows(preset, up, flat, down, sem=0.01):
    return [
        {"preset": preset, "ramp": r, "dw_mean": v, "dw_sem": sem}
        for r, v in (("up", up), ("flat", flat), ("down", down))
    ]


def test_convention_verdict():
    from bridge.convention_verdict import convention_verdict

    # a Hebbian rule (pre-post +, post-pre -) potentiating under a rising rate: "rate"
    assert convention_verdict(_rows("h", 0.5, 0.0, -0.5), 1, -1, "h")["supports"] == "rate"
    # the ramp effect is measured against flat, not zero
    assert convention_verdict(_rows("h", -0.1, -0.6, -1.1), 1, -1, "h")["supports"] == "rate"
    assert convention_verdict(_rows("h", -0.5, 0.0, 0.5), 1, -1, "h")["supports"] == "literal"
    assert convention_verdict(_rows("h", 0.01, 0.0, -0.01), 1, -1, "h")["supports"] == "undecided"
    assert convention_verdict(_rows("p", 0.5, 0.4, 0.3), 1, 1, "p")["supports"] == "either"
    with pytest.raises(ValueError, match="flat"):
        convention_verdict(_rows("h", 1, 0, -1)[:1], 1, -1, "h")
