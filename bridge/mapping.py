"""Deprecated alias of :mod:`bridge.sign_mapping`: the module was renamed, and this alias
goes in the next release.  Import from :mod:`bridge.sign_mapping` instead.
"""

import warnings

from bridge.sign_mapping import (
    CONVENTIONS,
    DEFAULT_CONVENTION,
    EventMapping,
    consequence,
    map_event,
    sign,
    stdp_type,
    synapse_effect,
    timing_from_descent,
)

__all__ = [
    "CONVENTIONS",
    "DEFAULT_CONVENTION",
    "EventMapping",
    "sign",
    "timing_from_descent",
    "stdp_type",
    "synapse_effect",
    "consequence",
    "map_event",
]

warnings.warn("bridge.mapping is renamed bridge.sign_mapping; the old name goes in the next "
              "release", DeprecationWarning, stacklevel=2)
