"""The activations the thesis compares NegLUs with, and dropout (docs/reference.md#baselines).

Each is a functional op and a thin ``nn.Module``, as ``torch.nn`` does:

- :func:`leaky_relu` / :class:`LeakyReLU` — Maas et al. (2013), a fixed negative slope;
- :class:`PReLU` — He et al. (2015), a learned negative slope per channel;
- :class:`BipolarReLU` — Eidnes & Nøkland (2017), ReLU and ``min(0, x)`` on
  alternating units: a 50 % MixLU with the exact backward and a fixed alternating mask;
- :func:`noisy_relu` / :class:`NoisyReLU` — ``max(0, x + ε)`` with Gaussian noise
  during training only, of fixed variance (as the thesis describes it) or of Nair &
  Hinton's (2010) input-dependent variance ``sigmoid(x)``;
- :class:`SeededDropout` — dropout from a private seeded generator, so that a run's
  dropout masks are reproducible from its seed and checkpointable.

The piecewise-linear ones (leaky, PReLU, bipolar) are slope tables of
:func:`ann.activations.piecewise_linear`, so the batched engine stacks leaky and
bipolar units like any other; PReLU (learned slopes), noisy units and dropout stack as
units with parameters or draws (:mod:`ann.batched.units`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ann.activations import (
    MixLU,
    PiecewiseLinearUnit,
    PrivateGenerator,
    _as_slope,
    piecewise_linear,
)
from common.checks import is_integer

__all__ = ["leaky_relu", "LeakyReLU", "PReLU", "BipolarReLU", "noisy_relu", "NoisyReLU",
           "SeededDropout", "NOISE_VARIANCES"]

#: Variance modes of :class:`NoisyReLU`.
NOISE_VARIANCES = ("fixed", "nair-hinton")


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    r"""Leaky ReLU, :math:`x` for :math:`x > 0`, :math:`\alpha x` otherwise (true derivative)."""
    return piecewise_linear(x, 1.0, negative_slope)


class LeakyReLU(PiecewiseLinearUnit):
    r"""Applies the leaky ReLU element-wise (Maas et al. 2013).

    .. math::
        \text{LeakyReLU}(x) = \begin{cases} x & x > 0 \\ \alpha x & x \le 0 \end{cases}

    Equal to ``nn.LeakyReLU(alpha)``; computed by :func:`~ann.activations.piecewise_linear`
    so that the batched engine can stack it.

    Args:
        negative_slope: :math:`\alpha`, in ``[0, 1]``.  Default: 0.01.
    """

    #: The type of every unit (:mod:`ann.unit_types`).
    unit_type = "leaky"

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        if not 0.0 <= float(negative_slope) <= 1.0:
            raise ValueError(f"negative_slope must be in [0, 1], got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def slopes(self, x: Tensor) -> tuple[Tensor, ...]:
        a = self.negative_slope
        return tuple(_as_slope(v, x) for v in (1.0, a, 1.0, a))

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class PReLU(PiecewiseLinearUnit):
    r"""Parametric ReLU with a learned negative slope per channel (He et al. 2015).

    .. math::
        \text{PReLU}(x)_c = \begin{cases} x & x > 0 \\ a_c x & x \le 0 \end{cases}

    ``weight`` (shape ``(num_parameters,)``) receives the gradient
    :math:`\sum \partial L / \partial y \cdot x` over the elements with :math:`x < 0`,
    as ``nn.PReLU``'s; weight decay applies to it as to every parameter (the trainer's
    SGD), unlike He et al., who left it undecayed.

    Args:
        num_parameters: channels (dimension 1 of the input), or 1 for one shared slope.
        init: initial slope.  Default: 0.25.
    """

    #: The type of every unit (:mod:`ann.unit_types`).
    unit_type = "prelu"

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        if not is_integer(num_parameters) or num_parameters < 1:
            raise ValueError(f"num_parameters must be a positive integer, got {num_parameters!r}")
        self.num_parameters = num_parameters
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))

    def slopes(self, x: Tensor) -> tuple[Tensor, ...]:
        if self.num_parameters > 1 and (x.dim() < 2 or x.shape[1] != self.num_parameters):
            raise ValueError(f"PReLU of {self.num_parameters} channels got input of shape "
                             f"{tuple(x.shape)}")
        shape = (1, -1) + (1,) * (x.dim() - 2) if self.num_parameters > 1 else ()
        a = self.weight.to(x.dtype).reshape(shape)
        one = _as_slope(1.0, x)
        return one, a, one, a.detach()

    def slope_summary(self) -> dict[str, float]:
        """The learned slopes: mean, quantiles (5, 25, 50, 75, 95 %), share below 0."""
        a = self.weight.detach().float().cpu()
        q = torch.quantile(a, torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95]))
        return {"mean": float(a.mean()), "q05": float(q[0]), "q25": float(q[1]),
                "median": float(q[2]), "q75": float(q[3]), "q95": float(q[4]),
                "negative_share": float((a < 0).float().mean())}

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class BipolarReLU(MixLU):
    r"""Bipolar ReLU (Eidnes & Nøkland 2017): ReLU on even units, NegLU on odd ones.

    .. math::
        y_c = \begin{cases} \max(0, x_c) & c \text{ even} \\
                            -\max(0, -x_c) = \min(0, x_c) & c \text{ odd} \end{cases}

    with the true derivative: a :class:`~ann.activations.MixLU` with backward
    ``"exact"``, a fixed mask and ``neg_mask[c] = c % 2 == 1`` (``floor(C/2)`` NegLUs).

    Args:
        num_units: channels (dimension 1 of the input).
    """

    def __init__(self, num_units: int):
        super().__init__(num_units, (num_units // 2) / num_units if num_units > 0 else 0.0,
                         backward="exact", mask="fixed", seed=0)
        self.neg_mask.copy_(torch.arange(num_units) % 2 == 1)

    def extra_repr(self) -> str:
        return f"num_units={self.num_units}, alternating, num_neg={self.num_neg}"


def _check_variance(variance: str) -> str:
    if variance not in NOISE_VARIANCES:
        raise ValueError(f"variance must be one of {NOISE_VARIANCES}, got {variance!r}")
    return variance


def noisy_relu(x: Tensor, sigma: float = 1.0, variance: str = "fixed",
               training: bool = True, generator: torch.Generator | None = None) -> Tensor:
    r"""Noisy ReLU :math:`\max(0, x + \varepsilon)`, :math:`\varepsilon \sim N(0, v)`.

    ``variance="fixed"``: :math:`v = \sigma^2`.  ``"nair-hinton"``: Nair & Hinton's
    (2010) :math:`v = \sigma^2 \cdot \text{sigmoid}(x)` (their NReLU for
    :math:`\sigma = 1`).  The noise is a constant of the backward pass (the gradient is
    :math:`1[x + \varepsilon > 0]`).  Without ``training`` it is :func:`torch.relu`.
    """
    _check_variance(variance)
    if not training or sigma == 0.0:
        return torch.relu(x)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    scale = sigma * torch.sigmoid(x.detach()).sqrt() if variance == "nair-hinton" else sigma
    return torch.relu(x + noise * scale)


class NoisyReLU(nn.Module, PrivateGenerator):
    r"""Noisy ReLU, :func:`noisy_relu` (noise in training mode only).

    Args:
        sigma: noise standard deviation :math:`\sigma` (on the pre-activation's scale).
        variance: ``"fixed"`` or ``"nair-hinton"`` (see :func:`noisy_relu`).
        seed: seeds the private noise generator (per-run reproducible streams);
            ``None`` draws from torch's global generator.
    """

    #: The type of every unit (:mod:`ann.unit_types`).
    unit_type = "noisy"

    def __init__(self, sigma: float = 1.0, variance: str = "fixed", seed: int | None = None):
        super().__init__()
        self.seed, self._generators = seed, {}
        if not float(sigma) >= 0.0:
            raise ValueError(f"sigma must be a non-negative number, got {sigma!r}")
        self.sigma = float(sigma)
        self.variance = _check_variance(variance)

    def forward(self, x: Tensor) -> Tensor:
        g = self._generator(x.device) if self.training else None
        return noisy_relu(x, self.sigma, self.variance, self.training, g)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, variance={self.variance!r}"


class SeededDropout(nn.Module, PrivateGenerator):
    """``nn.Dropout(p)`` whose masks come from a private seeded generator.

    In training, each element is zeroed with probability ``p`` and the others are
    scaled by ``1 / (1 - p)``; in eval mode it is the identity.

    Args:
        p: drop probability in ``[0, 1)``.
        seed: seeds the mask generator; ``None`` uses ``F.dropout`` (global generator).
    """

    def __init__(self, p: float = 0.5, seed: int | None = None):
        super().__init__()
        self.seed, self._generators = seed, {}
        if not 0.0 <= float(p) < 1.0:
            raise ValueError(f"p must be in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        g = self._generator(x.device)
        if g is None:
            return F.dropout(x, self.p, True)
        keep = torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
