"""What counts as a number in an argument: the one check every package uses.

``True`` is an ``int`` to Python, but ``seeds=True`` or ``lr=False`` is a mistake, not
a value: :func:`is_integer` and :func:`is_real` accept Python and numpy numbers and
refuse bools (and strings, ``None``, tensors ...).  Each caller raises its own
one-line ``ValueError`` naming the parameter.  :func:`is_within` is the range check of
a stored number (an error rate in [0, 1], a percent in [0, 100]): finite and inside.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["is_integer", "is_real", "is_within"]


def is_integer(value: Any) -> bool:
    """An integer (``int``, numpy integer), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A real number (``int``, ``float``, numpy scalar), not a bool; may be infinite or
    NaN (check :func:`math.isfinite` where that matters)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_within(value: Any, low: float = -math.inf, high: float = math.inf) -> bool:
    """A finite real number (:func:`is_real`) with ``low <= value <= high``: ``NaN``,
    infinities, bools and integers too large for a float are not."""
    if not is_real(value):
        return False
    try:
        return math.isfinite(value) and low <= value <= high
    except OverflowError:  # an int beyond a float's range
        return False
