"""The unit types of an activation module: the one classifier of the toolkit.

Every activation position holds units of one or more types (:data:`UNIT_TYPES`):
``"relu"``, ``"neglu"``, ``"leaky"``, ``"prelu"``, ``"noisy"``, ``"convact"``, the
``"max"`` and ``"min"`` units of a Min-Maxout layer, and ``"other"`` for a module the
toolkit does not know.  A MixLU (and a bipolar layer, a MixLU with a fixed mirror
mask) mixes ``"relu"`` and ``"neglu"`` units; a resampling MixLU redraws the type of
every element on every pass (:data:`RESAMPLED`).

:func:`unit_type` names the type of a module whose units are all of one type (declared
by the class's ``unit_type`` attribute); :func:`unit_masks` gives per-unit masks for
any module.  The unit diagnostics (:mod:`ann.diagnostics`) and the bridge's sign
monitor (:mod:`bridge.monitor`) both classify with these.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ann.activations import MixLU
from ann.minmaxout import MinMaxout

__all__ = ["UNIT_TYPES", "RESAMPLED", "unit_type", "unit_masks"]

UNIT_TYPES = ("relu", "neglu", "leaky", "prelu", "noisy", "convact", "max", "min", "other")
#: The type of a resampling MixLU's units, redrawn on every pass.
RESAMPLED = "resampled"


def unit_type(module: nn.Module) -> str | None:
    """The type of every unit of ``module``; ``None`` for a MixLU or a Min-Maxout
    layer, whose units differ (:func:`unit_masks`)."""
    if isinstance(module, MixLU | MinMaxout):
        return None
    if isinstance(module, nn.ReLU):
        return "relu"
    return getattr(module, "unit_type", "other")


def unit_masks(module: nn.Module, num_units: int) -> dict[str, Tensor]:
    """Bool masks ``(num_units,)`` by unit type, for one member's activation ``module``
    of ``num_units`` units (channels or features); types without units are left out.

    A resampling MixLU with NegLUs has all its units :data:`RESAMPLED`; a Min-Maxout
    layer's masks are over its output units.
    """
    if isinstance(module, MixLU):
        if module.mask == "resample" and module.neg_fraction > 0.0:
            types = {RESAMPLED: torch.ones(num_units, dtype=torch.bool)}
        else:
            neg = module.neg_mask.cpu() & (module.neg_fraction > 0.0)
            types = {"relu": ~neg, "neglu": neg}
    elif isinstance(module, MinMaxout):
        mins = module.min_mask.cpu()
        types = {"max": ~mins, "min": mins}
    else:
        types = {unit_type(module): torch.ones(num_units, dtype=torch.bool)}
    return {k: v for k, v in types.items() if bool(v.any())}
