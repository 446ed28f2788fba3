"""Train LeNet variants with the update-sign monitor attached and summarise what it saw.

The training is the toolkit's ordinary reference trainer (:func:`ann.train.train_one`);
the monitor only watches it through hooks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ann.data.datasets import TensorData
from ann.models import build_model
from ann.specs import ActivationSpec, RunSpec
from ann.train import TrainConfig, param_groups, resolve_device, train_one
from bridge.monitor import REGIME_LABELS, UpdateSignMonitor

__all__ = ["Variant", "default_variants", "monitored_run", "ann_rows", "share_series", "overhead"]


@dataclass(frozen=True)
class Variant:
    """One network of the comparison: a name and the run spec that builds it."""

    model: str  # "ReLU-LeNet" or "MixLU-LeNet"
    spec: RunSpec

    @property
    def backward(self) -> str:
        """The NegLU backward mode, ``"none"`` for a pure ReLU net."""
        return self.spec.backward if self.spec.neg_percent > 0 else "none"

    @property
    def label(self) -> str:
        if self.spec.neg_percent == 0:
            return self.model
        return f"{self.model} {self.spec.neg_percent:g}% ({self.spec.backward})"


def default_variants(neg_percent: float = 5.0, seed: int = 0) -> list[Variant]:
    """ReLU-LeNet, then MixLU-LeNet at ``neg_percent`` under each NegLU backward mode."""
    variants = [Variant("ReLU-LeNet", RunSpec(ActivationSpec.make("relu"), seed))]
    for mode in ("exact", "reference", "inverted"):
        variants.append(Variant("MixLU-LeNet", RunSpec.mixlu(neg_percent, mode, seed)))
    return variants


def monitored_run(
    variant: Variant,
    data: TensorData,
    config: TrainConfig,
    convention: str,
    device: str | torch.device = "cpu",
) -> tuple[dict, UpdateSignMonitor]:
    """Train ``variant`` with :func:`train_one`, an :class:`UpdateSignMonitor` attached.

    Returns the training result dict and the (detached) monitor.
    """
    holder: dict[str, UpdateSignMonitor] = {}

    def build(spec: RunSpec):
        model = build_model(spec)
        holder["monitor"] = UpdateSignMonitor(model, convention=convention).attach()
        return model

    try:
        result = train_one(variant.spec, data, config, build, device)
    finally:
        if "monitor" in holder:
            holder["monitor"].detach()
    return result, holder["monitor"]


def ann_rows(variant: Variant, monitor: UpdateSignMonitor) -> list[dict]:
    """One row per unit type, summed over the model's activation layers.

    Keys: ``model``, ``backward``, ``neg_percent``, then those of
    :meth:`UpdateSignMonitor.summary` (``unit_type``, ``events``, ``counts`` by
    Table 5 name, ``shares``, ``agreement``, ``inverted_fraction``, ...).
    """
    head = {
        "model": variant.model,
        "backward": variant.backward,
        "neg_percent": variant.spec.neg_percent,
    }
    return [{**head, **row} for row in monitor.summary(by=("unit_type",))]


def share_series(monitor: UpdateSignMonitor, unit_type: str) -> dict[str, np.ndarray]:
    """Per step, the share of each regime among the events of ``unit_type`` units.

    Returns ``{"step": array, label: array, ...}``; steps without events are dropped.
    """
    per_step: dict[int, dict[str, int]] = {}
    for rec in monitor.records:
        if rec.unit_type == unit_type:
            acc = per_step.setdefault(rec.step, dict.fromkeys(REGIME_LABELS, 0))
            for k in REGIME_LABELS:
                acc[k] += rec.counts[k]
    steps = sorted(s for s, c in per_step.items() if sum(c.values()))
    out = {"step": np.array(steps)}
    for k in REGIME_LABELS:
        out[k] = np.array([per_step[s][k] / sum(per_step[s].values()) for s in steps])
    return out


def overhead(
    data: TensorData,
    config: TrainConfig,
    steps: int = 50,
    convention: str = "rate",
    device: str | torch.device = "cpu",
) -> dict:
    """Seconds per training step of MixLU-LeNet (5 %), without and with the monitor.

    Both are timed in one process on the same batches; returns ``plain_s``,
    ``monitored_s`` and ``ratio`` (monitored / plain).
    """
    device = resolve_device(device)
    x = data.train_x[: config.batch_size].to(device)
    y = data.train_y[: config.batch_size].to(device)

    def time_steps(attach: bool) -> float:
        model = build_model(RunSpec.mixlu(5.0, "reference", 0)).to(device)
        opt = torch.optim.SGD(
            param_groups(model, config), lr=config.lr, momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
        monitor = UpdateSignMonitor(model, convention=convention)
        if attach:
            monitor.attach()
        try:
            for i in range(steps + 5):
                if i == 5:  # warm-up excluded
                    start = time.perf_counter()
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
        finally:
            monitor.detach()
        return (time.perf_counter() - start) / steps

    plain = time_steps(False)
    monitored = time_steps(True)
    return {"steps": steps, "plain_s": plain, "monitored_s": monitored, "ratio": monitored / plain}
