"""Deprecated alias of :mod:`ann.batched.stacking`: the module was renamed, and this alias
goes in the next release.  Import from :mod:`ann.batched.stacking` instead.
"""

import warnings

from ann.batched.stacking import (
    check_stackable,
    model_signature,
    select_members,
    stack_input,
    stack_models,
    verify_stacked,
)

__all__ = [
    "check_stackable",
    "model_signature",
    "stack_models",
    "select_members",
    "stack_input",
    "verify_stacked",
]

warnings.warn("ann.batched.surgery is renamed ann.batched.stacking; the old name goes in the next "
              "release", DeprecationWarning, stacklevel=2)
