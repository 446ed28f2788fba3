"""Brian2 simulations of the four STDP regimes.

Sign convention: ``delta_t = t_pre - t_post`` (negative when the presynaptic
neuron fires first); see :mod:`stdp_sim.regime`.  Rule amplitudes are the signed
weight change per pairing for both orders (:class:`STDPRule`).  This package never
imports torch.

Modules: :mod:`~stdp_sim.regime` (the four regimes), :mod:`~stdp_sim.rule` (the rule
and its presets), :mod:`~stdp_sim.pairing` (NEST's four pairing schemes),
:mod:`~stdp_sim.triplet` (Pfister & Gerstner's triplet parameter sets),
:mod:`~stdp_sim.pairing_frequency` (the pairing-frequency protocol beside Sjöström et
al. 2001), :mod:`~stdp_sim.protocols` (spike trains),
:mod:`~stdp_sim.simulate` (many conditions in one Brian2 run),
:mod:`~stdp_sim.window` (analytic and simulated windows),
:mod:`~stdp_sim.rate_ramp` (rate-based view), :mod:`~stdp_sim.backend`
(code-generation target), :mod:`~stdp_sim.tables` (the regime and window tables of
``experiments/stdp_table.py``), :mod:`~stdp_sim.plots` (their figure), and the
subpackage :mod:`~stdp_sim.diehl_cook` (a Diehl & Cook 2015 digit network learning
with STDP, with a share of its neurons under temporally-inverted STDP: MixSTDP).

A time step must resolve what it simulates: ``dt <= min(|Δt|, τ) / 10`` over the
protocol's non-zero Δt and the rules' time constants (:func:`max_time_step`);
:func:`run_conditions` refuses a coarser one with ``ValueError``.
"""

from common.lazy import lazy_exports

#: Public names -> the submodule that defines them; imported on first use (PEP 562), so
#: that ``import stdp_sim.regime`` (the bridge's sign mapping) does not load Brian2.
_EXPORTS = {
    "cython_available": "stdp_sim.backend",
    "resolve_target": "stdp_sim.backend",
    "CorrelatedPoisson": "stdp_sim.protocols",
    "PairingProtocol": "stdp_sim.protocols",
    "SpikeTrains": "stdp_sim.protocols",
    "integral_delta_t": "stdp_sim.protocols",
    "poisson_times": "stdp_sim.protocols",
    "ramp_poisson_times": "stdp_sim.protocols",
    "RAMPS": "stdp_sim.rate_ramp",
    "expected_rate_ramp_dw": "stdp_sim.rate_ramp",
    "rate_ramp_conditions": "stdp_sim.rate_ramp",
    "run_rate_ramp": "stdp_sim.rate_ramp",
    "summarize_rate_ramp": "stdp_sim.rate_ramp",
    "Regime": "stdp_sim.regime",
    "classify": "stdp_sim.regime",
    "PairingScheme": "stdp_sim.pairing",
    "PAIRING_SCHEMES": "stdp_sim.pairing",
    "PAIRING_ALIASES": "stdp_sim.pairing",
    "PAIRINGS": "stdp_sim.pairing",
    "pairing_scheme": "stdp_sim.pairing",
    "triplet_rule": "stdp_sim.rule",
    "TRIPLET_PRESETS": "stdp_sim.rule",
    "PAIR_PRESETS": "stdp_sim.rule",
    "all_presets": "stdp_sim.rule",
    "TRIPLET_PARAMETERS": "stdp_sim.triplet",
    "triplet_parameters": "stdp_sim.triplet",
    "SJOSTROM_2001": "stdp_sim.pairing_frequency",
    "FREQUENCY_RATES": "stdp_sim.pairing_frequency",
    "FrequencyProtocol": "stdp_sim.pairing_frequency",
    "FrequencyRow": "stdp_sim.pairing_frequency",
    "frequency_conditions": "stdp_sim.pairing_frequency",
    "summarize_frequency": "stdp_sim.pairing_frequency",
    "run_frequency": "stdp_sim.pairing_frequency",
    "sjostrom_data": "stdp_sim.pairing_frequency",
    "sjostrom_residuals": "stdp_sim.pairing_frequency",
    "regime_changes": "stdp_sim.pairing_frequency",
    "PRESETS": "stdp_sim.rule",
    "STDPRule": "stdp_sim.rule",
    "preset": "stdp_sim.rule",
    "preset_names": "stdp_sim.rule",
    "Condition": "stdp_sim.simulate",
    "ConditionResult": "stdp_sim.simulate",
    "check_time_step": "stdp_sim.simulate",
    "max_time_step": "stdp_sim.simulate",
    "run_conditions": "stdp_sim.simulate",
    "simulate_protocol": "stdp_sim.simulate",
    "measure_window": "stdp_sim.window",
    "pairing_dw": "stdp_sim.window",
    "replay": "stdp_sim.window",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "Regime",
    "classify",
    "STDPRule",
    "PRESETS",
    "PAIR_PRESETS",
    "TRIPLET_PRESETS",
    "all_presets",
    "triplet_rule",
    "TRIPLET_PARAMETERS",
    "triplet_parameters",
    "PairingScheme",
    "PAIRING_SCHEMES",
    "PAIRING_ALIASES",
    "PAIRINGS",
    "pairing_scheme",
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
    "preset",
    "preset_names",
    "SpikeTrains",
    "PairingProtocol",
    "CorrelatedPoisson",
    "integral_delta_t",
    "poisson_times",
    "ramp_poisson_times",
    "Condition",
    "ConditionResult",
    "run_conditions",
    "simulate_protocol",
    "check_time_step",
    "max_time_step",
    "measure_window",
    "pairing_dw",
    "replay",
    "RAMPS",
    "run_rate_ramp",
    "rate_ramp_conditions",
    "summarize_rate_ramp",
    "expected_rate_ramp_dw",
    "cython_available",
    "resolve_target",
]
