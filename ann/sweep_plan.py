"""A sweep's work units, planned and trained: stacks of runs, or single loop runs.

:func:`plan_units` splits a sweep's runs into :class:`WorkUnit` objects, in training
order: stacks restored from epoch checkpoints first, then new stacks of the batched
engine (models of equal structure, split by the memory plan of the device), then the
runs that cannot be stacked, one loop unit each.  It plans from the specs, building one
model per distinct model and activation and dropping it; the members' models are built
by the unit that trains them, so memory holds one stack at a time.  :func:`run_unit` trains one unit
(with :class:`~ann.batched.engine.StackedRun` or :func:`~ann.train.train_loop`), which
is what a worker of a distributed sweep does (:mod:`ann.executors`);
:func:`train_batched` trains all of them here (:mod:`ann.sweep` calls it for the
batched engine).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ann.batched.engine import StackedRun
from ann.batched.layers import UnsupportedModel
from ann.batched.memory import member_bytes, memory_budget_bytes, plan_chunks, stack_cap
from ann.batched.stacking import check_stackable, model_signature
from ann.checkpoint import Checkpoints
from ann.config import TrainConfig
from ann.data.datasets import TensorData
from ann.models import build_model as default_build_model
from ann.specs import RunSpec
from ann.step_observer import Observer
from ann.train import resolve_device, train_loop
from common.checks import is_integer
from common.data.budget import MemoryBudgetError, budget_note, format_bytes

__all__ = ["WorkUnit", "plan_units", "run_unit", "train_batched"]


def train_batched(
    specs: Sequence[RunSpec],
    data: TensorData,
    config: TrainConfig,
    build_model: Callable[[RunSpec], nn.Module] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    *,
    max_members: int | None = None,
    memory_budget: int | None = None,
    channels_last: bool = True,
    checkpoints: Checkpoints | None = None,
    observer: Observer | None = None,
    cuda_graph: bool = False,
) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    """Train every run of ``specs`` in stacks; yield ``(spec, result)`` as runs finish.

    Results have the schema of :func:`ann.train.train_one` and equal its numbers to
    float tolerance.  ``seconds`` is the wall time of the member's stack from its start
    until the member finished (shared by the stack's members).  Runs that cannot be
    stacked (a kind registered as not stackable, a layer or unit the stack cannot
    carry, a stack that fails :func:`verify_stacked`) are trained by
    :func:`ann.train.train_one` instead, after one warning line saying why.

    Args:
        specs: the runs; models of equal structure are stacked together.
        data: preprocessed dataset (moved to ``device`` if it is not there).
        config: hyperparameters shared by all runs.
        build_model: ``spec -> nn.Module``, deterministic given the spec (default
            :func:`ann.models.build_model`).
        device: torch device (``"auto"`` allowed).
        progress: a tqdm bar of steps per stack (and per epoch for loop fallbacks).
        max_members: most members per stack; ``None``: as many as fit
            :data:`~ann.batched.memory.CPU_STACK_BYTES` on CPU (cache), memory-bound
            only on CUDA.
        memory_budget: bytes a stack may use (sizes the stacks; ``None``:
            :func:`memory_budget_bytes`, which one member must fit in any case).
        channels_last: stacked images in channels-last memory format.
        checkpoints: epoch checkpoints of every stack (and of loop fallbacks), see
            :mod:`ann.checkpoint`.  Stacks checkpointed by an earlier, interrupted call
            are restored first and go on from their last complete epoch, with all
            their members: results of members not in ``specs`` (e.g. a run that
            diverged and was stored just before the kill) are yielded too, equal to
            the stored ones.  The other runs are stacked as usual.  ``None``: no
            checkpoints.
        observer: watches every step of every stack and loop run (:mod:`ann.step_observer`).
        cuda_graph: replay each stack's step from a CUDA graph (:class:`StackedRun`).

    Raises:
        ValueError: bad ``specs``, ``max_members``, ``memory_budget`` or ``device``.
        MemoryBudgetError: one member needs more than the memory budget of ``device``
            (:func:`plan_units`), raised when the first result is asked for.
    """
    specs = list(specs)
    for s in specs:
        if not isinstance(s, RunSpec):
            raise ValueError(f"specs must be RunSpec objects, got {s!r}")
    if max_members is not None and (not is_integer(max_members) or max_members < 1):
        raise ValueError(f"max_members must be a positive integer or None, got {max_members!r}")
    if memory_budget is not None and (not is_integer(memory_budget) or memory_budget < 1):
        raise ValueError(f"memory_budget must be a positive integer, got {memory_budget!r}")
    device = resolve_device(device)
    build_model = build_model or default_build_model
    return _train_batched(specs, data, config, build_model, device, progress,
                          max_members, memory_budget, channels_last, checkpoints, observer,
                          cuda_graph)


def _warn_fallback(items: list[tuple[RunSpec, str]]) -> None:
    reasons = sorted({r for _, r in items})
    warnings.warn(
        f"{len(items)} run(s) cannot be stacked and are trained one at a time by "
        f"ann.train.train_one: {'; '.join(reasons)}",
        stacklevel=3,
    )


@dataclass(frozen=True)
class WorkUnit:
    """One piece of a sweep that one worker trains: a stack of runs (``"stack"``) or one
    run by the loop trainer (``"loop"``).  ``resumed``: a stack found in an epoch
    checkpoint of an interrupted call (it may hold members that finished since)."""

    kind: str
    specs: tuple[RunSpec, ...]
    resumed: bool = False

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.specs]


def plan_units(specs: Sequence[RunSpec], data: TensorData, config: TrainConfig,
               build_model: Callable[[RunSpec], nn.Module], device: torch.device, *,
               max_members: int | None = None, memory_budget: int | None = None,
               checkpoints: Checkpoints | None = None) -> list[WorkUnit]:
    """The work units of a batched sweep, in training order: stacks restored from
    checkpoints first, then new stacks (models of equal structure, split by the memory
    plan of ``device``), then the runs that cannot be stacked (after one warning line
    saying why), one loop unit each.

    The plan is made from the specs, not from their models: one model is built for each
    distinct ``(model, activation)`` of ``specs`` (its structure, whether it stacks, and
    for each structure the bytes a member needs, :func:`member_bytes`) and dropped at
    once; the members' own models are built when their stack trains (:func:`run_unit`).
    So a sweep of 11,000 runs holds one model while it is planned, and one stack's models
    while it trains.  (A model's structure is taken to depend on its model and activation,
    not on its seed; a stack whose members differ after all is trained by the loop, after
    one warning line.)

    Raises:
        MemoryBudgetError: one member needs more than the memory budget of ``device``
            (:func:`memory_budget_bytes`; ``memory_budget`` only sizes the stacks).
    """
    specs = list(specs)
    claims = _claim_checkpoints(specs, checkpoints) if checkpoints is not None else []
    units = [WorkUnit("stack", tuple(members), resumed=True) for _, members in claims]
    machine = memory_budget_bytes(device)
    budget = memory_budget or machine
    sample = data.train_x[:4].detach().to("cpu").clone()  # own storage: see member_bytes
    structure: dict[tuple[str, Any], tuple | str] = {}  # signature, or why not stackable
    per_member: dict[tuple, int] = {}
    groups: dict[tuple, list[RunSpec]] = {}
    fallback: list[tuple[RunSpec, str]] = []
    for spec in specs:
        if not spec.activation.stackable:
            fallback.append((spec, spec.activation.unstackable_reason))
            continue
        key = (spec.model, spec.activation)
        if key not in structure:
            structure[key] = _structure(spec, build_model, sample, config, device, machine,
                                        per_member)
        found = structure[key]
        if isinstance(found, str):
            fallback.append((spec, found))
        else:
            groups.setdefault(found, []).append(spec)
    if fallback:
        _warn_fallback(fallback)
    for sig, members in groups.items():
        sizes = plan_chunks(len(members), per_member[sig], budget,
                            stack_cap(per_member[sig], device, max_members))
        start = 0
        for size in sizes:
            units.append(WorkUnit("stack", tuple(members[start : start + size])))
            start += size
    units += [WorkUnit("loop", (spec,)) for spec, _ in fallback]
    return units


def _structure(spec: RunSpec, build_model: Callable[[RunSpec], nn.Module], sample: Tensor,
               config: TrainConfig, device: torch.device, machine: int,
               per_member: dict[tuple, int]) -> tuple | str:
    """The stack signature of ``spec``'s model, or why it cannot be stacked; a new
    signature's bytes per member go into ``per_member`` (refused if over ``machine``).
    The model built to find out is dropped on return."""
    model = build_model(spec).to("cpu")
    try:
        check_stackable(model)
        sig = model_signature(model)
    except UnsupportedModel as exc:
        return str(exc)
    if sig not in per_member:
        need = member_bytes(model, sample, config.batch_size)
        if need > machine:
            raise MemoryBudgetError(
                f"one {spec.model} run needs about {format_bytes(need)} to train at batch "
                f"size {config.batch_size} on {device}, more than {budget_note(machine)}; "
                f"free memory or raise the budget")
        per_member[sig] = need
    return sig


def run_unit(unit: WorkUnit, data: TensorData, config: TrainConfig,
             build_model: Callable[[RunSpec], nn.Module], device: torch.device, *,
             progress: bool = False, channels_last: bool = True,
             checkpoints: Checkpoints | None = None, observer: Observer | None = None,
             desc: str = "batched", cuda_graph: bool = False
             ) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    """Train one work unit; yield ``(spec, result)`` as its runs finish.

    A stack whose epoch checkpoint exists (an interrupted call, or a retried task of a
    distributed sweep) goes on from it with all its members; a member that finished
    since is trained again to the same result, since leaving it out would change the
    stack's layout and so the others' floating-point rounding.  A stack that fails
    :func:`verify_stacked` is trained by the loop, after one warning line.
    """
    if data.train_x.device != device:
        data = data.to(device)
    if unit.kind == "loop":
        yield from train_loop(unit.specs, data, config, build_model, device, progress,
                              checkpoints, observer)
        return
    specs = list(unit.specs)
    name = Checkpoints.name("batched", unit.keys)
    state = checkpoints.load(name, "batched") if checkpoints is not None else None
    try:
        run = StackedRun(specs, [build_model(s) for s in specs], data, config, device,
                         channels_last=channels_last, verify=state is None,
                         checkpoints=checkpoints, observer=observer, cuda_graph=cuda_graph)
    except UnsupportedModel as exc:
        _warn_fallback([(s, str(exc)) for s in specs])
        yield from train_loop(specs, data, config, build_model, device, progress,
                              checkpoints, observer)
        return
    if state is not None:
        run.restore(state, name)
    yield from run.train(progress=progress, desc=desc)


def _claim_checkpoints(specs, checkpoints):
    """The checkpointed stacks that hold runs of ``specs``: ``(name, members)``.  The
    runs they hold are removed from ``specs`` (a list, changed in place).  Checkpoints
    that hold none of them are kept: they belong to runs this call does not ask for (a
    sweep rerun with fewer activations must not throw away another's unfinished work);
    a stack's checkpoint is deleted once its runs are stored."""
    todo = {s.key for s in specs}
    claims = []
    for name, state in list(checkpoints.stacks("batched")):
        members = [RunSpec.from_result(f) for f in state["specs"]]
        if not any(s.key in todo for s in members):  # not asked for here, or finished
            continue
        todo -= {s.key for s in members}
        claims.append((name, members))
    specs[:] = [s for s in specs if s.key in todo]
    return claims


def _train_batched(specs, data, config, build_model, device, progress, max_members,
                   memory_budget, channels_last, checkpoints, observer, cuda_graph):
    if data.train_x.device != device:
        data = data.to(device)
    units = plan_units(specs, data, config, build_model, device, max_members=max_members,
                       memory_budget=memory_budget, checkpoints=checkpoints)
    stacks = [u for u in units if u.kind == "stack"]
    for number, unit in enumerate(units, 1):
        desc = (f"batched {number}/{len(stacks)} ({len(unit.specs)} models"
                + (", resumed)" if unit.resumed else ")"))
        yield from run_unit(unit, data, config, build_model, device, progress=progress,
                            channels_last=channels_last, checkpoints=checkpoints,
                            observer=observer, desc=desc, cuda_graph=cuda_graph)
