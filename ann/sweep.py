"""Sweeps: train every run of a list that is not stored yet, with resume and engines.

:func:`run_sweep` trains every :class:`~ann.specs.RunSpec` that is not already in
the :class:`~ann.run_store.RunStore`, with one of two engines:

``"batched"`` (the scripts' default)
    :func:`ann.sweep_plan.train_batched`: runs of one structure trained as stacks, with
    results equal to the loop's to float tolerance.  The stacks are planned from the
    specs and each stack's models built when it trains, so memory holds one stack.
``"loop"``
    :func:`ann.train.train_one` for each run in turn (the reference trainer).

Runs that train the same network (``spec.canonical()``: e.g. a 0 % MixLU under every
backward and mask mode is one ReLU net) are trained once and reported under every
spec that asked for them, with ``trained_as`` naming the run that was trained.

Each finished run is written to the store at once (atomically), and with a store
both engines checkpoint the runs in progress after every epoch
(:mod:`ann.checkpoint`), so an interrupted sweep loses at most the epochs in
progress: rerunning it trains only the rest, to the numbers of an uninterrupted sweep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ann.checkpoint import Checkpoints, checkpoint_identity
from ann.config import TRAINER_VERSION, TrainConfig
from ann.data.datasets import TensorData
from ann.models import build_model as default_build_model
from ann.run_store import RunStore
from ann.specs import ActivationSpec, RunSpec
from ann.step_observer import Observer
from ann.sweep_plan import WorkUnit, plan_units, train_batched
from ann.train import resolve_device, train_loop
from common.checks import is_integer
from common.cli import Interrupted
from common.progress import progress_bar

if TYPE_CHECKING:
    from ann.executors import RayExecutor

__all__ = ["ENGINES", "ENGINE_CHOICES", "make_specs", "sweep_meta", "run_sweep", "run_line",
           "present"]

ENGINES = ("batched", "loop")
#: What a user may ask for: an engine, or ``auto`` (:mod:`ann.engine_choice`).
ENGINE_CHOICES = ("auto", *ENGINES)


def make_specs(activations: Iterable[ActivationSpec], seeds: int | Iterable[int],
               model: str = "lenet") -> list[RunSpec]:
    """All runs of a sweep, ordered activation (as given), then seed.

    Args:
        activations: the activation specs; duplicates are dropped.
        seeds: a count ``n`` (seeds ``0 .. n-1``) or explicit seeds.
        model: the model name of every run.

    Raises:
        ValueError: an empty list or an invalid seed.
    """
    activations = list(dict.fromkeys(activations))
    if is_integer(seeds):
        if seeds < 1:
            raise ValueError(f"seeds must be a positive count, got {seeds}")
        seeds = range(seeds)
    seeds = list(dict.fromkeys(seeds))
    for name, values in (("activations", activations), ("seeds", seeds)):
        if not values:
            raise ValueError(f"{name} must not be empty")
    return [RunSpec(a, s, model) for a in activations for s in seeds]


def sweep_meta(experiment: str, data: TensorData, config: TrainConfig, engine: str,
               **extra: Any) -> dict[str, Any]:
    """The identity every run of a sweep shares; a :class:`RunStore` refuses to mix sweeps
    whose identity differs.  ``extra`` adds experiment settings (model, mask mode, ...)."""
    return {
        "experiment": experiment,
        "dataset": data.name,
        "train_size": data.train_size,
        "test_size": data.test_size,
        "data_fingerprint": data.fingerprint(),
        "config": config.to_dict(),
        **extra,
        "engine": engine,
        "trainer_version": TRAINER_VERSION,
    }


def run_line(result: dict[str, Any]) -> str:
    """One-line summary of a finished run."""
    key = result.get("activation", f"neg{result['neg_percent']:g}-{result['backward']}")
    return (
        f"{key + '-seed' + str(result['seed']):<32} {result['status']:<8} "
        f"train {100 * result['train_error']:6.2f} %  test {100 * result['test_error']:6.2f} %"
        f"  ({result['seconds']:.1f} s, {len(result['epochs'])} epochs)"
    )


def present(result: dict[str, Any], spec: RunSpec) -> dict[str, Any]:
    """``result`` of the trained run as the result of ``spec``, one of its aliases:
    the spec's own fields, and ``trained_as`` naming the run that was trained."""
    trained = result.get("activation")
    if trained == spec.activation.key:
        return result
    return {**result, **spec.fields(), "trained_as": trained}


