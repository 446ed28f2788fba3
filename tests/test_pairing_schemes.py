"""NEST's four pairing schemes against an independent walk over the spike history.

The reference (:func:`walk`) is written apart from stdp_sim, as NEST's
``testsuite/pytests/synapses/test_stdp_nn_synapses.py`` writes its own: it keeps no
traces, only the spike history, and pairs spikes by the scheme's definition.  It
follows this toolkit's ordering (at equal times the presynaptic spike comes first) and
NEST's rule for coincident spikes in the nearest schemes (a pair with Δt = 0 is
discarded; no dendritic delay here).  Under all-to-all a coincident pair is pre-post
(the toolkit's convention).

Trains: NEST's hand-written ones (every ordering, two coincidences) and, as NEST does,
two 20 Hz Poisson trains over 10 s with the hand-written trains appended.  Brian2 and
the walk read the same spike times (on the 0.1 ms grid: NEST's resolution), so they
agree up to floating-point rounding.
"""

import math

import numpy as np
import pytest
from brian2 import ms, prefs, second
from numpy.testing import assert_allclose

from stdp_sim import Condition, SpikeTrains, STDPRule, run_conditions
from stdp_sim.pairing import PAIRING_ALIASES, PAIRING_SCHEMES, PAIRINGS, pairing_scheme
from stdp_sim.rule import preset, preset_names
from stdp_sim.window import replay

SCHEMES = ["all-to-all", "nearest-symmetric", "nearest-pre-centered", "nearest-restricted"]

# NEST's test: lambda 0.01, alpha 0.85, tau_plus 16.8 ms, tau_minus 33.7 ms, Wmax 1, w0 0.5
LAMBDA, ALPHA, TAU_PLUS, TAU_MINUS, W0 = 0.01, 0.85, 16.8, 33.7, 0.5
RULE = STDPRule(LAMBDA, -ALPHA * LAMBDA, TAU_PLUS * ms, TAU_MINUS * ms, w_init=W0)

HAND_PRE_MS = [1, 5, 6, 7, 9, 11, 12, 13]
HAND_POST_MS = [2, 3, 4, 8, 9, 10, 12]
RESOLUTION_MS = 0.1


# ---------------------------------------------------------------- the reference
def walk(scheme: str, pre_ms, post_ms, w=W0) -> float:
    """Final weight from a walk over the spike history; no traces.

    Spikes are visited in time order, a presynaptic spike before a postsynaptic one
    at the same time.  Each spike changes the weight once, by the sum over the
    spikes it pairs with (as NEST's synapses do), then the weight is clipped to [0, 1].
    """
    events = sorted([(t, 0) for t in pre_ms] + [(t, 1) for t in post_ms])
    seen_pre, seen_post = [], []
    last_pre = last_post = None  # times of the previous spikes, None before the first
    for t, kind in events:
        if kind == 0:  # presynaptic spike: depression with earlier postsynaptic spikes
            if scheme == "all-to-all":
                partners = seen_post
            elif scheme in ("nearest-symmetric", "nearest-pre-centered"):
                partners = [last_post] if last_post is not None else []
            else:  # restricted: only if the last post came after the last pre
                fresh = last_post is not None and (last_pre is None or last_post > last_pre)
                partners = [last_post] if fresh else []
            w = _depress(w, [s - t for s in partners], scheme)
            seen_pre.append(t)
            last_pre = t
        else:  # postsynaptic spike: potentiation with earlier or coincident pre spikes
            if scheme == "all-to-all":
                partners = seen_pre
            elif scheme == "nearest-symmetric":
                partners = [last_pre] if last_pre is not None else []
            elif scheme == "nearest-pre-centered":  # every pre since the previous post
                partners = [s for s in seen_pre if last_post is None or s > last_post]
            else:  # restricted: only if the last pre came after the last post
                fresh = last_pre is not None and (last_post is None or last_pre > last_post)
                partners = [last_pre] if fresh else []
            w = _facilitate(w, [t - s for s in partners], scheme)
            seen_post.append(t)
            last_post = t
    return w


def _facilitate(w, lags_ms, scheme):
    """Potentiation for pre-before-post lags t_post - t_pre >= 0."""
    if scheme != "all-to-all":
        lags_ms = [lag for lag in lags_ms if lag != 0]  # NEST: zero-lag pairs discarded
    if not lags_ms:
        return w
    return min(w + LAMBDA * sum(math.exp(-lag / TAU_PLUS) for lag in lags_ms), 1.0)


def _depress(w, lags_ms, scheme):
    """Depression for post-before-pre lags t_post - t_pre < 0."""
    lags_ms = [lag for lag in lags_ms if lag != 0]
    if not lags_ms:
        return w
    return max(w - LAMBDA * ALPHA * sum(math.exp(lag / TAU_MINUS) for lag in lags_ms), 0.0)


