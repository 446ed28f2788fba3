"""Training one stack of runs: :class:`StackedRun` (planning a sweep: :mod:`ann.sweep_plan`).

Every member keeps its own initialisation and mask (``build_model(spec)`` is called
per run and the parameters copied in), its own data order (its own CPU generator
seeded with ``spec.seed``, drawing what :func:`ann.train.train_one` draws, through
the same :mod:`ann.epoch` rules), its own momentum, errors and loss.  The summed loss
``sum_k mean_b CE_k`` gives every member exactly its own gradient, and SGD with
momentum and weight decay is element-wise, so one ``torch.optim.SGD`` over the
stacked tensors is K independent optimisers.

Divergence is decided by the rules of :mod:`ann.epoch`, as in the loop: a member
whose step loss is not finite, or whose parameters are not finite after the epoch's
last step, is recorded ``"diverged"`` with the epochs it completed.  On CPU, where
reading a flag costs nothing, a diverged member is dropped from the stack at once
(the others go on undisturbed: no operation mixes members); on CUDA the flag stays on
the device and the member is dropped at the end of the epoch, so that there is no host
synchronisation inside an epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ann.batched.graph import StepGraph
from ann.batched.layers import StackedActivation
from ann.batched.stacking import (
    select_members,
    stack_input,
    stack_models,
    verify_stacked,
)
from ann.batched.units import StackedUnits
from ann.checkpoint import Checkpoints, capture_state, restore_state
from ann.config import TrainConfig
from ann.data.datasets import TensorData
from ann.diagnostics import probe_images, unit_diagnostics
from ann.epoch import (
    batch_starts,
    draw_epoch,
    epoch_record,
    losses_finite,
    parameters_finite,
    set_epoch_lr,
)
from ann.generators import reset_generators
from ann.members import select_rows
from ann.models import as_channels_last
from ann.specs import RunSpec
from ann.step_observer import Observer
from ann.train import TEST_CHUNK, param_groups, run_result
from common.progress import progress_bar

__all__ = ["StackedRun", "CPU_EVAL_CHUNK"]

#: Test images per member in one forward pass of a stack on CPU (fixed masks).  Measured
#: on the 2-core machine (2026-12-04), a stack's 10,000 test images: LeNet, 7 members,
#: 100 per member 2.35 s, 142 (the former 1,000 stacked images) 3.3-3.6 s, 50 2.4-2.6 s,
#: 25 2.8-3.0 s; LeNet5, 2 members, 2,000 images: 100 per member 0.40-0.48 s, 200
#: 0.68-0.92 s, 500 0.97-1.02 s.  Resampled masks test in the loop's chunks instead.
CPU_EVAL_CHUNK = 100


class StackedRun:
    """Training state of one stack of members: model, optimiser, generators, results.

    Args:
        specs: the members' runs.
        models: their freshly built models (CPU), same structure.
        data: the dataset, on ``device``.
        config: hyperparameters shared by all members.
        device: where to train.
        channels_last: keep the stacked images in ``torch.channels_last`` memory format
            (faster grouped convolutions on CPU).
        verify: check the stack against its members first (:func:`verify_stacked`).
        checkpoints: where to write a checkpoint of the stack after every epoch but the
            last (:mod:`ann.checkpoint`); ``None`` writes none.
        observer: watches every step of the stack (:mod:`ann.step_observer`).
        cuda_graph: replay the training step from a CUDA graph
            (:mod:`ann.batched.graph`; needs no ``observer`` and no resampled mask).
            Off by default until a GPU run of ``benchmarks/gpu_check.sh`` has measured
            it; ``True`` on CPU runs the same path without capture.

    Attributes:
        completed: epochs completed (from a restored checkpoint, then trained).
        checkpoint_name: the stack's checkpoint file stem (fixed at creation).
    """

    def __init__(self, specs: Sequence[RunSpec], models: Sequence[nn.Module],
                 data: TensorData, config: TrainConfig, device: torch.device,
                 channels_last: bool = True, verify: bool = True,
                 checkpoints: Checkpoints | None = None, observer: Observer | None = None,
                 cuda_graph: bool = False):
        self.specs = list(specs)
        self.checkpoints = checkpoints
        self.checkpoint_name = Checkpoints.name("batched", [s.key for s in self.specs])
        self.completed = 0
        self.elapsed = 0.0  # seconds trained before a restored checkpoint
        self.config = config
        self.data = data
        self.device = device
        self.channels_last = channels_last and data.train_x.dim() == 4
        models = [m.to("cpu").float().train() for m in models]
        #: parameters of one member (all members have the same structure)
        self.member_parameters = sum(p.numel() for p in models[0].parameters())
        self.model = stack_models(models)
        if verify:
            verify_stacked(self.model, models, data.train_x[:4].detach().to("cpu"))
        reset_generators(self.model)  # resampled masks start from their seeds, as in the loop
        self.model.to(device).train()
        self.generators = [torch.Generator().manual_seed(s.seed) for s in self.specs]
        self.probe = probe_images(data.train_x)
        self.epochs: list[list[dict[str, Any]]] = [[] for _ in self.specs]
        #: members that diverged and were dropped, with their completed epochs
        self.diverged: list[tuple[RunSpec, list[dict[str, Any]]]] = []
        self.optimizer = self._make_optimizer()
        self.watch = (observer or Observer()).start(self.model, [s.key for s in self.specs])
        resamples = any(m.resamples for m in self.model.modules()
                        if isinstance(m, StackedActivation))
        draws = resamples or any(m.resamples for m in self.model.modules()
                                 if isinstance(m, StackedUnits))
        if cuda_graph and (observer is not None or draws):
            raise ValueError("cuda_graph=True needs a stack without an observer (it runs "
                             "Python at every step) and without resampled masks, noise or "
                             "dropout (their private generators are not captured in a "
                             "graph)")
        #: steps through a :class:`~ann.batched.graph.StepGraph` (captured on CUDA)
        self.cuda_graph = bool(cuda_graph)
        self.step_graph: StepGraph | None = None
        #: drop a diverged member at the step it diverges (free on CPU; a sync on CUDA,
        #: and a graph's members are fixed: then at the end of the epoch)
        self.drop_at_once = device.type == "cpu" and not self.cuda_graph
        # test images per member per forward: on CPU CPU_EVAL_CHUNK (cache-sized), on
        # CUDA up to 20,000 stacked images; never fewer than a training batch
        if device.type == "cuda":
            self.eval_chunk = min(TEST_CHUNK, max(config.batch_size, 20_000 // self.members))
        else:
            self.eval_chunk = min(TEST_CHUNK, max(config.batch_size, CPU_EVAL_CHUNK))
        if resamples:
            # resampled masks are drawn per forward pass: test in the loop trainer's
            # chunks so that every member's generator sees the same sequence of draws
            self.eval_chunk = TEST_CHUNK

    @property
    def members(self) -> int:
        """Members currently in the stack."""
        return len(self.specs)

    def _make_optimizer(self) -> torch.optim.SGD:
        groups = param_groups(self.model, self.config)
        return torch.optim.SGD(groups, lr=self.config.lr, momentum=self.config.momentum,
                               weight_decay=self.config.weight_decay)

    def _stack_images(self, x: Tensor) -> Tensor:
        return as_channels_last(x) if self.channels_last else x

    def draw_epoch(self) -> tuple[Tensor, Tensor | None]:
        """Every member's permutation ``(K, N)`` and, with ``config.flip``, flips
        ``(K, batches)`` (:func:`ann.epoch.draw_epoch` per member), on the device."""
        draws = [draw_epoch(g, self.data.train_size, self.config) for g in self.generators]
        perm = torch.stack([p for p, _ in draws]).to(self.device)
        flip = None
        if self.config.flip:
            flip = torch.stack([f for _, f in draws]).to(self.device)
        return perm, flip

    def run_epoch(self, perm: Tensor, flip: Tensor | None,
                  on_step: Callable[[], None] | None = None, epoch: int = 0
                  ) -> tuple[Tensor, Tensor, Tensor]:
        """One epoch of SGD steps for all members.

        Returns device tensors ``(wrong, loss_sum, bad)`` of shape ``(K,)`` for the
        members still in the stack: misclassified training images, sum of batch loss
        x batch size, and whether the member diverged (a non-finite step loss, or
        non-finite parameters after the last step).  With :attr:`drop_at_once` a member
        whose loss turns non-finite is moved to :attr:`diverged` at that step.  With
        :attr:`cuda_graph` the steps go through a :class:`~ann.batched.graph.StepGraph`.
        """
        n, bs = self.data.train_size, self.config.batch_size
        k = self.members
        steps = math.ceil(n / bs)
        graph = None
        if self.cuda_graph and k:
            if self.step_graph is None:  # made anew after drop() changed the members
                self.step_graph = StepGraph(self._step, k, bs, flip is not None, self.device)
            graph = self.step_graph
            graph.start_epoch(tuple(g["lr"] for g in self.optimizer.param_groups))
            wrong, loss_sum, bad = graph.wrong, graph.loss_sum, graph.bad
        else:
            wrong = torch.zeros(k, dtype=torch.int64, device=self.device)
            loss_sum = torch.zeros(k, dtype=torch.float64, device=self.device)
            bad = torch.zeros(k, dtype=torch.bool, device=self.device)
        for j, i in enumerate(batch_starts(n, bs)):
            if k == 0:
                break
            self.watch.before_step(epoch * steps + j)
            idx = perm[:, i : i + bs]  # (K, b)
            flip_j = flip[:, j] if flip is not None else None
            if graph is not None:
                graph(idx, flip_j)
            else:
                self._step(idx, flip_j, wrong, loss_sum, bad)
            self.watch.after_step(epoch * steps + j)
            if on_step is not None:
                on_step()
            if self.drop_at_once and bool(bad.any()):
                keep = self._drop_diverged(bad.tolist())
                perm, wrong, loss_sum, bad = perm[keep], wrong[keep], loss_sum[keep], bad[keep]
                flip = flip[keep] if flip is not None else None
                k = self.members
        if graph is not None:  # the graph's own accumulators: zeroed by the next epoch
            wrong, loss_sum, bad = wrong.clone(), loss_sum.clone(), bad.clone()
        if k:
            bad |= ~parameters_finite(self.model.parameters(), k)
        return wrong, loss_sum, bad

    def _step(self, idx: Tensor, flip: Tensor | None, wrong: Tensor, loss_sum: Tensor,
              bad: Tensor) -> None:
        """One SGD step of every member on its images ``idx`` (K, b), flipped where
        ``flip`` (K,) says; adds misclassified images, loss x b and non-finite losses
        to ``wrong``, ``loss_sum`` and ``bad``.  No host synchronisation."""
        x_all, y_all = self.data.train_x, self.data.train_y
        k, b = idx.shape
        c = x_all.shape[1]
        xb = x_all[idx.t()].reshape((b, k * c) + tuple(x_all.shape[2:]))
        if flip is not None:
            shape = (1, k * c) + (1,) * (x_all.dim() - 2)
            xb = torch.where(flip[:, None].expand(k, c).reshape(shape), xb.flip(-1), xb)
        yb = y_all[idx].t()  # (b, K)
        logits = self.model(self._stack_images(xb)).view(b, k, -1)
        per_image = F.cross_entropy(logits.reshape(b * k, -1), yb.reshape(-1),
                                    reduction="none").view(b, k)
        losses = per_image.mean(0)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()
        with torch.no_grad():
            lossd = losses.detach()
            bad |= ~losses_finite(lossd)
            wrong += (logits.argmax(2) != yb).sum(0)
            loss_sum += lossd.double() * b

    def _drop_diverged(self, bad: Sequence[bool]) -> list[int]:
        """Move the members flagged in ``bad`` to :attr:`diverged` (with their completed
        epochs) and out of the stack; return the indices of the members kept."""
        self.diverged.extend((self.specs[i], self.epochs[i]) for i, b in enumerate(bad) if b)
        keep = [i for i, b in enumerate(bad) if not b]
        if len(keep) < self.members:
            self.drop(keep)
        return keep

    @torch.no_grad()
    def test_wrong(self) -> Tensor:
        """Misclassified test images per member ``(K,)`` (device), eval mode, no grad."""
        was_training = self.model.training
        self.model.eval()
        x, y, k = self.data.test_x, self.data.test_y, self.members
        wrong = torch.zeros(k, dtype=torch.int64, device=self.device)
        for i in range(0, x.shape[0], self.eval_chunk):
            xb = self._stack_images(stack_input(x[i : i + self.eval_chunk], k))
            out = self.model(xb).view(xb.shape[0], k, -1)
            wrong += (out.argmax(2) != y[i : i + self.eval_chunk, None]).sum(0)
        self.model.train(was_training)
        return wrong

    def drop(self, keep: Sequence[int]) -> None:
        """Keep only members ``keep``: slice parameters, momentum, generators, records."""
        keep = list(keep)
        old_by_name = {name: self.optimizer.state.get(p, {}).get("momentum_buffer")
                       for name, p in self.model.named_parameters()}
        k = self.members
        select_members(self.model, keep)
        self.optimizer = self._make_optimizer()
        self.step_graph = None  # its parameters and members are gone
        idx = torch.as_tensor(keep, dtype=torch.long)
        for name, p in self.model.named_parameters():
            buf = old_by_name.get(name)
            if buf is not None:
                self.optimizer.state[p]["momentum_buffer"] = select_rows(buf, k, idx)
        self.specs = [self.specs[i] for i in keep]
        self.generators = [self.generators[i] for i in keep]
        self.epochs = [self.epochs[i] for i in keep]
        self.watch.drop(keep)

    def state(self) -> dict[str, Any]:
        """The stack's checkpoint state (:func:`ann.checkpoint.capture_state`), with the
        members' specs so that a rerun can rebuild the stack."""
        state = capture_state(members=[s.key for s in self.specs], model=self.model,
                              optimizer=self.optimizer, generators=self.generators,
                              epochs=self.epochs, completed=self.completed,
                              seconds=self.elapsed)
        state["specs"] = [s.fields() for s in self.specs]
        state["observer"] = self.watch.state()
        return state

    def restore(self, state: dict[str, Any], name: str) -> None:
        """Continue from checkpoint ``state`` (file stem ``name``) of these same members
        in this order, built afresh."""
        if state["members"] != [s.key for s in self.specs]:
            raise ValueError(f"checkpoint {name} holds members {state['members']}, not "
                             f"{[s.key for s in self.specs]}")
        restore_state(state, model=self.model, optimizer=self.optimizer,
                      generators=self.generators)
        self.epochs = [list(e) for e in state["epochs"]]
        self.completed = int(state["completed"])
        self.elapsed = float(state["seconds"])
        self.checkpoint_name = name
        self.watch.load_state(state.get("observer"))

    def train(self, progress: bool = True, desc: str = "batched"
              ) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
        """Train the remaining epochs; yield ``(spec, result)`` as members finish or
        diverge.  With :attr:`checkpoints`, the stack is checkpointed after every epoch
        but the last (after the epoch's diverged members were yielded), and the
        checkpoint is deleted once every result was yielded and taken."""
        start = time.perf_counter() - self.elapsed
        cfg = self.config
        steps = math.ceil(self.data.train_size / cfg.batch_size)
        bar = None
        if progress:
            bar = progress_bar(total=cfg.epochs * steps, initial=self.completed * steps,
                               desc=desc, unit="step", leave=False)
        on_step = (lambda: bar.update(1)) if bar is not None else None
        try:
            for epoch in range(self.completed, cfg.epochs):
                if not self.specs:
                    break
                set_epoch_lr(self.optimizer, cfg, epoch)
                perm, flip = self.draw_epoch()
                wrong, loss_sum, bad = self.run_epoch(perm, flip, on_step, epoch)
                keep = self._drop_diverged(bad.cpu().tolist())
                wrong, loss_sum = wrong[keep], loss_sum[keep]
                if self.specs:
                    test = self.test_wrong().cpu().tolist()
                    diagnostics = unit_diagnostics(self.model, self.probe, self.members,
                                                   self._stack_images)
                    wrong, loss_sum = wrong.cpu().tolist(), loss_sum.cpu().tolist()
                    n, n_test = self.data.train_size, self.data.test_size
                    for i in range(self.members):
                        self.epochs[i].append(
                            epoch_record(epoch + 1, wrong[i], loss_sum[i], test[i], n, n_test))
                        self.epochs[i][-1]["diagnostics"] = diagnostics[i]
                    if bar is not None:
                        bar.set_postfix(members=self.members,
                                        test=f"{min(test) / n_test:.4f}")
                seconds = time.perf_counter() - start
                for spec, epochs in self.diverged:
                    yield spec, self._result(spec, "diverged", epochs, seconds)
                self.diverged = []
                self.completed = epoch + 1
                if self.checkpoints is not None and self.specs and self.completed < cfg.epochs:
                    self.elapsed = time.perf_counter() - start
                    self.checkpoints.save(self.checkpoint_name, "batched", self.state())
            seconds = time.perf_counter() - start
            self.watch.close()
            for spec, epochs in zip(self.specs, self.epochs, strict=True):
                yield spec, self._result(spec, "ok", epochs, seconds)
            if self.checkpoints is not None:
                self.checkpoints.delete(self.checkpoint_name)
        finally:
            self.watch.close()
            if bar is not None:
                bar.close()

    def _result(self, spec: RunSpec, status: str, epochs: list[dict[str, Any]],
                seconds: float) -> dict[str, Any]:
        result = run_result(spec, status, epochs, seconds, engine="batched",
                            parameters=self.member_parameters)
        result.update(self.watch.result(spec.key))
        return result
