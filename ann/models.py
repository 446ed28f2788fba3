"""The thesis's two networks, exactly as MatConvNet's (docs/reference.md#benchmarks-and-protocols).

Both take the activation as an argument so that ReLU, MixLU or any module can sit in
the ReLU positions.  ``activation`` is either

- a callable ``num_units -> nn.Module`` (e.g. ``lambda n: MixLU(n, 0.05, seed=0)``),
  called once per position with that position's channel count, or
- an ``nn.Module``, used as is in :class:`LeNet` and deep-copied into each position
  of :class:`LeNet5`,
- ``None`` (default): ``nn.ReLU()``.

Both return logits of shape ``(N, 10)``; the softmax loss is the trainer's.
:func:`build_model` builds the network of a :class:`~ann.specs.RunSpec` (model name,
activation spec, seed); both classes are registered by name in :data:`ann.specs.MODELS`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ann.activations import MixLU
from ann.baselines import SeededDropout
from ann.specs import RunSpec, model_class
from common.checks import is_integer

__all__ = [
    "as_channels_last",
    "LeNet",
    "LeNet5",
    "make_activation",
    "pieces",
    "mask_seed",
    "build_model",
    "neglu_counts",
]

ActivationArg = nn.Module | Callable[[int], nn.Module] | None


def make_activation(spec: ActivationArg, num_units: int, copy_module: bool = False) -> nn.Module:
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


def pieces(activation: nn.Module) -> int:
    """Input channels per output unit of an activation module: its ``pieces`` (``k`` of
    :class:`~ann.minmaxout.MinMaxout`), 1 for element-wise units.  The layer feeding the
    position has that many times the position's units."""
    k = getattr(activation, "pieces", 1)
    if not is_integer(k) or k < 1:
        raise ValueError(f"activation {type(activation).__name__} has pieces={k!r}; it must "
                         f"be a positive integer")
    return k


class LeNet(nn.Module):
    """ReLU-LeNet for MNIST (MatConvNet ``cnn_mnist``), input ``(N, 1, 28, 28)``.

    conv 5x5 1->20 · maxpool 2x2 s2 · conv 5x5 20->50 · maxpool 2x2 s2 ·
    conv 4x4 50->500 · activation (500 units) · conv 1x1 500->10.
    An activation of ``k`` pieces per unit (:func:`pieces`, Maxout) widens conv3 to
    ``500 k`` outputs.
    No padding, no batch norm.  Reference initialisation: weights N(0, 0.01²),
    biases 0 (:meth:`reset_parameters`).

    Args:
        activation: the module in the ReLU position (see the module docstring).
    """

    hidden_units = 500
    #: the layer whose output feeds each activation position (ann.diagnostics)
    position_layers = ("conv3",)

    def __init__(self, activation: ActivationArg = None):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        act = make_activation(activation, self.hidden_units)
        self.conv3 = nn.Conv2d(50, self.hidden_units * pieces(act), 4)
        self.act = act
        self.dropout: nn.Module = nn.Identity()  # after the hidden activation (build_model)
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
        x = self.dropout(self.act(self.conv3(x)))
        return self.conv4(x).flatten(1)


