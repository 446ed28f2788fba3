"""The effective local derivative: what the backward pass actually applied, measured.

For an element-wise activation ``a = f(z)`` the backward pass turns ``∂C/∂a`` into
``∂C/∂z``.  Their ratio is the derivative the network really used, whatever the
module claims: 1 or 0 for ReLU, +1 / 0 for the exact NegLU, 0 where ``z < 0`` and
1 where ``z > 0`` for the reference NegLU, -1 / 0 for the inverted NegLU.  Where
``∂C/∂a == 0`` the derivative cannot be observed and is reported as NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["effective_derivative", "probe_derivative"]


def effective_derivative(grad_input: Tensor, grad_output: Tensor) -> Tensor:
    """``grad_input / grad_output`` element-wise; NaN where ``grad_output == 0``.

    Parameters
    ----------
    grad_input : Tensor
        ``∂C/∂z``, the gradient the activation passed to its input.
    grad_output : Tensor
        ``∂C/∂a``, the gradient the activation received at its output.
    """
    if grad_input.shape != grad_output.shape:
        raise ValueError(
            "effective_derivative needs an element-wise activation: grad_input shape "
            f"{tuple(grad_input.shape)} != grad_output shape {tuple(grad_output.shape)}"
        )
    observed = grad_output != 0
    safe = torch.where(observed, grad_output, torch.ones_like(grad_output))
    return torch.where(observed, grad_input / safe, torch.full_like(grad_input, float("nan")))


def probe_derivative(module: nn.Module, z: Tensor) -> Tensor:
    """The derivative ``module``'s backward applies at inputs ``z`` (a unit upstream gradient).

    Examples
    --------
    >>> from ann.activations import NegLU
    >>> probe_derivative(NegLU("inverted"), torch.tensor([-1.0, 1.0]))
    tensor([-1., 0.])
    """
    z = z.detach().clone().requires_grad_(True)
    out = module(z)
    (grad_z,) = torch.autograd.grad(out, z, grad_outputs=torch.ones_like(out))
    return effective_derivative(grad_z, torch.ones_like(out))
