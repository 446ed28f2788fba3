"""Pairings at several frequencies (Sjöström, Turrigiano & Nelson 2001) and their data.

The protocol: ``n_pairings`` pre/post pairings at a fixed ``|Δt|`` repeated at a rate
``ρ`` (0.1 to 50 Hz), for both orders.  At high rates the pairings overlap: at 50 Hz
with ``|Δt| = 10 ms`` pre and post spikes alternate every 10 ms, and each spike has a
partner of the other neuron on both sides.  Sjöström et al. found depression for
post-before-pre pairings at low rates and potentiation for both orders at 40–50 Hz;
a pair rule cannot produce that, the triplet rule of Pfister & Gerstner (2006) can.

Sign convention: ``delta_t = t_pre - t_post`` (this toolkit).  Sjöström et al. write
``Δt = t_post - t_pre``: their "+10 ms" (post after pre) is ``delta_t = -10 ms`` here.
:data:`SJOSTROM_2001` stores the data by *their* Δt, as published, and
:func:`sjostrom_data` translates.

Simulation: :func:`frequency_conditions` builds one condition per (rule, rate, order),
to run alongside others in ONE network (:func:`stdp_sim.run_conditions`);
:func:`summarize_frequency` turns the results into :class:`FrequencyRow` objects (Brian2
units on the times and rates; :meth:`FrequencyRow.as_dict` gives the JSON row).

**Time compression.**  60 pairings at 0.1 Hz last 600 s, ten times the other tables'
runs.  A condition longer than ``max_duration`` is simulated with every time divided
by an integer ``m`` — the spike times *and* the rule's time constants — and reported
in the original units.  This is exact for every rule of :mod:`stdp_sim.rule`: a rule's
state decays as ``exp(-t/τ)`` between spikes and jumps at spikes, so its weight depends
on times only through ``t/τ``.  ``m`` keeps the compressed protocol resolved by ``dt``
(:func:`stdp_sim.simulate.max_time_step`); each row records its ``time_scale = 1/m``.
The test suite checks a compressed run against an uncompressed one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from brian2 import Hz, Quantity, ms, second

from stdp_sim import _checks
from stdp_sim.protocols import DEFAULT_IDT_WINDOW, SpikeTrains, integral_delta_t
from stdp_sim.regime import Regime, classify
from stdp_sim.rule import STDPRule
from stdp_sim.simulate import DEFAULT_DT, STEPS_PER_INTERVAL, Condition, run_conditions

__all__ = [
    "SJOSTROM_2001",
    "FREQUENCY_RATES",
    "FrequencyProtocol",
    "FrequencyRow",
    "frequency_conditions",
    "summarize_frequency",
    "run_frequency",
    "sjostrom_data",
    "sjostrom_residuals",
    "regime_changes",
]

#: Sjöström, Turrigiano & Nelson (2001), visual cortex layer 5, 60 pairings: relative
#: weight change at each pairing rate, keyed by THEIR Δt = t_post - t_pre in ms
#: (docs/reference.md#pairing-frequency-data; sd 0.05–0.32 across points).
SJOSTROM_2001 = {
    "rates_hz": (0.1, 10.0, 20.0, 40.0, 50.0),
    "n_pairings": 60,
    "relative_dw": {
        -10.0: (-0.29, -0.41, -0.34, 0.56, 0.75),  # post 10 ms before pre
        +10.0: (-0.04, 0.14, 0.29, 0.53, 0.56),  # post 10 ms after pre
    },
    "sd_range": (0.05, 0.32),
    "source": "Sjöström, Turrigiano & Nelson 2001, Neuron 32:1149 (via Pfister & Gerstner "
              "2006, Fig. 6)",
}

#: The pairing rates of Sjöström et al. (2001).
FREQUENCY_RATES = SJOSTROM_2001["rates_hz"] * Hz

ORDERS = ("pre-post", "post-pre")


def sjostrom_data(delta_t, rate) -> float | None:
    """Sjöström et al.'s relative change at ``delta_t`` (ours: ``t_pre - t_post``) and
    ``rate``, or ``None`` where they did not measure."""
    theirs = -float(_checks.time_scalar(delta_t, "delta_t", positive=False) / ms)
    rate_hz = float(_checks.rate_scalar(rate, "rate") / Hz)
    values = SJOSTROM_2001["relative_dw"].get(round(theirs, 9))
    for r, value in zip(SJOSTROM_2001["rates_hz"], values or (), strict=False):
        if math.isclose(r, rate_hz, rel_tol=1e-9):
            return value
    return None


class FrequencyProtocol:
    """``n_pairings`` pairings at each ``delta_t`` and each rate.

    Pairing ``k`` starts at ``start + k/rate``: the earlier spike then, the later one
    ``|delta_t|`` after it.  Unlike :class:`stdp_sim.PairingProtocol`, ``|delta_t|`` may
    reach half the period (at 50 Hz and 10 ms the spikes alternate evenly); it must
    stay below the period, so that each neuron keeps one spike per pairing in order.

    Parameters
    ----------
    delta_t : Quantity, default [-10, 10] ms
        ``t_pre - t_post`` values, non-zero, with time units.
    rates : Quantity, default 0.1, 10, 20, 40, 50 Hz
        Pairing rates, with rate units.
    n_pairings : int, default 60
    start : Quantity, default 10 ms
        Time of the first pairing.
    """

    def __init__(self, delta_t=(-10, 10) * ms, rates=FREQUENCY_RATES, n_pairings: int = 60,
                 start=10 * ms):  # fmt: skip
        self.delta_t = _checks.time_array(delta_t, "delta_t")
        if np.any(np.asarray(self.delta_t) == 0):
            raise ValueError(f"delta_t must be non-zero (a pairing has an order), got "
                             f"{self.delta_t!s}")  # fmt: skip
        rates = _checks._quantity(rates, "rates", Hz, "rate", "[10, 50]*Hz")
        self.rates = rates.reshape(-1) if np.ndim(rates) else rates.reshape(1)
        if self.rates.size == 0 or np.any(np.asarray(self.rates) <= 0):
            raise ValueError(f"rates must be positive and not empty, got {rates!s}")
        self.n_pairings = _checks.positive_int(n_pairings, "n_pairings")
        self.start = _checks.time_scalar(start, "start", allow_zero=True)
        longest = float(np.max(np.abs(np.asarray(self.delta_t))))
        fastest = float(np.max(np.asarray(self.rates)))
        if longest >= 1.0 / fastest:
            raise ValueError(
                f"delta_t must be shorter than the period of every rate: |delta_t| = "
                f"{longest * 1e3:g} ms but rates reach {fastest:g} Hz (period "
                f"{1e3 / fastest:g} ms)"
            )

    def duration(self, rate) -> Quantity:
        """Simulated time at ``rate``: the last pairing plus one period."""
        return self.start + self.n_pairings / rate

    def trains(self, delta_t, rate, time_scale: float = 1.0) -> SpikeTrains:
        """The spike trains at one ``delta_t`` and ``rate``, times multiplied by
        ``time_scale`` (1: as specified; see the module docstring)."""
        dt_s = float(_checks.time_scalar(delta_t, "delta_t", positive=False))
        rate_hz = float(_checks.rate_scalar(rate, "rate"))
        onsets = float(self.start) + np.arange(self.n_pairings) / rate_hz
        pre = onsets + max(dt_s, 0.0)
        post = onsets + max(-dt_s, 0.0)
        return SpikeTrains(
            pre * time_scale,
            post * time_scale,
            float(self.duration(rate_hz * Hz)) * time_scale,
            protocol="frequency",
            delta_t=dt_s * time_scale,
            meta={"n_pairings": self.n_pairings, "rate_hz": rate_hz, "time_scale": time_scale},
        )


def _compression(duration: float, max_duration, rule: STDPRule, delta_t: float, dt) -> int:
    """The integer ``m`` by which a condition's times are divided (1: none)."""
    if max_duration is None or duration <= max_duration * (1 + 1e-9):
        return 1
    shortest = min([abs(delta_t)] + [float(tau) for tau in rule.time_constants])
    resolvable = int(math.floor(shortest / (STEPS_PER_INTERVAL * dt) + 1e-9))
    return max(1, min(math.ceil(duration / max_duration - 1e-9), resolvable))


