r"""ConvAct units: activations whose sign and degree are learned (docs/reference.md#proposed-units).

The thesis proposes units whose activation is not fixed as ReLU or NegLU but learned
like weights, and, extended with convolutional filters over activations, depends on a
unit's spatial neighbours.  :class:`ConvAct` is a layer of such units:

.. math::
    y = x \cdot \begin{cases} p(x) & x > 0 \\ n(x) & x \le 0 \end{cases}

- **Per-unit form** (``kernel_size=0``): ``p`` and ``n`` are one learned number per
  unit (channel), the slopes on either side of zero.  ``(p, n) = (1, 0)`` is ReLU,
  ``(0, 1)`` is NegLU ``min(0, x)``, ``(1, a)`` Leaky ReLU / PReLU, ``(1, 1)`` the
  identity, ``(1, -1)`` ``|x|``.
- **Convolutional form** (``kernel_size=k``, odd): the slopes at each position are a
  depthwise ``k x k`` convolution of the pre-activation map plus a per-unit bias,
  ``p(x) = w_p * x + b_p`` and ``n(x) = w_n * x + b_n`` (zero padding, same size), so a
  unit's response depends on its ``k x k`` neighbourhood.  With ``w_p = w_n = 0`` it is
  the per-unit form with ``(p, n) = (b_p, b_n)``, for any ``k`` (a 1 x 1 kernel with
  zero weights is the smallest case); initialised so, as ReLU.

The backward pass is autograd's: the true derivative, ``p`` or ``n`` on each side
plus, in the convolutional form, the terms through the slopes.  A negative slope is a
negative derivative — a unit that learned a temporally-inverted response
(:mod:`bridge.monitor`).  Weight decay applies to the slopes as to every parameter.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ann.activations import piecewise_linear
from common.checks import is_integer

__all__ = ["ConvAct"]


class ConvAct(nn.Module):
    r"""A layer of learned-slope units, per unit or convolutional (module docstring).

    Args:
        num_units: units ``C`` (dimension 1 of the input).
        kernel_size: 0 for the per-unit form, else the odd size ``k`` of the depthwise
            slope convolutions (input ``(N, C, H, W)``).
        init: initial ``(p, n)`` slopes (per-unit form) or slope biases (convolutional);
            default ``(1, 0)``: ReLU.

    Attributes:
        pos, neg: per-unit form, the slopes ``(C,)``.
        pos_conv, neg_conv: convolutional form, ``nn.Conv2d(C, C, k, groups=C)``.

    Shape:
        - Input: :math:`(N, C, *)` (per unit), :math:`(N, C, H, W)` (convolutional).
        - Output: same shape as the input.
    """

    #: The type of every unit (:mod:`ann.unit_types`).
    unit_type = "convact"

    def __init__(self, num_units: int, kernel_size: int = 0,
                 init: tuple[float, float] = (1.0, 0.0)):
        super().__init__()
        if not is_integer(num_units) or num_units < 1:
            raise ValueError(f"num_units must be a positive integer, got {num_units!r}")
        if not is_integer(kernel_size) or (
                kernel_size < 0 or kernel_size and kernel_size % 2 == 0):
            raise ValueError(f"kernel_size must be 0 (per unit) or an odd positive integer, "
                             f"got {kernel_size!r}")
        self.num_units, self.kernel_size = num_units, kernel_size
        p0, n0 = (float(v) for v in init)
        if kernel_size == 0:
            self.pos = nn.Parameter(torch.full((num_units,), p0))
            self.neg = nn.Parameter(torch.full((num_units,), n0))
        else:
            self.pos_conv, self.neg_conv = (
                nn.Conv2d(num_units, num_units, kernel_size, padding=kernel_size // 2,
                          groups=num_units) for _ in range(2))
            for conv, b in ((self.pos_conv, p0), (self.neg_conv, n0)):
                nn.init.zeros_(conv.weight)
                nn.init.constant_(conv.bias, b)

    def slope_maps(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(p, n)`` broadcastable to ``x``: per-unit ``(1, C, 1, ...)`` tables, or the
        convolutional form's maps of ``x``'s shape."""
        if self.kernel_size == 0:
            shape = (1, -1) + (1,) * (x.dim() - 2)
            return self.pos.view(shape), self.neg.view(shape)
        return self.pos_conv(x), self.neg_conv(x)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_units or (self.kernel_size and x.dim() != 4):
            need = "(N, C, H, W)" if self.kernel_size else "(N, C, *)"
            raise ValueError(f"ConvAct expects input {need} with C = {self.num_units}, got "
                             f"{tuple(x.shape)}")
        p, n = self.slope_maps(x)
        if self.kernel_size == 0:
            return piecewise_linear(x, p, n)  # true derivative; slopes get their gradient
        return x * torch.where(x > 0, p, n)

    @torch.no_grad()
    def slope_summary(self, x: Tensor | None = None) -> dict[str, Any]:
        """The learned slopes: per unit, the mean slope on each side of zero, and the
        share of units whose positive-side or negative-side slope is negative (units
        that learned a temporally-inverted response).

        Per-unit form: the parameters (``x`` is ignored).  Convolutional form: the
        slope maps on ``x`` averaged per unit over the elements on that side (the slope
        bias where ``x`` has none there); without ``x``, the biases.
        """
        if self.kernel_size == 0:
            p, n = self.pos.detach().double(), self.neg.detach().double()
        elif x is None:
            p, n = self.pos_conv.bias.detach().double(), self.neg_conv.bias.detach().double()
        else:
            pm, nm = (t.double() for t in self.slope_maps(x))
            xd = x.double()
            p = _side_mean(pm, xd > 0, self.pos_conv.bias.double())
            n = _side_mean(nm, xd <= 0, self.neg_conv.bias.double())
        neg_pos, neg_neg = p < 0, n < 0
        return {
            "pos_mean": float(p.mean()), "neg_mean": float(n.mean()),
            "negative_pos_share": float(neg_pos.double().mean()),
            "negative_neg_share": float(neg_neg.double().mean()),
            "inverted_share": float((neg_pos | neg_neg).double().mean()),
        }

    def extra_repr(self) -> str:
        return f"num_units={self.num_units}, kernel_size={self.kernel_size}"


def _side_mean(slope: Tensor, side: Tensor, fallback: Tensor) -> Tensor:
    """Per unit (dimension 1), the mean of ``slope`` where ``side``; ``fallback`` where a
    unit has no element on that side."""
    dims = [d for d in range(slope.dim()) if d != 1]
    count = side.sum(dims, dtype=torch.float64)
    total = torch.where(side, slope, 0.0).sum(dims)
    return torch.where(count > 0, total / count.clamp_min(1.0), fallback)

