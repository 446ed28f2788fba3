"""Import Brian2 without the pylab namespace, for scripts that start fast.

Brian2's package ``__init__`` runs ``from pylab import *`` so that ``from brian2 import
*`` also offers matplotlib's and numpy's names; importing matplotlib.pyplot costs 1-2 s
of a short script's start.  :func:`import_brian2_without_pylab` imports Brian2 with
``pylab`` hidden, so that ``__init__`` takes its own fallback (numpy's names only).

Only for a script's own process (``experiments/stdp_table.py``): in that process
``brian2`` then lacks ``plot``, ``figure`` and the other pylab names.  A library never
calls it, so that a user's ``from brian2 import *`` keeps them.
"""

from __future__ import annotations

import sys

__all__ = ["import_brian2_without_pylab"]


def import_brian2_without_pylab() -> None:
    """Import Brian2 now, hiding ``pylab`` from its ``__init__``; a no-op if Brian2 or
    pylab is imported already (then there is nothing to save)."""
    if "brian2" in sys.modules or "pylab" in sys.modules:
        return
    sys.modules["pylab"] = None  # `import pylab` raises ImportError while this is set
    try:
        import brian2  # noqa: F401
    finally:
        del sys.modules["pylab"]
