"""The triplet rule of Pfister & Gerstner (2006) and its published parameter sets.

Pfister J-P, Gerstner W (2006) Triplets of spikes in a model of spike timing-dependent
plasticity.  J Neurosci 26:9673–9682.  The rule adds to the pair rule a potentiation
term that grows with recent postsynaptic spikes (post-pre-post triplets) and a
depression term that grows with recent presynaptic spikes (pre-post-pre)::

    post spike at t:  w += r1(t) · (A2+ + A3+ · o2(t - ε))
    pre spike at t:   w -= o1(t) · (A2- + A3- · r2(t - ε))

with traces ``r1`` (τ+), ``r2`` (τx) of the presynaptic spikes and ``o1`` (τ-),
``o2`` (τy) of the postsynaptic ones.  In :class:`stdp_sim.STDPRule` this is
``a_pre_post = A2+``, ``a3_pre_post = A3+``, ``a_post_pre = -A2-``,
``a3_post_pre = -A3-`` (signed amplitudes, the toolkit's convention: no code path
subtracts), ``tau_pre_post = τ+``, ``tau_post_pre = τ-``, ``tau_x``, ``tau_y``.
:func:`triplet_parameters` takes the paper's positive amplitudes and does that
conversion; :func:`stdp_sim.rule.triplet_rule` builds the rule from them, and the four
published sets are presets (:data:`stdp_sim.rule.TRIPLET_PRESETS`, reachable through
:func:`stdp_sim.preset`).  This module holds only the parameters, so that
:mod:`stdp_sim.rule` can build its presets from them.

Two forms, as in the paper: **all-to-all** (every trace sums over spikes; ``pairing
"all-to-all"``) and **nearest-spike** (every trace is set to 1 at a spike, so each
spike interacts only with the last spike of each neuron; ``pairing
"nearest-symmetric"``).

Weight convention of the presets: weights are in units of the initial weight
(``w_init = 1``), so an additive change Δw *is* the relative change Δw/w0 that
Pfister & Gerstner fitted to the data (Sjöström et al. 2001: relative change after 60
pairings).  Bounds ``[0, 2]``: a weight can at most double; the bounds are not part of
the published model.  No condition of the visual-cortex sets on Sjöström's protocol
reaches them (largest change +0.75); the hippocampal all-to-all set, fitted to other
data, depresses to the lower bound at 20–50 Hz there.
"""

from __future__ import annotations

from brian2 import Quantity, ms

from stdp_sim import _checks

__all__ = ["triplet_parameters", "TRIPLET_PARAMETERS", "TRIPLET_W_INIT", "TRIPLET_W_BOUNDS"]

#: Pair time constants fixed by Pfister & Gerstner (Bi & Poo's values): τ+, τ-.
TAU_PLUS = 16.8 * ms
TAU_MINUS = 33.7 * ms
#: Initial weight of the triplet presets: Δw is then the relative change.
TRIPLET_W_INIT = 1.0
#: Bounds of the triplet presets (not part of the published model; see module docstring).
TRIPLET_W_BOUNDS = (0.0, 2.0)


