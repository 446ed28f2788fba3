"""What counts as a number in an argument: the one check every package uses.

``True`` is an ``int`` to Python, but ``seeds=True`` or ``lr=False`` is a mistake, not
a value: :func:`is_integer` and :func:`is_real` accept Python and numpy numbers and
refuse bools (and strings, ``None``, tensors ...).  Each caller raises its own
one-line ``ValueError`` naming the parameter.
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["is_integer", "is_real"]


def is_integer(value: Any) -> bool:
    """An integer (``int``, numpy integer), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A real number (``int``, ``float``, numpy scalar), not a bool; may be infinite or
    NaN (check :func:`math.isfinite` where that matters)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
