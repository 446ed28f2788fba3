"""The regime table (thesis Tables 1 and 5), including its boundaries."""

import math

import pytest
from brian2 import ms, second

from stdp_sim import Regime, classify

# (∫Δt, dw) -> expected regime label; Δt = t_pre - t_post
TRUTH_TABLE = [
    (-10.0, 0.5, "pre-post potentiation"),
    (-10.0, -0.5, "pre-post depression"),
    (10.0, 0.5, "post-pre potentiation"),
    (10.0, -0.5, "post-pre depression"),
    # boundary: ∫Δt == 0 ("same time") belongs to the pre-post side
    (0.0, 0.5, "pre-post potentiation"),
    (0.0, -0.5, "pre-post depression"),
    (-0.0, 1e-300, "pre-post potentiation"),
    # just above zero is post-pre
    (1e-12, 0.5, "post-pre potentiation"),
    (math.ulp(0.0), -0.5, "post-pre depression"),
    # tiny weight changes still count
    (-1.0, 1e-300, "pre-post potentiation"),
    (1.0, -1e-300, "post-pre depression"),
]


@pytest.mark.parametrize(("idt", "dw", "label"), TRUTH_TABLE)
def test_truth_table(idt, dw, label):
    assert classify(idt, dw) is Regime.from_label(label)


def test_zero_dw_is_no_regime():
    for idt in (-5.0, 0.0, 5.0):
        assert classify(idt, 0.0) is None
        assert classify(idt, -0.0) is None


def test_quantities_are_accepted():
    assert classify(-3 * ms, 0.1) is Regime.PRE_POST_POTENTIATION
    assert classify(0 * second, -0.1) is Regime.PRE_POST_DEPRESSION
    assert classify(2 * ms, 0.1) is Regime.POST_PRE_POTENTIATION


@pytest.mark.parametrize(
    ("idt", "dw", "name"),
    [(float("nan"), 1.0, "integral_delta_t"), (1.0, float("nan"), "dw"), ("x", 1.0, "integral")],
)
def test_bad_input_names_the_argument(idt, dw, name):
    with pytest.raises(ValueError, match=name):
        classify(idt, dw)


def test_names_of_the_four_regimes():
    expected = {
        Regime.PRE_POST_POTENTIATION: ("pre-post potentiation", "Hebbian"),
        Regime.PRE_POST_DEPRESSION: ("pre-post depression", "anti-Hebbian"),
        Regime.POST_PRE_POTENTIATION: ("post-pre potentiation", "temporally-inverted Hebbian"),
        Regime.POST_PRE_DEPRESSION: (
            "post-pre depression",
            "temporally-inverted anti-Hebbian",
        ),
    }
    assert set(expected) == set(Regime)
    for regime, (label, legacy) in expected.items():
        assert regime.label == label == str(regime)
        assert regime.legacy_name == legacy
        assert Regime.from_label(label) is regime
        assert regime.dw_sign == (1 if regime.consequence == "potentiation" else -1)


def test_unknown_label_raises():
    with pytest.raises(ValueError, match="pre-post potentiation"):
        Regime.from_label("hebbian")
    with pytest.raises(ValueError, match="timing"):
        Regime.from_parts("sideways", "potentiation")