def _scaled(rule: STDPRule, m: int) -> STDPRule:
    if m == 1:
        return rule
    changes = {"tau_pre_post": rule.tau_pre_post / m, "tau_post_pre": rule.tau_post_pre / m}
    for key in ("tau_x", "tau_y"):
        if getattr(rule, key) is not None:
            changes[key] = getattr(rule, key) / m
    return rule.replace(**changes)


def frequency_conditions(
    rules: Sequence[STDPRule],
    protocol: FrequencyProtocol | None = None,
    *,
    max_duration=None,
    dt=DEFAULT_DT,
    tags: dict | None = None,
) -> list[Condition]:
    """One condition per (rule, rate, delta_t), to run in one network with others.

    Parameters
    ----------
    rules : sequence of STDPRule
        Non-empty, distinct names.
    protocol : FrequencyProtocol, optional
        Default: Sjöström's, ``FrequencyProtocol()``.
    max_duration : Quantity, optional
        Compress conditions longer than this (module docstring), as far as ``dt``
        allows; ``None``: never.
    dt : Quantity, default 0.1 ms
        The time step the conditions will run at (bounds the compression).
    tags : dict, optional
        Extra tags for every condition (e.g. ``{"table": "frequency"}``).

    Returns
    -------
    list of Condition
        Tags: ``rule``, ``rate_hz``, ``delta_t`` (s, uncompressed), ``order``
        (``"pre-post"`` for ``delta_t < 0``), ``time_scale``.
    """
    rules = list(rules)
    if not rules or not all(isinstance(r, STDPRule) for r in rules):
        raise ValueError(f"rules must be a non-empty list of STDPRule, got {rules!r}")
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"rules must have distinct names, got {names!r}")
    protocol = FrequencyProtocol() if protocol is None else protocol
    limit = None if max_duration is None else float(_checks.time_scalar(max_duration,
                                                                          "max_duration"))
    step = float(_checks.time_scalar(dt, "dt"))
    conditions = []
    for rule in rules:
        for rate in protocol.rates:
            for delta_t in protocol.delta_t:
                duration = float(protocol.duration(rate))
                m = _compression(duration, limit, rule, float(delta_t), step)
                conditions.append(
                    Condition(
                        _scaled(rule, m),
                        protocol.trains(delta_t, rate, time_scale=1.0 / m),
                        w_init=rule.w_init,
                        tags={
                            **(tags or {}),
                            "rule": rule.name,
                            "rate_hz": float(rate / Hz),
                            "delta_t": float(delta_t),
                            "order": ORDERS[0] if float(delta_t) < 0 else ORDERS[1],
                            "time_scale": 1.0 / m,
                        },
                    )
                )
    return conditions


