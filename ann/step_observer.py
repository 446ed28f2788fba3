"""Step observers: how code outside :mod:`ann` watches every training step of either engine.

An :class:`Observer` is handed to :func:`ann.sweep.run_sweep` (or straight to
:func:`ann.train.train_one` / :func:`ann.batched.train_batched`).  For every run —
or every stack of runs under the batched engine — the engine calls
:meth:`Observer.start` with the model being trained and the keys of its members,
and gets a :class:`RunObserver`, which it then calls around every optimizer step::

    watch = observer.start(model, keys)        # keys: one per member, in layout order
    for step ...:                              # 0-based, counted over the whole run
        watch.before_step(step)                # before the forward pass
        ... forward, backward, optimizer.step() ...
        watch.after_step(step)                 # after optimizer.step()
    watch.drop(keep)                           # members that left a stack (divergence)
    result.update(watch.result(key))           # extra keys of that member's result
    watch.close()

A stacked model holds its K members member-major along dimension 1 of every
activation and dimension 0 of every parameter (:mod:`ann.batched.layers`);
``len(keys)`` is K (1 for a plain model).  A step that diverges may see
``before_step`` without ``after_step``.  For epoch checkpoints the engines save
:meth:`RunObserver.state` and hand it back to :meth:`RunObserver.load_state` when they
resume, so that a resumed run's observations equal an uninterrupted one's.

:mod:`bridge.sign_observer` implements one (update signs, ``--signs``); :mod:`ann` imports
nothing of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

__all__ = ["Observer", "RunObserver"]


class RunObserver:
    """What watches one run or one stack; every method is a no-op here."""

    def before_step(self, step: int) -> None:
        """Called before the forward pass of 0-based ``step`` of the run."""

    def after_step(self, step: int) -> None:
        """Called after ``optimizer.step()`` of ``step``."""

    def drop(self, keep: Sequence[int]) -> None:
        """Only the members at indices ``keep`` (in that order) remain in the model."""

    def result(self, key: str) -> dict[str, Any]:
        """JSON-ready keys to add to the result of member ``key`` (none by default)."""
        return {}

    def state(self) -> Any:
        """What a checkpoint keeps (plain containers, tensors, numbers, strings)."""
        return None

    def load_state(self, state: Any) -> None:
        """Continue from :meth:`state` of the same members."""

    def close(self) -> None:
        """Training of these members ended; release hooks."""


class Observer:
    """Makes a :class:`RunObserver` per run or stack (subclass and override :meth:`start`)."""

    def start(self, model: nn.Module, keys: Sequence[str]) -> RunObserver:
        """The observer of ``model``, whose members are ``keys`` (layout order)."""
        return RunObserver()

    def identity(self) -> dict[str, Any]:
        """Settings that change the observations; saved with the sweep, so a store
        observed differently is refused instead of resumed (empty: none)."""
        return {}

    def report(self) -> str:
        """One line the sweep prints after training (e.g. what observing cost)."""
        return ""

    def merge(self, other: Observer) -> None:
        """Add what a copy of this observer saw elsewhere (a task on another worker of
        :mod:`ann.executors`) to this one's totals (nothing to add here)."""
