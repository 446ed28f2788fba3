"""The four STDP regimes of the thesis (Tables 1 and 5) and their classification.

Sign convention, used everywhere in this toolkit
-------------------------------------------------
``delta_t = t_pre - t_post``.  A pairing where the presynaptic neuron (A) fires
first has ``delta_t < 0``; one where the postsynaptic neuron (B) fires first has
``delta_t > 0``.  Over a window of several pairings the *integral* of ``delta_t``
decides the timing side:

======================  =========  ==========================  ================================
timing                  ∫Δt        dw > 0 (potentiation)       dw < 0 (depression)
======================  =========  ==========================  ================================
A first, or same time   ≤ 0        pre-post potentiation       pre-post depression
                                   (Hebbian)                   (anti-Hebbian)
B first                 > 0        post-pre potentiation       post-pre depression
                                   (temporally-inverted        (temporally-inverted
                                   Hebbian)                    anti-Hebbian)
======================  =========  ==========================  ================================

``dw == 0`` is no plasticity and belongs to no regime: :func:`classify` returns
``None`` for it.
"""

from __future__ import annotations

import enum
import math

__all__ = ["Regime", "classify"]


class Regime(enum.Enum):
    """One of the four STDP regimes.

    Each member knows its proposed name (thesis Table 5, ``regime.label``), its
    classic name (Table 1, ``regime.legacy_name``), its timing side
    (``"pre-post"`` or ``"post-pre"``) and its consequence (``"potentiation"`` or
    ``"depression"``).

    Examples
    --------
    >>> Regime.PRE_POST_POTENTIATION.label
    'pre-post potentiation'
    >>> Regime.from_label("post-pre depression").legacy_name
    'temporally-inverted anti-Hebbian'
    """

    PRE_POST_POTENTIATION = ("pre-post", "potentiation", "Hebbian")
    PRE_POST_DEPRESSION = ("pre-post", "depression", "anti-Hebbian")
    POST_PRE_POTENTIATION = ("post-pre", "potentiation", "temporally-inverted Hebbian")
    POST_PRE_DEPRESSION = ("post-pre", "depression", "temporally-inverted anti-Hebbian")

    def __init__(self, timing: str, consequence: str, legacy_name: str):
        self.timing = timing
        self.consequence = consequence
        self.legacy_name = legacy_name

    @property
    def label(self) -> str:
        """The thesis's proposed name (Table 5), e.g. ``"pre-post potentiation"``."""
        return f"{self.timing} {self.consequence}"

    @property
    def dw_sign(self) -> int:
        """+1 for potentiation, -1 for depression."""
        return 1 if self.consequence == "potentiation" else -1

    @classmethod
    def from_parts(cls, timing: str, consequence: str) -> Regime:
        """The regime with this timing side and consequence."""
        for regime in cls:
            if regime.timing == timing and regime.consequence == consequence:
                return regime
        raise ValueError(
            f"no regime with timing={timing!r} and consequence={consequence!r}; "
            "timing is 'pre-post' or 'post-pre', consequence 'potentiation' or 'depression'"
        )

    @classmethod
    def from_label(cls, label: str) -> Regime:
        """The regime with this Table 5 name (``"pre-post potentiation"``, ...)."""
        for regime in cls:
            if regime.label == label:
                return regime
        names = ", ".join(repr(r.label) for r in cls)
        raise ValueError(f"unknown regime {label!r}; expected one of {names}")

    def __str__(self) -> str:
        return self.label


def _as_float(value, name: str) -> float:
    # Brian2 quantities and numpy scalars both convert with float(); the sign is
    # all that matters here, so any consistent unit will do.
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a Brian2 quantity, got {value!r}") from None
    if math.isnan(number):
        raise ValueError(f"{name} is NaN")
    return number


def classify(integral_delta_t, dw) -> Regime | None:
    """Classify a measured weight change into one of the four regimes.

    Parameters
    ----------
    integral_delta_t : float or brian2 Quantity
        ``∫Δt`` with ``Δt = t_pre - t_post`` summed over the pairings of the
        window.  ``≤ 0`` (pre fired first, or at the same time) is the pre-post
        side, ``> 0`` the post-pre side.
    dw : float or brian2 Quantity
        The weight change.  ``> 0`` is potentiation, ``< 0`` depression.

    Returns
    -------
    Regime or None
        ``None`` when ``dw == 0``: no plasticity happened, so no regime applies.

    Raises
    ------
    ValueError
        If either argument is NaN or not a number.
    """
    idt = _as_float(integral_delta_t, "integral_delta_t")
    change = _as_float(dw, "dw")
    if change == 0.0:
        return None
    timing = "pre-post" if idt <= 0.0 else "post-pre"
    consequence = "potentiation" if change > 0.0 else "depression"
    return Regime.from_parts(timing, consequence)
