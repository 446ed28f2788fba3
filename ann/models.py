"""The thesis's two benchmark networks, exactly as the MatConvNet reference (REFERENCE §4).

Both take the activation as an argument so that ReLU, MixLU or any module can sit in
the ReLU positions.  ``activation`` is either

- a callable ``num_units -> nn.Module`` (e.g. ``lambda n: MixLU(n, 0.05, seed=0)``),
  called once per position with that position's channel count, or
- an ``nn.Module``, used as is in :class:`LeNet` and deep-copied into each position
  of :class:`LeNet5`,
- ``None`` (default): ``nn.ReLU()``.

Both return logits of shape ``(N, 10)``; the softmax loss is the trainer's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LeNet", "LeNet5", "make_activation"]

ActivationSpec = nn.Module | Callable[[int], nn.Module] | None


def make_activation(spec: ActivationSpec, num_units: int, copy_module: bool = False) -> nn.Module:
    """Build the activation module for a position with ``num_units`` channels."""
    if spec is None:
        return nn.ReLU()
    if isinstance(spec, nn.Module):
        return copy.deepcopy(spec) if copy_module else spec
    if callable(spec):
        module = spec(num_units)
        if not isinstance(module, nn.Module):
            raise ValueError(
                f"activation callable must return an nn.Module, got {type(module).__name__}"
            )
        return module
    raise ValueError(
        f"activation must be None, an nn.Module or a callable num_units -> nn.Module, got {spec!r}"
    )


class LeNet(nn.Module):
    """ReLU-LeNet for MNIST (MatConvNet ``cnn_mnist``), input ``(N, 1, 28, 28)``.

    conv 5x5 1->20 · maxpool 2x2 s2 · conv 5x5 20->50 · maxpool 2x2 s2 ·
    conv 4x4 50->500 · activation (500 units) · conv 1x1 500->10.
    No padding, no batch norm.  Reference initialisation: weights N(0, 0.01²),
    biases 0 (:meth:`reset_parameters`).

    Args:
        activation: the module in the ReLU position (see the module docstring).
    """

    hidden_units = 500

    def __init__(self, activation: ActivationSpec = None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.conv3 = nn.Conv2d(50, self.hidden_units, 4)
        self.act = make_activation(activation, self.hidden_units)
        self.conv4 = nn.Conv2d(self.hidden_units, 10, 1)
        self.reset_parameters()

    @property
    def last_layer(self) -> nn.Conv2d:
        """The classifier conv."""
        return self.conv4

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Weights N(0, 0.01²), biases 0, as MatConvNet's ``cnn_mnist_init``."""
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            nn.init.normal_(conv.weight, 0.0, 0.01, generator=generator)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(self.conv1(x), 2, 2)
        x = F.max_pool2d(self.conv2(x), 2, 2)
        x = self.act(self.conv3(x))
        return self.conv4(x).flatten(1)


def _pool_pad_right_bottom(x: Tensor, method: str) -> Tensor:
    """3x3 stride-2 pooling with MatConvNet's pad [0 1 0 1] (one row/column at bottom/right).

    Max pooling ignores the padding (pads with -inf); average pooling counts the
    zero padding in the 9-element denominator, as MatConvNet's ``vl_nnpool`` does.
    """
    if method == "max":
        return F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)
    return F.avg_pool2d(F.pad(x, (0, 1, 0, 1), value=0.0), 3, 2)


class LeNet5(nn.Module):
    """ReLU-LeNet5 for CIFAR-10 (MatConvNet ``cnn_cifar`` 'lenet', CIFAR10-quick).

    conv 5x5 3->32 pad 2 · maxpool 3x3 s2 (pad right/bottom 1) · act ·
    conv 5x5 32->32 pad 2 · act · avgpool 3x3 s2 (pad right/bottom 1) ·
    conv 5x5 32->64 pad 2 · act · avgpool 3x3 s2 (pad right/bottom 1) ·
    conv 4x4 64->64 · act · conv 1x1 64->10.   Input ``(N, 3, 32, 32)``.

    Reference initialisation: N(0, 0.01²) for the first conv, N(0, 0.05²) for the
    others, biases 0.  The four activation positions are ``act1`` .. ``act4``.

    Args:
        activation: the module in each ReLU position (see the module docstring).
    """

    def __init__(self, activation: ActivationSpec = None):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.act1 = make_activation(activation, 32, copy_module=True)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.act2 = make_activation(activation, 32, copy_module=True)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.act3 = make_activation(activation, 64, copy_module=True)
        self.conv4 = nn.Conv2d(64, 64, 4)
        self.act4 = make_activation(activation, 64, copy_module=True)
        self.conv5 = nn.Conv2d(64, 10, 1)
        self.reset_parameters()

    @property
    def last_layer(self) -> nn.Conv2d:
        """The classifier conv (its learning-rate multipliers are 0.01 / 0.2)."""
        return self.conv5

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """First conv N(0, 0.01²), the others N(0, 0.05²), biases 0."""
        for conv, std in (
            (self.conv1, 0.01),
            (self.conv2, 0.05),
            (self.conv3, 0.05),
            (self.conv4, 0.05),
            (self.conv5, 0.05),
        ):
            nn.init.normal_(conv.weight, 0.0, std, generator=generator)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act1(_pool_pad_right_bottom(self.conv1(x), "max"))
        x = _pool_pad_right_bottom(self.act2(self.conv2(x)), "avg")
        x = _pool_pad_right_bottom(self.act3(self.conv3(x)), "avg")
        x = self.act4(self.conv4(x))
        return self.conv5(x).flatten(1)