def as_channels_last(x: Tensor) -> Tensor:
    """Images ``(N, C, H, W)`` in the ``torch.channels_last`` memory format (other inputs
    as they are): the layout both engines feed their convolutions on.  On CPU the loop
    of ``benchmarks/bench_sweep.py --model lenet5 --percents 0,0.25,0.5,1,2,3 --steps
    20`` took 5.20 s with it against 6.27 s with NCHW images (idle, 2026-12-04,
    ``docs/performance.md``), and one layout for both makes them route max-pooling
    ties alike (:func:`_first_max_order`)."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def _first_max_order(x: Tensor) -> Tensor:
    """``x`` in the channels-last layout before max pooling.

    Where a window holds equal maxima, the gradient goes to one of them, and which one
    depends on torch's kernel for the memory layout (channels-last kernels pick another
    than the NCHW ones).  Both engines feed their images channels-last
    (:func:`as_channels_last`), so this is a no-op for them; it keeps a model called on
    NCHW images (by a user) routing ties as the engines do.  The channels-last kernel ran
    a LeNet5 max pooling of 100 images in 0.94 ms against the NCHW kernel's 13.0 ms
    (measured on this project's 2-core machine, 2026-12-04).  Used by LeNet5, where the
    two layouts were measured to train apart (``tests/test_batched.py``).
    """
    return as_channels_last(x)


def _pool_pad_right_bottom(x: Tensor, method: str) -> Tensor:
    """3x3 stride-2 pooling with MatConvNet's pad [0 1 0 1] (one row/column at bottom/right).

    Both methods ignore the padding, as MatConvNet's ``vl_nnpool`` does (its CPU and
    GPU kernels clip each window to the input and average over the clipped window):
    torch's ``ceil_mode=True`` is exactly that, since its last window in each dimension
    overhangs the input by one row or column and is clipped to it (max over the
    elements inside; average divided by the number of elements inside, 6 or 4 at the
    edge instead of 9).  ``tests/test_models.py`` checks both against the explicit
    padding (``-inf`` for max, sums over counts for average), ties included.
    """
    if method == "max":
        return F.max_pool2d(_first_max_order(x), 3, 2, ceil_mode=True)
    return F.avg_pool2d(x, 3, 2, ceil_mode=True)


class LeNet5(nn.Module):
    """ReLU-LeNet5 for CIFAR-10 (MatConvNet ``cnn_cifar`` 'lenet', CIFAR10-quick).

    conv 5x5 3->32 pad 2 · maxpool 3x3 s2 (pad right/bottom 1) · act ·
    conv 5x5 32->32 pad 2 · act · avgpool 3x3 s2 (pad right/bottom 1) ·
    conv 5x5 32->64 pad 2 · act · avgpool 3x3 s2 (pad right/bottom 1) ·
    conv 4x4 64->64 · act · conv 1x1 64->10.   Input ``(N, 3, 32, 32)``.
    An activation of ``k`` pieces per unit (:func:`pieces`, Maxout) widens the conv
    feeding it ``k`` times.

    Reference initialisation: N(0, 0.01²) for the first conv, N(0, 0.05²) for the
    others, biases 0.  The four activation positions are ``act1`` .. ``act4``.

    Args:
        activation: the module in each ReLU position (see the module docstring).
    """

    #: the layer whose output feeds each activation position (ann.diagnostics)
    position_layers = ("conv1", "conv2", "conv3", "conv4")

    def __init__(self, activation: ActivationArg = None):
        super().__init__()
        # modules registered in forward order: conv, then the activation it feeds
        acts = [make_activation(activation, n, copy_module=True) for n in (32, 32, 64, 64)]
        self.conv1 = nn.Conv2d(3, 32 * pieces(acts[0]), 5, padding=2)
        self.act1 = acts[0]
        self.conv2 = nn.Conv2d(32, 32 * pieces(acts[1]), 5, padding=2)
        self.act2 = acts[1]
        self.conv3 = nn.Conv2d(32, 64 * pieces(acts[2]), 5, padding=2)
        self.act3 = acts[2]
        self.conv4 = nn.Conv2d(64, 64 * pieces(acts[3]), 4)
        self.act4 = acts[3]
        self.dropout: nn.Module = nn.Identity()  # after the hidden activation (build_model)
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
        x = self.dropout(self.act4(self.conv4(x)))
        return self.conv5(x).flatten(1)


def mask_seed(seed: int, position: int = 0) -> int:
    """Seed of the MixLU mask at activation ``position`` (0-based) of a run with ``seed``.

    ``16 * seed + position + 1``: distinct for every position (< 16) of a run, and
    never the run's own ``seed``, so the mask draw and the weight initialisation
    (which uses ``seed``) come from different random streams.
    """
    if not 0 <= position < 16:
        raise ValueError(f"position must be in [0, 16), got {position!r}")
    return 16 * int(seed) + position + 1


def build_model(spec: RunSpec, positions: Collection[int] | None = None) -> nn.Module:
    """The network of a run: the ``build_model`` of every sweep.

    ``model_class(spec.model)`` with ``spec.activation.build(units, mask_seed(spec.seed, i))``
    in its activation position ``i`` (0-based, in the order the model creates them),
    then ``reset_parameters(generator=torch.Generator().manual_seed(spec.seed))``:
    deterministic given ``spec``, with masks and weights from separate streams.  With
    ``spec.activation.dropout`` the model's ``dropout`` (after its fully connected
    hidden activation: LeNet's ``act``, LeNet5's ``act4``) is a
    :class:`~ann.baselines.SeededDropout` seeded ``mask_seed(spec.seed, 15)``.

    ``positions`` (0-based) restricts the spec's activation to those activation
    positions, the others get ``nn.ReLU()`` (e.g. ``{0}``: only LeNet5's first); ``None``:
    every position, as the thesis's nets.

    With a fixed-mask MixLU the NegLU count per position is rounded from its channel
    count (LeNet5: 32, 32, 64, 64), so shares below ~1.6 % give no NegLU in a
    32-channel layer; ``mask="resample"`` (a fresh per-element mask each pass, as the
    published layer without a supplied mask) has no such floor.
    """
    if not isinstance(spec, RunSpec):
        raise ValueError(f"spec must be a RunSpec, got {spec!r}")
    position = iter(range(16))

    def activation(n: int) -> nn.Module:
        i = next(position)
        if positions is not None and i not in positions:
            return nn.ReLU()
        return spec.activation.build(n, mask_seed(spec.seed, i))

    model = model_class(spec.model)(activation=activation)
    if positions is not None and not set(positions) <= set(range(next(position))):
        raise ValueError(f"positions must be activation positions of {spec.model} (0-based), "
                         f"got {sorted(positions)}")
    if spec.activation.dropout:
        model.dropout = SeededDropout(spec.activation.dropout, seed=mask_seed(spec.seed, 15))
    model.reset_parameters(generator=torch.Generator().manual_seed(spec.seed))
    return model


def neglu_counts(model: nn.Module, image_shape: tuple[int, ...]) -> list[float]:
    """Expected NegLU elements per image at each MixLU position of ``model`` (in forward
    order), for images of ``image_shape`` ``(C, H, W)``: NegLU units x positions per
    unit for a fixed mask, ``neg_fraction`` x the position's elements for a resampled
    one (the expectation per image; a pass rounds over its whole batch,
    :func:`~ann.activations.resample_neg_count`)."""
    counts: list[float] = []

    def hook(module: MixLU, inputs: tuple[Tensor, ...]) -> None:
        x = inputs[0]
        per_unit = x[0, 0].numel()
        if module.mask == "fixed" or module.neg_fraction == 0.0:
            counts.append(float(module.num_neg * per_unit))
        else:  # the share of the batch's elements, per image (not rounded per image)
            counts.append(module.neg_fraction * x[0].numel())

    mixlus = [m for m in model.modules() if isinstance(m, MixLU)]
    handles = [m.register_forward_pre_hook(hook) for m in mixlus]
    try:
        with torch.no_grad():
            model(torch.zeros((1, *image_shape)))
    finally:
        for h in handles:
            h.remove()
    return counts

