"""Deprecated alias of :mod:`bridge.sign_observer`: the module was renamed, and this alias
goes in the next release.  Import from :mod:`bridge.sign_observer` instead.
"""

import warnings

from bridge.sign_observer import DEFAULT_EVERY, SignObserver, share_series, summarise_records

__all__ = ["SignObserver", "DEFAULT_EVERY", "summarise_records", "share_series"]

warnings.warn("bridge.observer is renamed bridge.sign_observer; the old name goes in the next "
              "release", DeprecationWarning, stacklevel=2)
