"""A stack's training step replayed from a CUDA graph: the GPU path without launch overhead.

At batch 100 a LeNet stack's step is a few hundred small kernels; launched one by one
from Python, the GPU waits on the host.  :class:`StepGraph` captures the whole step
(the gather of every member's batch from the on-device dataset, its flips, forward,
loss, backward, the SGD update of all members, and the error, loss and divergence
accumulation) once in a :class:`torch.cuda.CUDAGraph`, then replays it for every full
batch after copying the step's indices and flips into its static input buffers
(device-to-device copies: no host synchronisation).

A graph bakes in what held at its capture, so it is captured again when that changes:

- the learning rates (an epoch of a schedule that changes them: :meth:`start_epoch`);
- the members (a diverged member dropped at the end of an epoch: the stack makes a new
  ``StepGraph``);
- the batch size (a last partial batch runs eagerly, on the same accumulators).

As in PyTorch's whole-network capture recipe, a graph is captured after
:data:`WARMUP` eager steps on a side stream, the stream it is then captured on (lazy
initialisation, such as cuDNN's plans or a BLAS handle per stream, must not happen
inside a capture), and ``zero_grad(set_to_none=True)`` inside
the step lets the captured backward own its gradient buffers.

On CPU there are no graphs: ``StepGraph`` runs the same step eagerly on the same static
buffers, so that everything but the capture itself (buffers, partial batches, new
graphs after a change) runs and is tested without a GPU (``StackedRun(...,
cuda_graph=True)`` on CPU; ``benchmarks/gpu_check.sh --dry-run``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["StepGraph", "WARMUP"]

#: eager steps (on a side stream) before a graph is captured
WARMUP = 3

#: ``step(idx, flip, wrong, loss_sum, bad)``: one SGD step of the stack on the images
#: ``idx`` (K, b) with flips ``flip`` (K,) or None, adding to the three accumulators
Step = Callable[[Tensor, Tensor | None, Tensor, Tensor, Tensor], None]


class StepGraph:
    """Static buffers, accumulators and the CUDA graph of one stack's training step.

    Args:
        step: the stack's eager step (see :data:`Step`); it must make no host
            synchronisation.
        members: K, the members in the stack.
        batch_size: the full batch size (the graph's).
        flips: whether steps take flips.
        device: where the stack trains; graphs are captured on CUDA only.

    Attributes:
        wrong, loss_sum, bad: the epoch's accumulators ``(K,)`` (zeroed by
            :meth:`start_epoch`).
        captures: graphs captured so far (0 on CPU).
        replays: steps replayed from a graph.
    """

    def __init__(self, step: Step, members: int, batch_size: int, flips: bool,
                 device: torch.device):
        self.step = step
        self.members = members
        self.capture = device.type == "cuda"
        self.idx = torch.zeros(members, batch_size, dtype=torch.long, device=device)
        self.flip = torch.zeros(members, dtype=torch.bool, device=device) if flips else None
        self.wrong = torch.zeros(members, dtype=torch.int64, device=device)
        self.loss_sum = torch.zeros(members, dtype=torch.float64, device=device)
        self.bad = torch.zeros(members, dtype=torch.bool, device=device)
        #: one side stream for warm-up and capture (libraries cache handles per stream)
        self.stream = torch.cuda.Stream(device) if self.capture else None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.rates: tuple[float, ...] | None = None
        self.warm = 0
        self.captures = 0
        self.replays = 0

    def start_epoch(self, rates: tuple[float, ...]) -> None:
        """Zero the accumulators; drop the graph if the learning ``rates`` changed."""
        for t in (self.wrong, self.loss_sum, self.bad):
            t.zero_()
        if rates != self.rates:
            self.graph, self.rates, self.warm = None, rates, 0

    def __call__(self, idx: Tensor, flip: Tensor | None) -> None:
        """One step on images ``idx`` (K, b) with flips ``flip`` (K,) or None."""
        if idx.shape[1] != self.idx.shape[1]:  # the last partial batch: eagerly
            self.step(idx, flip, self.wrong, self.loss_sum, self.bad)
            return
        self.idx.copy_(idx)
        if self.flip is not None:
            self.flip.copy_(flip)
        args = (self.idx, self.flip, self.wrong, self.loss_sum, self.bad)
        if not self.capture:
            self.step(*args)
            return
        if self.graph is None and self.warm < WARMUP:
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                self.step(*args)
            torch.cuda.current_stream().wait_stream(self.stream)
            self.warm += 1
            return
        if self.graph is None:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=self.stream):  # recorded, not run: replayed below
                self.step(*args)
            self.graph = graph
            self.captures += 1
        self.graph.replay()
        self.replays += 1
