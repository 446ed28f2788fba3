"""One training run: the contract every engine reproduces, and the reference ("loop") trainer.

The batched engine (:func:`ann.batched.train_batched`) trains many runs at once and
must reproduce the numbers of :func:`train_one` to float tolerance, so the procedure
is specified here exactly; the rules both engines share per epoch are one copy in
:mod:`ann.epoch`.

Inputs
------
- ``spec`` (:class:`~ann.specs.RunSpec`): model name, activation spec, seed.
- ``data`` (:class:`ann.data.TensorData`): already preprocessed float32 images
  ``(N, C, H, W)`` and int64 labels, for a training and a test split.  The whole
  dataset is moved to the device once; there is no DataLoader.
- ``config`` (:class:`TrainConfig`): optimiser hyperparameters and epochs; the thesis's
  are :data:`ann.config.MNIST_LENET` and :data:`ann.config.CIFAR_LENET5`.
- ``build_model(spec) -> nn.Module`` (default :func:`ann.models.build_model`):
  deterministic given the spec (activation draws seeded from the spec's seed, then
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
4. For epoch ``e`` = 0 .. ``epochs - 1`` (:mod:`ann.epoch`): learning rate
   ``config.lr_schedule[e]`` if a schedule is given, else ``config.lr``;
   ``perm = torch.randperm(N, generator=g)``, then with ``config.flip`` one
   ``torch.rand((), generator=g) < 0.5`` per batch; batches are consecutive slices of
   ``perm`` of ``batch_size`` (the last, partial batch included); a flipped batch is
   reversed along its width (``xb.flip(3)``).
5. Step: ``logits = model(as_channels_last(xb))`` (images in the channels-last memory
   format, as the batched engine feeds them: :func:`ann.models.as_channels_last`; the
   test and probe passes too); ``loss = F.cross_entropy(logits, yb)`` (mean over the
   batch); ``zero_grad``; ``loss.backward()``; ``optimizer.step()``.
6. Divergence: if a batch loss is not finite the run stops at once; after the
   epoch's last step, parameters that are not all finite also end it.  Status
   ``"diverged"``, final ``train_error`` and ``test_error`` recorded as
   :data:`CHANCE_ERROR` (0.9), the completed epochs kept.  Nothing is raised.
7. Per epoch: ``train_error`` = misclassified training images / N, counted from
   the training forward passes during the epoch (the running error MatConvNet
   reports); ``loss`` = sum of batch loss x batch size / N; then ``test_error`` on the
   whole test set in eval mode without gradients, in chunks of 1000; then
   ``diagnostics``: :func:`ann.diagnostics.unit_diagnostics` on the first 1,000
   training images (dead units, biases, weight norms, NegLUs per image), which leaves
   every generator as it was.

Result (a JSON-ready dict, :func:`run_result`)::

    {"neg_percent": float, "backward": str | None, "seed": int,   # published fields
     "status": "ok" | "diverged",
     "train_error": float, "test_error": float,     # final epoch, fractions
     "epochs": [{"epoch": 1, "train_error": ..., "test_error": ..., "loss": ...}, ...],
     "seconds": float,   # wall time of the run; under the batched engine, of the stack
                         # the run was trained in (until the run finished or diverged)
     "model": str, "activation": str, "activation_spec": {...},
     "engine": "loop" | "batched", "trainer_version": str,
     "parameters": int}  # the model's parameter count (Maxout widens its feeding layer)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ann.checkpoint import Checkpoints, capture_state, restore_state
from ann.config import TRAINER_VERSION, TrainConfig
from ann.data.datasets import TensorData
from ann.diagnostics import probe_images, unit_diagnostics
from ann.epoch import (
    CHANCE_ERROR,
    batch_starts,
    draw_epoch,
    epoch_record,
    losses_finite,
    parameters_finite,
    set_epoch_lr,
)
from ann.models import as_channels_last
from ann.models import build_model as default_build_model
from ann.specs import RunSpec
from ann.step_observer import Observer
from common.progress import progress_bar

__all__ = [
    "CHANCE_ERROR",
    "TEST_CHUNK",
    "TRAINER_VERSION",
    "RunSpec",
    "TrainConfig",
    "param_groups",
    "count_wrong",
    "evaluate",
    "train_one",
    "train_loop",
    "run_result",
    "resolve_device",
]

#: Test-set evaluation chunk size.
TEST_CHUNK = 1000
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


#: Device kinds the toolkit trains on (``torch.device(...).type``).
DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``
    as ``torch.device``.

    Raises
    ------
    ValueError
        For another device kind (mps, meta, xla ... are not supported), a malformed
        string, CUDA requested but not available, or a CUDA index that does not exist.
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in DEVICE_TYPES:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r}: only {torch.cuda.device_count()} CUDA "
                             f"device(s) here")
    return dev


@torch.no_grad()
def count_wrong(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = TEST_CHUNK,
                transform: Callable[[torch.Tensor], torch.Tensor] | None = None
                ) -> torch.Tensor:
    """Misclassified images of ``x`` (a device tensor: no host synchronisation), in eval
    mode without gradients, in chunks (each through ``transform`` first, e.g. a memory
    format); restores the model's train/eval mode."""
    was_training = model.training
    model.eval()
    wrong = torch.zeros((), dtype=torch.int64, device=y.device)
    for i in range(0, x.shape[0], chunk):
        xb = x[i : i + chunk]
        logits = model(transform(xb) if transform is not None else xb)
        wrong += (logits.argmax(1) != y[i : i + chunk]).sum()
    model.train(was_training)
    return wrong


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = TEST_CHUNK) -> float:
    """Fraction of ``x`` misclassified (:func:`count_wrong` / N)."""
    return int(count_wrong(model, x, y, chunk)) / x.shape[0]