def triplet_parameters(
    a2_plus: float,
    a3_plus: float,
    a2_minus: float,
    a3_minus: float,
    tau_x: Quantity,
    tau_y: Quantity,
    *,
    tau_plus: Quantity = TAU_PLUS,
    tau_minus: Quantity = TAU_MINUS,
    nearest: bool = False,
) -> dict:
    """:class:`stdp_sim.STDPRule` keyword arguments of Pfister & Gerstner's parameters.

    Parameters
    ----------
    a2_plus, a3_plus : float
        Pair and triplet potentiation amplitudes ``A2+``, ``A3+`` (>= 0).
    a2_minus, a3_minus : float
        Pair and triplet depression amplitudes ``A2-``, ``A3-`` (>= 0; subtracted, so
        they become ``a_post_pre = -a2_minus`` and ``a3_post_pre = -a3_minus``).
    tau_x, tau_y : Quantity
        Time constants of the presynaptic (``r2``) and postsynaptic (``o2``) triplet
        traces.
    tau_plus, tau_minus : Quantity, default 16.8 ms, 33.7 ms
        Time constants of the pair traces ``r1``, ``o1`` (the paper fixes them to Bi &
        Poo's values).
    nearest : bool, default False
        The nearest-spike form (``pairing="nearest-symmetric"``) instead of all-to-all.

    Returns
    -------
    dict
        ``a_pre_post``, ``a_post_pre``, ``tau_pre_post``, ``tau_post_pre``, ``pairing``,
        ``a3_pre_post``, ``a3_post_pre``, ``tau_x``, ``tau_y``.

    Raises
    ------
    ValueError
        For a negative or non-numeric amplitude, or a time constant without time
        units (or not positive), naming the parameter.
    """
    amplitudes = {"a2_plus": a2_plus, "a3_plus": a3_plus, "a2_minus": a2_minus,
                  "a3_minus": a3_minus}  # fmt: skip
    for key, value in amplitudes.items():
        if _checks.finite_float(value, key) < 0:
            raise ValueError(
                f"{key} is a magnitude in Pfister & Gerstner's convention (>= 0; depression "
                f"is subtracted), got {value!r}; for signed amplitudes use STDPRule directly"
            )
    for key, value in (("tau_x", tau_x), ("tau_y", tau_y), ("tau_plus", tau_plus),
                       ("tau_minus", tau_minus)):
        _checks.time_scalar(value, key)
    return {
        "a_pre_post": float(a2_plus),
        "a_post_pre": -float(a2_minus) if a2_minus else 0.0,
        "tau_pre_post": tau_plus,
        "tau_post_pre": tau_minus,
        "pairing": "nearest-symmetric" if nearest else "all-to-all",
        "a3_pre_post": float(a3_plus),
        "a3_post_pre": -float(a3_minus) if a3_minus else 0.0,
        "tau_x": tau_x,
        "tau_y": tau_y,
    }


#: Pfister & Gerstner (2006), Table 4, with τ+ = 16.8 ms and τ- = 33.7 ms: the sets
#: fitted to visual-cortex data (Sjöström et al. 2001) and to hippocampal-culture data,
#: each in the all-to-all and the nearest-spike form.
TRIPLET_PARAMETERS: dict[str, dict] = {
    "triplet_visual_all_to_all": dict(
        tau_x=101 * ms, tau_y=125 * ms, a2_plus=5e-10, a3_plus=6.2e-3, a2_minus=7e-3,
        a3_minus=2.3e-4, nearest=False,
        source="Pfister & Gerstner 2006, Table 4: visual cortex, all-to-all",
    ),
    "triplet_visual_nearest": dict(
        tau_x=714 * ms, tau_y=40 * ms, a2_plus=8.8e-11, a3_plus=5.3e-2, a2_minus=6.6e-3,
        a3_minus=3.1e-3, nearest=True,
        source="Pfister & Gerstner 2006, Table 4: visual cortex, nearest spike",
    ),
    "triplet_hippocampus_all_to_all": dict(
        tau_x=946 * ms, tau_y=27 * ms, a2_plus=6.1e-3, a3_plus=6.7e-3, a2_minus=1.6e-3,
        a3_minus=1.4e-3, nearest=False,
        source="Pfister & Gerstner 2006, Table 4: hippocampal cultures, all-to-all",
    ),
    "triplet_hippocampus_nearest": dict(
        tau_x=575 * ms, tau_y=47 * ms, a2_plus=4.6e-3, a3_plus=9.1e-3, a2_minus=3e-3,
        a3_minus=7.5e-9, nearest=True,
        source="Pfister & Gerstner 2006, Table 4: hippocampal cultures, nearest spike",
    ),
}  # fmt: skip
