"""Stacked units with learned parameters or random draws: PReLU, Noisy ReLU, dropout,
Min-Maxout, ConvAct.

:class:`~ann.batched.layers.StackedActivation` carries the units that are nothing but
a slope table (ReLU, NegLU, MixLU, leaky, bipolar).  The units here hold state that a
slope table does not: learned parameters (PReLU's slopes, ConvAct's slopes or slope
convolutions), or draws from a private generator (Noisy ReLU's noise, seeded dropout's
masks).  :class:`StackedUnits` carries K members' units at one position in one of two
ways:

- **wide**: one module of the same class over all ``K*C`` units, whose parameters are
  the members' parameters concatenated member-major (:data:`WIDENERS`): PReLU with
  ``K*C`` slopes; ConvAct with ``K*C`` per-unit slopes, or its ``k x k`` slope
  convolutions as one depthwise convolution of ``K*C`` groups; Min-Maxout with ``K*C``
  units (member ``m``'s unit ``j`` reads channels ``(mC + j)k .. (mC + j)k + k - 1``,
  which is member ``m``'s block of the widened feeding convolution).  One call for the
  whole stack; the same element-wise arithmetic as each member's module.
- **per member**: each member's own module runs on its own channel block (a
  ``torch.split`` of dimension 1, whose backward is one concatenation), with the stacked
  parameters passed as that member's rows.  This is the path of units that draw
  (Noisy ReLU, seeded dropout): every member draws from its own seeded generator, in
  its own order and shape, exactly the loop trainer's draws.

Either way the parameter names are the members' (``act.weight``, ``act.pos_conv.bias``),
member-major along dimension 0 as every stacked parameter (:mod:`ann.members`).  The
members' own modules are private copies that readers (unit diagnostics, the update-sign
monitor) get with the current parameters from :meth:`StackedUnits.member_modules`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ann.activations import PiecewiseLinearUnit
from ann.baselines import NoisyReLU, PReLU, SeededDropout
from ann.batched.layers import UnsupportedModel
from ann.convact import ConvAct
from ann.members import MemberUnits, member_view
from ann.minmaxout import MinMaxout

__all__ = ["StackedUnits", "is_stateful_unit", "WIDENERS"]


def is_stateful_unit(module: nn.Module) -> bool:
    """A unit that :class:`StackedUnits` carries: one with learned parameters or a
    private generator (the slope-table units go to ``StackedActivation``)."""
    if isinstance(module, NoisyReLU | SeededDropout | MinMaxout | ConvAct):
        return True
    return isinstance(module, PiecewiseLinearUnit) and any(True for _ in module.parameters())


def _cat(tensors: Sequence[Tensor]) -> Tensor:
    return torch.cat([t.detach() for t in tensors], 0)


def _wide_prelu(units: Sequence[PReLU]) -> PReLU | None:
    if units[0].num_parameters == 1:  # one slope per member: not a per-channel table
        return None
    wide = copy.deepcopy(units[0])  # copies draw nothing from torch's global generator
    wide.num_parameters *= len(units)
    wide.weight = nn.Parameter(_cat([u.weight for u in units]))
    return wide


def _wide_convact(units: Sequence[ConvAct]) -> ConvAct:
    wide = copy.deepcopy(units[0])
    wide.num_units *= len(units)
    if wide.kernel_size == 0:
        wide.pos = nn.Parameter(_cat([u.pos for u in units]))
        wide.neg = nn.Parameter(_cat([u.neg for u in units]))
        return wide
    for name in ("pos_conv", "neg_conv"):  # depthwise: one group per unit of the stack
        conv = getattr(wide, name)
        conv.in_channels = conv.out_channels = conv.groups = wide.num_units
        conv.weight = nn.Parameter(_cat([getattr(u, name).weight for u in units]))
        conv.bias = nn.Parameter(_cat([getattr(u, name).bias for u in units]))
    return wide


def _wide_minmaxout(units: Sequence[MinMaxout]) -> MinMaxout:
    wide = copy.deepcopy(units[0])
    wide.units *= len(units)
    wide.min_mask = torch.cat([u.min_mask for u in units])
    return wide


#: Unit class -> ``units -> wide module or None`` (None: run per member).  A class not
#: listed runs per member (the units that draw: Noisy ReLU, seeded dropout).
WIDENERS: dict[type, Callable[[Sequence[nn.Module]], nn.Module | None]] = {
    PReLU: _wide_prelu,
    ConvAct: _wide_convact,
    MinMaxout: _wide_minmaxout,
}


def _check_members(units: Sequence[nn.Module]) -> None:
    kind = type(units[0])
    shapes = [tuple((n, p.shape) for n, p in u.named_parameters()) for u in units]
    for u, s in zip(units, shapes, strict=True):
        if type(u) is not kind or s != shapes[0]:
            raise UnsupportedModel(f"units of different types or shapes at one position: "
                                   f"{kind.__name__} and {type(u).__name__}")
        if hasattr(u, "seed") and hasattr(u, "generator_states") and u.seed is None:
            raise UnsupportedModel(
                f"{type(u).__name__} with seed=None draws from the global generator, whose "
                f"order of draws a stack cannot reproduce; give it a seed")


class StackedUnits(MemberUnits):
    """The units at one position of K member models, with their parameters stacked.

    Wide or per member (module docstring).  The input is ``(B, K*C_in, *)``, member
    ``k``'s channels at ``k*C_in .. (k+1)*C_in - 1``; the output ``(B, K*C_out, *)``
    likewise.

    Args:
        members: the members' modules at this position, of one class and shape.

    Raises:
        UnsupportedModel: units of different classes or shapes, or a unit that draws
            from torch's global generator (no seed).
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        units = [copy.deepcopy(m) for m in members]  # private: their draws are the member's
        _check_members(units)
        self.units = units  # a plain list: not submodules, so no state_dict entries
        self._build()

    def _build(self) -> None:
        """(Re)make the stacked parameters from :attr:`units`."""
        units = self.units
        if not units:  # every member left the stack
            object.__setattr__(self, "wide", None)
            self._parameters, self._buffers, self._modules = {}, {}, {}
            return
        widen = WIDENERS.get(type(units[0]))
        wide = widen(units) if widen is not None else None
        object.__setattr__(self, "wide", wide)
        if wide is not None:
            # the wide module's registries are this module's: its parameters, buffers
            # and children have the members' names, and .to() or a checkpoint's
            # load_state_dict change what the wide module computes with
            self._parameters, self._buffers, self._modules = (
                wide._parameters, wide._buffers, wide._modules)
            wide.train(self.training)
            return
        self._parameters, self._buffers, self._modules = {}, {}, {}
        if any(True for _, m in units[0].named_children()):
            raise UnsupportedModel(f"{type(units[0]).__name__} has submodules; it cannot run "
                                   f"per member")
        for name, _ in units[0].named_parameters(recurse=False):
            self.register_parameter(name, nn.Parameter(_cat([getattr(u, name) for u in units])))

    @property
    def resamples(self) -> bool:
        """True when members draw on every training pass (their own generators)."""
        return any(hasattr(u, "generator_states") for u in self.units)

    def train(self, mode: bool = True) -> StackedUnits:
        super().train(mode)
        for module in (*self.units, self.wide):
            if module is not None:
                module.train(mode)
        return self

    @torch.no_grad()
    def member_modules(self) -> list[nn.Module]:
        """The members' own modules, holding the stack's current parameters."""
        k = len(self.units)
        params = dict(self.named_parameters())
        for i, unit in enumerate(self.units):
            for name, p in unit.named_parameters():
                p.copy_(member_view(params[name], k)[i].to(p.device))
        return list(self.units)

    def select_members(self, keep: Sequence[int]) -> None:
        """Keep only members ``keep`` (in that order); parameters become new tensors."""
        units = self.member_modules()
        device = next((t.device for t in (*self.parameters(), *self.buffers())), None)
        self.units = [units[i] for i in keep]
        self._build()
        if device is not None:
            self.to(device)

    def forward(self, x: Tensor) -> Tensor:
        k = len(self.units)
        if x.dim() < 2 or x.shape[1] % k:
            raise ValueError(f"stacked {type(self.units[0]).__name__} of {k} members got "
                             f"input of shape {tuple(x.shape)}")
        if self.wide is not None:
            return self.wide(x)
        parts = x.split(x.shape[1] // k, 1)
        params = {n: member_view(p, k) for n, p in self._parameters.items()}
        outs = []
        for i, (unit, part) in enumerate(zip(self.units, parts, strict=True)):
            if params:
                outs.append(functional_call(unit, {n: p[i] for n, p in params.items()},
                                            (part,)))
            else:
                outs.append(unit(part))
        return torch.cat(outs, 1)

    def extra_repr(self) -> str:
        how = "wide" if self.wide is not None else "per member"
        return f"{type(self.units[0]).__name__}, members={len(self.units)}, {how}"
