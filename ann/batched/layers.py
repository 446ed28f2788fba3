"""Stacked layers: K members' layers as one computation, member-major along dimension 1.

- :class:`StackedConv2d`: K ``nn.Conv2d`` as one grouped convolution (or, for a kernel
  that covers its whole input, one batched matrix product);
- :class:`StackedLinear`: K ``nn.Linear`` as one batched matrix product;
- :class:`StackedActivation`: K members' activations as one call of
  :func:`ann.activations.piecewise_linear` over the concatenated slope tables of the
  members' own units (of :func:`ann.activations.mixlu_masked` over their concatenated
  masks, when ReLUs and MixLUs draw masks), so a stacked unit computes exactly what the
  member's module does.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ann.activations import SLOPES, MixLU, PiecewiseLinearUnit, mixlu_masked, piecewise_linear
from ann.members import MemberUnits, select_rows

__all__ = [
    "UnsupportedModel",
    "ReLUUnit",
    "StackedActivation",
    "StackedConv2d",
    "StackedLinear",
    "STACKED_TYPES",
    "is_activation",
]


class UnsupportedModel(ValueError):
    """A model (or set of member models) that the batched engine cannot stack."""


class ReLUUnit(PiecewiseLinearUnit):
    """``nn.ReLU`` as a slope table, so that a stack carries it like any unit."""

    #: The type of every unit (:mod:`ann.unit_types`).
    unit_type = "relu"

    def slopes(self, x: Tensor) -> tuple[Tensor, ...]:
        return tuple(torch.tensor(v, dtype=x.dtype, device=x.device) for v in SLOPES["relu"])


def is_activation(module: nn.Module) -> bool:
    """A module the stacked engine carries as an activation."""
    return isinstance(module, nn.ReLU | PiecewiseLinearUnit)


def _member_unit(module: nn.Module) -> PiecewiseLinearUnit:
    if isinstance(module, nn.ReLU):
        return ReLUUnit()
    if not isinstance(module, PiecewiseLinearUnit):
        raise UnsupportedModel(f"activation {type(module).__name__} cannot be stacked")
    if isinstance(module, MixLU) and not module.per_unit and module.seed is None:
        raise UnsupportedModel(
            "MixLU with mask='resample' and seed=None draws from the global generator, "
            "whose order of draws a stack cannot reproduce; give it a seed"
        )
    if any(True for _ in module.parameters()):
        raise UnsupportedModel(f"activation {type(module).__name__} has learned parameters")
    return copy.deepcopy(module)  # a private copy: its draws are the member's own


class StackedActivation(MemberUnits):
    """The activations at one position of K member models, as one activation.

    Each member's unit (``nn.ReLU`` or any :class:`~ann.activations.PiecewiseLinearUnit`:
    NegLU, MixLU with a fixed or a resampled mask) is kept as a private copy; a pass
    concatenates the members' slope tables along the unit dimension and applies
    :func:`~ann.activations.piecewise_linear` once.  Per-unit tables are computed once
    and cached; a resampling member draws its fresh per-element mask from its own
    seeded generator on every pass, in the member's own order, so forward values and
    gradients equal those of the members' modules bit for bit.  When every member is a
    ReLU or a MixLU, a pass that draws concatenates the members' bool masks instead of
    four float tables each (:func:`~ann.activations.mixlu_masked`).

    The input is ``(B, K*C, *)``, member ``k``'s units at ``k*C .. (k+1)*C - 1``.

    Args:
        members: the members' activation modules at this position.

    Raises:
        UnsupportedModel: a unit that cannot be stacked (learned parameters, an
            unseeded resampled mask, an unknown type) or units of different sizes.
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        units = [_member_unit(m) for m in members]
        sizes = {m.num_units for m in units if isinstance(m, MixLU)}
        if len(sizes) > 1:
            raise UnsupportedModel(f"MixLU layers of different sizes at one position: {sizes}")
        self.units = units  # a plain list: not submodules, so no state_dict entries
        self.num_units = sizes.pop() if sizes else None
        self._cache: dict[tuple, tuple[Tensor, ...]] = {}
        self._mixlu = all(isinstance(u, ReLUUnit | MixLU) for u in units)

    @property
    def resamples(self) -> bool:
        """True when a member draws fresh slopes on every pass."""
        return not all(u.per_unit for u in self.units)

    def select_members(self, keep: Sequence[int]) -> None:
        """Keep only members ``keep`` (in that order)."""
        self.units = [self.units[i] for i in keep]
        self._cache.clear()

    def _member_slopes(self, i: int, part: Tensor) -> tuple[Tensor, ...]:
        shape = (1, part.shape[1]) + (1,) * (part.dim() - 2)
        slopes = self.units[i].slopes(part)
        return tuple(t.expand(shape) if t.dim() < part.dim() else t for t in slopes)

    def forward(self, x: Tensor) -> Tensor:
        k = len(self.units)
        if x.dim() < 2 or x.shape[1] % k or (
                self.num_units and x.shape[1] != k * self.num_units):
            raise ValueError(
                f"stacked activation of {k} members x {self.num_units} units got input "
                f"of shape {tuple(x.shape)}"
            )
        c = x.shape[1] // k
        parts = [x[:, i * c : (i + 1) * c] for i in range(k)]
        if not self.resamples:
            key = (c, x.device, x.dtype, x.dim())
            if key not in self._cache:
                tables = [self._member_slopes(i, p) for i, p in enumerate(parts)]
                self._cache[key] = tuple(torch.cat(col, 1).contiguous()
                                         for col in zip(*tables, strict=True))
            return piecewise_linear(x, *self._cache[key])
        if self._mixlu:
            neg = torch.cat([self._member_neg(i, p).expand_as(p) for i, p in enumerate(parts)],
                            1)
            return mixlu_masked(x, neg, *self._neg_backward(c, x))
        tables = []
        for i, part in enumerate(parts):
            slopes = self._member_slopes(i, part)
            tables.append(tuple(t.expand_as(part) for t in slopes))
        return piecewise_linear(x, *(torch.cat(col, 1) for col in zip(*tables, strict=True)))

    def _member_neg(self, i: int, part: Tensor) -> Tensor:
        """Member ``i``'s NegLU elements of this pass (a fresh draw when it resamples)."""
        unit = self.units[i]
        if isinstance(unit, MixLU):
            return unit.neg_elements(part)
        shape = (1, part.shape[1]) + (1,) * (part.dim() - 2)
        return torch.zeros(shape, dtype=torch.bool, device=part.device)

    def _neg_backward(self, c: int, x: Tensor) -> tuple[Tensor, Tensor] | tuple[None, None]:
        """The NegLU elements' backward slopes per unit of the stack, for
        :func:`~ann.activations.mixlu_masked` (cached); ``(None, None)`` when every
        member's are ReLU's."""
        key = ("neg_backward", c, x.device, x.dtype, x.dim())
        if key not in self._cache:
            pairs = [SLOPES[u.backward][2:] if isinstance(u, MixLU) else SLOPES["relu"][2:]
                     for u in self.units]
            if all(p == SLOPES["relu"][2:] for p in pairs):
                self._cache[key] = (None, None)
            else:
                table = torch.tensor(pairs, dtype=x.dtype).repeat_interleave(c, 0).to(x.device)
                shape = (1, -1) + (1,) * (x.dim() - 2)
                self._cache[key] = (table[:, 0].reshape(shape), table[:, 1].reshape(shape))
        return self._cache[key]

    def extra_repr(self) -> str:
        return f"members={len(self.units)}, units={self.num_units}"


