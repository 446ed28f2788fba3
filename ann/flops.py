"""Arithmetic per image, counted from a model's layer shapes, and this machine's peak.

:func:`count_flops` runs one image through a model with forward hooks on its
convolutions and linear layers and counts their multiply-adds from the shapes it sees
(2 FLOPs each): the forward FLOPs per image, and the usual estimate for a training step
of 3x that (forward, gradient with respect to the inputs, gradient with respect to the
weights).  Elementwise work (activations, pooling, the loss, the optimizer) is not
counted: at these sizes it is a few per cent of the multiply-adds.

:func:`sgemm_gflops` times a square fp32 matrix product on a device, the arithmetic
limit against which ``benchmarks/bench_sweep.py`` reads the engines' throughput.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Flops", "count_flops", "sgemm_gflops"]

#: Training step FLOPs over forward FLOPs (forward + two backward products per layer).
TRAINING_FACTOR = 3


@dataclass(frozen=True)
class Flops:
    """FLOPs of one image: ``forward`` and ``training`` (= 3 x forward), and the
    multiply-adds per layer (``layers``: name -> count) they came from."""

    forward: int
    training: int
    layers: dict[str, int]


def count_flops(model: nn.Module, image_shape: tuple[int, ...]) -> Flops:
    """Count the convolution and linear multiply-adds of one ``image_shape`` image.

    A convolution's are ``output elements x (input channels / groups) x kernel area``, a
    linear layer's ``in_features x out_features``.  The model is left as it was (eval
    mode for the probe pass, then its previous mode).
    """
    macs: dict[str, int] = {}
    hooks = []

    def conv_hook(name: str):
        def hook(module: nn.Conv2d, inputs, output: torch.Tensor) -> None:
            kernel = module.kernel_size[0] * module.kernel_size[1]
            per_output = (module.in_channels // module.groups) * kernel
            macs[name] = macs.get(name, 0) + output[0].numel() * per_output
        return hook

    def linear_hook(name: str):
        def hook(module: nn.Linear, inputs, output: torch.Tensor) -> None:
            macs[name] = macs.get(name, 0) + module.in_features * module.out_features
        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(conv_hook(name)))
        elif isinstance(module, nn.Linear):
            hooks.append(module.register_forward_hook(linear_hook(name)))
    training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *image_shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(training)
    forward = 2 * sum(macs.values())
    return Flops(forward, TRAINING_FACTOR * forward, macs)


def sgemm_gflops(device: str | torch.device = "cpu", n: int = 2048, repeats: int = 5) -> float:
    """fp32 ``n x n`` matrix-product GFLOP/s on ``device`` (best of ``repeats``, after
    one warm-up product), with torch's current thread count."""
    device = torch.device(device)
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device)
    b = torch.randn(n, n, generator=g).to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    torch.mm(a, b)
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9