@dataclass(frozen=True)
class FrequencyRow:
    """Δw of one rule at one pairing rate and order.

    Attributes
    ----------
    rule : str
    order : {"pre-post", "post-pre"}
        The nominal order (``delta_t < 0``: pre first).
    delta_t : Quantity
        ``t_pre - t_post`` of each pairing.
    rate : Quantity
        Pairing rate.
    n_pairings : int
    dw : float
        Total weight change; ``relative_dw = dw / w_start``.
    w_start : float
    integral_delta_t : Quantity
        ``∫Δt`` of the emitted spikes (original time units).
    regime : Regime or None
        The regime of the pairing order and the sign of ``dw``: the order of the two
        spikes of each pairing decides the timing side (``"pre-post"`` when the
        presynaptic spike comes first), as in Sjöström's labels.  ``None`` if
        ``dw == 0``.
    regime_by_integral : Regime or None
        :func:`stdp_sim.classify` of (``∫Δt``, ``dw``), as in the regime tables.  At high
        rates the second spike of a pairing is also close to the *next* pairing's first
        spike, so ``∫Δt`` can have the other sign: at 40 Hz with ``|Δt| = 10 ms`` it
        is followed 15 ms later by it, and with the default 25 ms window the pre-first
        protocol has ``∫Δt > 0``.
    data : float or None
        Sjöström et al.'s relative change for this condition, if they measured it.
    time_scale : float
        1, or ``1/m`` for a compressed simulation (module docstring).
    n_pre_spikes, n_post_spikes : int
    at_bound : bool
        True if the weight ended on ``w_min`` or ``w_max`` (the clip decided ``dw``).
    """

    rule: str
    order: str
    delta_t: Quantity
    rate: Quantity
    n_pairings: int
    dw: float
    w_start: float
    integral_delta_t: Quantity
    regime: Regime | None
    regime_by_integral: Regime | None
    data: float | None
    time_scale: float
    n_pre_spikes: int
    n_post_spikes: int
    at_bound: bool = False

    @property
    def relative_dw(self) -> float:
        """``dw / w_start`` (Sjöström's relative change; the triplet presets start at 1)."""
        return self.dw / self.w_start if self.w_start != 0 else float("nan")

    @property
    def residual(self) -> float | None:
        """``relative_dw - data``, or ``None`` without data."""
        return None if self.data is None else self.relative_dw - self.data

    def as_dict(self) -> dict:
        """The JSON row (units in the key names)."""
        return {
            "rule": self.rule,
            "order": self.order,
            "delta_t_ms": float(self.delta_t / ms),
            "sjostrom_delta_t_ms": -float(self.delta_t / ms),
            "rate_hz": float(self.rate / Hz),
            "n_pairings": self.n_pairings,
            "dw": self.dw,
            "w_start": self.w_start,
            "relative_dw": self.relative_dw,
            "integral_delta_t_ms": float(self.integral_delta_t / ms),
            "classified_as": self.regime.label if self.regime else None,
            "classified_legacy_name": self.regime.legacy_name if self.regime else None,
            "classified_by_integral_delta_t": (
                self.regime_by_integral.label if self.regime_by_integral else None
            ),
            "sjostrom_relative_dw": self.data,
            "residual": self.residual,
            "time_scale": self.time_scale,
            "n_pre_spikes": self.n_pre_spikes,
            "n_post_spikes": self.n_post_spikes,
            "at_bound": self.at_bound,
        }


