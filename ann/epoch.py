"""The per-epoch contract that both engines call: one copy of every rule they share.

:func:`ann.train.train_one` (the loop) and :class:`ann.batched.StackedRun` (K runs
at once) both train an epoch as:

1. :func:`set_epoch_lr` — the epoch's learning rate times each group's multiplier;
2. :func:`draw_epoch` — the run's permutation of the training set and, with
   ``config.flip``, one flip per batch, from the run's own CPU generator in this order;
3. SGD steps over :func:`batch_starts`; a step whose loss is not finite marks the
   run diverged at once (:func:`losses_finite`);
4. after the epoch's last step, :func:`parameters_finite`: a step can leave
   non-finite weights with a finite loss (the update itself overflows), which only
   the next epoch's first step would notice — or, after the last epoch, nothing;
5. the :func:`epoch_record` of a run that is still finite.

A diverged run keeps the records of the epochs it completed; its final errors are
:data:`CHANCE_ERROR` (:func:`ann.train.run_result`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "CHANCE_ERROR",
    "set_epoch_lr",
    "draw_epoch",
    "batch_starts",
    "losses_finite",
    "parameters_finite",
    "epoch_record",
]

#: Error recorded for a diverged run (chance level for 10 classes).
CHANCE_ERROR = 0.9


def set_epoch_lr(optimizer: torch.optim.Optimizer, config, epoch: int) -> float:
    """Set every group's learning rate for 0-based ``epoch``: ``config.epoch_lr(epoch)``
    times the group's ``lr_mult``; return the epoch's rate."""
    lr = config.epoch_lr(epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_mult"]
    return lr


def draw_epoch(generator: torch.Generator, n: int, config) -> tuple[Tensor, Tensor | None]:
    """A run's permutation of ``range(n)`` and, with ``config.flip``, its per-batch flips
    (bool, one per batch), drawn from ``generator`` (CPU) in that order: first
    ``torch.randperm(n)``, then per batch ``torch.rand(()) < 0.5``."""
    perm = torch.randperm(n, generator=generator)
    if not config.flip:
        return perm, None
    batches = math.ceil(n / config.batch_size)
    flips = torch.tensor([bool(torch.rand((), generator=generator) < 0.5)
                          for _ in range(batches)], dtype=torch.bool)
    return perm, flips


def batch_starts(n: int, batch_size: int) -> range:
    """First index of each batch: consecutive slices of the permutation, the last
    partial batch included."""
    return range(0, n, batch_size)


def losses_finite(losses: Tensor) -> Tensor:
    """Per-run flag (device tensor): the step's loss is finite."""
    return torch.isfinite(losses.detach())


def parameters_finite(params: Iterable[Tensor], members: int = 1) -> Tensor:
    """Per-member flag ``(members,)`` (device tensor, no host synchronisation): every
    parameter element of the member is finite.  Parameters of a stack are member-major
    along dimension 0 (``members=1``: one plain model)."""
    ok = None
    for p in params:
        flags = torch.isfinite(p.detach()).reshape(members, -1).all(1)
        ok = flags if ok is None else ok & flags
    if ok is None:
        raise ValueError("params must not be empty")
    return ok


def epoch_record(epoch: int, wrong: int, loss_sum: float, test_wrong: int, n: int,
                 n_test: int) -> dict[str, Any]:
    """The record of 1-based ``epoch``: ``train_error`` = misclassified training images
    of the epoch's forward passes / ``n`` (MatConvNet's running error), ``test_error``
    = misclassified test images / ``n_test``, ``loss`` = sum of batch loss x batch
    size / ``n``."""
    return {
        "epoch": epoch,
        "train_error": wrong / n,
        "test_error": test_wrong / n_test,
        "loss": loss_sum / n,
    }
