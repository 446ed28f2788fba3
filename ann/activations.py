"""Negative-linear units (NegLU), mixed ReLU/NegLU layers (MixLU) and the one op under both.

NegLU is :math:`\\eta(x) = \\min(0, x)`.  Its forward pass is the same in every
mode; what differs is the backward pass (``docs/reference.md#neglu-backward-passes``),
selected by ``backward``:

``"exact"``
    The true derivative of ``min(0, x)``: 1 where ``x < 0``, 0 where ``x > 0``.
``"reference"``
    What the published MatConvNet MixLU layer computed, and so what produced the
    thesis's numbers: the gradient passes where ``x > 0`` (where the forward output
    is 0) and is blocked where ``x < 0``.
``"inverted"``
    The thesis's stated intent, a negative derivative: -1 where ``x < 0``.

At ``x = 0`` every mode has derivative 0, as :func:`torch.relu` has.

Every unit here is one op, :func:`piecewise_linear`: a line through the origin on
each side of zero, with forward slopes and (possibly different) backward slopes that
may vary per unit or per element.  ReLU, the three NegLU backwards, MixLU and Leaky
ReLU are slope tables of it (:data:`SLOPES`), and the batched sweep engine evaluates
the stacked units of many runs through the same op, so both engines share one copy
of the maths.  A MixLU whose mask is drawn afresh on every pass is that op with
per-element tables chosen by the mask; :func:`mixlu_masked` computes exactly the same
from the bool mask alone, without building the tables (both engines use it).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.checks import is_integer

__all__ = [
    "BACKWARDS", "MASK_MODES", "Slopes", "SLOPES", "piecewise_linear", "mixlu_masked", "neglu",
    "smooth_neglu", "PiecewiseLinearUnit", "PrivateGenerator", "NegLU", "MixLU", "random_subset",
    "neg_unit_count", "unit_mask", "resample_neg_count",
]

BACKWARDS = ("exact", "reference", "inverted")
MASK_MODES = ("fixed", "resample")


class Slopes(NamedTuple):
    """Slopes of a piecewise-linear unit: forward for ``x > 0`` / ``x < 0``, then the
    backward pass's derivative for ``x > 0`` / ``x < 0`` (0 at ``x = 0``)."""

    fpos: float
    fneg: float
    gpos: float
    gneg: float


#: ReLU and the three NegLU backward modes as slope tables of :func:`piecewise_linear`.
SLOPES: dict[str, Slopes] = {
    "relu": Slopes(1.0, 0.0, 1.0, 0.0),
    "exact": Slopes(0.0, 1.0, 0.0, 1.0),
    "reference": Slopes(0.0, 1.0, 1.0, 0.0),
    "inverted": Slopes(0.0, 1.0, 0.0, -1.0),
}


def _check_backward(backward: str) -> str:
    if backward not in BACKWARDS:
        raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")
    return backward