def summarize_frequency(results, idt_window=DEFAULT_IDT_WINDOW) -> list[FrequencyRow]:
    """Rows from the results of :func:`frequency_conditions` (others are ignored).

    Rows come in the order of the conditions.  ``∫Δt`` is computed from the emitted
    spikes in original time units with ``idt_window``.
    """
    rows = []
    for res in results:
        tags = res.tags
        if "time_scale" not in tags or "rate_hz" not in tags:
            continue
        scale = tags["time_scale"]
        pre, post = res.pre_spikes / scale, res.post_spikes / scale
        idt = float("nan") if idt_window is None else integral_delta_t(pre, post, idt_window)
        delta_t = tags["delta_t"] * second
        rate = tags["rate_hz"] * Hz
        rows.append(
            FrequencyRow(
                rule=tags["rule"],
                order=tags["order"],
                delta_t=delta_t,
                rate=rate,
                n_pairings=int(res.condition.trains.meta["n_pairings"]),
                dw=res.dw,
                w_start=res.w_start,
                integral_delta_t=idt * second,
                regime=_regime(tags["order"], res.dw),
                regime_by_integral=None if math.isnan(idt) else classify(idt, res.dw),
                data=sjostrom_data(delta_t, rate)
                if res.condition.trains.meta["n_pairings"] == SJOSTROM_2001["n_pairings"]
                else None,
                time_scale=scale,
                n_pre_spikes=int(res.pre_spikes.size),
                n_post_spikes=int(res.post_spikes.size),
                at_bound=res.w_end in (res.rule.w_min, res.rule.w_max),
            )
        )
    return rows


def _regime(order: str, dw: float) -> Regime | None:
    if dw == 0:
        return None
    return Regime.from_parts(order, "potentiation" if dw > 0 else "depression")


def run_frequency(rules, protocol: FrequencyProtocol | None = None, *, max_duration=None,
                  idt_window=DEFAULT_IDT_WINDOW, **run_kwargs) -> list[FrequencyRow]:  # fmt: skip
    """Every rule on the frequency protocol, one network run.

    ``max_duration`` as in :func:`frequency_conditions`; ``run_kwargs`` go to
    :func:`stdp_sim.run_conditions` (``dt``, ``target``, ``progress``).
    """
    dt = run_kwargs.get("dt", DEFAULT_DT)
    conditions = frequency_conditions(rules, protocol, max_duration=max_duration, dt=dt)
    results = run_conditions(conditions, idt_window=None, **run_kwargs)
    return summarize_frequency(results, idt_window)


def sjostrom_residuals(rows: Sequence[FrequencyRow], rule: str) -> dict:
    """Residuals of one rule against Sjöström et al. (2001).

    Weight scaling: the model's additive Δw is divided by the start weight
    (``relative_dw``); the triplet presets start at ``w = 1``, so their Δw is compared
    as it is — Pfister & Gerstner's convention.

    Returns
    -------
    dict
        ``{"rule", "points": [{"sjostrom_delta_t_ms", "rate_hz", "data", "model",
        "residual"}], "rms_residual", "max_abs_residual", "n_points"}``; ``n_points``
        is 0 (and the statistics ``None``) when no row matches the data's protocol.
    """
    points = [
        {
            "sjostrom_delta_t_ms": -float(r.delta_t / ms),
            "rate_hz": float(r.rate / Hz),
            "data": r.data,
            "model": r.relative_dw,
            "residual": r.residual,
        }
        for r in rows
        if r.rule == rule and r.data is not None
    ]
    residuals = np.array([p["residual"] for p in points], dtype=float)
    return {
        "rule": rule,
        "points": points,
        "rms_residual": float(np.sqrt(np.mean(residuals**2))) if points else None,
        "max_abs_residual": float(np.max(np.abs(residuals))) if points else None,
        "n_points": len(points),
    }


def regime_changes(rows: Sequence[FrequencyRow]) -> dict[tuple[str, str], dict]:
    """For each (rule, order): the regime at the lowest rate and the first rate at which
    the measured regime differs (``None``: it never does)."""
    out = {}
    for row in sorted(rows, key=lambda r: float(r.rate)):
        key = (row.rule, row.order)
        if key not in out:
            out[key] = {"lowest_rate_regime": row.regime, "changes_at": None, "becomes": None}
        elif out[key]["changes_at"] is None and row.regime != out[key]["lowest_rate_regime"]:
            out[key].update(changes_at=row.rate, becomes=row.regime)
    return out
