"""Deprecated alias of :mod:`ann.step_observer`: the module was renamed, and this alias
goes in the next release.  Import from :mod:`ann.step_observer` instead.
"""

import warnings

from ann.step_observer import Observer, RunObserver

__all__ = ["Observer", "RunObserver"]

warnings.warn("ann.observe is renamed ann.step_observer; the old name goes in the next "
              "release", DeprecationWarning, stacklevel=2)
