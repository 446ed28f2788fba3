"""The private random generators of a model's modules: save, load, restart.

A module that draws from its own generators (a resampling MixLU, a Noisy ReLU, seeded
dropout: :class:`~ann.activations.PrivateGenerator`; a stacked activation of the
batched engine, one per member) has ``generator_states()``,
``load_generator_states(states)`` and ``reset_draws()``.  The functions here apply them
to every such module of a model, in module order, so that a checkpoint
(:mod:`ann.checkpoint`) continues the draws exactly, the unit diagnostics
(:mod:`ann.diagnostics`) leave them as they were, and a stack restarts them from the
seeds as new modules would (:mod:`ann.batched`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

__all__ = ["generator_states", "load_generator_states", "reset_generators"]


def _owners(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if hasattr(m, "generator_states")]


def generator_states(model: nn.Module) -> list[Any]:
    """The states of every private generator in ``model``'s modules, in module order."""
    return [m.generator_states() for m in _owners(model)]


def load_generator_states(model: nn.Module, states: Sequence[Any]) -> None:
    """Put :func:`generator_states` back into a model of the same structure.

    Raises:
        ValueError: ``states`` of another number of modules.
    """
    owners = _owners(model)
    if len(owners) != len(states):
        raise ValueError(f"checkpoint holds generator states of {len(states)} modules, the "
                         f"model has {len(owners)}")
    for module, state in zip(owners, states, strict=True):
        module.load_generator_states(state)


def reset_generators(model: nn.Module) -> None:
    """Restart every private generator of ``model`` from its seed, as in new modules."""
    for module in _owners(model):
        module.reset_draws()
