"""Batched sweep engine: train K models of one architecture at once, as one computation.

:func:`train_batched` reproduces :func:`ann.train.train_one` (the reference "loop"
trainer, whose module docstring is the contract) for many runs at once.  The K
members of a batch are *stacked*: every parameter of the architecture becomes one
tensor holding all K members' copies, member-major along dimension 0, and

- each ``nn.Conv2d`` becomes one grouped convolution (``groups = K x groups``): the
  members' images travel as channel blocks of one input ``(B, K*C, H, W)``, member
  ``k`` in channels ``k*C .. (k+1)*C - 1``, so member ``k`` only ever sees its own
  batch and its own filters;
- each ``nn.Linear`` becomes one batched matrix product (``torch.baddbmm``);
- each activation (``nn.ReLU``, :class:`~ann.activations.NegLU`, fixed-mask
  :class:`~ann.activations.MixLU`) becomes one per-unit activation over the ``K*C``
  stacked units, which carries every member's NegLU mask *and* backward mode
  (exact, reference or inverted) as per-unit slopes;
- pools, padding and other channel-wise code in the model's ``forward`` run
  unchanged on the stacked tensor (the model's own ``forward`` is reused).

The summed loss ``sum_k mean_b CE_k`` gives every member exactly its own gradient,
and SGD with momentum and weight decay is element-wise, so one
``torch.optim.SGD`` over the stacked tensors is K independent optimisers.  Every
member keeps its own initialisation and mask (``build_model(spec)`` is called per
run and the parameters copied in), its own data order (its own CPU generator seeded
with ``spec.seed``, drawing the same permutations and flips as the loop trainer),
its own momentum, errors and loss.

Differences from the loop trainer are float rounding only (grouped vs single
convolutions sum in another order).  A member whose loss turns non-finite is
recorded ``"diverged"`` exactly as :func:`~ann.train.train_one` records it (its
completed epochs kept, errors :data:`~ann.train.CHANCE_ERROR`); its NaNs stay in its
own slices (no operation mixes members), it is detected from an on-device flag at the
end of the epoch and dropped from the stack, and the others continue undisturbed.

Device path: the dataset stays on the device, each epoch's permutations and flips
are sent once, and errors, losses and divergence flags accumulate on the device, so
there is no host synchronisation inside an epoch (:meth:`StackedRun.run_epoch`).

Resampled MixLU masks (``mask="resample"``) are stacked too: each member keeps a copy
of its MixLU whose seeded generator draws the member's per-element mask on every pass,
in the loop trainer's order (test passes in its chunks of 1000), so the masks are the
loop's masks.

Specs whose model cannot be stacked (a resampling MixLU without a seed, layers other than
``Conv2d``/``Linear``/ReLU/NegLU/MixLU/stateless pools, or a stacked model that
fails the built-in forward/gradient check against its members) are trained by
:func:`ann.train.train_one` instead, with a warning that says so.

K is split into chunks that fit memory (:func:`plan_chunks`): an estimate of bytes
per member against a budget (half the available RAM on CPU, 80 % of free GPU memory
on CUDA) and a cap ``max_members`` (on CPU by default :data:`CPU_STACK_BYTES`, since
small stacks keep their activations in cache).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ann.activations import BACKWARDS, MixLU, NegLU
from ann.data.datasets import TensorData
from ann.train import (
    TEST_CHUNK,
    RunSpec,
    TrainConfig,
    param_groups,
    resolve_device,
    run_result,
    train_one,
)

__all__ = [
    "CPU_STACK_BYTES",
    "UnsupportedModel",
    "StackedActivation",
    "StackedConv2d",
    "StackedLinear",
    "stack_models",
    "member_bytes",
    "memory_budget_bytes",
    "plan_chunks",
    "StackedRun",
    "train_batched",
]

#: Default size of one stack on CPU, in estimated training bytes (:func:`member_bytes`):
#: past a few members the stacked activations outgrow the cache and every member gets
#: slower, so on CPU a stack holds at most ``CPU_STACK_BYTES // member_bytes`` members
#: (LeNet: 7, LeNet5: 2).  Measured with ``bench_sweep.py --timer cpu --threads 1``
#: (CPU seconds, 1 thread): LeNet, 11 runs x 30 steps, stacks of 2: 12.4 s, 3: 11.0,
#: 4: 11.6, 6: 11.2, 11: 14.8, the plain loop 19.2-19.9; LeNet5, 10 steps of a stack,
#: per member: stacks of 1: 1.27 s, 2: 0.98, 3: 1.15, 6: 1.70.
CPU_STACK_BYTES = 300 * 2**20

#: Leaf modules without state that act channel-wise and so run unchanged on a stack.
_STATELESS_OK = (nn.MaxPool2d, nn.AvgPool2d, nn.Identity, nn.Flatten)


class UnsupportedModel(ValueError):
    """A model (or set of member models) that the batched engine cannot stack."""


# ---------------------------------------------------------------------------
# Stacked layers
# ---------------------------------------------------------------------------


def _member_view(t: Tensor, members: int) -> Tensor:
    """``t`` viewed as ``(members, rows, ...)``: the member-major split of dimension 0."""
    return t.unflatten(0, (members, t.shape[0] // members))


def _select_members(t: Tensor, members: int, keep: Tensor) -> Tensor:
    """The members ``keep`` (index tensor) of a member-major tensor, as a new tensor."""
    return _member_view(t, members).index_select(0, keep.to(t.device)).flatten(0, 1)


class _PerUnitActivation(torch.autograd.Function):
    """``y = x * (fpos if x > 0 else fneg)``; ``dx = dy * (gpos if x > 0, gneg if x < 0, else 0)``.

    Per-unit slopes: ReLU (1, 0 | 1, 0); NegLU forward (0, 1) with backward exact
    (0, 1), reference (1, 0) or inverted (0, -1).  Every mode has derivative 0 at 0.
    """

    @staticmethod
    def forward(ctx, x: Tensor, fpos: Tensor, fneg: Tensor, gpos: Tensor, gneg: Tensor):
        ctx.save_for_backward(x, gpos, gneg)
        return x * torch.where(x > 0, fpos, fneg)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, gpos, gneg = ctx.saved_tensors
        slope = torch.where(x > 0, gpos, torch.where(x < 0, gneg, 0.0))
        return grad * slope, None, None, None, None


# (forward slope x>0, forward slope x<0, backward slope x>0, backward slope x<0)
_RELU_SLOPES = (1.0, 0.0, 1.0, 0.0)
_NEG_SLOPES = {
    "exact": (0.0, 1.0, 0.0, 1.0),
    "reference": (0.0, 1.0, 1.0, 0.0),
    "inverted": (0.0, 1.0, 0.0, -1.0),
}


class _MaskedActivation(torch.autograd.Function):
    """``y = min(0, x)`` where ``neg`` else ``max(0, x)``; backward slopes ``gpos``/``gneg``
    (per unit) at NegLU elements, the ReLU derivative elsewhere, 0 at ``x = 0``."""

    @staticmethod
    def forward(ctx, x: Tensor, neg: Tensor, gpos: Tensor, gneg: Tensor):
        ctx.save_for_backward(x, neg, gpos, gneg)
        return torch.where(neg, x.clamp(max=0.0), x.clamp(min=0.0))

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, neg, gpos, gneg = ctx.saved_tensors
        pos_slope = torch.where(neg, gpos, 1.0)
        neg_slope = torch.where(neg, gneg, 0.0)
        slope = torch.where(x > 0, pos_slope, torch.where(x < 0, neg_slope, 0.0))
        return grad * slope, None, None, None


class StackedActivation(nn.Module):
    """The activations at one position of K member models, as one activation.

    Each member is described by ``(kind, payload, backward)``: ``("relu", None, None)``
    for ``nn.ReLU``, ``("neg", None, backward)`` for :class:`NegLU` (every unit
    negative), ``("mix", neg_mask, backward)`` for a fixed-mask :class:`MixLU`, and
    ``("resample", mixlu, backward)`` for a :class:`MixLU` with ``mask="resample"``
    (a private copy of the module, whose seeded generator draws the member's fresh
    per-element mask on every pass, exactly as the member's own module would).
    The input is ``(B, K*C, *)``, member ``k``'s units at ``k*C .. (k+1)*C - 1``.
    The forward values and gradients equal those of the members' own modules.

    Args:
        members: one descriptor per member (see above).
    """

    def __init__(self, members: Sequence[tuple[str, Any, str | None]]):
        super().__init__()
        sizes = {int(m[1].numel()) for m in members if m[0] == "mix"}
        sizes |= {int(m[1].num_units) for m in members if m[0] == "resample"}
        if len(sizes) > 1:
            raise UnsupportedModel(f"MixLU layers of different sizes at one position: {sizes}")
        checked = []
        for kind, payload, backward in members:
            if kind not in ("relu", "neg", "mix", "resample"):
                raise ValueError(f"member kind must be relu, neg, mix or resample, got {kind!r}")
            if kind != "relu" and backward not in BACKWARDS:
                raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")
            if kind == "mix":
                payload = payload.detach().cpu().bool()
            elif kind == "resample":
                payload = copy.deepcopy(payload)
            checked.append((kind, payload, backward))
        self.members = checked
        self.units = sizes.pop() if sizes else None
        self._cache: dict[Any, tuple[Tensor, ...]] = {}

    @property
    def all_relu(self) -> bool:
        """True when every unit of every member is a ReLU (the layer is ``F.relu``)."""
        return all(k == "relu" or (k == "mix" and not bool(m.any()))
                   for k, m, _ in self.members)

    @property
    def resamples(self) -> bool:
        """True when a member draws a fresh mask on every pass."""
        return any(k == "resample" for k, _, _ in self.members)

    def reset_draws(self) -> None:
        """Restart the resampling members' generators from their seeds (as new modules)."""
        for kind, module, _ in self.members:
            if kind == "resample":
                module._generators = {}

    def _unit_neg(self, i: int, units: int) -> Tensor:
        kind, payload, _ = self.members[i]
        if kind == "mix":
            return payload
        return torch.full((units,), kind == "neg", dtype=torch.bool)

    def _tables(self, units: int, x: Tensor) -> tuple[Tensor, ...]:
        """Per-unit ``(fpos, fneg, gpos, gneg, neg_gpos, neg_gneg, neg)``, ``(1, K*C, 1..)``:
        the slopes of each unit, the backward slopes it has as a NegLU, and whether it is
        a NegLU (fixed masks)."""
        key = (units, x.device, x.dtype)
        if key not in self._cache:
            rows, neg_rows, negs = [], [], []
            for i, (_, _, backward) in enumerate(self.members):
                neg = self._unit_neg(i, units)
                relu_row = torch.tensor(_RELU_SLOPES)
                neg_row = torch.tensor(_NEG_SLOPES[backward or "exact"])
                rows.append(torch.where(neg[:, None], neg_row, relu_row))  # (units, 4)
                neg_rows.append(neg_row[None, 2:].expand(units, 2))
                negs.append(neg)
            table = torch.cat([torch.cat(rows, 0), torch.cat(neg_rows, 0)], 1)
            table = table.to(device=x.device, dtype=x.dtype)  # (K*units, 6)
            shape = (1, -1) + (1,) * (x.dim() - 2)
            self._cache[key] = tuple(table[:, i].reshape(shape).contiguous()
                                     for i in range(6)) + (
                torch.cat(negs).to(x.device).reshape(shape),)
        return self._cache[key]

    def select_members(self, keep: Sequence[int]) -> None:
        """Keep only members ``keep`` (in that order)."""
        self.members = [self.members[i] for i in keep]
        self._cache.clear()

    def forward(self, x: Tensor) -> Tensor:
        k = len(self.members)
        if x.dim() < 2 or x.shape[1] % k or (self.units and x.shape[1] != k * self.units):
            raise ValueError(
                f"stacked activation of {k} members x {self.units} units got input "
                f"of shape {tuple(x.shape)}"
            )
        if self.all_relu:
            return F.relu(x)
        c = x.shape[1] // k
        tables = self._tables(c, x)
        if not self.resamples:
            return _PerUnitActivation.apply(x, *tables[:4])
        neg = tables[6].expand_as(x)
        parts = []
        for i, (kind, module, _) in enumerate(self.members):
            part = x[:, i * c : (i + 1) * c]
            if kind == "resample":
                parts.append(module.element_mask(part))  # the member's own draw
            else:
                parts.append(neg[:, i * c : (i + 1) * c])
        return _MaskedActivation.apply(x, torch.cat(parts, 1), tables[4], tables[5])

    def extra_repr(self) -> str:
        return f"members={len(self.members)}, units={self.units}"


def _stacked_matmul(x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
    """Member-wise ``x[:, k] @ w[k].T + bias[k]`` for ``x (B, K, in)``, ``w (K, out, in)``;
    returns ``(B, K, out)``.  Computed as ``w @ x^T`` so that the weight gradient comes
    out contiguous (measured faster on CPU than ``x @ w^T``)."""
    xt = x.permute(1, 2, 0)  # (K, in, B)
    if bias is None:
        out = torch.bmm(w, xt)
    else:
        out = torch.baddbmm(bias.view(w.shape[0], -1, 1), w, xt)
    return out.permute(2, 0, 1)  # (B, K, out)


class StackedConv2d(nn.Conv2d):
    """K members' ``nn.Conv2d`` as one grouped convolution over ``(B, K*C_in, H, W)``.

    Weight ``(K*C_out, C_in/groups, kh, kw)`` and bias ``(K*C_out,)``, member-major.

    Args:
        convs: the members' convolutions, all with the same hyperparameters.
    """

    def __init__(self, convs: Sequence[nn.Conv2d]):
        c = convs[0]
        k = len(convs)
        super().__init__(
            k * c.in_channels, k * c.out_channels, c.kernel_size, c.stride, c.padding,
            c.dilation, groups=k * c.groups, bias=c.bias is not None,
            padding_mode=c.padding_mode, device="meta", dtype=c.weight.dtype,
        )
        self.members = k
        self.weight = nn.Parameter(torch.cat([m.weight.detach() for m in convs], 0))
        if c.bias is not None:
            self.bias = nn.Parameter(torch.cat([m.bias.detach() for m in convs], 0))

    @property
    def _fully_connected(self) -> bool:
        """A kernel that covers its whole input is a matrix product (LeNet's conv3, conv4)."""
        return (self.groups == self.members and self.padding_mode == "zeros"
                and tuple(self.dilation) == (1, 1)
                and not isinstance(self.padding, str) and tuple(self.padding) == (0, 0))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4 and tuple(x.shape[-2:]) == tuple(self.kernel_size) \
                and self._fully_connected:
            # one batched matrix product instead of a grouped convolution with a 1x1
            # output, which is slow on CPU (measured: benchmarks/bench_sweep.py)
            k, b = self.members, x.shape[0]
            out = _stacked_matmul(x.reshape(b, k, -1), self.weight.reshape(
                k, self.out_channels // k, -1), self.bias)
            return out.reshape(b, self.out_channels, 1, 1)
        return super().forward(x)

    def select_members(self, keep: Sequence[int]) -> None:
        """Keep only members ``keep`` (in that order); parameters become new tensors."""
        idx = torch.as_tensor(list(keep), dtype=torch.long)
        per_in, per_out = self.in_channels // self.members, self.out_channels // self.members
        per_groups = self.groups // self.members
        self.weight = nn.Parameter(_select_members(self.weight.detach(), self.members, idx))
        if self.bias is not None:
            self.bias = nn.Parameter(_select_members(self.bias.detach(), self.members, idx))
        self.members = len(idx)
        self.in_channels, self.out_channels = per_in * self.members, per_out * self.members
        self.groups = per_groups * self.members


class StackedLinear(nn.Module):
    """K members' ``nn.Linear`` as one batched product: ``(B, K*in) -> (B, K*out)``.

    Weight ``(K*out, in)`` and bias ``(K*out,)``, member-major.

    Args:
        linears: the members' linear layers, all of the same shape.
    """

    def __init__(self, linears: Sequence[nn.Linear]):
        super().__init__()
        self.members = len(linears)
        self.in_features = linears[0].in_features
        self.out_features = linears[0].out_features
        self.weight = nn.Parameter(torch.cat([m.weight.detach() for m in linears], 0))
        self.bias = None
        if linears[0].bias is not None:
            self.bias = nn.Parameter(torch.cat([m.bias.detach() for m in linears], 0))

    def select_members(self, keep: Sequence[int]) -> None:
        """Keep only members ``keep`` (in that order); parameters become new tensors."""
        idx = torch.as_tensor(list(keep), dtype=torch.long)
        self.weight = nn.Parameter(_select_members(self.weight.detach(), self.members, idx))
        if self.bias is not None:
            self.bias = nn.Parameter(_select_members(self.bias.detach(), self.members, idx))
        self.members = len(idx)

    def forward(self, x: Tensor) -> Tensor:
        k, n_in, n_out = self.members, self.in_features, self.out_features
        if x.dim() != 2 or x.shape[1] != k * n_in:
            raise ValueError(
                f"stacked linear of {k} members x {n_in} inputs got input of shape "
                f"{tuple(x.shape)}"
            )
        out = _stacked_matmul(x.view(x.shape[0], k, n_in), self.weight.view(k, n_out, n_in),
                              self.bias)
        return out.reshape(x.shape[0], k * n_out)

    def extra_repr(self) -> str:
        return f"members={self.members}, in_features={self.in_features}, " \
               f"out_features={self.out_features}"


_STACKED_TYPES = (StackedConv2d, StackedLinear, StackedActivation)


# ---------------------------------------------------------------------------
# Model surgery
# ---------------------------------------------------------------------------


def _activation_descriptor(module: nn.Module) -> tuple[str, Tensor | None, str | None] | None:
    if isinstance(module, nn.ReLU):
        return ("relu", None, None)
    if isinstance(module, NegLU):
        return ("neg", None, module.backward)
    if isinstance(module, MixLU):
        if module.mask == "fixed":
            return ("mix", module.neg_mask, module.backward)
        if module.neg_fraction == 0.0:
            return ("relu", None, None)  # MixLU draws nothing at 0 %: it is F.relu
        if module.seed is None:
            raise UnsupportedModel(
                "MixLU with mask='resample' and seed=None draws from the global generator, "
                "whose order of draws a stack cannot reproduce; give it a seed"
            )
        return ("resample", module, module.backward)
    return None


def _is_activation(module: nn.Module) -> bool:
    return isinstance(module, nn.ReLU | NegLU | MixLU)


def _own_state(module: nn.Module) -> list[str]:
    names = [n for n, p in module.named_parameters(recurse=False) if p is not None]
    return names + [n for n, b in module.named_buffers(recurse=False) if b is not None]


def _layer_key(module: nn.Module) -> tuple:
    """What must agree between members at one position (activations: only that one is)."""
    if _is_activation(module):
        return ("activation",)
    if isinstance(module, nn.Conv2d | nn.Linear):
        return (type(module).__name__, module.extra_repr(),
                tuple(p.shape for p in module.parameters()), module.weight.dtype)
    return (type(module).__name__, module.extra_repr())


def model_signature(model: nn.Module) -> tuple:
    """Hashable description of a model's stackable structure: models with equal
    signatures can be stacked together (activations may differ)."""
    return (type(model).__qualname__,
            tuple((name, _layer_key(m)) for name, m in model.named_modules()
                  if not list(m.children()) or _is_activation(m)))


def stack_models(models: Sequence[nn.Module]) -> nn.Module:
    """One module that computes all ``models`` at once (see the module docstring).

    The result is a deep copy of ``models[0]`` whose convolutions, linear layers and
    activations are replaced by :class:`StackedConv2d`, :class:`StackedLinear` and
    :class:`StackedActivation`; it takes ``(B, K*C, H, W)`` (member ``k``'s images in
    channels ``k*C .. (k+1)*C - 1``) and returns ``(B, K*classes)``, member-major.
    Parameter names are those of the members.  The models are not modified.

    Raises:
        UnsupportedModel: members of different structure, a layer type that cannot
            be stacked, or state (parameters, buffers) outside the stackable layers.
    """
    if not models:
        raise ValueError("models must not be empty")
    sig = model_signature(models[0])
    for i, m in enumerate(models[1:], 1):
        if model_signature(m) != sig:
            raise UnsupportedModel(f"model {i} differs in structure from model 0")
    template = copy.deepcopy(models[0])
    member_modules = [dict(m.named_modules()) for m in models]
    replacements: dict[str, nn.Module] = {}
    for name, module in template.named_modules():
        peers = [mm[name] for mm in member_modules]
        if _is_activation(module):
            descriptors = [_activation_descriptor(p) for p in peers]
            replacements[name] = StackedActivation(descriptors)
        elif isinstance(module, nn.Conv2d):
            if type(module) is not nn.Conv2d:
                raise UnsupportedModel(f"{name}: subclass {type(module).__name__} of Conv2d")
            replacements[name] = StackedConv2d(peers)
        elif isinstance(module, nn.Linear):
            if type(module) is not nn.Linear:
                raise UnsupportedModel(f"{name}: subclass {type(module).__name__} of Linear")
            replacements[name] = StackedLinear(peers)
        elif list(module.children()):
            if _own_state(module):
                raise UnsupportedModel(
                    f"{name or type(module).__name__} holds its own state {_own_state(module)}"
                )
        elif not isinstance(module, _STATELESS_OK) or _own_state(module):
            raise UnsupportedModel(f"{name}: layer type {type(module).__name__} cannot be stacked")
    for name, new in replacements.items():
        if not name:
            raise UnsupportedModel("the model itself is a single layer; wrap it in a module")
        parent_name, _, attr = name.rpartition(".")
        setattr(template.get_submodule(parent_name), attr, new)
    template.stacked_members = len(models)
    return template


def _reset_draws(model: nn.Module) -> None:
    """Restart every resampling mask generator of ``model`` (stacked or not) from its seed."""
    for module in model.modules():
        if isinstance(module, StackedActivation):
            module.reset_draws()
        elif isinstance(module, MixLU):
            module._generators = {}


def select_members(stacked: nn.Module, keep: Sequence[int]) -> None:
    """Keep only members ``keep`` of a :func:`stack_models` module, in place."""
    for module in stacked.modules():
        if isinstance(module, _STACKED_TYPES):
            module.select_members(keep)
    stacked.stacked_members = len(keep)


def _stack_input(x: Tensor, members: int) -> Tensor:
    """The same images for every member: ``(B, C, H, W) -> (B, K*C, H, W)``."""
    return x.repeat(1, members, *([1] * (x.dim() - 2)))


def verify_stacked(stacked: nn.Module, models: Sequence[nn.Module], x: Tensor,
                   rtol: float = 1e-3) -> None:
    """Check forward values and parameter gradients of ``stacked`` against each member
    on the images ``x`` (CPU, float32).  Members are compared as copies; resampling
    masks of both sides restart from their seeds first (and ``stacked``'s stay used).

    Raises:
        UnsupportedModel: a mismatch beyond ``rtol`` (relative to the largest magnitude)
            or an error in the stacked forward (e.g. a model whose ``forward`` mixes
            channels in a way the stack cannot follow).
    """
    k = len(models)
    gen = torch.Generator().manual_seed(0)
    models = [copy.deepcopy(m) for m in models]
    for m in (stacked, *models):  # resampling masks: both sides draw from fresh generators
        _reset_draws(m)
    try:
        out = stacked(_stack_input(x, k))
        if out.dim() != 2 or out.shape[1] % k:
            raise ValueError(f"output of shape {tuple(out.shape)}")
        out = out.view(x.shape[0], k, -1)
        weights = torch.randn(out.shape, generator=gen)
        names = [n for n, _ in stacked.named_parameters()]
        grads = torch.autograd.grad((out * weights).sum(), list(stacked.parameters()),
                                    allow_unused=True)
    except (RuntimeError, ValueError) as exc:
        raise UnsupportedModel(f"stacked forward failed: {exc}") from exc

    def close(a: Tensor | None, b: Tensor | None, what: str) -> None:
        if a is None or b is None:
            if (a is None) != (b is None):
                raise UnsupportedModel(f"{what}: gradient missing on one side")
            return
        a, b = a.detach(), b.detach()
        scale = float(b.abs().max()) if b.numel() else 0.0
        err = float((a - b).abs().max()) if b.numel() else 0.0
        if not err <= rtol * scale + 1e-12:
            raise UnsupportedModel(f"{what}: stacked and member differ by {err:.3g} "
                                   f"(scale {scale:.3g})")

    for i, model in enumerate(models):
        ref = model(x)
        params = dict(model.named_parameters())
        ref_grads = torch.autograd.grad((ref * weights[:, i]).sum(),
                                        [params[n] for n in names], allow_unused=True)
        if not all(bool(torch.isfinite(t).all()) for t in (ref, *ref_grads) if t is not None):
            continue  # a member that overflows already: nothing to compare
        close(out[:, i], ref, f"member {i} output")
        for n, g, rg in zip(names, grads, ref_grads, strict=True):
            mine = None if g is None else _member_view(g, k)[i]
            if mine is not None and rg is not None:
                mine = mine.reshape(rg.shape)
            close(mine, rg, f"member {i} gradient of {n}")


# ---------------------------------------------------------------------------
# Memory and chunking
# ---------------------------------------------------------------------------


def member_bytes(model: nn.Module, x: Tensor, batch_size: int) -> int:
    """Estimated device bytes one member adds to a stack training at ``batch_size``.

    Parameters x 4 (weights, gradients, momentum, slack) plus 3 x the activations
    autograd saves for a batch (measured with saved-tensor hooks on a forward of the
    images ``x``, scaled to ``batch_size``).
    """
    model = copy.deepcopy(model)  # the forward below must not touch the caller's state
    param_ids = {p.data_ptr() for p in model.parameters()}
    x = x.clone()  # a view into a dataset would count the dataset's whole storage
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        if t.data_ptr() not in param_ids and t.device.type != "meta":
            seen[t.data_ptr()] = max(seen.get(t.data_ptr(), 0),
                                     t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    per_image = sum(seen.values()) / max(1, x.shape[0])
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return int(4 * param_bytes + 3 * per_image * batch_size)


def memory_budget_bytes(device: torch.device) -> int:
    """Bytes the stacks may use: 80 % of free CUDA memory, or half of the available RAM
    (``MemAvailable`` of ``/proc/meminfo``; 8 GiB if unreadable) on CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(0.8 * free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return 8 * 2**30


def plan_chunks(n: int, per_member: int, budget: int, max_members: int | None) -> list[int]:
    """Sizes of the chunks that ``n`` members are trained in, as equal as possible.

    Each chunk holds at most ``max_members`` (``None``: no cap) and at most
    ``budget // per_member`` members (at least one).

    Raises:
        ValueError: a non-positive ``n``, ``per_member``, ``budget`` or ``max_members``.
    """
    for name, value in (("n", n), ("per_member", per_member), ("budget", budget)):
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")
    if max_members is not None and max_members < 1:
        raise ValueError(f"max_members must be a positive integer or None, got {max_members}")
    cap = max(1, budget // per_member)
    if max_members is not None:
        cap = min(cap, max_members)
    chunks = math.ceil(n / cap)
    base, extra = divmod(n, chunks)
    return [base + (1 if i < extra else 0) for i in range(chunks)]


# ---------------------------------------------------------------------------
# Training one stack
# ---------------------------------------------------------------------------


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
    """

    def __init__(self, specs: Sequence[RunSpec], models: Sequence[nn.Module],
                 data: TensorData, config: TrainConfig, device: torch.device,
                 channels_last: bool = True, verify: bool = True):
        self.specs = list(specs)
        self.config = config
        self.data = data
        self.device = device
        self.channels_last = channels_last and data.train_x.dim() == 4
        models = [m.to("cpu").float().train() for m in models]
        self.model = stack_models(models)
        if verify:
            verify_stacked(self.model, models, data.train_x[:4].detach().to("cpu"))
        _reset_draws(self.model)  # resampled masks start from their seeds, as in the loop
        self.model.to(device).train()
        self.generators = [torch.Generator().manual_seed(s.seed) for s in self.specs]
        self.epochs: list[list[dict[str, Any]]] = [[] for _ in self.specs]
        self.optimizer = self._make_optimizer()
        # test images per member per forward: on CPU about TEST_CHUNK stacked images
        # (cache-sized), on CUDA up to 20,000; never fewer than a training batch
        stacked = 20_000 if device.type == "cuda" else TEST_CHUNK
        self.eval_chunk = min(TEST_CHUNK, max(config.batch_size, stacked // self.members))
        if any(m.resamples for m in self.model.modules() if isinstance(m, StackedActivation)):
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
        if self.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def draw_epoch(self) -> tuple[Tensor, Tensor | None]:
        """Every member's permutation ``(K, N)`` and, with ``config.flip``, flips
        ``(K, batches)``, drawn from its generator in the loop trainer's order, on the
        device."""
        n, bs = self.data.train_size, self.config.batch_size
        batches = math.ceil(n / bs)
        perms, flips = [], []
        for g in self.generators:
            perms.append(torch.randperm(n, generator=g))
            if self.config.flip:
                flips.append(torch.tensor([bool(torch.rand((), generator=g) < 0.5)
                                           for _ in range(batches)]))
        perm = torch.stack(perms).to(self.device)
        flip = torch.stack(flips).to(self.device) if self.config.flip else None
        return perm, flip

    def run_epoch(self, perm: Tensor, flip: Tensor | None, on_step: Callable[[], None] | None
                  = None) -> tuple[Tensor, Tensor, Tensor]:
        """One epoch of SGD steps for all members; no host synchronisation.

        Returns device tensors ``(wrong, loss_sum, bad)`` of shape ``(K,)``:
        misclassified training images, sum of batch loss x batch size, and whether a
        batch loss was not finite.
        """
        data, cfg, k = self.data, self.config, self.members
        x_all, y_all = data.train_x, data.train_y
        n, bs = data.train_size, cfg.batch_size
        c = x_all.shape[1]
        wrong = torch.zeros(k, dtype=torch.int64, device=self.device)
        loss_sum = torch.zeros(k, dtype=torch.float64, device=self.device)
        bad = torch.zeros(k, dtype=torch.bool, device=self.device)
        flip_shape = (1, k * c) + (1,) * (x_all.dim() - 2)
        for j, i in enumerate(range(0, n, bs)):
            idx = perm[:, i : i + bs]  # (K, b)
            b = idx.shape[1]
            xb = x_all[idx.t()].reshape((b, k * c) + tuple(x_all.shape[2:]))
            if flip is not None:
                mask = flip[:, j, None].expand(k, c).reshape(flip_shape)
                xb = torch.where(mask, xb.flip(-1), xb)
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
                bad |= ~torch.isfinite(lossd)
                wrong += (logits.argmax(2) != yb).sum(0)
                loss_sum += lossd.double() * b
            if on_step is not None:
                on_step()
        return wrong, loss_sum, bad

    @torch.no_grad()
    def test_wrong(self) -> Tensor:
        """Misclassified test images per member ``(K,)`` (device), eval mode, no grad."""
        was_training = self.model.training
        self.model.eval()
        x, y, k = self.data.test_x, self.data.test_y, self.members
        wrong = torch.zeros(k, dtype=torch.int64, device=self.device)
        for i in range(0, x.shape[0], self.eval_chunk):
            xb = self._stack_images(_stack_input(x[i : i + self.eval_chunk], k))
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
        idx = torch.as_tensor(keep, dtype=torch.long)
        for name, p in self.model.named_parameters():
            buf = old_by_name.get(name)
            if buf is not None:
                self.optimizer.state[p]["momentum_buffer"] = _select_members(buf, k, idx)
        self.specs = [self.specs[i] for i in keep]
        self.generators = [self.generators[i] for i in keep]
        self.epochs = [self.epochs[i] for i in keep]

    def train(self, progress: bool = True, desc: str = "batched"
              ) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
        """Train all epochs; yield ``(spec, result)`` as members finish or diverge."""
        start = time.perf_counter()
        cfg = self.config
        steps = math.ceil(self.data.train_size / cfg.batch_size)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.epochs * steps, desc=desc, unit="step", leave=False)
        on_step = (lambda: bar.update(1)) if bar is not None else None
        try:
            for epoch in range(cfg.epochs):
                if not self.specs:
                    break
                lr = cfg.epoch_lr(epoch)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr * group["lr_mult"]
                perm, flip = self.draw_epoch()
                wrong, loss_sum, bad = self.run_epoch(perm, flip, on_step)
                bad = bad.cpu().tolist()
                keep = [i for i, b in enumerate(bad) if not b]
                finished = []
                for i, b in enumerate(bad):
                    if b:
                        finished.append((self.specs[i], run_result(
                            self.specs[i], "diverged", self.epochs[i],
                            time.perf_counter() - start)))
                if len(keep) < self.members:
                    wrong, loss_sum = wrong[keep], loss_sum[keep]
                    self.drop(keep)
                if self.specs:
                    test = self.test_wrong().cpu().tolist()
                    wrong, loss_sum = wrong.cpu().tolist(), loss_sum.cpu().tolist()
                    n, n_test = self.data.train_size, self.data.test_size
                    for i in range(self.members):
                        self.epochs[i].append({
                            "epoch": epoch + 1,
                            "train_error": wrong[i] / n,
                            "test_error": test[i] / n_test,
                            "loss": loss_sum[i] / n,
                        })
                    if bar is not None:
                        bar.set_postfix(members=self.members,
                                        test=f"{min(test) / n_test:.4f}")
                yield from finished
            seconds = time.perf_counter() - start
            for spec, epochs in zip(self.specs, self.epochs, strict=True):
                yield spec, run_result(spec, "ok", epochs, seconds)
        finally:
            if bar is not None:
                bar.close()


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def _check_specs(specs: Sequence[RunSpec]) -> list[RunSpec]:
    specs = list(specs)
    for s in specs:
        if not all(hasattr(s, a) for a in ("neg_percent", "backward", "seed")):
            raise ValueError(f"specs must be RunSpec objects, got {s!r}")
    return specs


def train_batched(
    specs: Sequence[RunSpec],
    data: TensorData,
    config: TrainConfig,
    build_model: Callable[[RunSpec], nn.Module],
    device: str | torch.device = "cpu",
    progress: bool = True,
    *,
    max_members: int | None = None,
    memory_budget: int | None = None,
    channels_last: bool = True,
) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    """Train every run of ``specs`` in stacks; yield ``(spec, result)`` as runs finish.

    Results have the schema of :func:`ann.train.train_one` and equal its numbers to
    float tolerance (module docstring).  ``seconds`` is the wall time of the member's
    stack from its start until the member finished (shared by the stack's members).

    Args:
        specs: the runs; models of equal structure are stacked together.
        data: preprocessed dataset (moved to ``device`` if it is not there).
        config: hyperparameters shared by all runs.
        build_model: ``spec -> nn.Module``, deterministic given the spec.
        device: torch device (``"auto"`` allowed).
        progress: a tqdm bar of steps per stack (and per epoch for loop fallbacks).
        max_members: most members per stack; ``None``: as many as fit
            :data:`CPU_STACK_BYTES` on CPU (cache), memory-bound only on CUDA.
        memory_budget: bytes the stacks may use; ``None``: :func:`memory_budget_bytes`.
        channels_last: stacked images in channels-last memory format.

    Raises:
        ValueError: bad ``max_members``, ``memory_budget`` or ``device``.
    """
    specs = _check_specs(specs)
    if max_members is not None and (isinstance(max_members, bool)
                                    or not isinstance(max_members, int) or max_members < 1):
        raise ValueError(f"max_members must be a positive integer or None, got {max_members!r}")
    if memory_budget is not None and (not isinstance(memory_budget, int) or memory_budget < 1):
        raise ValueError(f"memory_budget must be a positive integer, got {memory_budget!r}")
    device = resolve_device(device)
    return _train_batched(specs, data, config, build_model, device, progress,
                          max_members, memory_budget, channels_last)


def _warn_fallback(items: list[tuple[RunSpec, str]]) -> None:
    reasons = sorted({r for _, r in items})
    warnings.warn(
        f"{len(items)} run(s) cannot be stacked and are trained one at a time by "
        f"ann.train.train_one: {'; '.join(reasons)}",
        stacklevel=3,
    )


def _train_batched(specs, data, config, build_model, device, progress, max_members,
                   memory_budget, channels_last):
    if data.train_x.device != device:
        data = data.to(device)
    budget = memory_budget or memory_budget_bytes(device)
    sample = data.train_x[:4].detach().to("cpu").clone()  # own storage: see member_bytes
    groups: dict[tuple, list[tuple[RunSpec, nn.Module]]] = {}
    fallback: list[tuple[RunSpec, str]] = []
    for spec in specs:
        model = build_model(spec).to("cpu")
        try:
            for module in model.modules():
                _activation_descriptor(module)  # raises for unseeded resample masks
            sig = model_signature(model)
        except UnsupportedModel as exc:
            fallback.append((spec, str(exc)))
            continue
        groups.setdefault(sig, []).append((spec, model))
    if fallback:
        _warn_fallback(fallback)
    stacks: list[list[tuple[RunSpec, nn.Module]]] = []
    for members in groups.values():
        per_member = member_bytes(members[0][1], sample, config.batch_size)
        cap = max_members
        if cap is None and device.type == "cpu":
            cap = max(1, CPU_STACK_BYTES // per_member)
        sizes = plan_chunks(len(members), per_member, budget, cap)
        start = 0
        for size in sizes:
            stacks.append(members[start : start + size])
            start += size
    for number, stack in enumerate(stacks, 1):
        stack_specs = [s for s, _ in stack]
        try:
            run = StackedRun(stack_specs, [m for _, m in stack], data, config, device,
                             channels_last=channels_last)
        except UnsupportedModel as exc:
            failed = [(s, str(exc)) for s in stack_specs]
            _warn_fallback(failed)
            fallback.extend(failed)
            continue
        stack.clear()  # the member models are no longer needed
        desc = f"batched {number}/{len(stacks)} ({run.members} models)"
        yield from run.train(progress=progress, desc=desc)
        del run
    for spec, _ in fallback:
        yield spec, train_one(spec, data, config, build_model, device, progress=progress)
