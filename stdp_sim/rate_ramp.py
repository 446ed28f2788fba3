r"""Rate view of STDP: constant presynaptic rate, ramping postsynaptic rate.

Bengio et al. (2015, arXiv:1509.05936) show that a Hebbian STDP window applied to
spike trains whose postsynaptic rate changes gives a weight change proportional to
the presynaptic rate times the *rate of change* of the postsynaptic rate:
rising postsynaptic rate → potentiation, falling → depression, constant → only the
window's net area.  Xie & Seung (2000) studied the same differential form.

For independent Poisson trains and an all-to-all additive rule this is exact in
expectation.  With a presynaptic rate :math:`\nu_\text{pre}` during a window of
length :math:`D` and a postsynaptic rate :math:`\nu(t)` that is linear around it,

.. math::

    \mathbb{E}[\Delta w] = \nu_\text{pre} D \left( \bar\nu\, \int W(s)\,ds
        \;-\; \dot\nu \int s\,W(s)\,ds \right),
    \qquad s = t_\text{pre} - t_\text{post},

where :math:`\int W = a_\text{pre-post}\tau_\text{pre-post} +
a_\text{post-pre}\tau_\text{post-pre}` (the flat-ramp offset; zero for a balanced
window such as the ``hebbian`` preset) and :math:`\int s W =
-a_\text{pre-post}\tau_\text{pre-post}^2 + a_\text{post-pre}\tau_\text{post-pre}^2`
(negative for Hebbian windows, so a rising rate potentiates).

Protocol of :func:`run_rate_ramp`: the postsynaptic rate changes linearly over the
whole run of ``duration + 2*pad`` (``"up"``: low → high, ``"down"``: high → low,
``"flat"``: their mean throughout, so all three ramps have the same mean rate).
The presynaptic neuron fires at a constant rate only in ``[pad, pad + duration]``,
so every presynaptic spike sees the linear ramp on both sides.  (Without the pad,
the missing partners at the edges of the run change the result by an amount of the
same order as the ramp effect itself.)  ``dw_expected`` is the exact expectation for
the finite protocol, by numerical integration; ``dw_rate_theory`` is the formula
above.
"""

from __future__ import annotations

import numpy as np
from brian2 import Hz, second
from scipy import integrate

from stdp_sim import _checks
from stdp_sim.protocols import SpikeTrains, poisson_times, ramp_poisson_times
from stdp_sim.rule import PRESETS, STDPRule, preset
from stdp_sim.simulate import Condition, run_conditions

__all__ = [
    "RAMPS",
    "run_rate_ramp",
    "rate_ramp_conditions",
    "summarize_rate_ramp",
    "expected_rate_ramp_dw",
    "ramp_rates",
]

RAMPS = ("up", "flat", "down")


def ramp_rates(ramp: str, low: float, high: float) -> tuple[float, float]:
    """Postsynaptic ``(rate at start, rate at end)`` in Hz for a ramp name."""
    _checks.choice(ramp, "ramp", RAMPS)
    mean = 0.5 * (low + high)
    return {"up": (low, high), "flat": (mean, mean), "down": (high, low)}[ramp]


def _effective_amplitudes(rule: STDPRule, w0: float) -> tuple[float, float]:
    a_pp, a_qp = rule.a_pre_post, rule.a_post_pre
    if rule.weight_dependence == "multiplicative":
        a_pp *= float(rule.soft_bound_factor(a_pp, w0))
        a_qp *= float(rule.soft_bound_factor(a_qp, w0))
    return a_pp, a_qp


