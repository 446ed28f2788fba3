"""Unit diagnostics recorded after every epoch: dead units, biases, weight norms, NegLUs.

:func:`unit_diagnostics` runs a fixed probe (the first :data:`PROBE_SIZE` training
images, eval mode, no gradients) through a model — a plain one or a stack of K
members (:mod:`ann.batched`) — and returns one JSON-ready record per member:

``positions`` (one per activation position, in forward order)
    ``units`` per unit type: ``"relu"`` (ReLU-side units: ReLU, leaky, PReLU, noisy,
    the ReLU units of a MixLU), ``"neglu"`` (NegLUs of a fixed mask, of a bipolar layer,
    plain NegLUs), ``"resampled"`` (MixLU units whose type is redrawn every pass);
    ``dead`` per unit type: a ReLU-side or resampled unit (a feature, or a channel of a
    convolution) whose input is never > 0 on any probe image at any position — its ReLU
    output is 0 throughout — and a NegLU unit whose input is never < 0 (never
    negative); ``active_fraction``: per image, the share of the position's elements in
    their unit's active regime (> 0 ReLU-side and ConvAct, < 0 NegLU; at a Min-Maxout
    position, the share of its input pieces > 0), averaged over the probe;
    ``neglu_per_image``: NegLU elements per image (fixed: NegLU units x positions per
    unit; resampled: the expected share); ``large_negative_bias_share``: the share of the
    position's units whose bias (of the layer feeding it, ``model.position_layers``)
    is below ``-LARGE_NEGATIVE_SD`` standard deviations of that unit's input over the
    probe — a unit that the bias holds below zero for all but the upper tail of its
    inputs (the "large negative biases" of Memisevic et al. 2014); ``prelu`` slopes
    (mean, quantiles, negative share) at PReLU positions.
    Min-Maxout positions (:class:`~ann.minmaxout.MinMaxout`) count ``"max"`` and
    ``"min"`` units, which cannot die (every pass selects a piece, with derivative 1),
    and record ``minmaxout``: ``idle_piece_share``, the share of pieces never selected on
    any probe image at any position, and ``pieces``.  ConvAct positions
    (:class:`~ann.convact.ConvAct`) count ``"convact"`` units, dead when their derivative
    is 0 on every probe element (no input on a side whose slope is not 0), and record
    ``convact``: :meth:`~ann.convact.ConvAct.slope_summary` (the convolutional form's
    over the first chunk of the probe), with ``inverted_share``, the units whose learned
    slope on a side went negative.
``layers`` (every convolution and linear layer by name)
    ``weight_norm`` (Frobenius) and ``bias`` mean, sd, min, max.
``neglu_per_image``
    the sum over positions (the total-count hypothesis, ``docs/reference.md#claims-of-the-thesis``).

The probe pass leaves training exactly as it was: private generators (resampled
masks) are saved before and restored after it, and the model's mode is restored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ann.activations import MixLU, PiecewiseLinearUnit
from ann.baselines import NoisyReLU, PReLU
from ann.convact import ConvAct
from ann.generators import generator_states, load_generator_states
from ann.members import MemberUnits, member_view
from ann.minmaxout import MinMaxout, selected_pieces
from ann.unit_types import unit_masks

__all__ = ["PROBE_SIZE", "LARGE_NEGATIVE_SD", "unit_diagnostics", "probe_images",
           "unit_types", "position_modules"]

#: Training images of the probe (the first ones of the training set).
PROBE_SIZE = 1000
#: A bias below this many standard deviations of its unit's input counts as large negative.
LARGE_NEGATIVE_SD = 2.0
#: Probe images per forward pass.
_CHUNK = 250


def probe_images(train_x: Tensor) -> Tensor:
    """The probe: the first :data:`PROBE_SIZE` training images (all, if fewer)."""
    return train_x[:PROBE_SIZE]


def _is_position(module: nn.Module) -> bool:
    if isinstance(module, MemberUnits):  # a stack's position is one if its units are
        return bool(module.units) and _is_position(module.units[0])
    return isinstance(module, nn.ReLU | PiecewiseLinearUnit | NoisyReLU | MinMaxout | ConvAct)


def position_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The activation positions of ``model`` (plain or stacked), by name, in module order."""
    return [(name, m) for name, m in model.named_modules() if _is_position(m)]


#: Unit types (:mod:`ann.unit_types`) counted as ReLU-side units (``"relu"``) here.
RELU_SIDE = ("relu", "leaky", "prelu", "noisy", "other")


