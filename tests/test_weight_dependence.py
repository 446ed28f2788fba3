"""Weight dependence as an option of any rule: additive, multiplicative (soft bounds,
van Rossum et al. 2000's form on both sides), power law (Gütig et al. 2003, μ ∈ [0, 1]).

The reference (:func:`walk`) is a plain walk over the spike history (no traces) with
the power-law factors written out: potentiation scaled by ((w_max − w)/(w_max −
w_min))^μ, depression by ((w − w_min)/(w_max − w_min))^μ, as NEST's ``stdp_synapse``
does with ``mu_plus = mu_minus = μ``.
"""

import math

import numpy as np
import pytest
from brian2 import Hz, ms, prefs
from numpy.testing import assert_allclose

from stdp_sim import Condition, SpikeTrains, STDPRule, pairing_dw, preset, run_conditions

HAND_PRE_MS = [1, 5, 6, 7, 9, 11, 12, 13]
HAND_POST_MS = [2, 3, 4, 8, 9, 10, 12]
#: Large amplitudes so that the weight dependence changes the result visibly.
BASE = STDPRule(0.08, -0.07, 16.8 * ms, 33.7 * ms, w_min=-0.5, w_max=1.5, w_init=0.8)
MUS = [0.0, 0.3, 0.5, 1.0]


def walk(mu: float, pairing: str, pre_ms, post_ms, rule=BASE) -> float:
    span = rule.w_max - rule.w_min
    events = sorted([(t, 0) for t in pre_ms] + [(t, 1) for t in post_ms])
    pres, posts, w = [], [], rule.w_init
    tau_p, tau_m = float(rule.tau_pre_post / ms), float(rule.tau_post_pre / ms)
    for t, kind in events:
        if kind == 0:
            partners = posts if pairing == "all-to-all" else posts[-1:]
            change = rule.a_post_pre * sum(math.exp(-(t - s) / tau_m) for s in partners)
            pres.append(t)
        else:
            partners = pres if pairing == "all-to-all" else pres[-1:]
            if pairing != "all-to-all" and partners and partners[0] == t:
                partners = []  # nearest: the coincident pair is discarded
            change = rule.a_pre_post * sum(math.exp(-(t - s) / tau_p) for s in partners)
            posts.append(t)
        if change > 0:
            change *= ((rule.w_max - w) / span) ** mu
        elif change < 0:
            change *= ((w - rule.w_min) / span) ** mu
        w = min(max(w + change, rule.w_min), rule.w_max)
    return w


def _rule(mu, pairing="all-to-all"):
    return BASE.replace(weight_dependence="power", mu=mu, pairing=pairing, name=f"mu{mu}")


def _poisson(seed, rate_hz=20.0, duration_ms=1500.0):
    rng = np.random.default_rng(seed)
    times = rng.uniform(0.1, duration_ms, rng.poisson(rate_hz * duration_ms / 1000))
    return np.unique(np.round(times * 10)) / 10


@pytest.fixture(scope="module")
def simulated():
    """Every μ, two pairings, hand-written and Poisson trains, and the additive and
    multiplicative rules on the same trains: one network run."""
    sets = {"hand": (np.array(HAND_PRE_MS, float), np.array(HAND_POST_MS, float)),
            "poisson": (_poisson(3), _poisson(4))}  # fmt: skip
    rules = [_rule(mu, p) for mu in MUS for p in ("all-to-all", "nearest-symmetric")]
    rules += [BASE.replace(name="additive"),
              BASE.replace(weight_dependence="multiplicative", name="multiplicative")]
    conditions = [Condition(rule, SpikeTrains.from_times(pre * ms, post * ms),
                            tags={"rule": rule.name, "pairing": rule.pairing, "trains": key})
                  for key, (pre, post) in sets.items() for rule in rules]  # fmt: skip
    return run_conditions(conditions, progress=False)


def _pick(results, **tags):
    (res,) = [r for r in results if all(r.tags[k] == v for k, v in tags.items())]
    return res