def run_sweep(
    specs: Sequence[RunSpec],
    data: TensorData,
    config: TrainConfig,
    build_model: Callable[[RunSpec], nn.Module] | None = None,
    *,
    device: str | torch.device = "cpu",
    engine: str = "loop",
    store: RunStore | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    verbose: bool = False,
    observer: Observer | None = None,
    executor: RayExecutor | None = None,
) -> list[dict[str, Any]]:
    """Train every run of ``specs`` not yet in ``store``; return all results in spec order.

    Args:
        specs: the runs (unique keys).
        data: preprocessed dataset; moved to ``device`` once.
        config: hyperparameters shared by all runs.
        build_model: ``spec -> nn.Module``, deterministic given the spec (default
            :func:`ann.models.build_model`).
        device: torch device or ``"auto"``.
        engine: ``"loop"`` or ``"batched"`` (see the module docstring).
        store: where finished runs are saved and found on resume, and where epoch
            checkpoints of the runs in progress go (locked while the sweep runs);
            ``None`` keeps nothing.
        progress: tqdm bars for runs (and epochs, from the engine).
        log: receives one line per finished run and resume notes (default
            ``tqdm.write``).
        verbose: also log what checkpointing cost (count, MB, seconds).
        observer: watches every training step of every run (:mod:`ann.step_observer`), e.g.
            :class:`bridge.sign_observer.SignObserver`; its result keys are stored with
            each run, and its :meth:`~ann.step_observer.Observer.identity` is part of the
            checkpoints' (save it in the store's meta too).
        executor: where the work units run (:mod:`ann.executors`): ``None`` trains them
            here, one after the other; a :class:`~ann.executors.RayExecutor` as tasks
            of a Ray cluster, whose results this process stores as they come back.

    Raises:
        ValueError: unknown engine, duplicate specs.
        MemoryBudgetError: (batched engine) one member needs more than the memory budget
            of ``device`` (:func:`ann.sweep_plan.plan_units`; a one-line user error).
        Interrupted: Ctrl-C, saying how many finished runs are kept and where.
        StoreError: another process is writing to ``store``.
    """
    from tqdm.auto import tqdm

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"specs must be unique, got duplicate keys {dup}")
    log = log or tqdm.write
    trained: dict[RunSpec, dict[str, Any]] = {}
    canonical = {s: s.canonical() for s in specs}
    unique = list(dict.fromkeys(canonical.values()))
    if store is not None:
        store.lock()
    try:
        if store is not None:
            for spec in unique:
                stored = store.load(spec.key)
                if stored is not None:
                    trained[spec] = stored
            if trained:
                log(f"resuming: {len(trained)} of {len(unique)} runs already finished in "
                    f"{store.directory}")
        todo = [s for s in unique if s not in trained]
        if len(unique) < len(specs):
            log(f"{len(specs)} runs requested, {len(unique)} distinct networks: identical "
                f"runs (e.g. 0 % NegLU under every mode) are trained once")
        if todo:
            device = resolve_device(device)
            checkpoints = None
            if store is not None:
                fingerprint = store.meta.get("data_fingerprint") or data.fingerprint()
                observed = {"observer": observer.identity()} if observer is not None else {}
                checkpoints = Checkpoints(store.checkpoint_dir, checkpoint_identity(
                    {**config.to_dict(), **observed}, fingerprint, device))
                found = sum(len(checkpoints.names(e)) for e in ENGINES)
                if found:
                    log(f"resuming: {found} epoch checkpoint(s) of unfinished runs in "
                        f"{checkpoints.directory}")
            started = time.perf_counter()
            _train(todo, data, config, build_model, device, engine, store, checkpoints,
                   progress, log, trained, len(unique), observer, executor)
            if verbose and checkpoints is not None:
                log(checkpoints.cost_line(time.perf_counter() - started))
    except KeyboardInterrupt:
        kept = (f"{len(trained)} finished runs kept in {store.directory}; rerun the same "
                f"command to resume" if store is not None else
                "nothing kept (no --out)")
        raise Interrupted(f"interrupted; {kept}") from None
    finally:
        if store is not None:
            store.unlock()
    return [present(trained[canonical[s]], s) for s in specs]


def _train(todo, data, config, build_model, device, engine, store, checkpoints, progress,
           log, trained, total, observer, executor) -> None:
    if executor is None:
        data = data.to(device)
    bar = progress_bar(total=total, initial=total - len(todo), desc="runs", unit="run",
                       enabled=progress)
    try:
        if executor is not None:
            builder = build_model or default_build_model
            units = (plan_units(todo, data, config, builder, device, checkpoints=checkpoints)
                     if engine == "batched" else [WorkUnit("loop", (s,)) for s in todo])
            finished = executor.run(units, data, config, build_model, device, checkpoints,
                                    observer, log)
        elif engine == "batched":
            finished = train_batched(todo, data, config, build_model, device, progress=progress,
                                     checkpoints=checkpoints, observer=observer)
        else:
            finished = train_loop(todo, data, config, build_model, device, progress=progress,
                                  checkpoints=checkpoints, observer=observer)
        wanted = set(todo)
        for spec, result in finished:
            if spec not in wanted:  # a resumed stack's member stored before the kill
                if store is not None and store.load(spec.key) is None:
                    store.save(spec.key, result)  # a run of this sweep not asked for now
                continue
            if store is not None:
                store.save(spec.key, result)
            trained[spec] = result
            bar.update(1)
            log(run_line(result))
    finally:
        bar.close()
    missing = [s.key for s in todo if s not in trained]
    if missing:
        raise RuntimeError(f"engine {engine!r} returned no result for {missing}")
