"""Negative-linear units (NegLU) and mixed ReLU/NegLU layers (MixLU).

NegLU is :math:`\\eta(x) = \\min(0, x)`.  Its forward pass is the same in every
mode; what differs is the backward pass (REFERENCE §3), selected by ``backward``:

``"exact"``
    The true derivative of ``min(0, x)``: 1 where ``x < 0``, 0 where ``x > 0``.
``"reference"``
    What the published MatConvNet MixLU layer computed, and so what produced the
    thesis's numbers: the gradient passes where ``x > 0`` (where the forward output
    is 0) and is blocked where ``x < 0``.
``"inverted"``
    The thesis's stated intent, a negative derivative: -1 where ``x < 0``.

At ``x = 0`` every mode has derivative 0, as :func:`torch.relu` has.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BACKWARDS", "MASK_MODES", "MASK_DRAW", "neglu", "smooth_neglu", "NegLU", "MixLU",
    "random_subset",
]

BACKWARDS = ("exact", "reference", "inverted")
MASK_MODES = ("fixed", "resample")
#: Version of the CPU draw of ``mask="resample"`` masks.  Saved with sweep results, so
#: that resuming a sweep trained with another draw (another stream of masks) is refused.
MASK_DRAW = "subset-v2"


def _check_backward(backward: str) -> str:
    if backward not in BACKWARDS:
        raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")
    return backward


class _NegLUFunction(torch.autograd.Function):
    """min(0, x) forward, saving ``x``; subclasses define the backward."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return torch.clamp(x, max=0.0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)


class _ReferenceNegLU(_NegLUFunction):
    """Backward passes the gradient where x > 0 (the published layer)."""

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0).to(grad_output.dtype)


class _InvertedNegLU(_NegLUFunction):
    """Backward with derivative -1 where x < 0 (the thesis's intent)."""

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return -grad_output * (x < 0).to(grad_output.dtype)


def neglu(x: Tensor, backward: str = "exact") -> Tensor:
    """Negative-linear unit ``min(0, x)``, element-wise.

    See :class:`NegLU` for the formula and the meaning of ``backward``.
    """
    _check_backward(backward)
    if backward == "exact":
        # -relu(-x) is min(0, x) with autograd's true derivative (0 at x = 0).
        return -F.relu(-x)
    if backward == "reference":
        return _ReferenceNegLU.apply(x)
    return _InvertedNegLU.apply(x)


def smooth_neglu(x: Tensor) -> Tensor:
    """Smooth NegLU ``N(x) = -ln(1 + exp(-x)) = -softplus(-x)``; ``N'(x) = 1 / (e^x + 1)``."""
    return -F.softplus(-x)


class NegLU(nn.Module):
    r"""Applies the negative-linear unit element-wise.

    .. math::
        \text{NegLU}(x) = \min(0, x)

    Args:
        backward: which backward pass to use: ``"exact"`` (true derivative, 1 for
            ``x < 0``), ``"reference"`` (gradient passed where ``x > 0``, as the
            published MatConvNet layer did) or ``"inverted"`` (-1 for ``x < 0``).
            Default: ``"exact"``.

    Shape:
        - Input: :math:`(*)`, any shape.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> m = NegLU()
        >>> m(torch.tensor([-2.0, 0.0, 3.0]))
        tensor([-2., 0., 0.])
    """

    def __init__(self, backward: str = "exact"):
        super().__init__()
        self.backward = _check_backward(backward)

    def forward(self, x: Tensor) -> Tensor:
        return neglu(x, self.backward)

    def extra_repr(self) -> str:
        return f"backward={self.backward!r}"


