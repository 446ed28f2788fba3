"""Brian2 simulations: windows, Δt = 0, two formulations, bounds, user networks.

Every test first checks that spikes were emitted and weights moved, then checks
values.  Simulations run on the default target (Cython when it compiles here) except
the user-built networks, which use numpy to avoid compiling their extra code.
"""

import brian2
import numpy as np
import pytest
from brian2 import (
    Hz,
    Network,
    NeuronGroup,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    ms,
    prefs,
    second,
)
from numpy.testing import assert_allclose

from stdp_sim import (
    PRESETS,
    Condition,
    CorrelatedPoisson,
    PairingProtocol,
    Regime,
    SpikeTrains,
    backend,
    classify,
    measure_window,
    pairing_dw,
    preset,
    replay,
    resolve_target,
    run_conditions,
    simulate_protocol,
)
from stdp_sim.simulate import DEFAULT_DT, STEPS_PER_INTERVAL, check_time_step, max_time_step

GRID = [-60, -20, -10, -2, 0, 2, 10, 20, 60] * ms


@pytest.fixture
def numpy_target():
    previous = prefs.codegen.target
    prefs.codegen.target = "numpy"
    yield
    prefs.codegen.target = previous


@pytest.fixture(scope="module")
def windows():
    """Every preset's window from ONE network run: 3 pairings at 1 Hz per Δt."""
    calls = []
    original = Network.run

    def counting_run(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    Network.run = counting_run
    try:
        data = measure_window(list(PRESETS.values()), GRID, n_pairings=3, progress=False)
    finally:
        Network.run = original
    return data, calls


def test_all_windows_come_from_one_network_run(windows):
    _, calls = windows
    assert calls == ["stdp_sim_network"]


@pytest.mark.parametrize("name", list(PRESETS))
def test_simulated_window_matches_analytic(windows, name):
    data, _ = windows
    w = data[name]
    assert w["n_pre_spikes"] == [3] * len(GRID) and w["n_post_spikes"] == [3] * len(GRID)
    dw, analytic = np.array(w["dw"]), np.array(w["dw_analytic"])
    assert np.all(np.abs(dw) > 1e-4)  # weights moved at every Δt
    assert np.all(np.sign(dw) == np.sign(analytic))
    # requirement: within 1 % at every sampled Δt (it is in fact exact to rounding)
    assert_allclose(dw, analytic, rtol=0.01)
    assert_allclose(dw, analytic, rtol=1e-6)


def test_hebbian_window_within_one_percent_at_bi_poo_protocol():
    """The default protocol (60 pairings at 1 Hz) on a grid of Δt, hebbian preset.

    A 0.5 ms time step (the coarsest that resolves |Δt| = 5 ms: dt <= |Δt|/10) keeps
    this 60 s simulation fast; the grid is on whole ms, so no spike time is rounded,
    and event-driven updates do not depend on the step."""
    heb = preset("hebbian")
    grid = [-80, -40, -20, -10, -5, 0, 5, 10, 20, 40, 80] * ms
    w = measure_window([heb], grid, dt=0.5 * ms, progress=False)["hebbian"]
    assert w["n_pre_spikes"] == [60] * len(grid)
    dw, analytic = np.array(w["dw"]), np.array(w["dw_analytic"])
    assert np.all(np.abs(dw) > 1e-3)
    assert np.max(np.abs(dw - analytic) / np.abs(analytic)) < 0.01


@pytest.mark.parametrize(
    "name", ["hebbian", "anti_hebbian", "potentiation_only", "depression_only"]
)
def test_coincident_spikes_follow_the_pre_post_rule(name):
    """Δt = 0: Brian2 runs the pre pathway first, so the pairing counts as pre-post,
    exactly as the table's ∫Δt <= 0 rule says."""
    rule = preset(name)
    (res,) = simulate_protocol([rule], PairingProtocol([0] * ms, n_pairings=4), progress=False)
    assert res.pre_spikes.size == res.post_spikes.size == 4
    assert_allclose(res.pre_spikes, res.post_spikes, atol=0)  # same time steps
    assert res.integral_delta_t == 0.0
    assert res.dw == pytest.approx(4 * rule.a_pre_post, rel=1e-9)
    assert classify(res.integral_delta_t, res.dw) is rule.regime("pre-post")
    assert classify(res.integral_delta_t, res.dw).timing == "pre-post"


def test_coincident_spikes_never_trigger_the_post_pre_side():
    only_post_pre = preset("hebbian").replace(a_pre_post=0.0, name="post_pre_only")
    results = simulate_protocol(
        [only_post_pre], PairingProtocol([0, 5] * ms, n_pairings=4), progress=False
    )
    at_zero, at_five = results
    assert at_zero.pre_spikes.size == at_zero.post_spikes.size == 4
    assert at_five.dw < -1e-3  # the rule is active for post-before-pre pairings...
    # ...but coincident spikes are pre-post.  What is left is the all-to-all pairing of
    # each presynaptic spike with the postsynaptic spike of the pairing 1 s earlier,
    # a_post_pre * exp(-1 s / 33.7 ms) ~ 1e-16 per pairing.
    assert abs(at_zero.dw) < 1e-12
    assert at_zero.dw == pytest.approx(
        replay(only_post_pre, at_zero.pre_spikes, at_zero.post_spikes), abs=1e-15
    )


def _poisson_conditions(rules, seed=0, trials=3):
    protocol = CorrelatedPoisson([-8, 8] * ms, rate=30 * Hz, correlation=0.5, duration=2 * second)
    trains = protocol.trains(trials=trials, seed=seed)
    return [Condition(rule, t) for rule in rules for t in trains]


def test_one_network_agrees_with_exact_numpy_replay():
    """Mixed rules (additive, multiplicative, nearest, custom bounds) in one Synapses object
    agree with an explicit-exponential event-by-event reference."""
    rules = [
        preset("hebbian"),
        preset("hebbian_multiplicative"),
        preset("song2000").replace(pairing="nearest", name="song_nearest"),
        preset("anti_hebbian").replace(w_min=-1.0, w_max=2.0, w_init=0.2, name="wide"),
        preset("potentiation_only").replace(a_pre_post=0.05, a_post_pre=0.05, name="strong"),
    ]
    results = run_conditions(_poisson_conditions(rules), progress=False)
    assert all(r.pre_spikes.size > 30 and r.post_spikes.size > 30 for r in results)
    dw = np.array([r.dw for r in results])
    assert np.all(np.abs(dw) > 1e-3)
    reference = np.array([replay(r.rule, r.pre_spikes, r.post_spikes) for r in results])
    assert_allclose(dw, reference, rtol=1e-9, atol=1e-12)
    strong = [r for r in results if r.rule.name == "strong"]
    assert any(r.w_end == 1.0 for r in strong)  # the clip engaged there


def _generator_arrays(trains, dt=1e-4):
    """Indices and times for a SpikeGeneratorGroup: times on the dt grid, one per step."""
    idx, times = [], []
    for k, t in enumerate(trains):
        steps = np.unique(np.round(np.asarray(t) / dt).astype(int))
        idx.append(np.full(steps.size, k))
        times.append(steps * dt)
    return np.concatenate(idx), np.concatenate(times)


@pytest.mark.slow
def test_event_driven_and_explicit_formulations_agree(numpy_target):
    """The rule's own Brian2 strings, both formulations, in user networks."""
    n = 6
    protocol = CorrelatedPoisson([-5] * ms, rate=40 * Hz, correlation=0.6, duration=1 * second)
    trains = protocol.trains(trials=n, seed=5)
    idx_pre, t_pre = _generator_arrays([t.pre for t in trains])
    idx_post, t_post = _generator_arrays([t.post for t in trains])
    for rule in (
        preset("hebbian"),
        preset("hebbian_multiplicative"),
        preset("hebbian").replace(pairing="nearest"),
    ):
        weights = []
        for formulation in ("event-driven", "explicit"):
            pre = SpikeGeneratorGroup(n, idx_pre, t_pre * second)
            post = SpikeGeneratorGroup(n, idx_post, t_post * second)
            syn = rule.synapses(pre, post, connect={"j": "i"}, formulation=formulation)
            mon_pre, mon_post = SpikeMonitor(pre), SpikeMonitor(post)
            Network(pre, post, syn, mon_pre, mon_post).run(1.05 * second)
            assert mon_pre.num_spikes > 100 and mon_post.num_spikes > 100
            order = np.argsort(syn.i[:])
            weights.append(np.asarray(syn.w[:])[order])
        event, explicit = weights
        assert np.all(np.abs(event - rule.w_init) > 1e-3)
        assert_allclose(event, explicit, rtol=1e-10)
        spikes_pre, spikes_post = mon_pre.spike_trains(), mon_post.spike_trains()
        reference = [
            rule.w_init + replay(rule, spikes_pre[k] / second, spikes_post[k] / second)
            for k in range(n)
        ]
        assert_allclose(event, reference, rtol=1e-10)


def test_rule_in_a_tiny_user_network(numpy_target):
    """A rule dropped into a user's LIF network: the weight drives the neuron, learns,
    and matches the reference computed from the spikes that actually happened."""
    rule = preset("hebbian")
    rng = np.random.default_rng(1)
    times = np.sort(rng.choice(np.arange(10, 2000), 80, replace=False)) * ms
    inputs = SpikeGeneratorGroup(1, np.zeros(len(times), int), times)
    neuron = NeuronGroup(
        1, "dv/dt = -v/(10*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV", method="exact"
    )
    syn = rule.synapses(inputs, neuron, on_pre="v_post += 25*mV*w", connect=True)
    mon_in, mon_out = SpikeMonitor(inputs), SpikeMonitor(neuron)
    weight = StateMonitor(syn, "w", record=0, dt=1 * ms)
    Network(inputs, neuron, syn, mon_in, mon_out, weight).run(2.1 * second)
    assert mon_in.num_spikes == 80
    assert mon_out.num_spikes > 10  # the synapse made the neuron fire
    w_end = float(syn.w[0])
    assert abs(w_end - rule.w_init) > 1e-2  # causal pairings potentiated it
    assert w_end > rule.w_init
    expected = replay(rule, mon_in.t / second, mon_out.t / second)
    assert w_end - rule.w_init == pytest.approx(expected, rel=1e-9)
    assert np.all((weight.w[0] >= rule.w_min) & (weight.w[0] <= rule.w_max))


def test_multiplicative_rule_keeps_weights_inside_bounds(numpy_target):
    """Strong weight-dependent updates approach the bounds but never reach them: the
    clip is not what keeps them inside (the trajectory follows the soft-bound closed
    form, and no sample sits on a bound)."""
    rule = preset("hebbian_multiplicative").replace(a_pre_post=0.4, a_post_pre=-0.4)
    n, period = 20, 400.0  # pairings and their spacing in ms
    onsets = 10 + period * np.arange(n)
    # neuron 0: post 1 ms after pre (potentiation); neuron 1: post 5 ms before pre
    pre = SpikeGeneratorGroup(
        2, np.r_[np.zeros(n, int), np.ones(n, int)], np.r_[onsets, onsets + 5] * ms
    )
    post = SpikeGeneratorGroup(
        2, np.r_[np.zeros(n, int), np.ones(n, int)], np.r_[onsets + 1, onsets] * ms
    )
    syn = rule.synapses(pre, post, connect={"j": "i"})
    trace = StateMonitor(syn, "w", record=True, dt=1 * ms)
    Network(pre, post, syn, trace).run(n * period * ms + 20 * ms)
    w = np.asarray(trace.w)
    assert w.shape[0] == 2 and w.shape[1] > 1000
    up, down = w[0], w[1]
    assert up[-1] > 0.999 and down[-1] < 0.001  # moved almost all the way to the bounds
    assert np.all((w > rule.w_min) & (w < rule.w_max))  # strictly inside, all the time
    # closed form of isolated pairings (interactions across 400 ms are ~1e-5)
    assert up[-1] - rule.w_init == pytest.approx(float(pairing_dw(rule, -1 * ms, n)), rel=1e-3)
    assert down[-1] - rule.w_init == pytest.approx(float(pairing_dw(rule, 5 * ms, n)), rel=1e-3)


def test_additive_rule_is_clipped_at_the_bounds():
    rule = preset("hebbian").replace(a_pre_post=0.2, a_post_pre=-0.2)
    results = simulate_protocol(
        [rule], PairingProtocol([-1, 1] * ms, n_pairings=10), progress=False
    )
    assert [r.pre_spikes.size for r in results] == [10, 10]
    assert results[0].w_end == rule.w_max and results[1].w_end == rule.w_min


def test_poisson_protocol_integral_sign_from_emitted_spikes():
    results = simulate_protocol(
        [preset("hebbian")],
        CorrelatedPoisson([-10, 10] * ms, duration=5 * second),
        trials=4,
        seed=2,
        progress=False,
    )
    for r in results:
        assert r.pre_spikes.size > 20 and r.post_spikes.size > 20
        assert abs(r.dw) > 1e-3
        assert np.sign(r.integral_delta_t) == np.sign(r.tags["delta_t"])
        expected = (
            Regime.PRE_POST_POTENTIATION if r.tags["delta_t"] < 0 else Regime.POST_PRE_DEPRESSION
        )
        assert classify(r.integral_delta_t, r.dw) is expected


def test_numpy_and_default_target_agree():
    conditions = _poisson_conditions(
        [preset("hebbian"), preset("hebbian_multiplicative")], trials=1
    )
    a = run_conditions(conditions, target="numpy", progress=False)
    b = run_conditions(conditions, progress=False)
    assert a[0].target == "numpy"
    assert all(r.pre_spikes.size > 20 for r in a)
    assert_allclose([r.dw for r in a], [r.dw for r in b], rtol=1e-12)


def test_target_resolution_degrades_to_numpy(monkeypatch):
    monkeypatch.delenv("STDP_SIM_TARGET", raising=False)
    monkeypatch.setattr(backend, "_cython_ok", False)
    assert resolve_target("auto") == "numpy"
    with pytest.raises(RuntimeError, match="cython"):
        resolve_target("cython")
    assert resolve_target("auto", single_run=True) in ("cpp_standalone", "numpy")
    monkeypatch.setattr(backend, "standalone_available", lambda: False)
    assert resolve_target("auto", single_run=True) == "numpy"
    monkeypatch.setattr(backend, "_cython_ok", True)
    assert resolve_target("auto") == "cython"
    assert resolve_target("auto", single_run=True) == "cython"
    monkeypatch.setenv("STDP_SIM_TARGET", "numpy")
    assert resolve_target("auto") == "numpy"
    monkeypatch.setenv("STDP_SIM_TARGET", "fortran")
    with pytest.raises(ValueError, match="STDP_SIM_TARGET"):
        resolve_target("auto")
    with pytest.raises(ValueError, match="target"):
        resolve_target("gpu")


def test_bad_simulation_input_raises():
    trains = SpikeTrains.from_times([1] * ms, [2] * ms)
    with pytest.raises(ValueError, match="conditions"):
        run_conditions([])
    with pytest.raises(ValueError, match="conditions"):
        run_conditions([trains])
    with pytest.raises(ValueError, match="dt"):
        run_conditions([Condition(preset("hebbian"), trains)], dt=0 * ms)
    with pytest.raises(ValueError, match="target"):
        run_conditions([Condition(preset("hebbian"), trains)], target="gpu")
    with pytest.raises(ValueError, match="w_init"):
        Condition(preset("hebbian"), trains, w_init=3.0)
    with pytest.raises(ValueError, match="rule"):
        Condition("hebbian", trains)
    with pytest.raises(ValueError, match="rules"):
        measure_window([preset("hebbian"), preset("hebbian")], [1] * ms)
    with pytest.raises(ValueError, match="delta_t"):
        measure_window([preset("hebbian")], [])


def test_max_time_step_is_a_tenth_of_the_shortest_interval():
    heb, song = preset("hebbian"), preset("song2000")  # τ: 16.8/33.7 ms and 20/20 ms
    assert float(max_time_step([heb], [-10, 0, 10] * ms)) == pytest.approx(1e-3)
    assert float(max_time_step([heb], [-0.002, None, 0.05])) == pytest.approx(2e-4)
    assert float(max_time_step([heb, song])) == pytest.approx(1.68e-3)  # rules only
    assert float(max_time_step([song], [0.0, None])) == pytest.approx(2e-3)  # 0 never binds
    assert STEPS_PER_INTERVAL == 10


@pytest.mark.parametrize(
    ("dt", "delta_t"),
    [
        (50 * ms, [-10, 10] * ms),  # what --dt-ms 50 did: 4 of 8 regime rows flipped sign
        (5 * ms, [-10, 10] * ms),
        (1.1 * ms, [-10, 10] * ms),
        (2 * ms, [-100, 100] * ms),  # the rule's τ = 16.8 ms binds: dt <= 1.68 ms
        (0.2 * ms, [-1, 1] * ms),
    ],
)
def test_too_coarse_time_step_is_refused_before_simulating(dt, delta_t):
    conditions = [Condition(preset("hebbian"), t) for t in PairingProtocol(delta_t).trains()]
    with pytest.raises(ValueError, match=r"^dt = .* too coarse.*dt <= "):
        run_conditions(conditions, dt=dt, target="numpy", progress=False)
    with pytest.raises(ValueError, match="too coarse"):
        measure_window([preset("hebbian")], delta_t, dt=dt, n_pairings=1, progress=False)


@pytest.mark.parametrize("name", list(PRESETS))
def test_default_time_step_resolves_every_preset_and_protocol(name):
    rule = preset(name)
    grid = [-100, -20, -2, 0, 2, 10, 100] * ms  # the table's grid reaches |Δt| = 2 ms
    assert check_time_step(DEFAULT_DT, [rule], grid) == DEFAULT_DT
    assert check_time_step(DEFAULT_DT, [rule], [-1, 1] * ms) == DEFAULT_DT  # 1 ms: the limit
    assert check_time_step(DEFAULT_DT, [rule], [None]) == DEFAULT_DT  # rate-ramp trains
    with pytest.raises(ValueError, match="too coarse"):
        check_time_step(DEFAULT_DT, [rule], [-0.5, 0.5] * ms)


def test_time_step_at_the_bound_runs_and_keeps_the_sign():
    """dt = |Δt|/10 exactly (1 ms for Δt = ±10 ms) is accepted and gives the right regimes."""
    rule = preset("hebbian")
    results = simulate_protocol(
        [rule], PairingProtocol([-10, 10] * ms, n_pairings=3, rate=4 * Hz), dt=1 * ms,
        target="numpy", progress=False,
    )  # fmt: skip
    assert [r.pre_spikes.size for r in results] == [3, 3]
    assert [classify(r.integral_delta_t, r.dw) for r in results] == list(rule.regimes)


@pytest.mark.slow
def test_cpp_standalone_target_agrees(tmp_path):
    """Two different networks built one after the other in the same (cached) project
    directory, each equal to the runtime result; the runtime device is restored."""
    directory = str(tmp_path / "project")
    for rules in ([preset("hebbian")], [preset("anti_hebbian"), preset("song2000")]):
        conditions = _poisson_conditions(rules, trials=1)
        a = run_conditions(
            conditions, target="cpp_standalone", standalone_dir=directory, progress=False
        )
        b = run_conditions(conditions, target="numpy", progress=False)
        assert a[0].target == "cpp_standalone" and a[0].pre_spikes.size > 20
        assert all(abs(r.dw) > 1e-3 for r in a)
        assert_allclose([r.dw for r in a], [r.dw for r in b], rtol=1e-12)
        assert_allclose(a[-1].post_spikes, b[-1].post_spikes)
        assert brian2.get_device().__class__.__name__ == "RuntimeDevice"
