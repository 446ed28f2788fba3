"""Input checks shared by the public API: every failure is a ``ValueError`` that names
the parameter and shows the offending value."""

from __future__ import annotations

import math

import numpy as np
from brian2 import Hz, Quantity, second
from brian2.units.fundamentalunits import have_same_dimensions

from common.checks import is_integer


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _quantity(value, name: str, unit, unit_name: str, example: str) -> Quantity:
    if not isinstance(value, Quantity) or not have_same_dimensions(value, unit):
        raise ValueError(
            f"{name} must carry {unit_name} units (e.g. {example}), got {_show(value)}"
        )
    if not np.all(np.isfinite(np.asarray(value))):
        raise ValueError(f"{name} must be finite, got {_show(value)}")
    return value


def time_scalar(value, name: str, *, positive: bool = True, allow_zero: bool = False) -> Quantity:
    """A scalar time quantity; ``positive`` requires ``> 0`` (``>= 0`` with ``allow_zero``)."""
    q = _quantity(value, name, second, "time", "20*ms")
    if np.ndim(q) != 0:
        raise ValueError(f"{name} must be a scalar time, got {_show(value)}")
    if positive:
        bad = float(q) < 0 if allow_zero else float(q) <= 0
        if bad:
            sign = "non-negative" if allow_zero else "positive"
            raise ValueError(f"{name} must be {sign}, got {_show(value)}")
    return q


def time_array(value, name: str) -> Quantity:
    """A non-empty 1-D array of times (``[-10, 10]*ms``)."""
    if isinstance(value, Quantity):
        q = value
    elif isinstance(value, list | tuple) and value and all(isinstance(v, Quantity) for v in value):
        try:
            q = Quantity(value)
        except Exception:  # noqa: BLE001 - mixed dimensions
            raise ValueError(
                f"{name} must carry time units (e.g. [-10, 10]*ms), got {_show(value)}"
            ) from None
    else:
        raise ValueError(f"{name} must carry time units (e.g. [-10, 10]*ms), got {_show(value)}")
    _quantity(q, name, second, "time", "[-10, 10]*ms")
    q = q.reshape(-1) if np.ndim(q) else q.reshape(1)
    if q.size == 0:
        raise ValueError(f"{name} must not be empty, got {_show(value)}")
    return q


def rate_scalar(value, name: str, *, allow_zero: bool = False) -> Quantity:
    """A scalar rate (``1*Hz``), positive (or non-negative with ``allow_zero``)."""
    q = _quantity(value, name, Hz, "rate", "1*Hz")
    if np.ndim(q) != 0:
        raise ValueError(f"{name} must be a scalar rate, got {_show(value)}")
    if float(q) < 0 or (float(q) == 0 and not allow_zero):
        sign = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {sign}, got {_show(value)}")
    return q


def positive_int(value, name: str, *, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (bools are rejected)."""
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {_show(value)}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {_show(value)}")
    return int(value)


def finite_float(value, name: str) -> float:
    """A finite, dimensionless real number."""
    if isinstance(value, bool) or isinstance(value, Quantity) and not value.is_dimensionless:
        raise ValueError(f"{name} must be a dimensionless number, got {_show(value)}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {_show(value)}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {_show(value)}")
    return number


def choice(value, name: str, options) -> str:
    """One of ``options`` (strings)."""
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {listed}, got {_show(value)}")
    return value