def random_subset(n: int, count: int, generator: torch.Generator | None = None) -> Tensor:
    """Sorted indices of a uniformly random ``count``-element subset of ``range(n)`` (CPU).

    For ``count <= n // 8`` it draws indices with replacement until ``count`` distinct
    ones are in hand, then keeps a uniformly random ``count`` of them: every step treats
    all indices alike, so every subset is equally likely, and the cost is ``O(count log
    count)``, independent of ``n``.  For larger ``count`` the repeated draws would
    collide too often, so it takes the first ``count`` of one permutation of
    ``range(n)`` instead (``O(n)``).
    """
    if not 0 <= count <= n:
        raise ValueError(f"count must be in [0, n={n}], got {count}")
    if count > n // 8:
        return torch.randperm(n, generator=generator)[:count].sort().values
    chosen = torch.empty(0, dtype=torch.long)
    while chosen.numel() < count:
        need = count - chosen.numel()
        draw = torch.randint(n, (need + need // 8 + 16,), generator=generator)
        chosen = torch.unique(torch.cat([chosen, draw]))
    if chosen.numel() > count:
        keep = torch.randperm(chosen.numel(), generator=generator)[:count]
        chosen = chosen[keep.sort().values]
    return chosen


def neg_unit_count(num_units: int, neg_fraction: float) -> int:
    """Number of NegLU units in a MixLU layer: ``neg_fraction * num_units`` rounded half up."""
    return int(math.floor(neg_fraction * num_units + 0.5))


class MixLU(nn.Module):
    r"""A layer of ReLU and NegLU units mixed.

    .. math::
        \text{MixLU}(x)_i = \begin{cases} \min(0, x_i) & i \in \text{NegLU units} \\
                                          \max(0, x_i) & \text{otherwise} \end{cases}

    The unit is dimension 1 of the input: the feature of a ``(N, C)`` input, the
    channel of a ``(N, C, H, W)`` input.  The ReLU units always use the true ReLU
    derivative; the NegLU units use the backward pass named by ``backward``
    (see :class:`NegLU`).

    Args:
        num_units: number of units ``C`` (size of input dimension 1).
        neg_fraction: share of NegLU units, in [0, 1].  ``round(neg_fraction *
            num_units)`` units (rounded half up) are NegLUs; 0 is exactly ReLU.
        backward: NegLU backward pass, ``"exact"``, ``"reference"`` (default, as the
            published layer) or ``"inverted"``.
        mask: ``"fixed"`` (default) draws the NegLU units once and keeps them in the
            bool buffer ``neg_mask`` of shape ``(num_units,)``, saved in the
            ``state_dict``.  ``"resample"`` draws a fresh mask over *all elements*
            of each input (units x batch x space) on every forward pass, as the
            published layer did when given no mask: ``numel - floor((1 -
            neg_fraction) * numel)`` elements become NegLUs.
        seed: seed of the mask draws.  With ``mask="fixed"`` it seeds the one draw of
            ``neg_mask``; with ``mask="resample"`` it seeds a private generator (one
            per device, created on first use, not saved in the ``state_dict``) from
            which every pass draws, so a run is reproducible on the same kind of
            device (CPU draws the NegLU or ReLU elements directly by
            :func:`random_subset`, the draw :data:`MASK_DRAW` names; accelerators take
            a prefix of one permutation, which needs no host synchronisation; the masks
            differ).
            ``None`` draws from torch's global generator (reproducible under
            ``torch.manual_seed``).

    Shape:
        - Input: :math:`(N, C, *)` with ``C == num_units``.
        - Output: same shape as the input.

    Examples::

        >>> m = MixLU(500, neg_fraction=0.05, seed=0)
        >>> int(m.neg_mask.sum())
        25
        >>> y = m(torch.randn(8, 500))
    """

    neg_mask: Tensor

    def __init__(
        self,
        num_units: int,
        neg_fraction: float,
        backward: str = "reference",
        mask: str = "fixed",
        seed: int | None = None,
    ):
        super().__init__()
        if isinstance(num_units, bool) or not isinstance(num_units, int) or num_units < 1:
            raise ValueError(f"num_units must be a positive integer, got {num_units!r}")
        if not 0.0 <= float(neg_fraction) <= 1.0:
            raise ValueError(f"neg_fraction must be in [0, 1], got {neg_fraction!r}")
        if mask not in MASK_MODES:
            raise ValueError(f"mask must be one of {MASK_MODES}, got {mask!r}")
        self.num_units = num_units
        self.neg_fraction = float(neg_fraction)
        self.backward = _check_backward(backward)
        self.mask = mask
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}
        generator = None
        if seed is not None:
            generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(num_units, generator=generator)
        neg_mask = torch.zeros(num_units, dtype=torch.bool)
        neg_mask[order[: neg_unit_count(num_units, self.neg_fraction)]] = True
        self.register_buffer("neg_mask", neg_mask)

    @property
    def num_neg(self) -> int:
        """Number of NegLU units of the fixed mask."""
        return int(self.neg_mask.sum())

    def element_mask(self, x: Tensor) -> Tensor:
        """Bool tensor, broadcastable to ``x``, that is True at NegLU elements.

        With ``mask="resample"`` this draws a fresh mask, so call it once per pass.
        """
        if self.mask == "fixed":
            return self.neg_mask.view((1, -1) + (1,) * (x.dim() - 2))
        numel = x.numel()
        num_neg = numel - int(math.floor((1.0 - self.neg_fraction) * numel))
        generator = self._generator(x.device)
        if x.device.type != "cpu":
            # one permutation: no host synchronisation on an accelerator
            flat = torch.zeros(numel, dtype=torch.bool, device=x.device)
            flat[torch.randperm(numel, device=x.device, generator=generator)[:num_neg]] = True
            return flat.view_as(x)
        # CPU: draw the smaller of the two sets (NegLU or ReLU elements) directly; for
        # the thesis's shares (up to 10 %) this costs O(count log count) instead of a
        # permutation of every element (about 7 ms per pass for a LeNet5 position at
        # batch 100).
        drawn_neg = num_neg <= numel - num_neg
        count = num_neg if drawn_neg else numel - num_neg
        flat = torch.full((numel,), not drawn_neg, dtype=torch.bool)
        flat[random_subset(numel, count, generator)] = drawn_neg
        return flat.view_as(x)

    def _generator(self, device: torch.device) -> torch.Generator | None:
        """Private generator of the resample draws on ``device`` (None without a seed)."""
        if self.seed is None:
            return None
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_units:
            raise ValueError(
                f"MixLU expects input of shape (N, {self.num_units}, *), got {tuple(x.shape)}"
            )
        if self.neg_fraction == 0.0:
            return F.relu(x)
        return torch.where(self.element_mask(x), neglu(x, self.backward), F.relu(x))

    def extra_repr(self) -> str:
        return (
            f"num_units={self.num_units}, neg_fraction={self.neg_fraction}, "
            f"backward={self.backward!r}, mask={self.mask!r}, num_neg={self.num_neg}"
        )