@pytest.mark.parametrize("trains", ["hand", "poisson"])
@pytest.mark.parametrize("pairing", ["all-to-all", "nearest-symmetric"])
@pytest.mark.parametrize("mu", MUS)
def test_power_law_equals_the_walk(simulated, mu, pairing, trains):
    res = _pick(simulated, rule=f"mu{mu}", pairing=pairing, trains=trains)
    assert abs(res.dw) > 1e-3
    expected = walk(mu, pairing, res.pre_spikes * 1e3, res.post_spikes * 1e3)
    assert_allclose(res.w_end, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("trains", ["hand", "poisson"])
def test_mu_zero_is_additive_and_mu_one_multiplicative(simulated, trains):
    def w(name):
        return _pick(simulated, rule=name, pairing="all-to-all", trains=trains).w_end

    assert w("mu0.0") == pytest.approx(w("additive"), abs=1e-14)
    assert w("mu1.0") == pytest.approx(w("multiplicative"), abs=1e-14)
    # and the exponent matters in between: the weight ends elsewhere
    assert len({round(w(f"mu{mu}"), 6) for mu in MUS}) == len(MUS)


def test_the_rules_own_equations_equal_the_walk():
    """``rule.synapses`` with the power law (exponent from the namespace), numpy."""
    from brian2 import Network, SpikeGeneratorGroup

    previous = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        pre = SpikeGeneratorGroup(1, [0] * len(HAND_PRE_MS), HAND_PRE_MS * ms)
        post = SpikeGeneratorGroup(1, [0] * len(HAND_POST_MS), HAND_POST_MS * ms)
        synapses = {mu: _rule(mu).synapses(pre, post, connect=True) for mu in (0.3, 0.5)}
        Network(pre, post, *synapses.values()).run(15 * ms)
    finally:
        prefs.codegen.target = previous
    for mu, syn in synapses.items():
        assert "**mu" in _rule(mu).equations()["on_post"]
        assert float(syn.w[0]) == pytest.approx(walk(mu, "all-to-all", HAND_PRE_MS,
                                                     HAND_POST_MS), abs=1e-12)  # fmt: skip


def test_existing_weight_dependences_keep_their_values():
    """The additive and multiplicative windows of the presets, written out."""
    heb, mult = preset("hebbian"), preset("hebbian_multiplicative")
    assert heb.mu == 0.0 and mult.mu == 1.0
    assert float(heb.window(-5 * ms)) == pytest.approx(0.005 * math.exp(-5 / 16.8))
    for w in (0.1, 0.5, 0.9):
        up = 0.005 * math.exp(-5 / 16.8) * (1.0 - w)
        down = mult.a_post_pre * math.exp(-5 / 33.7) * w
        assert float(mult.window(-5 * ms, w=w)) == pytest.approx(up, rel=1e-12)
        assert float(mult.window(5 * ms, w=w)) == pytest.approx(down, rel=1e-12)
    # the equations of the existing rules are the strings they always were
    assert heb.equations()["on_post"] == "apost += 1\nw = clip(w + A_prepost*apre, w_min, w_max)"
    assert mult.equations()["on_pre"] == (
        "apre += 1\nw = clip(w + A_postpre*apost*(w - w_min)/(w_max - w_min), w_min, w_max)"
    )


def test_power_window_and_pairing_dw():
    rule = _rule(0.5)
    raw = 0.08 * math.exp(-5 / 16.8)
    factor = ((1.5 - 0.8) / 2.0) ** 0.5
    assert float(rule.window(-5 * ms)) == pytest.approx(raw * factor)
    w = 0.8
    for _ in range(20):  # 20 isolated pairings, the recursion written out
        w = min(max(w + raw * ((1.5 - w) / 2.0) ** 0.5, -0.5), 1.5)
    assert float(pairing_dw(rule, -5 * ms, 20)) == pytest.approx(w - 0.8)
    # μ = 1 reproduces the multiplicative closed form
    mult = BASE.replace(weight_dependence="multiplicative")
    grid = [-20, -5, 5, 20] * ms
    assert_allclose(pairing_dw(_rule(1.0), grid, 30), pairing_dw(mult, grid, 30), rtol=1e-12)


def test_replace_and_round_trip():
    rule = _rule(0.3)
    assert rule.replace(weight_dependence="additive").mu == 0.0  # the old exponent is dropped
    assert rule.replace(name="x").mu == 0.3  # other changes keep it
    assert rule.replace(mu=0.7).mu == 0.7
    back = STDPRule.from_dict(rule.as_dict())
    assert back == rule and back.as_dict()["mu"] == 0.3
    assert "mu=0.3" in repr(rule)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"weight_dependence": "power"}, "mu"),  # needs mu
        ({"weight_dependence": "power", "mu": 1.5}, "mu"),
        ({"weight_dependence": "power", "mu": -0.1}, "mu"),
        ({"weight_dependence": "power", "mu": 0.5 * ms}, "mu"),  # wrong units
        ({"weight_dependence": "power", "mu": 2 * Hz}, "mu"),
        ({"weight_dependence": "power", "mu": "half"}, "mu"),
        ({"weight_dependence": "additive", "mu": 0.5}, "mu"),  # contradicts the choice
        ({"weight_dependence": "multiplicative", "mu": 0.0}, "mu"),
        ({"weight_dependence": "gutig"}, "weight_dependence"),
    ],
)
def test_bad_weight_dependence_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        STDPRule(0.01, -0.01, **kwargs)
