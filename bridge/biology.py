"""The biological side of the comparison, simulated in Brian2 with :mod:`stdp_sim`.

- :func:`pairing_signs`: for each of the four regimes, the preset rule that produces
  it, run on the pairing protocol (60 pairings at 1 Hz) at ``Δt = ∓delta_t``; the
  measured Δw, its sign and the regime it classifies as.  All in one network run.
- :func:`rate_verdicts`: the rate-ramp experiment (:func:`stdp_sim.run_rate_ramp`,
  one network run) and, per preset, which timing convention it supports
  (:func:`bridge.convention_verdict.convention_verdict`).
"""

from __future__ import annotations

import numpy as np
from brian2 import ms, second

from bridge.convention_verdict import convention_verdict
from stdp_sim import (
    Condition,
    PairingProtocol,
    Regime,
    classify,
    preset,
    preset_names,
    run_conditions,
    run_rate_ramp,
)

__all__ = ["REGIME_PRESETS", "pairing_signs", "rate_verdicts"]

#: the presets searched, in order, for a rule producing each regime
REGIME_PRESETS = ("hebbian", "anti_hebbian", "potentiation_only", "depression_only")


def _rule_for(regime: Regime) -> str:
    for name in REGIME_PRESETS:
        if preset(name).regime(regime.timing) is regime:
            return name
    raise ValueError(f"no preset in {REGIME_PRESETS} produces {regime.label!r}")


def pairing_signs(delta_t_ms: float = 10.0, n_pairings: int = 60, progress: bool = False):
    """Measured Δw of each regime under the pairing protocol (one Brian2 run).

    Returns
    -------
    list of dict
        One per regime (Table 5 order): ``regime``, ``legacy_name``, ``rule``,
        ``delta_t_ms``, ``integral_delta_t_ms``, ``dw``, ``dw_sign``,
        ``classified_as``.
    """
    if not delta_t_ms > 0:
        raise ValueError(f"delta_t_ms must be positive, got {delta_t_ms!r}")
    pre_first, post_first = PairingProtocol(
        [-delta_t_ms, delta_t_ms] * ms, n_pairings=n_pairings
    ).trains()
    conditions = []
    for regime in Regime:
        trains = pre_first if regime.timing == "pre-post" else post_first
        conditions.append(Condition(preset(_rule_for(regime)), trains, tags={"regime": regime}))
    results = run_conditions(conditions, progress=progress)
    rows = []
    for res in results:
        regime = res.tags["regime"]
        measured = classify(res.integral_delta_t, res.dw)
        rows.append(
            {
                "regime": regime.label,
                "legacy_name": regime.legacy_name,
                "rule": res.rule.name,
                "delta_t_ms": (-1 if regime.timing == "pre-post" else 1) * delta_t_ms,
                "integral_delta_t_ms": res.integral_delta_t * 1e3,
                "dw": res.dw,
                "dw_sign": int(np.sign(res.dw)),
                "classified_as": measured.label if measured else None,
            }
        )
    return rows


def rate_verdicts(
    n_synapses: int = 2000, duration_s: float = 1.0, seed: int = 0, progress: bool = False
) -> tuple[list[dict], list[dict]]:
    """Run the rate-ramp experiment for every preset; return ``(rows, verdicts)``.

    ``rows`` are :func:`stdp_sim.run_rate_ramp`'s; ``verdicts`` one
    :func:`bridge.convention_verdict.convention_verdict` per preset.
    """
    rows = run_rate_ramp(
        preset_names(),
        n_synapses=n_synapses,
        duration=duration_s * second,
        seed=seed,
        progress=progress,
    )
    verdicts = []
    for name in preset_names():
        rule = preset(name)
        verdicts.append(
            convention_verdict(
                rows, int(np.sign(rule.a_pre_post)), int(np.sign(rule.a_post_pre)), name
            )
        )
    return rows, verdicts
