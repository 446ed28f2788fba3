"""A spiking network that learns digits with STDP (Diehl & Cook 2015), with a share
of its neurons (or synapses) under another rule: the biological mirror of a MixLU
layer (MixSTDP).

Modules: :mod:`~stdp_sim.diehl_cook.parameters` (the published constants),
:mod:`~stdp_sim.diehl_cook.plasticity` (the trace rules, their mirror, and which
synapse follows which), :mod:`~stdp_sim.diehl_cook.network` (the Brian2 network and
its presentation schedule), :mod:`~stdp_sim.diehl_cook.labels` (labelling and
classification by spike counts), :mod:`~stdp_sim.diehl_cook.standalone` (the same
network compiled by Brian2's C++ standalone mode, one program call per chunk of
images), :mod:`~stdp_sim.diehl_cook.training` (one run: train, label, test, in
resumable chunks, with either engine).  Torch-free, like all of ``stdp_sim``.
"""

from common.lazy import lazy_exports

_EXPORTS = {
    "DiehlCookParameters": "stdp_sim.diehl_cook.parameters",
    "TraceRule": "stdp_sim.diehl_cook.plasticity",
    "DIEHL_COOK_RULE": "stdp_sim.diehl_cook.plasticity",
    "RuleAssignment": "stdp_sim.diehl_cook.plasticity",
    "assign_rules": "stdp_sim.diehl_cook.plasticity",
    "mixed_rule": "stdp_sim.diehl_cook.plasticity",
    "DiehlCookNetwork": "stdp_sim.diehl_cook.network",
    "StandaloneNetwork": "stdp_sim.diehl_cook.standalone",
    "resolve_engine": "stdp_sim.diehl_cook.standalone",
    "assign_labels": "stdp_sim.diehl_cook.labels",
    "predict": "stdp_sim.diehl_cook.labels",
    "RunSettings": "stdp_sim.diehl_cook.training",
    "train_and_test": "stdp_sim.diehl_cook.training",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = list(_EXPORTS)
