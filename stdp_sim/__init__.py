"""Brian2 simulations of the four STDP regimes.

Sign convention: ``delta_t = t_pre - t_post`` (negative when the presynaptic
neuron fires first); see :mod:`stdp_sim.regime`.  Rule amplitudes are the signed
weight change per pairing for both orders (:class:`STDPRule`).  This package never
imports torch.

Modules: :mod:`~stdp_sim.regime` (the four regimes), :mod:`~stdp_sim.rule` (the rule
and its presets), :mod:`~stdp_sim.protocols` (spike trains),
:mod:`~stdp_sim.simulate` (many conditions in one Brian2 run),
:mod:`~stdp_sim.window` (analytic and simulated windows),
:mod:`~stdp_sim.rate_ramp` (rate-based view), :mod:`~stdp_sim.backend`
(code-generation target), :mod:`~stdp_sim.tables` (the regime and window tables of
``experiments/stdp_table.py``), :mod:`~stdp_sim.plots` (their figure).

A time step must resolve what it simulates: ``dt <= min(|Δt|, τ) / 10`` over the
protocol's non-zero Δt and the rules' time constants (:func:`max_time_step`);
:func:`run_conditions` refuses a coarser one with ``ValueError``.
"""

from stdp_sim.backend import cython_available, resolve_target
from stdp_sim.protocols import (
    CorrelatedPoisson,
    PairingProtocol,
    SpikeTrains,
    integral_delta_t,
    poisson_times,
    ramp_poisson_times,
)
from stdp_sim.rate_ramp import (
    RAMPS,
    expected_rate_ramp_dw,
    rate_ramp_conditions,
    run_rate_ramp,
    summarize_rate_ramp,
)
from stdp_sim.regime import Regime, classify
from stdp_sim.rule import PRESETS, STDPRule, preset, preset_names
from stdp_sim.simulate import (
    Condition,
    ConditionResult,
    check_time_step,
    max_time_step,
    run_conditions,
    simulate_protocol,
)
from stdp_sim.window import measure_window, pairing_dw, replay

__all__ = [
    "Regime",
    "classify",
    "STDPRule",
    "PRESETS",
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