class _PiecewiseLinear(torch.autograd.Function):
    """``y = x * (fpos if x > 0 else fneg)``; ``dx = dy * (gpos if x > 0, gneg if x < 0,
    else 0)``; gradients for the forward slopes when they require one."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, fpos: Tensor, fneg: Tensor, gpos: Tensor, gneg: Tensor) -> Tensor:
        return x * torch.where(x > 0, fpos, fneg)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, fpos, fneg, gpos, gneg = inputs
        ctx.save_for_backward(x, gpos, gneg)
        ctx.slope_shapes = (fpos.shape, fneg.shape)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, gpos, gneg = ctx.saved_tensors
        dx = dfpos = dfneg = None
        if ctx.needs_input_grad[0]:
            dx = grad * torch.where(x > 0, gpos, torch.where(x < 0, gneg, 0.0))
        if ctx.needs_input_grad[1]:
            dfpos = (grad * x * (x > 0)).sum_to_size(ctx.slope_shapes[0])
        if ctx.needs_input_grad[2]:
            dfneg = (grad * x * (x < 0)).sum_to_size(ctx.slope_shapes[1])
        return dx, dfpos, dfneg, None, None


def _as_slope(value: Tensor | float, x: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return torch.tensor(float(value), dtype=x.dtype, device=x.device)


def piecewise_linear(
    x: Tensor,
    fpos: Tensor | float,
    fneg: Tensor | float,
    gpos: Tensor | float | None = None,
    gneg: Tensor | float | None = None,
) -> Tensor:
    r"""Piecewise-linear unit with separate forward and backward slopes.

    .. math::
        y = \begin{cases} f_+ x & x > 0 \\ f_- x & x \le 0 \end{cases}
        \qquad
        \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y}
        \begin{cases} g_+ & x > 0 \\ g_- & x < 0 \\ 0 & x = 0 \end{cases}

    The slopes are tensors broadcastable to ``x`` (a per-unit table of shape
    ``(1, C, 1, ...)``, a per-element one, or scalars).  ``gpos``/``gneg`` default to
    ``fpos``/``fneg``: the true derivative (``gradcheck`` passes).  Other backward
    slopes give a deliberately different backward pass, e.g. NegLU's ``"reference"``
    and ``"inverted"`` modes.  Forward slopes that require grad receive
    ``sum(dL/dy * x)`` over the elements on their side (learned slopes, PReLU-style).

    Examples::

        >>> piecewise_linear(torch.tensor([-2.0, 3.0]), *SLOPES["relu"])
        tensor([-0., 3.])
    """
    gpos = fpos if gpos is None else gpos
    gneg = fneg if gneg is None else gneg
    fpos, fneg = _as_slope(fpos, x), _as_slope(fneg, x)
    gpos, gneg = _as_slope(gpos, x).detach(), _as_slope(gneg, x).detach()
    return _PiecewiseLinear.apply(x, fpos, fneg, gpos, gneg)


class _MaskedMixLU(torch.autograd.Function):
    """:func:`piecewise_linear` with ReLU slopes where ``neg`` is False and NegLU slopes
    (forward ``(0, 1)``, backward ``(gpos, gneg)``) where it is True, from the mask."""

    @staticmethod
    def forward(x: Tensor, neg: Tensor, gpos: Tensor | None, gneg: Tensor | None) -> Tensor:
        # x * 1 where the element's forward slope is 1, x * 0 where it is 0: the same
        # products as piecewise_linear's, signed zeros included
        return x * torch.logical_xor(x > 0, neg)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, neg, gpos, gneg = inputs
        ctx.save_for_backward(x, neg, gpos, gneg)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, neg, gpos, gneg = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        pos = x > 0
        if gpos is None:  # the NegLU elements pass the gradient as the ReLU ones do
            return grad * pos, None, None, None
        slope = torch.where(pos, torch.where(neg, gpos, 1.0),
                            torch.where(x < 0, torch.where(neg, gneg, 0.0), 0.0))
        return grad * slope, None, None, None


def mixlu_masked(x: Tensor, neg: Tensor, gpos: Tensor | None = None,
                 gneg: Tensor | None = None) -> Tensor:
    """MixLU with its NegLU elements given by a bool mask: ``min(0, x)`` where ``neg``
    is True, ``max(0, x)`` elsewhere.

    Equal bit for bit to :func:`piecewise_linear` with the per-element slope tables
    ``where(neg, NegLU slopes, ReLU slopes)``, but it keeps the one-byte mask instead
    of four float tables (measured: ``benchmarks/bench_sweep.py --model lenet5``).

    Args:
        x: the input.
        neg: bool, broadcastable to ``x``: the NegLU elements.
        gpos, gneg: the NegLU elements' backward slopes for ``x > 0`` / ``x < 0``
            (tensors broadcastable to ``x``, e.g. one per unit); ``None`` for both:
            ReLU's ``(1, 0)``, the ``"reference"`` backward, which needs no mask in the
            backward pass.  The ReLU elements always use ``(1, 0)``.
    """
    if (gpos is None) != (gneg is None):
        raise ValueError("give both gpos and gneg, or neither")
    if gpos is not None:
        gpos, gneg = _as_slope(gpos, x).detach(), _as_slope(gneg, x).detach()
    return _MaskedMixLU.apply(x, neg, gpos, gneg)


def neglu(x: Tensor, backward: str = "exact") -> Tensor:
    """Negative-linear unit ``min(0, x)``, element-wise.

    See :class:`NegLU` for the formula and the meaning of ``backward``.
    """
    return piecewise_linear(x, *SLOPES[_check_backward(backward)])


def smooth_neglu(x: Tensor) -> Tensor:
    """Smooth NegLU ``N(x) = -ln(1 + exp(-x)) = -softplus(-x)``; ``N'(x) = 1 / (e^x + 1)``."""
    return -F.softplus(-x)


