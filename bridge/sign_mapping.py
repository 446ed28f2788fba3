"""The sign mapping from an artificial weight update to an STDP regime (thesis Tables 2–4).

One event is one synapse ``w`` from unit A (presynaptic, activation ``a_A``) to
unit B (postsynaptic, input ``z``, output ``a = f(z)``) in one sample of one
training step.  Four signs decide it:

``descent``
    The descent signal at B, ``-∂C/∂a``: positive when gradient descent wants B's
    output to grow.
``derivative``
    The effective local derivative that the backward pass actually applied,
    ``(∂C/∂z) / (∂C/∂a)`` (see :mod:`bridge.derivative`).  ``> 0`` is normal-effect
    STDP, ``< 0`` temporally-inverted STDP, ``0`` silent (no update reaches ``w``).
``pre_activation``
    ``a_A``: the sign of the transmitter (``+`` excitatory, ``-`` inhibitory).
``weight``
    ``w``: the sign of the receptor (``+`` normal effect, ``-`` opposite effect).

What follows from them:

- **synapse effect** (Table 4) = ``sign(a_A) * sign(w)``: ``+1`` excitatory,
  ``-1`` inhibitory.
- **consequence**: gradient descent changes the weight by
  ``Δw ∝ -∂C/∂w = descent * derivative * a_A``.  The weight's magnitude is the
  number of receptors (Table 2), so the update is *potentiation* when it grows
  ``|w|`` (``Δw`` has the sign of ``w``) and *depression* when it shrinks it:
  ``sign = descent * derivative * sign(a_A) * sign(w)``.
- **timing** (Table 3): which neuron "fired first" is read from the cost
  derivative, under one of two conventions:

  ``"rate"`` (default)
      ``-∂C/∂a > 0`` (descent wants B's rate to rise) means A fired first: the
      rate-based account of STDP (Xie & Seung 2000; Bengio et al. 2015), where a
      rising postsynaptic rate under Hebbian STDP acts like pre-before-post timing.
  ``"literal"``
      Table 3 as printed: ``∂C/∂a > 0`` means A fired first.

- **regime** = (timing, consequence), one of the four :class:`stdp_sim.Regime`.

Any zero sign (no descent signal, silent derivative, silent presynaptic unit,
zero weight) means no update, and so no regime: :func:`map_event` returns a
mapping whose ``regime`` is ``None``.

Why ``"rate"`` is the default
-----------------------------
``experiments/update_signs.py`` runs :func:`stdp_sim.rate_ramp.run_rate_ramp` in
Brian2: constant-rate presynaptic Poisson trains, postsynaptic trains whose rate
ramps up, stays flat or ramps down.  A rising postsynaptic rate is the
biological counterpart of a positive descent signal.  For every two-sided preset
(``hebbian``, ``anti_hebbian``) the measured sign of Δw under a rising rate is
the sign of the preset's *pre-before-post* amplitude, which is what the
``"rate"`` convention predicts and the opposite of what ``"literal"`` predicts;
the one-sided presets cannot tell the two apart.  The measured numbers are in
``docs/update-signs.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stdp_sim.regime import Regime

__all__ = [
    "CONVENTIONS",
    "DEFAULT_CONVENTION",
    "EventMapping",
    "sign",
    "timing_from_descent",
    "stdp_type",
    "synapse_effect",
    "consequence",
    "map_event",
]

CONVENTIONS = ("rate", "literal")
DEFAULT_CONVENTION = "rate"


def check_convention(convention: str) -> str:
    """Return ``convention`` if it is one of :data:`CONVENTIONS`, else raise ``ValueError``."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return convention


def sign(value: float) -> int:
    """-1, 0 or +1; ``ValueError`` for NaN."""
    value = float(value)
    if math.isnan(value):
        raise ValueError("sign of NaN is undefined")
    return (value > 0) - (value < 0)


def timing_from_descent(descent: float, convention: str = DEFAULT_CONVENTION) -> str | None:
    """Timing side (``"pre-post"`` or ``"post-pre"``) read from the descent signal ``-∂C/∂a``.

    ``None`` when the descent signal is 0 (no correlation to read).
    """
    check_convention(convention)
    s = sign(descent)
    if s == 0:
        return None
    a_first = s > 0 if convention == "rate" else s < 0
    return "pre-post" if a_first else "post-pre"


def stdp_type(derivative: float) -> str:
    """``"normal"`` (f' > 0), ``"inverted"`` (f' < 0, temporally inverted) or ``"silent"``."""
    s = sign(derivative)
    return {1: "normal", -1: "inverted", 0: "silent"}[s]


def synapse_effect(pre_activation: float, weight: float) -> int:
    """Table 4: ``sign(a_A) * sign(w)``; +1 excitatory, -1 inhibitory, 0 none."""
    return sign(pre_activation) * sign(weight)


def consequence(descent: float, derivative: float, pre_activation: float, weight: float):
    """``"potentiation"`` if the descent update grows ``|w|``, ``"depression"`` if it
    shrinks it, ``None`` if it does not change ``w``."""
    s = sign(descent) * sign(derivative) * synapse_effect(pre_activation, weight)
    return {1: "potentiation", -1: "depression", 0: None}[s]


@dataclass(frozen=True)
class EventMapping:
    """Everything the four signs of one event say (see the module docstring)."""

    timing: str | None
    stdp_type: str
    synapse_effect: int
    consequence: str | None
    regime: Regime | None


def map_event(
    descent: float,
    derivative: float,
    pre_activation: float,
    weight: float,
    convention: str = DEFAULT_CONVENTION,
) -> EventMapping:
    """Map the signs of one event to timing, STDP type, synapse effect, consequence and regime.

    Parameters
    ----------
    descent : float
        ``-∂C/∂a`` at the postsynaptic unit.
    derivative : float
        Effective local derivative applied by the backward pass.
    pre_activation : float
        Presynaptic activation ``a_A``.
    weight : float
        The synaptic weight ``w``.
    convention : {"rate", "literal"}
        How the descent signal's sign reads as spike timing; default ``"rate"``.

    Examples
    --------
    A ReLU unit (f' = 1) on an excitatory synapse, descent wants more output:

    >>> map_event(+1.0, 1.0, 0.5, 0.2).regime.label
    'pre-post potentiation'
    >>> map_event(+1.0, 1.0, 0.5, 0.2, convention="literal").regime.label
    'post-pre potentiation'
    """
    timing = timing_from_descent(descent, convention)
    kind = stdp_type(derivative)
    effect = synapse_effect(pre_activation, weight)
    result = consequence(descent, derivative, pre_activation, weight)
    regime = None
    if timing is not None and result is not None:
        regime = Regime.from_parts(timing, result)
    return EventMapping(timing, kind, effect, result, regime)
