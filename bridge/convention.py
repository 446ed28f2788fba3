"""Deprecated alias of :mod:`bridge.convention_verdict`: the module was renamed, and this alias
goes in the next release.  Import from :mod:`bridge.convention_verdict` instead.
"""

import warnings

from bridge.convention_verdict import convention_verdict, ramp_effect

__all__ = ["ramp_effect", "convention_verdict"]

warnings.warn("bridge.convention is renamed bridge.convention_verdict; the old name goes in "
              "the next release", DeprecationWarning, stacklevel=2)
