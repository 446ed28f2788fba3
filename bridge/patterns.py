"""Which artificial sign patterns map to each STDP regime, and which units can produce them.

Both answers are computed, not written down: the patterns by running
:func:`bridge.sign_mapping.map_event` over every sign combination, the unit types by
probing each activation's backward pass (:func:`bridge.derivative.probe_derivative`)
on negative and positive inputs.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from ann.activations import BACKWARDS, NegLU
from bridge.derivative import probe_derivative
from bridge.sign_mapping import DEFAULT_CONVENTION, map_event
from stdp_sim.regime import Regime

__all__ = ["unit_derivative_signs", "sign_patterns"]


def _unit_kinds() -> dict[str, nn.Module]:
    kinds: dict[str, nn.Module] = {"ReLU": nn.ReLU()}
    for mode in BACKWARDS:
        kinds[f"NegLU ({mode})"] = NegLU(mode)
    return kinds


def unit_derivative_signs() -> dict[str, list[int]]:
    """For each unit kind, the non-zero derivative signs its backward pass applies.

    Probed at ``z = -1`` and ``z = +1``: e.g. ``{"ReLU": [1], "NegLU (inverted)": [-1], ...}``.
    """
    z = torch.tensor([-1.0, 1.0])
    signs = {}
    for name, module in _unit_kinds().items():
        d = probe_derivative(module, z)
        signs[name] = sorted({int(v) for v in torch.sign(d).tolist() if v != 0})
    return signs


def sign_patterns(convention: str = DEFAULT_CONVENTION) -> list[dict]:
    """One entry per regime: the ANN sign patterns that map to it.

    Returns
    -------
    list of dict
        Keys ``regime`` (Table 5 name), ``legacy_name`` and ``patterns``: a list
        with one dict per synapse effect (``"excitatory"``, ``"inhibitory"``)
        holding ``descent`` (sign of ``-∂C/∂a``), ``derivative`` (sign of the
        effective local derivative) and ``unit_types`` (the unit kinds whose
        backward can apply that derivative sign).
    """
    derivative_signs = unit_derivative_signs()
    table = {regime: [] for regime in Regime}
    for effect, descent, derivative in itertools.product((1, -1), (1, -1), (1, -1)):
        mapped = map_event(descent, derivative, 1.0, effect, convention)
        table[mapped.regime].append(
            {
                "synapse": "excitatory" if effect > 0 else "inhibitory",
                "descent": descent,
                "derivative": derivative,
                "unit_types": [k for k, s in derivative_signs.items() if derivative in s],
            }
        )
    return [
        {"regime": r.label, "legacy_name": r.legacy_name, "patterns": table[r]} for r in Regime
    ]