def unit_types(unit: nn.Module, num_units: int) -> dict[str, Tensor]:
    """Bool masks ``(num_units,)`` of the unit types of one member's activation module,
    as the module docstring groups them (:func:`ann.unit_types.unit_masks`, with the
    :data:`RELU_SIDE` types as ``"relu"``); types without units are left out."""
    grouped: dict[str, Tensor] = {}
    for name, mask in unit_masks(unit, num_units).items():
        name = "relu" if name in RELU_SIDE else name
        grouped[name] = grouped[name] | mask if name in grouped else mask
    return grouped


def _stat(t: Tensor) -> dict[str, float]:
    t = t.detach().double().flatten()
    return {"mean": float(t.mean()), "sd": float(t.std()) if t.numel() > 1 else 0.0,
            "min": float(t.min()), "max": float(t.max())}


class _Inputs:
    """One position's running statistics over the probe: per unit whether its input was
    ever > 0 / < 0, its sum and sum of squares; per image and member, the elements in
    their unit's active regime (``neglu``: True where the unit's active side is < 0)."""

    def __init__(self, neglu: Tensor, members: int):
        self.neglu, self.members = neglu, members
        self.positive = self.negative = self.sum = self.sumsq = None
        self.count = 0  # elements per unit so far
        self.active: list[Tensor] = []  # (b, K) per chunk
        self.shape: tuple[int, ...] = ()
        self.selected: Tensor | None = None  # Min-Maxout: (K*units, pieces) ever selected
        self.convact: list[dict[str, Any]] | None = None  # ConvAct: per member, slopes

    def add(self, x: Tensor) -> None:
        flat = x.detach().reshape(x.shape[0], x.shape[1], -1)  # (b, KC, S)
        pos, neg = flat > 0, flat < 0
        anyp, anyn = pos.any(2).any(0), neg.any(2).any(0)
        s = flat.sum((0, 2), dtype=torch.float64)
        ss = (flat * flat).sum((0, 2), dtype=torch.float64)
        if self.positive is None:
            self.positive, self.negative, self.sum, self.sumsq = anyp, anyn, s, ss
        else:
            self.positive, self.negative = self.positive | anyp, self.negative | anyn
            self.sum, self.sumsq = self.sum + s, self.sumsq + ss
        self.count += flat.shape[0] * flat.shape[2]
        neglu = self.neglu.to(x.device)[None, :]
        active = torch.where(neglu, neg.sum(2), pos.sum(2))  # (b, KC)
        self.active.append(active.view(x.shape[0], self.members, -1).sum(2))
        self.shape = tuple(x.shape[1:])

    def add_selection(self, modules: list[MinMaxout], parts: tuple[Tensor, ...]) -> None:
        """Mark the pieces each member's Min-Maxout units selected on its input part."""
        marks = []
        for module, x in zip(modules, parts, strict=True):
            index = selected_pieces(x, module.pieces, module.min_mask.to(x.device))
            chosen = F.one_hot(index.flatten(), module.pieces).bool()  # (elements, k)
            marks.append(chosen.view(index.shape[0], module.units, -1,
                                     module.pieces).any(2).any(0))
        per_unit = torch.cat(marks)
        self.selected = per_unit if self.selected is None else self.selected | per_unit

    def sd(self) -> Tensor:
        mean = self.sum / self.count
        return (self.sumsq / self.count - mean * mean).clamp_min(0.0).sqrt()


def _member_units(module: nn.Module, members: int) -> list[nn.Module]:
    if isinstance(module, MemberUnits):
        return module.member_modules()
    return [module] * members