def test_the_walk_pairs_the_hand_written_trains_as_nest_describes():
    """The reference itself on a few orderings, by hand (Δt = t_pre - t_post)."""
    up = lambda lag: LAMBDA * math.exp(-lag / TAU_PLUS)  # noqa: E731
    down = lambda lag: LAMBDA * ALPHA * math.exp(-lag / TAU_MINUS)  # noqa: E731
    # pre 1, post 2, post 3: symmetric pairs both posts with pre 1, restricted only the first
    assert walk("nearest-symmetric", [1], [2, 3]) == pytest.approx(W0 + up(1) + up(2))
    assert walk("nearest-restricted", [1], [2, 3]) == pytest.approx(W0 + up(1))
    # pre 1, pre 2, post 3: pre-centered pairs post 3 with both, symmetric with pre 2
    assert walk("nearest-pre-centered", [1, 2], [3]) == pytest.approx(W0 + up(2) + up(1))
    assert walk("nearest-symmetric", [1, 2], [3]) == pytest.approx(W0 + up(1))
    # post 1, pre 2, pre 3: restricted depresses once, symmetric twice
    assert walk("nearest-restricted", [2, 3], [1]) == pytest.approx(W0 - down(1))
    assert walk("nearest-symmetric", [2, 3], [1]) == pytest.approx(W0 - down(1) - down(2))
    # coincident: all-to-all counts it as pre-post, the nearest schemes discard it
    assert walk("all-to-all", [5], [5]) == pytest.approx(W0 + LAMBDA)
    for scheme in SCHEMES[1:]:
        assert walk(scheme, [5], [5]) == W0
    # restricted: the discarded pair uses up both spikes; symmetric pairs post 5 again
    assert walk("nearest-restricted", [5, 7], [5]) == W0
    assert walk("nearest-symmetric", [5, 7], [5]) == pytest.approx(W0 - down(2))


# ---------------------------------------------------------------- trains
def _grid(times_ms):
    return np.unique(np.round(np.asarray(times_ms, dtype=float) / RESOLUTION_MS)) * RESOLUTION_MS


def _poisson_with_hand_trains(seed=0, rate_hz=20.0, duration_ms=10_000.0):
    """NEST's trains: two Poisson trains, then the hand-written ones appended."""
    rng = np.random.default_rng(seed)
    hand_length = 2.0 + max(HAND_PRE_MS + HAND_POST_MS)
    stop = duration_ms - hand_length
    trains = []
    for hand in (HAND_PRE_MS, HAND_POST_MS):
        n = rng.poisson(rate_hz * stop / 1000.0)
        poisson = rng.uniform(RESOLUTION_MS, stop, n)
        trains.append(_grid(np.concatenate([poisson, np.asarray(hand) + stop])))
    return trains


@pytest.fixture(scope="module")
def simulated():
    """Every scheme on both train sets, ONE Brian2 network run (default target)."""
    sets = {
        "hand": (_grid(HAND_PRE_MS), _grid(HAND_POST_MS)),
        "poisson": _poisson_with_hand_trains(),
    }
    conditions = [
        Condition(
            RULE.replace(pairing=scheme, name=scheme),
            SpikeTrains.from_times(pre * ms, post * ms),
            tags={"scheme": scheme, "trains": key},
        )
        for key, (pre, post) in sets.items()
        for scheme in SCHEMES
    ]
    return run_conditions(conditions, dt=RESOLUTION_MS * ms, progress=False)


def test_trains_cover_every_ordering_and_coincidences(simulated):
    hand = [r for r in simulated if r.tags["trains"] == "hand"][0]
    assert_allclose(hand.pre_spikes * 1e3, HAND_PRE_MS, atol=1e-9)
    assert_allclose(hand.post_spikes * 1e3, HAND_POST_MS, atol=1e-9)
    coincident = np.intersect1d(np.round(hand.pre_spikes, 7), np.round(hand.post_spikes, 7))
    assert coincident.size == 2  # 9 ms and 12 ms
    poisson = [r for r in simulated if r.tags["trains"] == "poisson"][0]
    assert 150 < poisson.pre_spikes.size < 260 and 150 < poisson.post_spikes.size < 260


