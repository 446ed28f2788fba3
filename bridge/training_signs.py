"""The ANN side of ``update_signs.py``: a ``--signs`` sweep of LeNet variants, summarised.

The runs are trained by the toolkit's sweep engine (:func:`ann.sweep.run_sweep`) with
a :class:`~bridge.sign_observer.SignObserver` attached, the same path as
``mixlu_mnist.py --signs``; the monitor only watches the training through hooks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ann.config import TrainConfig
from ann.data.datasets import TensorData
from ann.models import build_model
from ann.specs import ActivationSpec, RunSpec, parse_activation
from ann.sweep import run_sweep
from ann.train import param_groups, resolve_device
from bridge.monitor import REGIME_LABELS, UpdateSignMonitor
from bridge.sign_observer import SignObserver

__all__ = ["Variant", "default_variants", "signs_sweep", "ann_rows", "series_arrays",
           "overhead"]


@dataclass(frozen=True)
class Variant:
    """One network of the comparison: a name and the run spec that builds it."""

    model: str  # "ReLU-LeNet", "MixLU-LeNet", "MinMaxout-LeNet", "ConvAct-LeNet"
    spec: RunSpec

    @property
    def backward(self) -> str:
        """The NegLU backward mode, ``"none"`` for a net without NegLUs."""
        return self.spec.backward if self.spec.neg_percent > 0 else "none"

    @property
    def label(self) -> str:
        if self.spec.activation.kind != "mixlu":
            return self.model
        return f"{self.model} {self.spec.neg_percent:g}% ({self.spec.backward})"


def default_variants(neg_percent: float = 5.0, seed: int = 0) -> list[Variant]:
    """ReLU-LeNet; MixLU-LeNet at ``neg_percent`` under each NegLU backward mode;
    Min-Maxout-LeNet (2 pieces, half of the units Min units); ConvAct-LeNet (learned
    slopes per unit, initialised as ReLU)."""
    variants = [Variant("ReLU-LeNet", RunSpec(ActivationSpec.make("relu"), seed))]
    for mode in ("exact", "reference", "inverted"):
        variants.append(Variant("MixLU-LeNet", RunSpec.mixlu(neg_percent, mode, seed)))
    variants.append(Variant("MinMaxout-LeNet", RunSpec(parse_activation("minmaxout:50:2"), seed)))
    variants.append(Variant("ConvAct-LeNet", RunSpec(parse_activation("convact"), seed)))
    return variants


def signs_sweep(variants: list[Variant], data: TensorData, config: TrainConfig,
                convention: str, every: int = 1, device: str | torch.device = "cpu",
                engine: str = "loop", progress: bool = True) -> list[dict[str, Any]]:
    """Train ``variants`` by :func:`~ann.sweep.run_sweep` with a
    :class:`~bridge.sign_observer.SignObserver` (one step in ``every``, per-step series kept);
    return their results in order (each with ``signs``)."""
    observer = SignObserver(every, convention, series=True)
    return run_sweep([v.spec for v in variants], data, config, device=device, engine=engine,
                     progress=progress, observer=observer, log=lambda line: None)


def ann_rows(variant: Variant, result: dict[str, Any]) -> list[dict]:
    """One row per unit type, summed over the model's activation layers.

    Keys: ``model``, ``backward``, ``neg_percent``, then those of
    :meth:`UpdateSignMonitor.summary` (``unit_type``, ``events``, ``counts`` by
    Table 5 name, ``shares``, ``agreement``, ``inverted_fraction``, ...; ``None`` where
    a share has no denominator), then ``test_error`` and ``status``.
    """
    head = {"model": variant.model, "backward": variant.backward,
            "neg_percent": variant.spec.neg_percent}
    rows = []
    for unit, row in result["signs"]["by_unit_type"].items():
        rows.append({**head, "unit_type": unit,
                     **{k: v for k, v in row.items() if k != "derivatives"},
                     "test_error": result["test_error"], "status": result["status"]})
    return rows


def series_arrays(result: dict[str, Any], unit_type: str) -> dict[str, np.ndarray]:
    """The per-step regime shares of ``unit_type`` units as arrays (``"step"`` and one
    per regime label)."""
    series = result["signs"]["series"][unit_type]
    return {k: np.asarray(series[k]) for k in ("step", *REGIME_LABELS)}


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
