"""One training run of the thesis protocol: the contract every engine reproduces.

This module is the reference ("loop") trainer.  The batched engine
(``ann.batched.train_batched``) trains many runs at once and must reproduce the
numbers of :func:`train_one` to float tolerance, so the procedure is specified
here exactly.

Inputs
------
- ``spec`` (:class:`RunSpec`): NegLU percentage, NegLU backward mode, seed.
- ``data`` (:class:`ann.data.TensorData`): already preprocessed float32 images
  ``(N, C, H, W)`` (MNIST: mean training image subtracted, pixels on the 0-255
  scale) and int64 labels, for a training and a test split.  The whole dataset is
  moved to the device once; there is no DataLoader.
- ``config`` (:class:`TrainConfig`): optimiser hyperparameters and epochs.
- ``build_model(spec) -> nn.Module``: supplied by the experiment; deterministic
  given the spec (MixLU masks drawn from the spec's seed, then
  ``reset_parameters(generator=torch.Generator().manual_seed(spec.seed))``).

Procedure
---------
1. ``model = build_model(spec).to(device)``; ``model.train()``.
2. Parameter groups: every parameter whose name ends in ``bias`` is a bias, the
   others are weights; parameters of ``model.last_layer`` (if the model has one)
   form their own groups.  Group learning rate = epoch learning rate x multiplier
   (``weight_lr_mult``, ``bias_lr_mult``, ``last_weight_lr_mult``,
   ``last_bias_lr_mult``; the last two default to the first two).  Optimiser:
   ``torch.optim.SGD(groups, lr, momentum=config.momentum,
   weight_decay=config.weight_decay)`` (weight decay on every parameter, scaled by
   its group's learning rate, as in MatConvNet).
3. ``g = torch.Generator().manual_seed(spec.seed)`` (CPU), created once per run.
4. For epoch ``e`` = 0 .. ``epochs - 1``: learning rate ``config.lr_schedule[e]`` if
   a schedule is given, else ``config.lr``.  ``perm = torch.randperm(N,
   generator=g)``; batches are consecutive slices of ``perm`` of ``batch_size``
   (the last, partial batch included).  If ``config.flip``: per batch, after the
   perm, ``flip = bool(torch.rand((), generator=g) < 0.5)``, and a flipped batch is
   reversed along its width (``xb.flip(3)``).
5. Step: ``logits = model(xb)``; ``loss = F.cross_entropy(logits, yb)`` (mean over the
   batch); ``zero_grad``; ``loss.backward()``; ``optimizer.step()``.
6. If a batch loss is not finite the run stops at once: status ``"diverged"``,
   final ``train_error`` and ``test_error`` recorded as :data:`CHANCE_ERROR` (0.9),
   the completed epochs kept.  Nothing is raised.
7. Per epoch: ``train_error`` = misclassified training images / N, counted from
   the training forward passes during the epoch (the running error MatConvNet
   reports); ``loss`` = sum of batch loss x batch size / N; then ``test_error`` on the
   whole test set in eval mode without gradients, in chunks of 1000.

Result (a JSON-ready dict)::

    {"neg_percent": float, "backward": str, "seed": int,
     "status": "ok" | "diverged",
     "train_error": float, "test_error": float,     # final epoch, fractions
     "epochs": [{"epoch": 1, "train_error": ..., "test_error": ..., "loss": ...}, ...],
     "seconds": float}    # wall time of the run; under the batched engine, of the stack
                          # the run was trained in (until the run finished or diverged)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ann.activations import BACKWARDS
from ann.data.datasets import TensorData

__all__ = [
    "CHANCE_ERROR",
    "TEST_CHUNK",
    "RunSpec",
    "TrainConfig",
    "param_groups",
    "evaluate",
    "train_one",
    "run_result",
    "resolve_device",
]

#: Error recorded for a diverged run (chance level for 10 classes).
CHANCE_ERROR = 0.9
#: Test-set evaluation chunk size.
TEST_CHUNK = 1000


@dataclass(frozen=True)
class RunSpec:
    """What distinguishes one run of a sweep.

    Args:
        neg_percent: share of NegLU units in each MixLU layer, in percent (0..100).
        backward: NegLU backward mode, one of ``"exact"``, ``"reference"``, ``"inverted"``.
        seed: seeds the MixLU masks, the initial weights and the data order.
    """

    neg_percent: float
    backward: str
    seed: int

    def __post_init__(self) -> None:
        p = self.neg_percent
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= float(p) <= 100.0:
            raise ValueError(f"neg_percent must be a number in [0, 100], got {p!r}")
        object.__setattr__(self, "neg_percent", float(p))
        if self.backward not in BACKWARDS:
            raise ValueError(f"backward must be one of {BACKWARDS}, got {self.backward!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def neg_fraction(self) -> float:
        """``neg_percent / 100``."""
        return self.neg_percent / 100.0

    @property
    def key(self) -> str:
        """Stable identifier, e.g. ``"neg1-reference-seed0"`` (file name of a stored run)."""
        return f"neg{self.neg_percent:g}-{self.backward}-seed{self.seed}"


@dataclass
class TrainConfig:
    """Hyperparameters of a run (defaults: the MNIST protocol of REFERENCE §4).

    Args:
        lr: learning rate, used for every epoch unless ``lr_schedule`` is given.
        momentum: SGD momentum (MatConvNet default 0.9).
        weight_decay: L2 weight decay on all parameters (MatConvNet default 5e-4).
        batch_size: images per SGD step.
        epochs: passes over the training set.
        lr_schedule: per-epoch learning rates (length >= ``epochs``), overriding ``lr``.
        flip: randomly flip each whole batch horizontally with probability 0.5.
        weight_lr_mult, bias_lr_mult: learning-rate multipliers for weights and biases.
        last_weight_lr_mult, last_bias_lr_mult: the same for ``model.last_layer``;
            ``None`` means the same as the others.
    """

    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 100
    epochs: int = 20
    lr_schedule: list[float] | None = None
    flip: bool = False
    weight_lr_mult: float = 1.0
    bias_lr_mult: float = 1.0
    last_weight_lr_mult: float | None = None
    last_bias_lr_mult: float | None = None

    def __post_init__(self) -> None:
        for name in ("lr", "momentum", "weight_decay", "weight_lr_mult", "bias_lr_mult"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
        for name in ("last_weight_lr_mult", "last_bias_lr_mult"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be None or a non-negative number, got {value!r}")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.lr_schedule is not None:
            self.lr_schedule = [float(v) for v in self.lr_schedule]
            if len(self.lr_schedule) < self.epochs:
                raise ValueError(
                    f"lr_schedule has {len(self.lr_schedule)} entries, fewer than "
                    f"epochs={self.epochs}"
                )
            if any(not math.isfinite(v) or v < 0 for v in self.lr_schedule):
                raise ValueError(f"lr_schedule must hold non-negative numbers, got "
                                 f"{self.lr_schedule!r}")

    def epoch_lr(self, epoch: int) -> float:
        """Learning rate of 0-based ``epoch``."""
        return self.lr_schedule[epoch] if self.lr_schedule is not None else self.lr

    def lr_mults(self) -> dict[str, float]:
        """Multipliers of the four parameter groups, ``None`` resolved."""
        return {
            "weight": self.weight_lr_mult,
            "bias": self.bias_lr_mult,
            "last_weight": (
                self.weight_lr_mult if self.last_weight_lr_mult is None
                else self.last_weight_lr_mult
            ),
            "last_bias": (
                self.bias_lr_mult if self.last_bias_lr_mult is None else self.last_bias_lr_mult
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-ready dict (saved with results)."""
        d = asdict(self)
        if self.lr_schedule is not None:
            d["lr_schedule"] = list(self.lr_schedule[: self.epochs])
        return d


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """SGD parameter groups (weights, biases, last-layer weights, last-layer biases).

    Each group carries its ``lr_mult`` and ``name``; empty groups are left out.
    """
    last = getattr(model, "last_layer", None)
    last_ids = {id(p) for p in last.parameters()} if isinstance(last, nn.Module) else set()
    groups: dict[str, list[nn.Parameter]] = {
        "weight": [], "bias": [], "last_weight": [], "last_bias": []
    }
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        kind = "bias" if name.endswith("bias") else "weight"
        groups[("last_" if id(p) in last_ids else "") + kind].append(p)
    mults = config.lr_mults()
    return [
        {"params": params, "name": name, "lr_mult": mults[name], "lr": config.lr * mults[name]}
        for name, params in groups.items()
        if params
    ]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; anything else as ``torch.device``.

    Raises
    ------
    ValueError
        For an unknown device string or CUDA requested but not available.
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") \
            from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = TEST_CHUNK) -> float:
    """Fraction of ``x`` misclassified, in eval mode without gradients, in chunks.

    Restores the model's previous train/eval mode.
    """
    was_training = model.training
    model.eval()
    wrong = torch.zeros((), dtype=torch.int64, device=y.device)
    for i in range(0, x.shape[0], chunk):
        wrong += (model(x[i : i + chunk]).argmax(1) != y[i : i + chunk]).sum()
    model.train(was_training)
    return int(wrong) / x.shape[0]


