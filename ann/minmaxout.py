"""Min-Maxout units: the thesis's mix of Max and Min units (docs/reference.md#proposed-units).

A Maxout unit (Goodfellow et al. 2013) outputs the largest of its ``k`` affine pieces;
a Min unit outputs the smallest.  Max units compute convex piecewise-linear
functions of their input, Min units concave ones, and a network of both can represent
either.  :class:`MinMaxout` is a layer of ``units`` such units over ``k * units``
input features or channels, the preceding layer's outputs (which :class:`~ann.models.LeNet`
and :class:`~ann.models.LeNet5` widen by ``k`` for it).

Derivative: the output of a unit is one of its pieces, so the gradient reaches that
piece alone, with derivative 1 (for Max and Min units alike); the other pieces get 0.
A Min unit's concavity comes from *which* piece it selects, never from a negative
derivative with respect to the piece — the piece's weights carry the sign
(:mod:`bridge.monitor` counts a Min unit's events by that rule).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ann.activations import unit_mask
from common.checks import is_integer

__all__ = ["MinMaxout", "min_maxout", "selected_pieces"]


def min_maxout(x: Tensor, pieces: int, min_units: Tensor | None = None) -> Tensor:
    r"""Max (or Min) over groups of ``pieces`` consecutive channels of dimension 1.

    .. math::
        y_{n,i,\dots} = \begin{cases} \min_{p<k} x_{n,ik+p,\dots} & i \in \text{Min units}
        \\ \max_{p<k} x_{n,ik+p,\dots} & \text{otherwise} \end{cases}

    Unit ``i``'s pieces are channels ``i*k .. i*k + k - 1``.  Ties go to the piece of
    lowest index (``torch.argmax``'s first maximum), deterministically, and only that
    piece receives the gradient.

    Args:
        x: ``(N, k*units, *)``.
        pieces: ``k``.
        min_units: bool ``(units,)``, True at Min units; ``None``: all Max units.
    """
    if x.dim() < 2 or x.shape[1] % pieces:
        raise ValueError(f"min_maxout with {pieces} pieces needs input (N, k*units, *), "
                         f"got {tuple(x.shape)}")
    grouped = x.unflatten(1, (x.shape[1] // pieces, pieces))  # (N, units, k, *)
    return grouped.gather(2, selected_pieces(x, pieces, min_units).unsqueeze(2)).squeeze(2)


def selected_pieces(x: Tensor, pieces: int, min_units: Tensor | None = None) -> Tensor:
    """The piece each unit of :func:`min_maxout` outputs, ``(N, units, *)`` int64: the
    first maximum of its pieces (Max units) or of their negatives (Min units)."""
    units = x.shape[1] // pieces
    key = x.detach().unflatten(1, (units, pieces))
    if min_units is not None:
        sign = torch.where(min_units, -1.0, 1.0).to(dtype=x.dtype, device=x.device)
        key = key * sign.view((1, units, 1) + (1,) * (x.dim() - 2))
    return key.argmax(2)


class MinMaxout(nn.Module):
    r"""A layer of Max and Min units over ``pieces`` affine pieces each.

    .. math::
        \text{MinMaxout}(x)_i = \begin{cases} \min_{p} x_{ik+p} & i \in \text{Min units} \\
                                               \max_{p} x_{ik+p} & \text{otherwise} \end{cases}

    ``min_fraction = 0`` is exactly Maxout; ``pieces = 1`` is the identity.  The Min
    units are drawn once, like :class:`~ann.activations.MixLU`'s fixed mask (``round
    half up(min_fraction * units)`` units of one seeded permutation), and kept in the
    bool buffer ``min_mask`` (saved in the ``state_dict``).  Ties: see
    :func:`min_maxout`.

    Args:
        units: output units ``C``.
        pieces: ``k`` >= 1, pieces per unit; the input has ``k * C`` channels.
        min_fraction: share of Min units, in [0, 1].
        seed: seed of the Min-unit draw; ``None``: torch's global generator.

    Shape:
        - Input: :math:`(N, kC, *)`.
        - Output: :math:`(N, C, *)`.

    Examples::

        >>> m = MinMaxout(3, pieces=2, min_fraction=0.0)
        >>> m(torch.tensor([[1.0, -2.0, 0.5, 3.0, -1.0, -4.0]]))
        tensor([[ 1.,  3., -1.]])
    """

    min_mask: Tensor

    def __init__(self, units: int, pieces: int = 2, min_fraction: float = 0.0,
                 seed: int | None = None):
        super().__init__()
        for name, value in (("units", units), ("pieces", pieces)):
            if not is_integer(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= float(min_fraction) <= 1.0:
            raise ValueError(f"min_fraction must be in [0, 1], got {min_fraction!r}")
        self.units, self.pieces, self.min_fraction = units, pieces, float(min_fraction)
        self.seed = seed
        self.register_buffer("min_mask", unit_mask(units, self.min_fraction, seed))

    @property
    def num_min(self) -> int:
        """Number of Min units."""
        return int(self.min_mask.sum())

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.pieces * self.units:
            raise ValueError(f"MinMaxout expects input (N, {self.pieces * self.units}, *) "
                             f"({self.units} units x {self.pieces} pieces), got "
                             f"{tuple(x.shape)}")
        return min_maxout(x, self.pieces, self.min_mask if self.num_min else None)

    def extra_repr(self) -> str:
        return (f"units={self.units}, pieces={self.pieces}, min_fraction={self.min_fraction}, "
                f"num_min={self.num_min}")
