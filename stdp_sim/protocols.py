"""Stimulation protocols: spike trains for one pre/post neuron pair per condition.

Sign convention: ``delta_t = t_pre - t_post`` everywhere, so ``delta_t = -10*ms``
means the postsynaptic spike follows the presynaptic one by 10 ms.

* :class:`PairingProtocol` — clean pairings (Bi & Poo 1998: 60 pairings at 1 Hz).
* :class:`CorrelatedPoisson` — Poisson trains where a fraction of the postsynaptic
  spikes are copies of presynaptic spikes shifted by ``-delta_t``.
* :func:`integral_delta_t` — ``∫Δt`` of the spikes actually emitted.
* :func:`poisson_times`, :func:`ramp_poisson_times` — Poisson trains at a constant or
  linearly changing rate.

Spike times are plain ``numpy`` arrays in seconds (sorted) inside :class:`SpikeTrains`;
the public parameters all carry Brian2 units.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from brian2 import Hz, Quantity, ms, second

from stdp_sim import _checks

__all__ = [
    "SpikeTrains",
    "PairingProtocol",
    "CorrelatedPoisson",
    "integral_delta_t",
    "poisson_times",
    "ramp_poisson_times",
    "DEFAULT_IDT_WINDOW",
]

#: Pairs of spikes further apart than this do not enter ``∫Δt``.  About 1.5 τ of the
#: Hebbian window; small enough that chance pairs of Poisson trains add little noise.
DEFAULT_IDT_WINDOW = 25 * ms


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or isinstance(seed, numbers.Integral) and seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(seed)


@dataclass(frozen=True, eq=False)
class SpikeTrains:
    """Spike times of one presynaptic and one postsynaptic neuron.

    Attributes
    ----------
    pre, post : numpy.ndarray
        Sorted spike times in seconds.
    duration : float
        Length of the simulation in seconds (all spikes lie before it).
    protocol : str
        ``"pairing"``, ``"poisson"``, ``"rate_ramp"`` or ``"custom"``.
    delta_t : float or None
        Nominal ``t_pre - t_post`` of the protocol in seconds, if it has one.
    meta : dict
        Protocol parameters for reports (JSON-serialisable).
    """

    pre: np.ndarray
    post: np.ndarray
    duration: float
    protocol: str = "custom"
    delta_t: float | None = None
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_times(cls, pre, post, duration=None, **kwargs) -> SpikeTrains:
        """Build from two time arrays (Brian2 quantities with time units).

        ``duration`` defaults to 10 ms after the last spike.
        """
        pre_q = _checks.time_array(pre, "pre") if len(pre) else Quantity([], dim=second.dim)
        post_q = _checks.time_array(post, "post") if len(post) else Quantity([], dim=second.dim)
        pre_s = np.sort(np.asarray(pre_q, dtype=float))
        post_s = np.sort(np.asarray(post_q, dtype=float))
        if (pre_s.size and pre_s[0] < 0) or (post_s.size and post_s[0] < 0):
            raise ValueError("spike times must be non-negative")
        last = max([0.0, *pre_s[-1:], *post_s[-1:]])
        if duration is None:
            dur = last + 0.010
        else:
            dur = float(_checks.time_scalar(duration, "duration"))
            if dur <= last:
                raise ValueError(
                    f"duration must exceed the last spike time {last} s, got {duration}"
                )
        return cls(pre_s, post_s, dur, **kwargs)


class PairingProtocol:
    """Repeated pre/post pairings at fixed ``delta_t``.

    Pairing ``k`` (``k = 0 .. n_pairings-1``) happens around ``start + k/rate``: the
    earlier of the two spikes at that time, the later one ``|delta_t|`` after it.

    Parameters
    ----------
    delta_t : Quantity
        The ``t_pre - t_post`` values to test, a non-empty list/array with time
        units, e.g. ``[-10, 10]*ms``.  Each must satisfy ``|delta_t| < 1/(2 rate)`` so
        that pairings do not interleave.
    n_pairings : int, default 60
        Pairings per condition (Bi & Poo 1998: 60).
    rate : Quantity, default 1 Hz
        Repetition rate of the pairings.
    jitter : Quantity, default 0 ms
        Standard deviation of independent Gaussian jitter added to every spike.
    start : Quantity, default 10 ms
        Time of the first pairing.

    Examples
    --------
    >>> from brian2 import ms
    >>> protocol = PairingProtocol([-10, 10] * ms, n_pairings=5)
    >>> [len(t.pre) for t in protocol.trains()]
    [5, 5]
    """

    def __init__(
        self,
        delta_t: Quantity,
        n_pairings: int = 60,
        rate: Quantity = 1 * Hz,
        jitter: Quantity = 0 * ms,
        start: Quantity = 10 * ms,
    ):
        self.delta_t = _checks.time_array(delta_t, "delta_t")
        self.n_pairings = _checks.positive_int(n_pairings, "n_pairings")
        self.rate = _checks.rate_scalar(rate, "rate")
        self.jitter = _checks.time_scalar(jitter, "jitter", allow_zero=True)
        self.start = _checks.time_scalar(start, "start", allow_zero=True)
        half_period = 0.5 / float(self.rate)
        too_long = np.abs(np.asarray(self.delta_t)) >= half_period
        if too_long.any():
            raise ValueError(
                f"delta_t must satisfy |delta_t| < 1/(2*rate) = {half_period * 1e3:g} ms, "
                f"got {self.delta_t[too_long][0]!s}"
            )

    @property
    def duration(self) -> Quantity:
        """Simulated time needed: the last pairing plus 1/rate, so traces decay."""
        return self.start + self.n_pairings / self.rate

    def trains(self, trials: int = 1, seed=None) -> list[SpikeTrains]:
        """Spike trains, ``trials`` per ``delta_t`` (in the order ``delta_t`` x trials).

        Parameters
        ----------
        trials : int, default 1
            Independent repetitions (they differ only when ``jitter > 0``).
        seed : int or numpy.random.Generator, optional
            Seed for the jitter.
        """
        trials = _checks.positive_int(trials, "trials")
        rng = _rng(seed)
        period = 1.0 / float(self.rate)
        onsets = float(self.start) + period * np.arange(self.n_pairings)
        jitter = float(self.jitter)
        out = []
        for dt in np.asarray(self.delta_t, dtype=float):
            for _ in range(trials):
                pre = onsets + max(dt, 0.0)
                post = onsets + max(-dt, 0.0)
                if jitter > 0:
                    pre = np.clip(pre + rng.normal(0.0, jitter, pre.size), 0.0, None)
                    post = np.clip(post + rng.normal(0.0, jitter, post.size), 0.0, None)
                out.append(
                    SpikeTrains(
                        np.sort(pre),
                        np.sort(post),
                        float(self.duration),
                        protocol="pairing",
                        delta_t=float(dt),
                        meta={
                            "n_pairings": self.n_pairings,
                            "rate_hz": float(self.rate / Hz),
                            "jitter_ms": float(self.jitter / ms),
                        },
                    )
                )
        return out


class CorrelatedPoisson:
    """Poisson spike trains whose correlated spikes are offset by ``delta_t``.

    The presynaptic train is Poisson at ``rate``.  Each presynaptic spike is copied
    into the postsynaptic train with probability ``correlation``, at
    ``t_pre - delta_t`` (plus Gaussian ``jitter``); independent Poisson spikes at
    ``(1 - correlation)·rate`` fill the postsynaptic train up to ``rate``.  So
    ``delta_t < 0`` makes the postsynaptic neuron follow the presynaptic one.

    Parameters
    ----------
    delta_t : Quantity
        Non-empty list/array of lags ``t_pre - t_post`` with time units.
    rate : Quantity, default 10 Hz
        Firing rate of both neurons.
    correlation : float, default 0.8
        Fraction of postsynaptic spikes that are shifted copies, in ``[0, 1]``.
    duration : Quantity, default 10 s
        Length of the trains.
    jitter : Quantity, default 0 ms
        Standard deviation of the Gaussian jitter of each copied spike.
    """

    def __init__(
        self,
        delta_t: Quantity,
        rate: Quantity = 10 * Hz,
        correlation: float = 0.8,
        duration: Quantity = 10 * second,
        jitter: Quantity = 0 * ms,
    ):
        self.delta_t = _checks.time_array(delta_t, "delta_t")
        self.rate = _checks.rate_scalar(rate, "rate")
        c = _checks.finite_float(correlation, "correlation")
        if not 0.0 <= c <= 1.0:
            raise ValueError(f"correlation must lie in [0, 1], got {correlation!r}")
        self.correlation = c
        self.duration = _checks.time_scalar(duration, "duration")
        self.jitter = _checks.time_scalar(jitter, "jitter", allow_zero=True)
        too_long = np.abs(np.asarray(self.delta_t)) >= float(self.duration)
        if too_long.any():
            raise ValueError(
                f"delta_t must be shorter than duration={self.duration!s}, "
                f"got {self.delta_t[too_long][0]!s}"
            )

    def trains(self, trials: int = 1, seed=None) -> list[SpikeTrains]:
        """Independent spike trains, ``trials`` per ``delta_t`` (``delta_t`` x trials)."""
        trials = _checks.positive_int(trials, "trials")
        rng = _rng(seed)
        rate = float(self.rate)
        duration = float(self.duration)
        out = []
        for dt in np.asarray(self.delta_t, dtype=float):
            for _ in range(trials):
                pre = poisson_times(rate, duration, rng)
                copies = pre[rng.random(pre.size) < self.correlation] - dt
                if float(self.jitter) > 0:
                    copies = copies + rng.normal(0.0, float(self.jitter), copies.size)
                fresh = poisson_times((1.0 - self.correlation) * rate, duration, rng)
                post = np.concatenate([copies, fresh])
                post = np.sort(post[(post >= 0.0) & (post < duration)])
                out.append(
                    SpikeTrains(
                        pre,
                        post,
                        duration,
                        protocol="poisson",
                        delta_t=float(dt),
                        meta={
                            "rate_hz": rate,
                            "correlation": self.correlation,
                            "duration_s": duration,
                            "jitter_ms": float(self.jitter / ms),
                        },
                    )
                )
        return out


def poisson_times(rate, duration, rng=None) -> np.ndarray:
    """Sorted homogeneous Poisson spike times in ``[0, duration)``, in seconds.

    ``rate`` (Hz) and ``duration`` (s) may be floats or Brian2 quantities.
    """
    rate = float(rate)
    duration = float(duration)
    rng = _rng(rng)
    n = rng.poisson(rate * duration)
    return np.sort(rng.uniform(0.0, duration, n))


def ramp_poisson_times(rate_start, rate_end, duration, rng=None, size=None):
    """Poisson spike times whose rate changes linearly from ``rate_start`` to ``rate_end``.

    Parameters
    ----------
    rate_start, rate_end : float or Quantity
        Rates (Hz) at ``t = 0`` and ``t = duration``, both ``>= 0``.
    duration : float or Quantity
        Length (s).
    rng : int or numpy.random.Generator, optional
    size : int, optional
        Draw this many independent trains at once (returns a list).

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        Sorted times in seconds.
    """
    r0, r1, length = float(rate_start), float(rate_end), float(duration)
    if r0 < 0 or r1 < 0:
        raise ValueError(f"rates must be non-negative, got rate_start={r0}, rate_end={r1}")
    rng = _rng(rng)
    total = 0.5 * (r0 + r1) * length  # expected count, Λ(T)
    slope = (r1 - r0) / length
    counts = rng.poisson(total, 1 if size is None else size)
    u = rng.random(counts.sum())
    # inverse of Λ(t) = r0 t + slope t²/2, written to stay finite when slope -> 0
    root = np.sqrt(r0 * r0 + 2.0 * slope * u * total)
    denom = r0 + root
    times = np.where(denom > 0, 2.0 * u * total / np.where(denom > 0, denom, 1.0), 0.0)
    trains = [np.sort(chunk) for chunk in np.split(times, np.cumsum(counts)[:-1])]
    return trains[0] if size is None else trains


def integral_delta_t(pre, post, window=DEFAULT_IDT_WINDOW) -> float:
    """``∫Δt``: the sum of ``t_pre - t_post`` over all spike pairs closer than ``window``.

    Parameters
    ----------
    pre, post : array-like
        Spike times in seconds (floats) or Brian2 quantities.
    window : Quantity, default 25 ms
        Only pairs with ``|t_pre - t_post| <= window`` count.

    Returns
    -------
    float
        In seconds.  ``<= 0``: the presynaptic spikes lead (pre-post side).
    """
    # inclusive edge with a relative tolerance: spike times on a 0.1 ms grid are often
    # exactly `window` apart, and float rounding must not decide whether they count
    w = float(_checks.time_scalar(window, "window")) * (1 + 1e-9)
    pre_s = np.sort(np.asarray(pre, dtype=float).ravel())
    post_s = np.asarray(post, dtype=float).ravel()
    if pre_s.size == 0 or post_s.size == 0:
        return 0.0
    lo = np.searchsorted(pre_s, post_s - w, side="left")
    hi = np.searchsorted(pre_s, post_s + w, side="right")
    counts = hi - lo
    # every pair's own difference, summed with math.fsum: coincident spikes contribute
    # exactly 0, so a protocol at Δt = 0 gives ∫Δt == 0 (a running-sum shortcut leaves
    # rounding residue of either sign, which would flip the regime at the boundary)
    post_idx = np.repeat(np.arange(post_s.size), counts)
    first = np.cumsum(counts) - counts
    pre_idx = lo[post_idx] + np.arange(post_idx.size) - first[post_idx]
    diffs = pre_s[pre_idx] - post_s[post_idx]
    keep = np.abs(diffs) <= w
    return math.fsum(diffs[keep].tolist())