def _stacked_matmul(x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
    """Member-wise ``x[:, k] @ w[k].T + bias[k]`` for ``x (B, K, in)``, ``w (K, out, in)``;
    returns ``(B, K, out)``.  Computed as ``w @ x^T`` so that the weight gradient comes
    out contiguous (measured faster on CPU than ``x @ w^T``)."""
    xt = x.permute(1, 2, 0)  # (K, in, B)
    if bias is None:
        out = torch.bmm(w, xt)
    else:
        out = torch.baddbmm(bias.view(w.shape[0], -1, 1), w, xt)
    return out.permute(2, 0, 1)  # (B, K, out)


class StackedConv2d(nn.Conv2d):
    """K members' ``nn.Conv2d`` as one grouped convolution over ``(B, K*C_in, H, W)``.

    Weight ``(K*C_out, C_in/groups, kh, kw)`` and bias ``(K*C_out,)``, member-major.

    Args:
        convs: the members' convolutions, all with the same hyperparameters.
    """

    def __init__(self, convs: Sequence[nn.Conv2d]):
        c = convs[0]
        k = len(convs)
        super().__init__(
            k * c.in_channels, k * c.out_channels, c.kernel_size, c.stride, c.padding,
            c.dilation, groups=k * c.groups, bias=c.bias is not None,
            padding_mode=c.padding_mode, device="meta", dtype=c.weight.dtype,
        )
        self.members = k
        self.weight = nn.Parameter(torch.cat([m.weight.detach() for m in convs], 0))
        if c.bias is not None:
            self.bias = nn.Parameter(torch.cat([m.bias.detach() for m in convs], 0))

    @property
    def _fully_connected(self) -> bool:
        """A kernel that covers its whole input is a matrix product (LeNet's conv3, conv4)."""
        return (self.groups == self.members and self.padding_mode == "zeros"
                and tuple(self.dilation) == (1, 1)
                and not isinstance(self.padding, str) and tuple(self.padding) == (0, 0))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4 and tuple(x.shape[-2:]) == tuple(self.kernel_size) \
                and self._fully_connected:
            # one batched matrix product instead of a grouped convolution with a 1x1
            # output, which is slow on CPU (measured: benchmarks/bench_sweep.py)
            k, b = self.members, x.shape[0]
            out = _stacked_matmul(x.reshape(b, k, -1), self.weight.reshape(
                k, self.out_channels // k, -1), self.bias)
            return out.reshape(b, self.out_channels, 1, 1)
        return super().forward(x)

    def select_members(self, keep: Sequence[int]) -> None:
        """Keep only members ``keep`` (in that order); parameters become new tensors."""
        idx = torch.as_tensor(list(keep), dtype=torch.long)
        per_in, per_out = self.in_channels // self.members, self.out_channels // self.members
        per_groups = self.groups // self.members
        self.weight = nn.Parameter(select_rows(self.weight.detach(), self.members, idx))
        if self.bias is not None:
            self.bias = nn.Parameter(select_rows(self.bias.detach(), self.members, idx))
        self.members = len(idx)
        self.in_channels, self.out_channels = per_in * self.members, per_out * self.members
        self.groups = per_groups * self.members


class StackedLinear(nn.Module):
    """K members' ``nn.Linear`` as one batched product: ``(B, K*in) -> (B, K*out)``.

    Weight ``(K*out, in)`` and bias ``(K*out,)``, member-major.

    Args:
        linears: the members' linear layers, all of the same shape.
    """

    def __init__(self, linears: Sequence[nn.Linear]):
        super().__init__()
        self.members = len(linears)
        self.in_features = linears[0].in_features
        self.out_features = linears[0].out_features
        self.weight = nn.Parameter(torch.cat([m.weight.detach() for m in linears], 0))
        self.bias = None
        if linears[0].bias is not None:
            self.bias = nn.Parameter(torch.cat([m.bias.detach() for m in linears], 0))

    def select_members(self, keep: Sequence[int]) -> None:
        """Keep only members ``keep`` (in that order); parameters become new tensors."""
        idx = torch.as_tensor(list(keep), dtype=torch.long)
        self.weight = nn.Parameter(select_rows(self.weight.detach(), self.members, idx))
        if self.bias is not None:
            self.bias = nn.Parameter(select_rows(self.bias.detach(), self.members, idx))
        self.members = len(idx)

    def forward(self, x: Tensor) -> Tensor:
        k, n_in, n_out = self.members, self.in_features, self.out_features
        if x.dim() != 2 or x.shape[1] != k * n_in:
            raise ValueError(
                f"stacked linear of {k} members x {n_in} inputs got input of shape "
                f"{tuple(x.shape)}"
            )
        out = _stacked_matmul(x.view(x.shape[0], k, n_in), self.weight.view(k, n_out, n_in),
                              self.bias)
        return out.reshape(x.shape[0], k * n_out)

    def extra_repr(self) -> str:
        return f"members={self.members}, in_features={self.in_features}, " \
               f"out_features={self.out_features}"


STACKED_TYPES = (StackedConv2d, StackedLinear, StackedActivation)
