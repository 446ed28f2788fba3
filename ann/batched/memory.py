"""Memory plan of the batched engine: how many members one stack holds.

K members are split into stacks that fit memory (:func:`plan_chunks`): an estimate
of bytes per member (:func:`member_bytes`) against a budget
(:func:`memory_budget_bytes`: the process's memory budget on CPU, by default half the
available RAM; 80 % of free GPU memory on CUDA) and a cap (on CPU by default
:data:`CPU_STACK_BYTES`, since small stacks keep their activations in cache, and one
member alone from :data:`CPU_SOLO_BYTES` a member: LeNet5).  The plan is made before
any member's model is built (:func:`ann.sweep_plan.plan_units`).
"""

from __future__ import annotations

import copy
import math
import os

import torch
from torch import Tensor, nn

from common.data.budget import MEMORY_BUDGET_ENV, memory_budget

__all__ = ["CPU_SOLO_BYTES", "CPU_STACK_BYTES", "member_bytes", "memory_budget_bytes",
           "plan_chunks", "stack_cap"]

#: Default size of one stack on CPU, in estimated training bytes (:func:`member_bytes`):
#: past a few members the stacked activations outgrow the cache and every member gets
#: slower, so on CPU a stack holds at most ``CPU_STACK_BYTES // member_bytes`` members
#: (LeNet: 7).  Measured with ``bench_sweep.py --timer cpu --threads 1`` (CPU seconds,
#: 1 thread): LeNet, 11 runs x 30 steps, stacks of 2: 12.4 s, 3: 11.0, 4: 11.6, 6: 11.2,
#: 11: 14.8, the plain loop 19.2-19.9.  Again on 2 threads, 2026-12-04 (idle), 11 runs x
#: 50 steps, ``--max-members`` 4, 5, 6, 7: 6.99-7.21, 7.11-7.17, 6.71-7.74 and
#: 7.05-7.58 s, the same within the noise.
CPU_STACK_BYTES = 300 * 2**20
#: On CPU a member of at least this many bytes trains in a stack of its own: its
#: convolutions are large enough that a grouped convolution over several members gains
#: nothing, while the stack's own copies cost.  Measured on LeNet5 (89 MiB a member with
#: ReLUs, 101-118 MiB with resampled MixLUs; LeNet's 38 MiB stack well), 2 threads,
#: idle, 2026-12-04: ``bench_sweep.py --model lenet5 --percents 0,0.25,0.5,1,2,3
#: --steps 20``, three runs each, stacks of 1 member 1.20-1.25x the loop of then (NCHW),
#: of 2 members 1.09-1.13x, and 3 and 6 members 7.57 and 10.52 s against 7.01 s for 2;
#: the offline study's LeNet5 sweep probed ReLU and MixLU stacks of 3 at 0.50-0.60x the
#: loop.
CPU_SOLO_BYTES = 64 * 2**20


def member_bytes(model: nn.Module, x: Tensor, batch_size: int) -> int:
    """Estimated device bytes one member adds to a stack training at ``batch_size``.

    Parameters x 4 (weights, gradients, momentum, slack) plus 3 x the activations
    autograd saves for a batch (measured with saved-tensor hooks on a forward of the
    images ``x``, scaled to ``batch_size``).
    """
    model = copy.deepcopy(model)  # the forward below must not touch the caller's state
    param_ids = {p.data_ptr() for p in model.parameters()}
    x = x.clone()  # a view into a dataset would count the dataset's whole storage
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        if t.data_ptr() not in param_ids and t.device.type != "meta":
            seen[t.data_ptr()] = max(seen.get(t.data_ptr(), 0),
                                     t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    per_image = sum(seen.values()) / max(1, x.shape[0])
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return int(4 * param_bytes + 3 * per_image * batch_size)


def memory_budget_bytes(device: torch.device) -> int:
    """Bytes the stacks may use: on CPU the process's memory budget
    (:func:`common.data.budget.memory_budget`: ``NEGLU_STDP_MEMORY_BUDGET`` if set, else
    half of the available RAM, within an ``RLIMIT_AS`` limit); on CUDA 80 % of the free
    GPU memory, and at most ``NEGLU_STDP_MEMORY_BUDGET`` where that is set."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = int(0.8 * free)
        if os.environ.get(MEMORY_BUDGET_ENV, "").strip():
            budget = min(budget, memory_budget())
        return budget
    return memory_budget()


def plan_chunks(n: int, per_member: int, budget: int, max_members: int | None) -> list[int]:
    """Sizes of the chunks that ``n`` members are trained in, as equal as possible.

    Each chunk holds at most ``max_members`` (``None``: no cap) and at most
    ``budget // per_member`` members (at least one).

    Raises:
        ValueError: a non-positive ``n``, ``per_member``, ``budget`` or ``max_members``.
    """
    for name, value in (("n", n), ("per_member", per_member), ("budget", budget)):
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")
    if max_members is not None and max_members < 1:
        raise ValueError(f"max_members must be a positive integer or None, got {max_members}")
    cap = max(1, budget // per_member)
    if max_members is not None:
        cap = min(cap, max_members)
    chunks = math.ceil(n / cap)
    base, extra = divmod(n, chunks)
    return [base + (1 if i < extra else 0) for i in range(chunks)]


def stack_cap(per_member: int, device: torch.device, max_members: int | None) -> int | None:
    """Most members per stack: ``max_members`` if given, else on CPU as many as fit
    :data:`CPU_STACK_BYTES` (at least one; one for a member of :data:`CPU_SOLO_BYTES`
    or more), else no cap (memory-bound only)."""
    if max_members is None and device.type == "cpu":
        return 1 if per_member >= CPU_SOLO_BYTES else max(1, CPU_STACK_BYTES // per_member)
    return max_members