def train_one(
    spec: RunSpec,
    data: TensorData,
    config: TrainConfig,
    build_model: Callable[[RunSpec], nn.Module],
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Train one model by the procedure in the module docstring; return its result dict.

    Args:
        spec: the run.
        data: preprocessed dataset (moved to ``device`` if it is not there).
        config: hyperparameters.
        build_model: ``spec -> nn.Module``, deterministic given the spec.
        device: torch device (``"auto"`` allowed).
        progress: show a tqdm bar over the epochs.

    Returns:
        The result dict (module docstring).  Divergence is recorded, not raised.
    """
    start = time.perf_counter()
    device = resolve_device(device)
    if data.train_x.device != device:
        data = data.to(device)
    model = build_model(spec).to(device)
    model.train()
    groups = param_groups(model, config)
    optimizer = torch.optim.SGD(
        groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    g = torch.Generator().manual_seed(spec.seed)
    n = data.train_size
    bs = config.batch_size
    epochs: list[dict[str, Any]] = []
    status = "ok"
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, desc=f"  {spec.key}", unit="epoch", leave=False)
    try:
        for epoch in range(config.epochs):
            lr = config.epoch_lr(epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_mult"]
            perm = torch.randperm(n, generator=g)
            wrong = torch.zeros((), dtype=torch.int64, device=device)
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            for i in range(0, n, bs):
                idx = perm[i : i + bs].to(device)
                xb, yb = data.train_x[idx], data.train_y[idx]
                if config.flip and bool(torch.rand((), generator=g) < 0.5):
                    xb = xb.flip(3)
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                if not torch.isfinite(loss):
                    status = "diverged"
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    wrong += (logits.argmax(1) != yb).sum()
                    loss_sum += loss.double() * yb.shape[0]
            if status == "diverged":
                break
            test_error = evaluate(model, data.test_x, data.test_y)
            epochs.append(
                {
                    "epoch": epoch + 1,
                    "train_error": int(wrong) / n,
                    "test_error": test_error,
                    "loss": float(loss_sum) / n,
                }
            )
            if bar is not None:
                bar.update(1)
                bar.set_postfix(train=f"{epochs[-1]['train_error']:.4f}",
                                test=f"{test_error:.4f}")
    finally:
        if bar is not None:
            bar.close()
    return run_result(spec, status, epochs, time.perf_counter() - start)


def run_result(spec: RunSpec, status: str, epochs: list[dict[str, Any]], seconds: float
               ) -> dict[str, Any]:
    """The result record of one run (the schema of :func:`train_one` and the run store).

    ``train_error``/``test_error`` are the last epoch's for a run with status ``"ok"``
    and :data:`CHANCE_ERROR` for a ``"diverged"`` one, whose completed ``epochs`` are
    kept as they were.
    """
    if status == "ok":
        train_error, test_error = epochs[-1]["train_error"], epochs[-1]["test_error"]
    else:
        train_error = test_error = CHANCE_ERROR
    return {
        "neg_percent": spec.neg_percent,
        "backward": spec.backward,
        "seed": spec.seed,
        "status": status,
        "train_error": train_error,
        "test_error": test_error,
        "epochs": epochs,
        "seconds": seconds,
    }
