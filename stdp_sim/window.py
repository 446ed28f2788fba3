"""Learning windows: analytic predictions, an exact reference, and the simulated window.

* :func:`pairing_dw` — closed-form weight change of the pairing protocol (isolated
  pairings, ``1/rate`` much longer than the time constants).
* :func:`replay` — exact event-by-event update of one synapse with explicit
  exponentials, in plain numpy: an implementation independent of Brian2 to check the
  simulator against, for any rule and any spike trains.
* :func:`measure_window` — the simulated window of several rules, one network run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from brian2 import Hz, ms

from stdp_sim import _checks
from stdp_sim.protocols import PairingProtocol
from stdp_sim.rule import STDPRule
from stdp_sim.simulate import simulate_protocol

__all__ = ["pairing_dw", "replay", "measure_window"]


def pairing_dw(rule: STDPRule, delta_t, n_pairings: int = 60, w_init=None) -> np.ndarray:
    """Analytic weight change after ``n_pairings`` isolated pairings at ``delta_t``.

    Each pairing changes the weight by ``rule.window(delta_t, w)`` (interactions
    between pairings are neglected: exact up to ``exp(-(1/rate - |delta_t|)/tau)``,
    about 1e-12 at 1 Hz for the pair presets; a triplet rule's ``tau_x``/``tau_y`` are
    longer, and its triplet terms, which need the previous pairing, are neglected
    too).  Additive: ``clip(w0 + n·W) - w0`` (a run of same-sign steps clipped at
    every step ends where the unclipped sum clipped once ends).  Multiplicative: the
    distance to the approached bound shrinks by the factor ``1 - |W_raw|/(w_max -
    w_min)`` per pairing.  Power law: the recursion ``w += W(w)``, pairing by pairing.

    Parameters
    ----------
    rule : STDPRule
    delta_t : Quantity
        Scalar or array, with time units.
    n_pairings : int, default 60
    w_init : float, optional
        Start weight; default ``rule.w_init``.

    Returns
    -------
    numpy.ndarray
        ``w_end - w_init``, same shape as ``delta_t``.
    """
    n = _checks.positive_int(n_pairings, "n_pairings")
    w0 = rule.w_init if w_init is None else _checks.finite_float(w_init, "w_init")
    if rule.weight_dependence == "additive":
        raw = rule.window(delta_t)
        return np.clip(w0 + n * raw, rule.w_min, rule.w_max) - w0
    raw = rule.replace(weight_dependence="additive").window(delta_t)
    if rule.weight_dependence == "power":
        w = np.full(np.shape(raw), w0, dtype=float)
        for _ in range(n):
            w = np.clip(w + raw * rule.soft_bound_factor(raw, w), rule.w_min, rule.w_max)
        return w - w0
    span = rule.w_max - rule.w_min
    shrink = (1.0 - np.abs(raw) / span) ** n
    towards_max = rule.w_max - (rule.w_max - w0) * shrink
    towards_min = rule.w_min + (w0 - rule.w_min) * shrink
    w_end = np.where(raw > 0, towards_max, towards_min)
    return np.clip(w_end, rule.w_min, rule.w_max) - w0


def replay(rule: STDPRule, pre, post, w_init=None) -> float:
    """Exact weight change of one synapse for given spike times (numpy reference).

    Events are processed in time order; at equal times the presynaptic spike goes
    first, as Brian2 runs the ``pre`` pathway before the ``post`` one.  Traces decay
    with explicit ``exp(-(t - t_last)/tau)`` and follow the rule's pairing scheme
    (:mod:`stdp_sim.pairing`: summing traces add 1 per spike, nearest ones are set to
    1, restricted ones are used up) and triplet terms.  Written apart from the Brian2
    template, in plain Python, to check it; ``tests/test_pairing_schemes.py`` checks
    both against a walk over the spike history without traces.

    Parameters
    ----------
    rule : STDPRule
    pre, post : array-like
        Spike times in seconds.
    w_init : float, optional
        Start weight; default ``rule.w_init``.

    Returns
    -------
    float
        ``w_end - w_init``.
    """
    w0 = rule.w_init if w_init is None else _checks.finite_float(w_init, "w_init")
    pre = np.asarray(pre, dtype=float).ravel()
    post = np.asarray(post, dtype=float).ravel()
    times = np.concatenate([pre, post])
    kinds = np.concatenate([np.zeros(pre.size, int), np.ones(post.size, int)])  # 0 = pre
    order = np.lexsort((kinds, times))
    scheme = rule.scheme
    taus = [float(rule.tau_pre_post), float(rule.tau_post_pre)]
    taus += [float(t) if t is not None else 1.0 for t in (rule.tau_x, rule.tau_y)]
    w, t_last, t_lastpre = w0, 0.0, None
    r1 = o1 = r2 = o2 = 0.0

    def add(trace, accumulate):
        return trace + 1.0 if accumulate else 1.0

    def update(w, change):
        if rule.weight_dependence != "additive":
            change *= float(rule.soft_bound_factor(change, w))
        return min(max(w + change, rule.w_min), rule.w_max)

    for idx in order:
        t = times[idx]
        decay = [np.exp(-(t - t_last) / tau) for tau in taus]
        r1, o1, r2, o2 = r1 * decay[0], o1 * decay[1], r2 * decay[2], o2 * decay[3]
        t_last = t
        if kinds[idx] == 0:  # presynaptic spike: pairs with earlier postsynaptic ones
            r1 = add(r1, scheme.accumulate_pre)
            t_lastpre = t
            w = update(w, o1 * (rule.a_post_pre + rule.a3_post_pre * r2))
            if scheme.consume_post:
                o1 = 0.0
            r2 = add(r2, not scheme.nearest)
        else:  # postsynaptic spike: pairs with earlier or coincident presynaptic ones
            coincident = 1.0 if (scheme.discard_zero and t_lastpre == t) else 0.0
            o1 = add(o1, scheme.accumulate_post)
            if scheme.consume_post and coincident:
                o1 = 0.0
            w = update(w, (r1 - coincident) * (rule.a_pre_post + rule.a3_pre_post * o2))
            if scheme.consume_pre:
                r1 = 0.0
            o2 = add(o2, not scheme.nearest)
    return w - w0


def measure_window(
    rules: Sequence[STDPRule],
    delta_t,
    *,
    n_pairings: int = 60,
    rate=1 * Hz,
    **run_kwargs,
) -> dict[str, dict[str, list[float]]]:
    """Simulated and analytic learning windows of several rules, one network run.

    Parameters
    ----------
    rules : sequence of STDPRule
        Rules with distinct names.
    delta_t : Quantity
        Grid of ``t_pre - t_post`` values with time units.
    n_pairings : int, default 60
        Pairings per point (pairing protocol at ``rate``).
    rate : Quantity, default 1 Hz
        Pairing repetition rate; keep ``1/rate`` long against the time constants for
        the analytic comparison to hold.
    **run_kwargs
        Passed on to :func:`stdp_sim.run_conditions` (``target``, ``progress``, ...).

    Returns
    -------
    dict
        ``{rule name: {"delta_t_ms": [...], "dw": [...], "dw_analytic": [...],
        "n_pre_spikes": [...], "n_post_spikes": [...]}}``; ``dw`` is the total change
        over the protocol.
    """
    rules = list(rules)
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"rules must have distinct names, got {names!r}")
    protocol = PairingProtocol(delta_t, n_pairings=n_pairings, rate=rate)
    results = simulate_protocol(rules, protocol, **run_kwargs)
    grid = protocol.delta_t
    out = {}
    for rule in rules:
        mine = [r for r in results if r.tags["rule"] == rule.name]
        out[rule.name] = {
            "delta_t_ms": [float(v / ms) for v in grid],
            "dw": [r.dw for r in mine],
            "dw_analytic": [float(v) for v in pairing_dw(rule, grid, protocol.n_pairings)],
            "n_pre_spikes": [int(r.pre_spikes.size) for r in mine],
            "n_post_spikes": [int(r.post_spikes.size) for r in mine],
        }
    return out
