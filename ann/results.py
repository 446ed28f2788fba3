"""Deprecated alias of :mod:`ann.run_store`: the module was renamed, and this alias
goes in the next release.  Import from :mod:`ann.run_store` instead.
"""

import warnings

from ann.environment import environment
from ann.run_store import RUN_FIELDS, RunStore, StoreError, SweepMismatch

__all__ = ["SweepMismatch", "StoreError", "RunStore", "RUN_FIELDS", "environment"]

warnings.warn("ann.results is renamed ann.run_store; the old name goes in the next "
              "release", DeprecationWarning, stacklevel=2)
