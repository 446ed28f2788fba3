"""The memory budget of a process: how many bytes one allocation plan may take.

Dataset readers check a file's declared size against it before they allocate (the IDX
reader of :mod:`common.data.idx`, the loaders of ``ann.data``), and the batched engine
plans its stacks within it (``ann.batched.memory``), so that an input too large for the
machine is refused in one line instead of dying in the allocator.

The budget is ``NEGLU_STDP_MEMORY_BUDGET`` when that is set (bytes, or a number with a
``K``, ``M``, ``G`` or ``T`` suffix, powers of 1024: ``512M``); otherwise half of the
memory available (``MemAvailable`` of ``/proc/meminfo``, :data:`FALLBACK_BUDGET` where
that cannot be read), and at most half of the address space this process has left under
an ``RLIMIT_AS`` limit.

Imports neither torch nor brian2.
"""

from __future__ import annotations

import os
import re

from common.cli import UserError

__all__ = ["MEMORY_BUDGET_ENV", "FALLBACK_BUDGET", "MemoryBudgetError", "memory_budget",
           "format_bytes", "budget_note"]

#: The environment variable that sets the budget (bytes, or ``512M``, ``2G`` ...).
MEMORY_BUDGET_ENV = "NEGLU_STDP_MEMORY_BUDGET"
#: The budget where ``/proc/meminfo`` cannot be read and the variable is not set.
FALLBACK_BUDGET = 8 * 2**30

_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class MemoryBudgetError(UserError):
    """A plan that needs more memory than the budget (one line naming what and how much)."""


def _from_env(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    value = float(m.group(1)) * _SUFFIXES[m.group(2).upper()] if m else 0.0
    if not m or value < 1:
        raise UserError(f"{MEMORY_BUDGET_ENV} must be a positive number of bytes (e.g. "
                        f"2000000000, 512M, 4G), got {text!r}")
    return int(value)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space_left() -> int | None:
    """Bytes of address space left under ``RLIMIT_AS`` (``None``: no limit, or unknown)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return max(0, soft - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return soft


def memory_budget() -> int:
    """Bytes one plan of this process may allocate (module docstring): the variable
    :data:`MEMORY_BUDGET_ENV` if set, else half of the available memory, at most half of
    the address space left under ``RLIMIT_AS``.

    Raises:
        UserError: the variable is set to something that is not a positive size.
    """
    text = os.environ.get(MEMORY_BUDGET_ENV)
    if text is not None and text.strip():
        return _from_env(text)
    available = _meminfo_available()
    budget = available // 2 if available is not None else FALLBACK_BUDGET
    left = _address_space_left()
    if left is not None:
        budget = min(budget, left // 2)
    return max(1, budget)


def format_bytes(n: int | float) -> str:
    """``n`` bytes for a message: ``812 bytes``, ``4.7 MiB``, ``8.76 GiB``."""
    if n < 1024:
        return f"{int(n)} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}" if n < 100 else f"{n:.0f} {unit}"
    raise AssertionError("unreachable")


def budget_note(budget: int) -> str:
    """The phrase that ends a message about the budget: its size and what sets it."""
    return f"the memory budget of {format_bytes(budget)} ({MEMORY_BUDGET_ENV} sets it)"
