"""The peer of the batched engine: PyTorch's own recipe for training many models at once.

The "model ensembling" recipe of the ``torch.func`` documentation: the members'
parameters and buffers stacked by :func:`torch.func.stack_module_state`, one model
called on them by :func:`torch.func.functional_call`, and :func:`torch.func.vmap` over
:func:`torch.func.grad_and_value` for every member's gradient in one call.  Here it
trains the same runs as :func:`ann.batched.train_batched` would: each member's own
initialisation and MixLU mask (``build_model``), its own data order (its generator
seeded with the run's seed, :mod:`ann.epoch`), and SGD with momentum, weight decay and
the learning-rate multipliers of :func:`ann.train.param_groups` (one
``torch.optim.SGD`` over the stacked tensors is K independent optimisers, as in the
batched engine).  It is a benchmark peer, not an engine: no divergence handling, no
diagnostics, no checkpoints, no resampled masks (their private generators cannot draw
inside ``vmap``), one test pass after the last epoch.

Used by ``benchmarks/bench_sweep.py --peer vmap``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from ann.config import TrainConfig
from ann.data.datasets import TensorData
from ann.epoch import batch_starts, draw_epoch, set_epoch_lr
from ann.models import build_model
from ann.specs import RunSpec
from ann.train import TEST_CHUNK, param_groups

__all__ = ["train_vmap"]


def train_vmap(specs: Sequence[RunSpec], data: TensorData, config: TrainConfig,
               device: torch.device) -> dict[RunSpec, dict[str, Any]]:
    """Train ``specs`` by the ``torch.func`` recipe; per run, the final epoch's training
    error and loss and the test error."""
    models = [build_model(s).to(device).train() for s in specs]
    for spec in specs:
        if spec.activation.get("mask") == "resample":
            raise ValueError("the torch.func peer cannot draw resampled masks inside vmap")
    if len({s.activation.get("backward") for s in specs} - {None}) > 1:
        raise ValueError("the torch.func peer runs one module's code for every member: one "
                         "backward mode per sweep")
    params, buffers = stack_module_state(models)
    # vmap varies tensors only: the members' masks are buffers, but a Python attribute
    # (a MixLU's share) is the base module's, so the base is a member with NegLUs
    base = copy.deepcopy(max(models, key=lambda m: max(
        (getattr(u, "neg_fraction", 0.0) for u in m.modules()), default=0.0))).to("meta")
    groups = []
    for group in param_groups(models[0], config):  # the members' names and multipliers
        ids = {id(p) for p in group["params"]}
        names = [n for n, p in models[0].named_parameters() if id(p) in ids]
        groups.append({**group, "params": [params[n] for n in names]})
    optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)

    def loss(p, b, x, y):
        logits = functional_call(base, (p, b), (x,))
        return F.cross_entropy(logits, y), logits

    step = vmap(grad_and_value(loss, has_aux=True))
    forward = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))
    generators = [torch.Generator().manual_seed(s.seed) for s in specs]
    n, bs, k = data.train_size, config.batch_size, len(specs)
    wrong = torch.zeros(k, dtype=torch.int64, device=device)
    loss_sum = torch.zeros(k, dtype=torch.float64, device=device)
    for epoch in range(config.epochs):
        set_epoch_lr(optimizer, config, epoch)
        draws = [draw_epoch(g, n, config) for g in generators]
        perm = torch.stack([p for p, _ in draws]).to(device)
        wrong.zero_()
        loss_sum.zero_()
        for j, i in enumerate(batch_starts(n, bs)):
            idx = perm[:, i : i + bs]
            xb, yb = data.train_x[idx], data.train_y[idx]  # (K, b, C, H, W), (K, b)
            if config.flip:
                flips = torch.stack([f[j] for _, f in draws]).to(device)
                xb = torch.where(flips.view(k, 1, 1, 1, 1), xb.flip(-1), xb)
            grads, (losses, logits) = step(params, buffers, xb, yb)
            for name, g in grads.items():
                params[name].grad = g
            optimizer.step()
            with torch.no_grad():
                wrong += (logits.argmax(-1) != yb).sum(1)
                loss_sum += losses.double() * yb.shape[1]
    test_wrong = torch.zeros(k, dtype=torch.int64, device=device)
    with torch.no_grad():
        for i in range(0, data.test_size, TEST_CHUNK):
            out = forward(params, buffers, data.test_x[i : i + TEST_CHUNK])
            test_wrong += (out.argmax(-1) != data.test_y[i : i + TEST_CHUNK]).sum(1)
    return {spec: {"train_error": int(wrong[m]) / n, "loss": float(loss_sum[m]) / n,
                   "test_error": int(test_wrong[m]) / data.test_size}
            for m, spec in enumerate(specs)}
