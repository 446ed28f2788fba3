"""``--engine auto``: the faster engine for a sweep, chosen from a short timed probe.

Neither engine is faster everywhere: the batched engine gains where a stack's small
matrix products and per-step Python run once for K members (LeNet on CPU: 1.56-1.99x
the loop, ``benchmarks/bench_sweep.py``), and gains nothing where every member's work
is already large convolutions and per-element mask draws (LeNet5 on CPU, whose members
therefore stack one to a stack, :data:`ann.batched.memory.CPU_SOLO_BYTES`: then the
loop, fed the same channels-last images, does the same work; see
``benchmarks/RESULTS.md``).  A sweep whose runs cannot be stacked at all, or whose
stacks would hold one member each, uses the loop without a probe.  Otherwise the probe
measures instead of guessing: it plans the sweep's stacks as the batched engine would,
takes the largest, and trains it for one short epoch of :data:`PROBE_STEPS` steps on
the sweep's own data (its first images, test images in the sweep's proportion), once
stacked and once as its first member alone by the loop, each after a warm-up step; the
engine with the smaller time per run wins.  Ties go to the batched engine.  A sweep of
fewer than :data:`PROBE_FROM_STEPS` training steps in all (a demo, a test) is decided
without one: the batched engine, measured faster on LeNet.

The probe costs a few seconds (LeNet: 2-4 s on the 2-core CPU) and trains nothing that
is kept.  Its choice and its timings go into ``sweep.json`` (``provenance``), and a
resumed sweep keeps the engine recorded there, so that one store never mixes engines.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ann.batched.engine import StackedRun
from ann.config import TrainConfig
from ann.data.datasets import TensorData
from ann.models import build_model as default_build_model
from ann.specs import RunSpec
from ann.sweep_plan import plan_units
from ann.train import train_one

__all__ = ["PROBE_STEPS", "PROBE_FROM_STEPS", "EngineChoice",
           "choose_engine", "probe_data"]

#: Training steps of the probe's epoch (each engine).
PROBE_STEPS = 8
#: Training steps of a whole sweep (runs x epochs x steps per epoch) from which a probe
#: is made; a smaller sweep costs about what the probe would, and trains batched.
PROBE_FROM_STEPS = 2000


@dataclass(frozen=True)
class EngineChoice:
    """What ``--engine auto`` chose and why.

    Attributes:
        engine: ``"batched"`` or ``"loop"``.
        reason: one phrase, printed after the choice.
        probe: the probe's numbers (empty without a probe).
    """

    engine: str
    reason: str
    probe: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        """The one line a sweep prints."""
        return f"engine: auto chose {self.engine}: {self.reason}"

    def record(self) -> dict[str, Any]:
        """JSON-ready record for ``sweep.json``."""
        return {"requested": "auto", "chosen": self.engine, "reason": self.reason,
                "probe": self.probe}


def probe_data(data: TensorData, config: TrainConfig, steps: int = PROBE_STEPS) -> TensorData:
    """The first ``steps`` batches of ``data``'s training images and test images in the
    sweep's proportion (at least one)."""
    n = min(data.train_size, steps * config.batch_size)
    m = min(data.test_size, max(1, round(n * data.test_size / max(1, data.train_size))))
    return TensorData(data.train_x[:n], data.train_y[:n], data.test_x[:m], data.test_y[:m],
                      name=f"{data.name} (engine probe)")


def choose_engine(specs: Sequence[RunSpec], data: TensorData, config: TrainConfig,
                  build_model: Callable[[RunSpec], nn.Module] | None = None,
                  device: torch.device | str = "cpu", steps: int = PROBE_STEPS,
                  probe_from: int = PROBE_FROM_STEPS) -> EngineChoice:
    """The faster engine for training ``specs`` (module docstring); a sweep that cannot
    stack, or whose stacks hold one member each, takes the loop, and one of fewer than
    ``probe_from`` training steps in all the batched engine, without a probe."""
    device = torch.device(device)
    build = build_model or default_build_model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sweep itself says which runs fall back
        units = plan_units(list(specs), data, config, build, device)
    stacks = [u for u in units if u.kind == "stack"]
    if not stacks:
        return EngineChoice("loop", "no run of this sweep can be stacked")
    members = list(max(stacks, key=lambda u: len(u.specs)).specs)
    if len(members) == 1:
        return EngineChoice("loop", f"no stack of this sweep would hold more than one run "
                                    f"on {device.type} (ann/batched/memory.py), and one run "
                                    f"alone is the loop's work")
    total = len(specs) * config.epochs * math.ceil(data.train_size / config.batch_size)
    if total < probe_from:
        return EngineChoice("batched", f"a sweep of {total:,} training steps in all is too "
                                       f"small to be worth a probe (one is made from "
                                       f"{probe_from:,}); stacks were measured faster here")
    small = probe_data(data.to(device), config, steps)
    one_epoch = config.replace(epochs=1)

    def batched(data_: TensorData) -> None:
        run = StackedRun(members, [build(s) for s in members], data_, one_epoch, device,
                         verify=False)
        for _ in run.train(progress=False):
            pass

    def loop(data_: TensorData) -> None:
        train_one(members[0], data_, one_epoch, build, device)

    warm = probe_data(small, config, 1)
    seconds = {}
    for name, train in (("batched", batched), ("loop", loop)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train(warm)  # library set-up stays out of the timing
            start = time.perf_counter()
            train(small)
            seconds[name] = time.perf_counter() - start
    per_run_batched = seconds["batched"] / len(members)
    per_run_loop = seconds["loop"]
    engine = "batched" if per_run_batched <= per_run_loop else "loop"
    ratio = per_run_loop / per_run_batched
    runs = f"{len(members)} run" + ("s" if len(members) > 1 else "")
    reason = (f"a stack of {runs} took {per_run_batched:.3f} s per run for "
              f"{small.train_size} training images, the loop {per_run_loop:.3f} s "
              f"(loop/batched {ratio:.2f}; probe {sum(seconds.values()):.1f} s)")
    probe = {"members": len(members), "train_images": small.train_size,
             "test_images": small.test_size, "batched_seconds": seconds["batched"],
             "loop_seconds": seconds["loop"], "loop_over_batched": ratio}
    return EngineChoice(engine, reason, probe)
