"""Spike-train protocols and ∫Δt (pure numpy, no simulation)."""

import numpy as np
import pytest
from brian2 import Hz, ms, second
from numpy.testing import assert_allclose

from stdp_sim import (
    CorrelatedPoisson,
    PairingProtocol,
    SpikeTrains,
    integral_delta_t,
    poisson_times,
    ramp_poisson_times,
)


def test_pairing_protocol_defaults_and_timing():
    protocol = PairingProtocol([-10, 0, 25] * ms)
    assert protocol.n_pairings == 60 and protocol.rate == 1 * Hz
    trains = protocol.trains()
    assert [t.delta_t for t in trains] == pytest.approx([-0.010, 0.0, 0.025])
    for t in trains:
        assert t.pre.size == t.post.size == 60
        assert_allclose(t.pre - t.post, t.delta_t, atol=1e-12)
        assert_allclose(np.diff(t.pre), 1.0)
        assert t.duration > max(t.pre.max(), t.post.max())
        assert t.protocol == "pairing"
    assert integral_delta_t(trains[0].pre, trains[0].post) == pytest.approx(-0.6)
    assert integral_delta_t(trains[1].pre, trains[1].post) == 0.0


def test_pairing_jitter_and_trials():
    protocol = PairingProtocol([-10] * ms, n_pairings=20, jitter=1 * ms)
    a, b = protocol.trains(trials=2, seed=1)
    assert not np.allclose(a.pre, b.pre)
    assert np.all(np.abs(a.pre - a.post + 0.010) < 0.008)
    again = protocol.trains(trials=2, seed=1)
    assert_allclose(again[0].post, a.post)


@pytest.mark.parametrize("lag_ms", [-10.0, 10.0, -3.0, 3.0])
def test_correlated_poisson_integral_has_the_intended_sign(lag_ms):
    protocol = CorrelatedPoisson([lag_ms] * ms, duration=10 * second)
    for t in protocol.trains(trials=10, seed=3):
        assert t.pre.size > 50 and t.post.size > 50
        idt = integral_delta_t(t.pre, t.post)
        assert np.sign(idt) == np.sign(lag_ms)


def test_correlated_poisson_rates_and_copies():
    protocol = CorrelatedPoisson([-10] * ms, rate=20 * Hz, correlation=0.5, duration=50 * second)
    (t,) = protocol.trains(seed=0)
    assert t.pre.size / 50 == pytest.approx(20, rel=0.1)
    assert t.post.size / 50 == pytest.approx(20, rel=0.1)
    # about half of the postsynaptic spikes sit exactly 10 ms after a presynaptic one
    shifted = np.isin(np.round(t.post * 1e6), np.round((t.pre + 0.010) * 1e6))
    assert shifted.mean() == pytest.approx(0.5, abs=0.06)


def test_integral_delta_t_window():
    pre, post = np.array([0.100, 0.500]), np.array([0.110, 0.400])
    # pairs: (0.1, 0.11) -> -10 ms; (0.5, 0.4) -> +100 ms, only inside a wide window;
    # (0.1, 0.4) -> -300 ms and (0.5, 0.11) -> +390 ms, outside both
    assert integral_delta_t(pre, post, 25 * ms) == pytest.approx(-0.010)
    assert integral_delta_t(pre, post, 200 * ms) == pytest.approx(-0.010 + 0.100)
    assert integral_delta_t(pre, post, 1 * second) == pytest.approx(-0.010 + 0.100 - 0.300 + 0.390)
    assert integral_delta_t([], post) == 0.0
    with pytest.raises(ValueError, match="window"):
        integral_delta_t(pre, post, 25)


def test_poisson_generators():
    rng = np.random.default_rng(0)
    t = poisson_times(100, 20.0, rng)
    assert t.size == pytest.approx(2000, rel=0.1) and np.all(np.diff(t) >= 0)
    trains = ramp_poisson_times(0.0, 100.0, 10.0, rng, size=200)
    times = np.concatenate(trains)
    assert times.size / 200 == pytest.approx(500, rel=0.05)
    # linear rate from 0 to 100 Hz: 1/4 of the spikes in the first half
    assert np.mean(times < 5.0) == pytest.approx(0.25, abs=0.01)
    flat = np.concatenate(ramp_poisson_times(50.0, 50.0, 10.0, rng, size=100))
    assert np.mean(flat < 5.0) == pytest.approx(0.5, abs=0.01)


def test_spike_trains_from_times():
    t = SpikeTrains.from_times([1, 5] * ms, [3] * ms)
    assert_allclose(t.pre, [0.001, 0.005]) and t.duration == pytest.approx(0.015)
    with pytest.raises(ValueError, match="duration"):
        SpikeTrains.from_times([1, 5] * ms, [3] * ms, duration=2 * ms)
    with pytest.raises(ValueError, match="pre"):
        SpikeTrains.from_times([1, 5], [3] * ms)


@pytest.mark.parametrize(
    ("factory", "name"),
    [
        (lambda: PairingProtocol([] * ms), "delta_t"),
        (lambda: PairingProtocol([-10, 10]), "delta_t"),  # no units
        (lambda: PairingProtocol([-10, 10] * Hz), "delta_t"),
        (lambda: PairingProtocol([10] * ms, n_pairings=0), "n_pairings"),
        (lambda: PairingProtocol([10] * ms, n_pairings=-3), "n_pairings"),
        (lambda: PairingProtocol([10] * ms, n_pairings=2.5), "n_pairings"),
        (lambda: PairingProtocol([10] * ms, rate=0 * Hz), "rate"),
        (lambda: PairingProtocol([10] * ms, rate=1), "rate"),
        (lambda: PairingProtocol([600] * ms), "delta_t"),  # interleaved pairings at 1 Hz
        (lambda: PairingProtocol([10] * ms, jitter=-1 * ms), "jitter"),
        (lambda: PairingProtocol([10] * ms).trains(trials=0), "trials"),
        (lambda: PairingProtocol([10] * ms, jitter=1 * ms).trains(seed=-1), "seed"),
        (lambda: CorrelatedPoisson([10] * ms).trains(seed=-1), "seed"),
        (lambda: CorrelatedPoisson([] * ms), "delta_t"),
        (lambda: CorrelatedPoisson([10]), "delta_t"),
        (lambda: CorrelatedPoisson([10] * ms, correlation=1.5), "correlation"),
        (lambda: CorrelatedPoisson([10] * ms, duration=0 * second), "duration"),
        (lambda: CorrelatedPoisson([10] * ms, rate=-1 * Hz), "rate"),
    ],
)
def test_bad_protocol_input_raises(factory, name):
    with pytest.raises(ValueError, match=name):
        factory()