def expected_rate_ramp_dw(
    rule: STDPRule,
    *,
    pre_rate,
    post_rate_start,
    post_rate_end,
    duration,
    pad,
    w_init=None,
) -> dict[str, float | None]:
    """Expected weight change of one synapse under the rate-ramp protocol.

    Parameters
    ----------
    rule : STDPRule
    pre_rate : Quantity
        Presynaptic rate during ``[pad, pad + duration]``.
    post_rate_start, post_rate_end : Quantity
        Postsynaptic rate at ``t = 0`` and ``t = duration + 2*pad`` (linear between).
    duration, pad : Quantity
        See the module docstring.
    w_init : float, optional
        Start weight (multiplicative rules are linearised around it); default
        ``rule.w_init``.

    Returns
    -------
    dict
        ``dw_expected``: exact expectation for independent Poisson trains (None for
        nearest-spike pairing; first order in the amplitudes for multiplicative
        rules; clipping at the bounds ignored).  ``dw_rate_theory``: the rate formula
        of the module docstring, with its two terms ``flat_offset`` and
        ``slope_term``.
    """
    r_pre = float(_checks.rate_scalar(pre_rate, "pre_rate", allow_zero=True))
    r0 = float(_checks.rate_scalar(post_rate_start, "post_rate_start", allow_zero=True))
    r1 = float(_checks.rate_scalar(post_rate_end, "post_rate_end", allow_zero=True))
    d = float(_checks.time_scalar(duration, "duration"))
    p = float(_checks.time_scalar(pad, "pad", allow_zero=True))
    w0 = rule.w_init if w_init is None else _checks.finite_float(w_init, "w_init")
    total = d + 2 * p
    slope = (r1 - r0) / total
    a_pp, a_qp = _effective_amplitudes(rule, w0)
    tau_pp, tau_qp = float(rule.tau_pre_post), float(rule.tau_post_pre)

    area = a_pp * tau_pp + a_qp * tau_qp
    moment = -a_pp * tau_pp**2 + a_qp * tau_qp**2
    mean_rate = r0 + slope * (p + 0.5 * d)
    flat_offset = r_pre * d * mean_rate * area
    slope_term = -r_pre * d * slope * moment
    out = {
        "dw_expected": None,
        "dw_rate_theory": flat_offset + slope_term,
        "flat_offset": flat_offset,
        "slope_term": slope_term,
    }
    if rule.pairing != "all-to-all":
        return out

    def partners(s: float) -> float:
        # ∫ r_post(v - s) dv over presynaptic times v in [p, p+d] with v - s in [0, total]
        lo, hi = max(p, s), min(p + d, total + s)
        if hi <= lo:
            return 0.0
        return r0 * (hi - lo) + 0.5 * slope * ((hi - s) ** 2 - (lo - s) ** 2)

    def side(amplitude, tau, sign):
        def f(x):  # x = |s| >= 0
            return amplitude * np.exp(-x / tau) * partners(sign * x)

        value, _ = integrate.quad(f, 0.0, total, limit=400, points=[tau, 5 * tau])
        return value

    out["dw_expected"] = r_pre * (side(a_pp, tau_pp, -1.0) + side(a_qp, tau_qp, 1.0))
    return out


def rate_ramp_conditions(
    presets=None,
    *,
    n_synapses: int = 2000,
    duration=1 * second,
    pad=0.2 * second,
    pre_rate=40 * Hz,
    post_rate_low=5 * Hz,
    post_rate_high=45 * Hz,
    seed: int = 0,
) -> list[Condition]:
    """The conditions of :func:`run_rate_ramp`, to run them alongside others.

    Same parameters as :func:`run_rate_ramp`.  Each condition's ``tags`` hold
    ``rule``, ``ramp`` and the protocol parameters that :func:`summarize_rate_ramp`
    needs; pass the results of these conditions (in any order, mixed with others)
    to :func:`summarize_rate_ramp`.
    """
    if presets is None:
        rules = list(PRESETS.values())
    else:
        rules = [p if isinstance(p, STDPRule) else preset(p) for p in presets]
        if not rules:
            raise ValueError("presets must not be empty, got []")
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"presets must have distinct names, got {names!r}")
    n = _checks.positive_int(n_synapses, "n_synapses", minimum=2)
    d = float(_checks.time_scalar(duration, "duration"))
    p = float(_checks.time_scalar(pad, "pad", allow_zero=True))
    r_pre = float(_checks.rate_scalar(pre_rate, "pre_rate"))
    low = float(_checks.rate_scalar(post_rate_low, "post_rate_low", allow_zero=True))
    high = float(_checks.rate_scalar(post_rate_high, "post_rate_high", allow_zero=True))
    if high < low:
        raise ValueError(
            f"post_rate_high must be >= post_rate_low, got {post_rate_high!s} < {post_rate_low!s}"
        )
    total = d + 2 * p
    rng = np.random.default_rng(seed)
    trains = {}
    for ramp in RAMPS:
        r0, r1 = ramp_rates(ramp, low, high)
        posts = ramp_poisson_times(r0, r1, total, rng, size=n)
        trains[ramp] = [
            SpikeTrains(
                p + poisson_times(r_pre, d, rng),
                post,
                total,
                protocol="rate_ramp",
                meta={"ramp": ramp},
            )
            for post in posts
        ]
    protocol = {
        "pre_rate_hz": r_pre,
        "post_rate_low_hz": low,
        "post_rate_high_hz": high,
        "duration_s": d,
        "pad_s": p,
    }
    return [
        Condition(rule, t, tags={"rule": rule.name, "ramp": ramp, "rate_ramp": protocol})
        for rule in rules
        for ramp in RAMPS
        for t in trains[ramp]
    ]