@torch.no_grad()
def unit_diagnostics(model: nn.Module, probe: Tensor, members: int = 1,
                     transform: Callable[[Tensor], Tensor] | None = None
                     ) -> list[dict[str, Any]]:
    """The diagnostics of the module docstring, one record per member.

    Args:
        model: a plain model (``members=1``) or a stacked one of ``members`` members.
        probe: the probe images ``(N, C, H, W)`` of one member (:func:`probe_images`),
            on the model's device.
        members: K, the members of a stacked model (the probe is repeated for each).
        transform: applied to each chunk of (stacked) probe images before the forward
            pass (e.g. the stack's memory format).
    """
    found = position_modules(model)
    records: list[_Inputs | None] = [None] * len(found)

    def hook(index: int, module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        x = inputs[0]
        units = _member_units(module, members)
        if records[index] is None:  # unit types need the channel count of the input
            c = x.shape[1] // members
            neglu = torch.cat([unit_types(u, c).get("neglu", torch.zeros(c, dtype=torch.bool))
                               for u in units])
            records[index] = _Inputs(neglu, members)
        records[index].add(x)
        parts = x.chunk(members, 1)
        if isinstance(units[0], MinMaxout):
            records[index].add_selection(units, parts)
        elif isinstance(units[0], ConvAct) and records[index].convact is None:
            records[index].convact = [u.slope_summary(part)
                                      for u, part in zip(units, parts, strict=True)]

    handles = [m.register_forward_pre_hook(lambda mod, inp, i=i: hook(i, mod, inp))
               for i, (_, m) in enumerate(found)]
    states = generator_states(model)
    was_training = model.training
    model.eval()
    try:
        for i in range(0, probe.shape[0], _CHUNK):
            xb = probe[i : i + _CHUNK]
            if members > 1:  # the same images for every member
                xb = xb.repeat(1, members, *([1] * (xb.dim() - 2)))
            model(transform(xb) if transform is not None else xb)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        load_generator_states(model, states)
    layers = [(name, m) for name, m in model.named_modules()
              if isinstance(m, nn.Conv2d | nn.Linear) or hasattr(m, "members")
              and isinstance(getattr(m, "weight", None), Tensor)]
    feeding = dict(zip(getattr(model, "position_layers", ()), range(len(found)), strict=False))
    used = [i for i, r in enumerate(records) if r is not None]  # positions the forward ran
    positions = [found[i] for i in used]
    records = [records[i] for i in used]
    feeding = {name: used.index(i) for name, i in feeding.items() if i in used}
    out = []
    for k in range(members):
        pos_out, total_neg = [], 0.0
        for (name, module), rec in zip(positions, records, strict=True):
            c = rec.shape[0] // members
            sl = slice(k * c, (k + 1) * c)
            unit = _member_units(module, members)[k]
            types = unit_types(unit, c)
            spatial = 1
            for d in rec.shape[1:]:
                spatial *= d
            pos_flag, neg_flag = rec.positive[sl].cpu(), rec.negative[sl].cpu()
            active = torch.cat([a[:, k] for a in rec.active]).cpu().double()  # (N,)
            dead, units = {}, {}
            for t, mask in types.items():
                units[t] = int(mask.sum())
                if t in ("max", "min"):  # a Max or Min unit always passes its gradient
                    dead[t] = 0
                    continue
                if t == "convact":
                    dead[t] = int(_convact_dead(unit, pos_flag, neg_flag).sum())
                    continue
                flag = neg_flag if t == "neglu" else pos_flag
                dead[t] = int((~flag & mask).sum())
            if isinstance(unit, MixLU) and "resampled" in types:
                neg_per_image = unit.neg_fraction * c * spatial
            else:
                neg_per_image = float(units.get("neglu", 0) * spatial)
            total_neg += neg_per_image
            entry: dict[str, Any] = {
                "name": name, "units": units, "dead": dead,
                "active_fraction": float(active.mean()) / (c * spatial),
                "neglu_per_image": neg_per_image,
            }
            if isinstance(unit, PReLU):
                entry["prelu"] = unit.slope_summary()
            if isinstance(unit, MinMaxout):
                mine = rec.selected[k * unit.units : (k + 1) * unit.units]
                entry["minmaxout"] = {
                    "pieces": unit.pieces,
                    "idle_piece_share": float((~mine.cpu()).double().mean()),
                }
            if isinstance(unit, ConvAct):
                entry["convact"] = rec.convact[k]
            pos_out.append(entry)
        for layer_name, position in feeding.items():
            layer = model.get_submodule(layer_name)
            if layer.bias is None or position >= len(pos_out):
                continue
            rec = records[position]
            c = rec.shape[0] // members
            bias = member_view(layer.bias.detach(), members)[k].cpu().double()
            sd = rec.sd()[k * c : (k + 1) * c].cpu()
            if bias.numel() == c:
                pos_out[position]["large_negative_bias_share"] = float(
                    (bias < -LARGE_NEGATIVE_SD * sd).double().mean())
        layer_out = {}
        for name, layer in layers:
            weight = member_view(layer.weight.detach(), members)[k]
            entry = {"weight_norm": float(weight.double().norm())}
            if getattr(layer, "bias", None) is not None:
                entry["bias"] = _stat(member_view(layer.bias.detach(), members)[k])
            layer_out[name] = entry
        out.append({"positions": pos_out, "layers": layer_out, "neglu_per_image": total_neg})
    return out


def _convact_dead(unit: ConvAct, positive: Tensor, negative: Tensor) -> Tensor:
    """ConvAct units whose derivative was 0 on every probe element: no input > 0 where
    the positive-side slope is not 0, and none < 0 where the negative-side slope is not
    (per-unit form; the convolutional form's slopes vary, so only units without
    inputs off zero count)."""
    if unit.kernel_size == 0:
        p, n = unit.pos.detach().cpu(), unit.neg.detach().cpu()
        return ~(positive & (p != 0)) & ~(negative & (n != 0))
    return ~positive & ~negative