def train_one(
    spec: RunSpec,
    data: TensorData,
    config: TrainConfig,
    build_model: Callable[[RunSpec], nn.Module] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
    checkpoints: Checkpoints | None = None,
    observer: Observer | None = None,
) -> dict[str, Any]:
    """Train one model by the procedure in the module docstring; return its result dict.

    With ``checkpoints`` the run resumes from its checkpoint (``loop-<key>``) if there
    is one, and writes one after every epoch but the last (:mod:`ann.checkpoint`): an
    interrupted run goes on from its last complete epoch to the numbers of an
    uninterrupted one.  The checkpoint is left for the caller to delete once the
    result is stored (:func:`train_loop` does).

    Args:
        spec: the run.
        data: preprocessed dataset (moved to ``device`` if it is not there).
        config: hyperparameters.
        build_model: ``spec -> nn.Module``, deterministic given the spec (default
            :func:`ann.models.build_model`).
        device: torch device (``"auto"`` allowed).
        progress: show a tqdm bar over the epochs.
        checkpoints: where epoch checkpoints are read and written; ``None``: none.
        observer: watches every step (:mod:`ann.step_observer`); its result keys are added
            to the result.

    Returns:
        The result dict (module docstring).  Divergence is recorded, not raised.
    """
    start = time.perf_counter()
    device = resolve_device(device)
    build_model = build_model or default_build_model
    if data.train_x.device != device:
        data = data.to(device)
    model = build_model(spec).to(device)
    model.train()
    optimizer = torch.optim.SGD(
        param_groups(model, config), lr=config.lr, momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    g = torch.Generator().manual_seed(spec.seed)
    n, bs = data.train_size, config.batch_size
    probe = probe_images(data.train_x)
    epochs: list[dict[str, Any]] = []
    completed = 0
    name = Checkpoints.name("loop", [spec.key])
    state = checkpoints.load(name, "loop") if checkpoints is not None else None
    watch = (observer or Observer()).start(model, [spec.key])
    if state is not None:
        restore_state(state, model=model, optimizer=optimizer, generators=[g])
        (epochs,) = state["epochs"]
        completed = int(state["completed"])
        start -= float(state["seconds"])
        watch.load_state(state.get("observer"))
    steps = math.ceil(n / bs)
    status = "ok"
    bar = None
    if progress:
        bar = progress_bar(total=config.epochs, initial=completed, desc=f"  {spec.key}",
                           unit="epoch", leave=False)
    try:
        for epoch in range(completed, config.epochs):
            set_epoch_lr(optimizer, config, epoch)
            perm, flips = draw_epoch(g, n, config)
            wrong = torch.zeros((), dtype=torch.int64, device=device)
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            for j, i in enumerate(batch_starts(n, bs)):
                idx = perm[i : i + bs].to(device)
                xb, yb = data.train_x[idx], data.train_y[idx]
                if flips is not None and bool(flips[j]):
                    xb = xb.flip(3)
                watch.before_step(epoch * steps + j)
                logits = model(as_channels_last(xb))
                loss = F.cross_entropy(logits, yb)
                if not bool(losses_finite(loss)):
                    status = "diverged"
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                watch.after_step(epoch * steps + j)
                with torch.no_grad():
                    wrong += (logits.argmax(1) != yb).sum()
                    loss_sum += loss.double() * yb.shape[0]
            if status == "ok" and not bool(parameters_finite(model.parameters())):
                status = "diverged"
            if status == "diverged":
                break
            test_wrong = int(count_wrong(model, data.test_x, data.test_y,
                                         transform=as_channels_last))
            epochs.append(epoch_record(epoch + 1, int(wrong), float(loss_sum), test_wrong,
                                       n, data.test_size))
            epochs[-1]["diagnostics"] = unit_diagnostics(model, probe,
                                                         transform=as_channels_last)[0]
            if checkpoints is not None and epoch + 1 < config.epochs:
                checkpoints.save(name, "loop", {**capture_state(
                    members=[spec.key], model=model, optimizer=optimizer, generators=[g],
                    epochs=[epochs], completed=epoch + 1,
                    seconds=time.perf_counter() - start), "observer": watch.state()})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(train=f"{epochs[-1]['train_error']:.4f}",
                                test=f"{epochs[-1]['test_error']:.4f}")
    finally:
        watch.close()
        if bar is not None:
            bar.close()
    result = run_result(spec, status, epochs, time.perf_counter() - start, engine="loop",
                        parameters=sum(p.numel() for p in model.parameters()))
    result.update(watch.result(spec.key))
    return result


def train_loop(
    specs: Sequence[RunSpec],
    data: TensorData,
    config: TrainConfig,
    build_model: Callable[[RunSpec], nn.Module] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
    checkpoints: Checkpoints | None = None,
    observer: Observer | None = None,
) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    """:func:`train_one` for each run in turn; yield ``(spec, result)``.  A run's
    checkpoint is deleted when the caller asks for the next result (so after it stored
    this one)."""
    for spec in specs:
        yield spec, train_one(spec, data, config, build_model, device, progress, checkpoints,
                              observer)
        if checkpoints is not None:
            checkpoints.delete(Checkpoints.name("loop", [spec.key]))


def run_result(spec: RunSpec, status: str, epochs: list[dict[str, Any]], seconds: float,
               engine: str, parameters: int | None = None) -> dict[str, Any]:
    """The result record of one run (the schema of :func:`train_one` and the run store).

    ``train_error``/``test_error`` are the last epoch's for a run with status ``"ok"``
    and :data:`CHANCE_ERROR` for a ``"diverged"`` one, whose completed ``epochs`` are
    kept as they were.  ``engine`` names the engine that trained it; ``parameters``,
    the model's parameter count, is recorded when given.
    """
    if status == "ok":
        train_error, test_error = epochs[-1]["train_error"], epochs[-1]["test_error"]
    else:
        train_error = test_error = CHANCE_ERROR
    fields = spec.fields()
    return {
        "neg_percent": fields.pop("neg_percent"),
        "backward": fields.pop("backward"),
        "seed": fields.pop("seed"),
        "status": status,
        "train_error": train_error,
        "test_error": test_error,
        "epochs": epochs,
        "seconds": seconds,
        **fields,
        "engine": engine,
        "trainer_version": TRAINER_VERSION,
        **({"parameters": int(parameters)} if parameters is not None else {}),
    }