class PiecewiseLinearUnit(nn.Module):
    """Base of the units computed by :func:`piecewise_linear` (NegLU, MixLU, ...).

    A subclass defines :meth:`slopes`; :meth:`forward` applies the op with them.  The
    batched sweep engine stacks any such unit by concatenating its members' slope
    tables, so a new unit of this family is stackable without engine code.

    Attributes:
        per_unit: True when :meth:`slopes` depends only on the unit (dimension 1),
            not on the pass, so a stack may compute it once; False when every pass
            draws new slopes (a resampled mask).
    """

    per_unit = True

    def slopes(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(fpos, fneg, gpos, gneg)`` broadcastable to ``x`` (see :func:`piecewise_linear`)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return piecewise_linear(x, *self.slopes(x))


class PrivateGenerator:
    """Mixin of a module that draws from its own generator seeded with ``self.seed``,
    one per device, created on first use and not in the ``state_dict``
    (:meth:`generator_states` saves them for checkpoints).  ``seed=None`` draws from
    torch's global generator."""

    seed: int | None
    _generators: dict[torch.device, torch.Generator]

    def _generator(self, device: torch.device) -> torch.Generator | None:
        """The private generator on ``device`` (``None`` without a seed)."""
        if self.seed is None:
            return None
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[device]

    def generator_states(self) -> dict[str, Tensor]:
        """States of the private generators, by device (for checkpoints)."""
        return {str(device): g.get_state() for device, g in self._generators.items()}

    def reset_draws(self) -> None:
        """Restart the private generators from the seed (as a new module's)."""
        self._generators = {}

    def load_generator_states(self, states: dict[str, Tensor]) -> None:
        """Restore :meth:`generator_states` (generators not listed start afresh)."""
        self._generators = {}
        for name, state in states.items():
            device = torch.device(name)
            generator = torch.Generator(device=device)
            generator.set_state(state)
            self._generators[device] = generator


def _unit_table(x: Tensor, table: Tensor) -> tuple[Tensor, ...]:
    """The four columns of a ``(C, 4)`` slope table as ``(1, C, 1, ...)`` tensors for ``x``."""
    table = table.to(device=x.device, dtype=x.dtype)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return tuple(table[:, i].reshape(shape) for i in range(4))


class NegLU(PiecewiseLinearUnit):
    r"""Applies the negative-linear unit element-wise.

    .. math::
        \text{NegLU}(x) = \min(0, x)

    Args:
        backward: which backward pass to use: ``"exact"`` (true derivative, 1 for
            ``x < 0``), ``"reference"`` (gradient passed where ``x > 0``, as the
            published MatConvNet layer did) or ``"inverted"`` (-1 for ``x < 0``).
            Default: ``"exact"``, the true derivative.  :class:`MixLU` defaults to
            ``"reference"`` instead, because its default reproduces the thesis's
            layer; pass ``backward`` explicitly when the two must agree.

    Shape:
        - Input: :math:`(*)`, any shape.
        - Output: :math:`(*)`, same shape as the input.

    Examples::

        >>> m = NegLU()
        >>> m(torch.tensor([-2.0, 0.0, 3.0]))
        tensor([-2.,  0.,  0.])
    """

    #: The type of every unit (:mod:`ann.unit_types`).
    unit_type = "neglu"

    def __init__(self, backward: str = "exact"):
        super().__init__()
        self.backward = _check_backward(backward)

    def slopes(self, x: Tensor) -> tuple[Tensor, ...]:
        return tuple(_as_slope(v, x) for v in SLOPES[self.backward])

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
    """NegLU units of a fixed-mask MixLU layer: ``neg_fraction * num_units`` rounded half
    up (``floor(p * n + 0.5)``; 2.5 -> 3)."""
    return int(math.floor(neg_fraction * num_units + 0.5))


def unit_mask(num_units: int, fraction: float, seed: int | None = None) -> Tensor:
    """Bool ``(num_units,)``, True at :func:`neg_unit_count` units: the first of one
    permutation drawn from a generator seeded with ``seed`` (``None``: torch's global
    one).  MixLU's fixed NegLU mask and Min-Maxout's Min units."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    order = torch.randperm(num_units, generator=generator)
    mask = torch.zeros(num_units, dtype=torch.bool)
    mask[order[: neg_unit_count(num_units, fraction)]] = True
    return mask


def resample_neg_count(numel: int, neg_fraction: float) -> int:
    """NegLU elements of one resampled MixLU mask over ``numel`` elements:
    ``numel - floor((1 - neg_fraction) * numel)``, the rule of the published
    ``nnmixlu.m`` (which keeps ``floor((1 - p) * numel)`` ReLUs).  Because ``1 - p`` is
    rounded in floating point first, this can differ by one from rounding ``p * numel``
    (p = 0.07, numel = 30,000 gives 2,101, not 2,100)."""
    return numel - int(math.floor((1.0 - neg_fraction) * numel))


class MixLU(PiecewiseLinearUnit, PrivateGenerator):
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
        neg_fraction: share of NegLU units as a *fraction*, in [0, 1]; 0 is exactly
            ReLU.  The scripts take percents (``--percents 5`` is
            ``neg_fraction=0.05``); pass ``neg_percent=5`` instead to say the same.  With
            ``mask="fixed"``, ``neg_fraction * num_units`` rounded half up
            (:func:`neg_unit_count`) units are NegLUs; with ``mask="resample"``,
            ``numel - floor((1 - neg_fraction) * numel)`` elements of each input
            (:func:`resample_neg_count`, the published layer's rule).
        backward: NegLU backward pass, ``"exact"``, ``"reference"`` (default, as the
            published layer, so that a MixLU with defaults reproduces the thesis) or
            ``"inverted"``.  Note that :class:`NegLU` defaults to ``"exact"``.
        mask: ``"fixed"`` (default) draws the NegLU units once and keeps them in the
            bool buffer ``neg_mask`` of shape ``(num_units,)``, saved in the
            ``state_dict``.  ``"resample"`` draws a fresh mask over *all elements*
            of each input (units x batch x space) on every forward pass, as the
            published layer did when given no mask.  It draws in eval mode too, as
            the published layer did at test time: under ``"resample"`` the test
            output of a MixLU net is random (reproducible from the seed), under
            ``"fixed"`` it is deterministic.
        seed: seed of the mask draws.  With ``mask="fixed"`` it seeds the one draw of
            ``neg_mask``; with ``mask="resample"`` it seeds a private generator (one
            per device, created on first use, not saved in the ``state_dict``) from
            which every pass draws, so a run is reproducible on the same kind of
            device (CPU draws the NegLU or ReLU elements directly by
            :func:`random_subset`; accelerators take a prefix of one permutation,
            which needs no host synchronisation; the masks differ).
            ``None`` draws from torch's global generator (reproducible under
            ``torch.manual_seed``).
        neg_percent: keyword-only alternative to ``neg_fraction``, in percent
            (0-100), as the scripts' ``--percents``; give one of the two.

    Shape:
        - Input: :math:`(N, C, *)` with ``C == num_units``.
        - Output: same shape as the input.

    Examples::

        >>> m = MixLU(500, neg_fraction=0.05, seed=0)
        >>> int(m.neg_mask.sum())
        25
        >>> MixLU(500, neg_percent=5, seed=0).neg_fraction
        0.05
        >>> y = m(torch.randn(8, 500))
    """

    neg_mask: Tensor

    def __init__(
        self,
        num_units: int,
        neg_fraction: float | None = None,
        backward: str = "reference",
        mask: str = "fixed",
        seed: int | None = None,
        *,
        neg_percent: float | None = None,
    ):
        super().__init__()
        if not is_integer(num_units) or num_units < 1:
            raise ValueError(f"num_units must be a positive integer, got {num_units!r}")
        if (neg_fraction is None) == (neg_percent is None):
            raise TypeError("MixLU needs exactly one of neg_fraction (0-1) and "
                            "neg_percent (0-100)")
        if neg_percent is not None:
            if not 0.0 <= float(neg_percent) <= 100.0:
                raise ValueError(f"neg_percent must be in [0, 100], got {neg_percent!r}")
            neg_fraction = float(neg_percent) / 100.0
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
        self._slope_cache: dict[tuple, tuple] = {}
        self.register_buffer("neg_mask", unit_mask(num_units, self.neg_fraction, seed))

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
        num_neg = resample_neg_count(numel, self.neg_fraction)
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

    def neg_elements(self, x: Tensor) -> Tensor:
        """Bool, broadcastable to ``x``: the NegLU elements of this pass, a fresh draw
        (:meth:`element_mask`) when the mask is resampled, else the NegLU units (none
        at a share of 0)."""
        if not self.per_unit:
            return self.element_mask(x)
        unit_neg = self.neg_mask.to(x.device) & (self.neg_fraction > 0.0)
        return unit_neg.view((1, -1) + (1,) * (x.dim() - 2))

    @property
    def per_unit(self) -> bool:  # a resampled mask draws new slopes on every pass
        return self.mask == "fixed" or self.neg_fraction == 0.0

    def slopes(self, x: Tensor) -> tuple[Tensor, ...]:
        """Per-unit slopes (fixed mask), or per-element slopes of a fresh draw (resample)."""
        relu, neg, table = self._tables(x)
        if self.per_unit:
            return table
        mask = self.element_mask(x)
        return tuple(torch.where(mask, neg[i], relu[i]) for i in range(4))

    def _tables(self, x: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        """ReLU and NegLU slope vectors and the per-unit table, on ``x``'s device and
        dtype, cached (no host-device copy per pass); rebuilt when ``neg_mask`` changes."""
        mask = self.neg_mask
        try:
            key = (x.device, x.dtype, x.dim(), mask.data_ptr(), mask._version)
        except RuntimeError:  # a buffer without storage (torch.func's vmap): no cache
            return self._make_tables(x, mask)
        cached = self._slope_cache.get(key[:3])
        if cached is None or cached[0] != key:
            cached = (key, self._make_tables(x, mask))
            self._slope_cache[key[:3]] = cached
        return cached[1]

    def _make_tables(self, x: Tensor, mask: Tensor
                     ) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        relu = torch.tensor(SLOPES["relu"], dtype=x.dtype).to(x.device)
        neg = torch.tensor(SLOPES[self.backward], dtype=x.dtype).to(x.device)
        unit_neg = mask.to(x.device)[:, None] & (self.neg_fraction > 0.0)
        return relu, neg, _unit_table(x, torch.where(unit_neg, neg, relu))

    def neg_backward(self, x: Tensor) -> tuple[Tensor, Tensor] | tuple[None, None]:
        """The NegLU elements' backward slopes ``(gpos, gneg)`` for :func:`mixlu_masked`
        (on ``x``'s device and dtype); ``(None, None)`` when they are ReLU's."""
        if SLOPES[self.backward][2:] == SLOPES["relu"][2:]:
            return None, None
        neg = self._tables(x)[1]
        return neg[2], neg[3]

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_units:
            raise ValueError(
                f"MixLU expects input of shape (N, {self.num_units}, *), got {tuple(x.shape)}"
            )
        if self.per_unit:
            return super().forward(x)
        return mixlu_masked(x, self.neg_elements(x), *self.neg_backward(x))

    def extra_repr(self) -> str:
        text = (f"num_units={self.num_units}, neg_fraction={self.neg_fraction}, "
                f"backward={self.backward!r}, mask={self.mask!r}")
        if self.mask == "fixed":  # under resample no unit is a NegLU for long
            return f"{text}, num_neg={self.num_neg}"
        return f"{text}, seed={self.seed}"
