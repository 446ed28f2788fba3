"""What counts as a number in an argument: the one check every package uses.

``True`` is an ``int`` to Python, but ``seeds=True`` or ``lr=False`` is a mistake, not
a value: :func:`is_integer` and :func:`is_real` accept Python and numpy numbers and
refuse bools (and strings, ``None``, tensors ...).  Each caller raises its own
one-line ``ValueError`` naming the parameter.  :func:`is_within` is the range check of
a stored number (an error rate in [0, 1], a percent in [0, 100]): finite and inside.

Text typed by a user is a number only in plain decimal notation (:func:`decimal`,
:func:`decimal_integer`): Python's own ``float("1_0")`` is 10.0 and ``int("1_0")`` is
10, so a typo such as ``--percents 0,1_0`` would silently train 10 %.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

__all__ = ["is_integer", "is_real", "is_within", "decimal", "decimal_integer"]

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


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


def decimal(text: str) -> float:
    """``text`` as a float if it is a plain decimal number (``5``, ``-0.25``, ``1e-3``).

    Raises:
        ValueError: anything else: digit separators (``1_0``), hexadecimal, ``inf``,
            ``nan``, blanks inside, an empty string.
    """
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not a decimal number")
    return float(text)


def decimal_integer(text: str) -> int:
    """``text`` as an int if it is plain decimal digits with an optional sign.

    Raises:
        ValueError: anything else (``1_0``, ``0x10``, ``1.0``, ``1e3``, blanks inside).
    """
    if not isinstance(text, str) or not _INTEGER.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not a decimal integer")
    return int(text)


# argparse names a type in its message ("invalid float value: '1_0'"): keep the names
decimal.__name__ = "float"
decimal_integer.__name__ = "int"
