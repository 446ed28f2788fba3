"""Stacking: turn K member models of one structure into one stacked model.

:func:`stack_models` deep-copies the first member and replaces its convolutions, linear
layers and activations by the stacked layers of :mod:`ann.batched.layers`; pools,
padding and other channel-wise code in the model's ``forward`` run unchanged on the
stacked tensor.  :func:`verify_stacked` checks the result against its members.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ann.batched.layers import (
    STACKED_TYPES,
    StackedActivation,
    StackedConv2d,
    StackedLinear,
    UnsupportedModel,
    _member_unit,
    is_activation,
)
from ann.batched.units import StackedUnits, is_stateful_unit
from ann.generators import reset_generators
from ann.members import member_view

__all__ = [
    "check_stackable",
    "model_signature",
    "stack_models",
    "select_members",
    "stack_input",
    "verify_stacked",
]

#: Leaf modules without state that act channel-wise and so run unchanged on a stack.
_STATELESS_OK = (nn.MaxPool2d, nn.AvgPool2d, nn.Identity, nn.Flatten)


def check_stackable(model: nn.Module) -> None:
    """Raise :class:`UnsupportedModel` for an activation of ``model`` that a stack
    cannot carry (the layers are checked by :func:`stack_models`)."""
    for module in model.modules():
        if is_stateful_unit(module):
            StackedUnits([module])
        elif is_activation(module):
            _member_unit(module)


def _own_state(module: nn.Module) -> list[str]:
    names = [n for n, p in module.named_parameters(recurse=False) if p is not None]
    return names + [n for n, b in module.named_buffers(recurse=False) if b is not None]


def _layer_key(module: nn.Module) -> tuple:
    """What must agree between members at one position (slope-table activations: only
    that one is; units with parameters or draws: their class and parameter shapes)."""
    if is_stateful_unit(module):
        return ("unit", type(module).__name__,
                tuple((n, p.shape) for n, p in module.named_parameters()))
    if is_activation(module):
        return ("activation",)
    if isinstance(module, nn.Conv2d | nn.Linear):
        return (type(module).__name__, module.extra_repr(),
                tuple(p.shape for p in module.parameters()), module.weight.dtype)
    return (type(module).__name__, module.extra_repr())


def model_signature(model: nn.Module) -> tuple:
    """Hashable description of a model's stackable structure: models with equal
    signatures can be stacked together (activations may differ)."""
    return (type(model).__qualname__,
            tuple((name, _layer_key(m)) for name, m in model.named_modules()
                  if not list(m.children()) or is_activation(m) or is_stateful_unit(m)))


def stack_models(models: Sequence[nn.Module]) -> nn.Module:
    """One module that computes all ``models`` at once (see the module docstring).

    The result is a deep copy of ``models[0]`` whose convolutions, linear layers and
    activations are replaced by :class:`StackedConv2d`, :class:`StackedLinear`,
    :class:`StackedActivation` and (units with parameters or draws, dropout included)
    :class:`~ann.batched.units.StackedUnits`; it takes ``(B, K*C, H, W)`` (member
    ``k``'s images in channels ``k*C .. (k+1)*C - 1``) and returns ``(B, K*classes)``,
    member-major.
    Parameter names are those of the members.  The models are not modified.

    Raises:
        UnsupportedModel: members of different structure, a layer type that cannot
            be stacked, or state (parameters, buffers) outside the stackable layers.
    """
    if not models:
        raise ValueError("models must not be empty")
    sig = model_signature(models[0])
    for i, m in enumerate(models[1:], 1):
        if model_signature(m) != sig:
            raise UnsupportedModel(f"model {i} differs in structure from model 0")
    template = copy.deepcopy(models[0])
    member_modules = [dict(m.named_modules()) for m in models]
    replacements: dict[str, nn.Module] = {}
    for name, module in template.named_modules():
        if any(name.startswith(f"{done}.") for done in replacements if done):
            continue  # inside a unit stacked as a whole
        peers = [mm[name] for mm in member_modules]
        if is_stateful_unit(module):
            replacements[name] = StackedUnits(peers)
        elif is_activation(module):
            replacements[name] = StackedActivation(peers)
        elif isinstance(module, nn.Conv2d):
            if type(module) is not nn.Conv2d:
                raise UnsupportedModel(f"{name}: subclass {type(module).__name__} of Conv2d")
            replacements[name] = StackedConv2d(peers)
        elif isinstance(module, nn.Linear):
            if type(module) is not nn.Linear:
                raise UnsupportedModel(f"{name}: subclass {type(module).__name__} of Linear")
            replacements[name] = StackedLinear(peers)
        elif list(module.children()):
            if _own_state(module):
                raise UnsupportedModel(
                    f"{name or type(module).__name__} holds its own state {_own_state(module)}"
                )
        elif not isinstance(module, _STATELESS_OK) or _own_state(module):
            raise UnsupportedModel(f"{name}: layer type {type(module).__name__} cannot be stacked")
    for name, new in replacements.items():
        if not name:
            raise UnsupportedModel("the model itself is a single layer; wrap it in a module")
        parent_name, _, attr = name.rpartition(".")
        setattr(template.get_submodule(parent_name), attr, new)
    template.stacked_members = len(models)
    return template


def select_members(stacked: nn.Module, keep: Sequence[int]) -> None:
    """Keep only members ``keep`` of a :func:`stack_models` module, in place."""
    for module in list(stacked.modules()):  # a stacked unit rebuilds its children
        if isinstance(module, (*STACKED_TYPES, StackedUnits)):
            module.select_members(keep)
    stacked.stacked_members = len(keep)


def stack_input(x: Tensor, members: int) -> Tensor:
    """The same images for every member: ``(B, C, H, W) -> (B, K*C, H, W)``."""
    return x.repeat(1, members, *([1] * (x.dim() - 2)))


def verify_stacked(stacked: nn.Module, models: Sequence[nn.Module], x: Tensor,
                   rtol: float = 1e-3) -> None:
    """Check forward values and parameter gradients of ``stacked`` against each member
    on the images ``x`` (CPU, float32).  Members are compared as copies; resampling
    masks of both sides restart from their seeds first (and ``stacked``'s stay used).
    Both sides are compared in eval mode, so noise and dropout are off: a Noisy ReLU
    draw that lands within float rounding of zero flips a unit's gate, and with it a
    whole channel's gradient (the draws themselves are tested against the loop by
    training, ``tests/test_stacked_units.py``).

    Raises:
        UnsupportedModel: a mismatch beyond ``rtol`` (relative to the largest magnitude)
            or an error in the stacked forward (e.g. a model whose ``forward`` mixes
            channels in a way the stack cannot follow).
    """
    k = len(models)
    gen = torch.Generator().manual_seed(0)
    models = [copy.deepcopy(m).eval() for m in models]
    was_training = stacked.training
    stacked.eval()
    for m in (stacked, *models):  # resampling masks: both sides draw from fresh generators
        reset_generators(m)
    try:
        _compare(stacked, models, x, k, gen, rtol)
    finally:
        stacked.train(was_training)


def _compare(stacked: nn.Module, models: Sequence[nn.Module], x: Tensor, k: int,
             gen: torch.Generator, rtol: float) -> None:
    try:
        out = stacked(stack_input(x, k))
        if out.dim() != 2 or out.shape[1] % k:
            raise ValueError(f"output of shape {tuple(out.shape)}")
        out = out.view(x.shape[0], k, -1)
        weights = torch.randn(out.shape, generator=gen)
        names = [n for n, _ in stacked.named_parameters()]
        grads = torch.autograd.grad((out * weights).sum(), list(stacked.parameters()),
                                    allow_unused=True)
    except (RuntimeError, ValueError) as exc:
        raise UnsupportedModel(f"stacked forward failed: {exc}") from exc

    def close(a: Tensor | None, b: Tensor | None, what: str) -> None:
        if a is None or b is None:
            if (a is None) != (b is None):
                raise UnsupportedModel(f"{what}: gradient missing on one side")
            return
        a, b = a.detach(), b.detach()
        scale = float(b.abs().max()) if b.numel() else 0.0
        err = float((a - b).abs().max()) if b.numel() else 0.0
        if not err <= rtol * scale + 1e-12:
            raise UnsupportedModel(f"{what}: stacked and member differ by {err:.3g} "
                                   f"(scale {scale:.3g})")

    for i, model in enumerate(models):
        ref = model(x)
        params = dict(model.named_parameters())
        ref_grads = torch.autograd.grad((ref * weights[:, i]).sum(),
                                        [params[n] for n in names], allow_unused=True)
        if not all(bool(torch.isfinite(t).all()) for t in (ref, *ref_grads) if t is not None):
            continue  # a member that overflows already: nothing to compare
        close(out[:, i], ref, f"member {i} output")
        for n, g, rg in zip(names, grads, ref_grads, strict=True):
            mine = None if g is None else member_view(g, k)[i]
            if mine is not None and rg is not None:
                mine = mine.reshape(rg.shape)
            close(mine, rg, f"member {i} gradient of {n}")