def summarize_rate_ramp(results) -> list[dict]:
    """Rows of :func:`run_rate_ramp` from simulated rate-ramp conditions.

    Results whose condition has no ``rate_ramp`` tag are ignored.  Rows come in
    the order in which each (rule, ramp) first appears.
    """
    groups: dict[tuple, list] = {}
    for res in results:
        if "rate_ramp" in res.tags:
            groups.setdefault((res.rule, res.tags["ramp"]), []).append(res)
    rows = []
    for (rule, ramp), block in groups.items():
        protocol = block[0].tags["rate_ramp"]
        dw = np.array([r.dw for r in block])
        n = dw.size
        r0, r1 = ramp_rates(ramp, protocol["post_rate_low_hz"], protocol["post_rate_high_hz"])
        theory = expected_rate_ramp_dw(
            rule,
            pre_rate=protocol["pre_rate_hz"] * Hz,
            post_rate_start=r0 * Hz,
            post_rate_end=r1 * Hz,
            duration=protocol["duration_s"] * second,
            pad=protocol["pad_s"] * second,
        )
        rows.append(
            {
                "preset": rule.name,
                "ramp": ramp,
                "dw_mean": float(dw.mean()),
                "dw_sem": float(dw.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
                "dw_sd": float(dw.std(ddof=1)) if n > 1 else float("nan"),
                "n_synapses": int(n),
                **theory,
                "pre_rate_hz": protocol["pre_rate_hz"],
                "post_rate_start_hz": r0,
                "post_rate_end_hz": r1,
                "duration_s": protocol["duration_s"],
                "pad_s": protocol["pad_s"],
                "n_pre_spikes_mean": float(np.mean([r.pre_spikes.size for r in block])),
                "n_post_spikes_mean": float(np.mean([r.post_spikes.size for r in block])),
            }
        )
    return rows


def run_rate_ramp(
    presets=None,
    *,
    n_synapses: int = 2000,
    duration=1 * second,
    pad=0.2 * second,
    pre_rate=40 * Hz,
    post_rate_low=5 * Hz,
    post_rate_high=45 * Hz,
    seed: int = 0,
    **run_kwargs,
) -> list[dict]:
    """Weight change of many independent synapses per (preset, ramp), one network run.

    Parameters
    ----------
    presets : sequence of str or STDPRule, optional
        Rules to test; default every preset of :data:`stdp_sim.PRESETS`.  Rule
        names must be distinct.
    n_synapses : int, default 2000
        Independent synapses (independent spike trains) per ramp; every rule sees
        the same trains.  At least 2.
    duration : Quantity, default 1 s
        Time during which the presynaptic neuron fires.
    pad : Quantity, default 200 ms
        Extra time before and after, during which only the postsynaptic neuron fires
        (see the module docstring); about 6 τ of the ``hebbian`` window.
    pre_rate : Quantity, default 40 Hz
        Constant presynaptic rate.
    post_rate_low, post_rate_high : Quantity, default 5 Hz, 45 Hz
        Postsynaptic rates at the ends of the ramp; ``"flat"`` uses their mean.
    seed : int, default 0
        Seed of the spike trains.
    **run_kwargs
        Passed to :func:`stdp_sim.run_conditions` (``target``, ``progress``, ``dt``).

    Returns
    -------
    list of dict
        One per (preset, ramp), preset-major, ramps in the order of :data:`RAMPS`,
        with ``preset``, ``ramp`` (``"up"``, ``"flat"``, ``"down"``), ``dw_mean``,
        ``dw_sem``, ``dw_sd``, ``n_synapses`` (plain floats/ints, weight units),
        ``dw_expected``, ``dw_rate_theory``, ``flat_offset``, ``slope_term`` (see
        :func:`expected_rate_ramp_dw`), the rates in Hz and the mean spike counts.

    Examples
    --------
    >>> rows = run_rate_ramp(["hebbian"], n_synapses=2000)  # doctest: +SKIP
    >>> {r["ramp"]: r["dw_mean"] > 0 for r in rows}  # doctest: +SKIP
    {'up': True, 'flat': ..., 'down': False}
    """
    conditions = rate_ramp_conditions(
        presets,
        n_synapses=n_synapses,
        duration=duration,
        pad=pad,
        pre_rate=pre_rate,
        post_rate_low=post_rate_low,
        post_rate_high=post_rate_high,
        seed=seed,
    )
    run_kwargs.setdefault("idt_window", None)
    return summarize_rate_ramp(run_conditions(conditions, **run_kwargs))