@pytest.mark.parametrize("trains", ["hand", "poisson"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_brian2_equals_the_walk(simulated, scheme, trains):
    (res,) = [r for r in simulated if r.tags == {"scheme": scheme, "trains": trains}]
    assert res.rule.pairing == scheme
    assert abs(res.dw) > 1e-3  # the synapse learned: the comparison can fail
    expected = walk(scheme, res.pre_spikes * 1e3, res.post_spikes * 1e3)
    # the same grid times on both sides: agreement to rounding, far below NEST's 7 decimals
    assert_allclose(res.w_end, expected, rtol=0, atol=1e-10)
    # the library's own trace-based reference agrees as well
    assert res.dw == pytest.approx(replay(res.rule, res.pre_spikes, res.post_spikes), abs=1e-12)


def test_the_schemes_differ(simulated):
    """Guard against a flag that does nothing: on Poisson trains every scheme ends
    somewhere else."""
    poisson = {r.tags["scheme"]: r.w_end for r in simulated if r.tags["trains"] == "poisson"}
    values = sorted(poisson.values())
    assert min(np.diff(values)) > 1e-3


@pytest.mark.parametrize("formulation", ["event-driven", "explicit"])
def test_the_rules_own_equations_equal_the_walk(formulation):
    """``rule.synapses`` (equations with the scheme's flags folded in) in a user network,
    numpy target, NEST's hand-written trains: one Synapses object per scheme."""
    from brian2 import Network, SpikeGeneratorGroup

    previous = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        pre = SpikeGeneratorGroup(1, [0] * len(HAND_PRE_MS), HAND_PRE_MS * ms)
        post = SpikeGeneratorGroup(1, [0] * len(HAND_POST_MS), HAND_POST_MS * ms)
        synapses = {s: RULE.replace(pairing=s).synapses(pre, post, connect=True,
                                                        formulation=formulation)
                    for s in SCHEMES}  # fmt: skip
        Network(pre, post, *synapses.values()).run(15 * ms)
    finally:
        prefs.codegen.target = previous
    for scheme, syn in synapses.items():
        w = float(syn.w[0])
        assert abs(w - W0) > 1e-3
        assert w == pytest.approx(walk(scheme, HAND_PRE_MS, HAND_POST_MS), abs=1e-12)


@pytest.mark.parametrize("scheme", [*SCHEMES, "nearest"])
def test_every_scheme_works_through_replace_and_run_conditions(scheme):
    """The documented entry points, including the alias, on a small custom protocol."""
    rule = preset("hebbian").replace(pairing=scheme)
    assert rule.pairing == pairing_scheme(scheme).name
    pre, post = [1, 5, 6, 9] * ms, [2, 9, 12] * ms
    (res,) = run_conditions([Condition(rule, SpikeTrains.from_times(pre, post))],
                            dt=0.1 * ms, target="numpy", progress=False)  # fmt: skip
    assert res.pre_spikes.size == 4 and res.post_spikes.size == 3
    expected = replay(rule, res.pre_spikes, res.post_spikes)
    assert abs(res.dw) > 1e-4 and res.dw == pytest.approx(expected, abs=1e-14)
    # the unit-carrying views of the result
    assert_allclose(res.pre_spike_times / ms, [1, 5, 6, 9], atol=1e-9)
    assert float(res.integral_delta_t_quantity / second) == pytest.approx(res.integral_delta_t)


def test_nearest_is_an_alias_of_nearest_symmetric():
    assert PAIRING_ALIASES == {"nearest": "nearest-symmetric"}
    assert set(PAIRINGS) == {*SCHEMES, "nearest"}
    old = RULE.replace(pairing="nearest")
    assert old == RULE.replace(pairing="nearest-symmetric") and old.pairing == "nearest-symmetric"
    # a result file that recorded "nearest" is still read
    data = {**RULE.as_dict(), "pairing": "nearest"}
    for key in ("mu", "a3_pre_post", "a3_post_pre", "tau_x_ms", "tau_y_ms"):
        del data[key]  # a document written before these keys existed
    assert STDPRule.from_dict(data) == old


def test_every_scheme_has_a_docstring_naming_its_pairs():
    assert list(PAIRING_SCHEMES) == SCHEMES
    for scheme in PAIRING_SCHEMES.values():
        assert scheme.__doc__ == scheme.doc and "pair" in scheme.doc
        assert ("delta_t = 0" in scheme.doc) and scheme.nest_model.startswith("stdp_")
    assert PAIRING_SCHEMES["all-to-all"].discard_zero == 0
    assert all(PAIRING_SCHEMES[s].discard_zero == 1 for s in SCHEMES[1:])


def test_analytic_window_at_zero_follows_the_scheme():
    for scheme in SCHEMES:
        rule = RULE.replace(pairing=scheme)
        at_zero = float(rule.window(0 * ms))
        assert at_zero == (LAMBDA if scheme == "all-to-all" else 0.0)
        # away from zero an isolated pairing is the same in every scheme
        assert float(rule.window(-5 * ms)) == pytest.approx(LAMBDA * math.exp(-5 / TAU_PLUS))


@pytest.mark.parametrize("name", preset_names("all"))
def test_every_preset_runs_under_every_scheme(name):
    """Every preset, pair or triplet, accepts every scheme (validation only: the
    simulation of the schemes is tested above)."""
    for scheme in SCHEMES:
        rule = preset(name).replace(pairing=scheme)
        eqs = rule.equations()
        assert rule.pairing == scheme and "w = clip" in eqs["on_post"] + eqs["on_pre"]


def test_bad_pairing_names_the_parameter():
    with pytest.raises(ValueError, match=r"pairing must be one of .*nearest-restricted.*'first'"):
        RULE.replace(pairing="first")
    with pytest.raises(ValueError, match="pairing"):
        RULE.replace(pairing=1 * ms)
