"""Watch ordinary training and count how often its weight updates behave like each STDP regime.

:class:`UpdateSignMonitor` attaches hooks to the activation modules of any torch
model — a plain one, or a stack of K members of the batched engine
(:mod:`ann.batched`), counted per member — and, at every optimizer step, records per
member, layer and unit type (:data:`UNIT_TYPES`: ``"relu"``, ``"neglu"``, ``"leaky"``,
``"prelu"``, ``"noisy"``, ``"convact"``, ``"max"``, ``"min"``; ``"other"`` for types
you name):

- the fraction of *normal*, *inverted* and *silent* effective local derivatives
  (:mod:`bridge.derivative`) among the unit-samples that received a descent
  signal;
- for activations fed directly by an ``nn.Linear`` or an ungrouped ``nn.Conv2d`` (or
  their stacked forms),
  synapse-level events — one per (sample, output position, unit, input) with a
  non-zero descent signal, derivative, presynaptic activation and weight —
  classified into the four regimes by :func:`bridge.sign_mapping.map_event`;
- the **agreement** of each regime: the share of its events whose predicted
  weight change (the sign of that sample's own gradient contribution) is the sign
  of the change the optimizer actually applied to that synapse in that step —
  summed over the batch, with momentum and weight decay.

Unit kinds: MixLU units are ReLU or NegLU per element (a resampled mask is read off
the output), bipolar units likewise.  A Min-Maxout unit (:class:`ann.minmaxout.MinMaxout`)
is counted per *piece*: each piece is a weighted input of the unit, fed by its own
row of the preceding layer, and its derivative is 1 when the unit selects it and 0
(silent) otherwise — for Max and Min units alike, so a Min unit's concave response
shows in its pieces' weights, never as an inverted derivative.  ConvAct units are
counted by the sign of the derivative their backward applied (a learned negative
slope is an inverted one).

The counts are computed with a few matrix products per layer, not a loop over
events; ``tests/test_bridge_monitor.py`` checks them against the event-by-event
mapping, and a stacked model's per-member counts against each member trained alone.
Hooks exist only while attached: a detached monitor costs nothing.

Example::

    monitor = UpdateSignMonitor(model)
    with monitor:
        for xb, yb in batches:
            opt.zero_grad(); F.cross_entropy(model(xb), yb).backward(); opt.step()
    print(monitor.summary())

Activations must not be in-place (``nn.ReLU(inplace=True)``): full backward hooks
cannot see through in-place ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import optimizer as optim_hooks

from ann.activations import MixLU
from ann.batched.layers import (
    StackedConv2d,
    StackedLinear,
)
from ann.diagnostics import position_modules
from ann.members import MemberUnits, member_view
from ann.minmaxout import MinMaxout
from ann.unit_types import UNIT_TYPES, unit_type
from bridge.derivative import effective_derivative
from bridge.sign_mapping import DEFAULT_CONVENTION, check_convention
from common.checks import is_integer
from stdp_sim.regime import Regime

__all__ = ["UpdateSignMonitor", "StepRecord", "UNIT_TYPES", "element_types", "summarise"]

REGIME_LABELS = tuple(r.label for r in Regime)


def element_types(module: nn.Module, z: Tensor, out: Tensor) -> dict[str, Tensor]:
    """Bool masks of ``z``'s shape, by unit type, for one member's activation ``module``
    with input ``z`` and output ``out`` (types without elements may be left out).

    A Min-Maxout module's masks are over its input pieces (``z``), the others' over
    its elements; a MixLU's resampled mask is read off the output (NegLU elements give
    ``min(0, z)``, ReLU elements ``max(0, z)``).
    """
    if isinstance(module, MixLU):
        if module.neg_fraction == 0.0:
            neg = torch.zeros_like(z, dtype=torch.bool)
        elif module.mask == "fixed":
            neg = module.element_mask(z).to(z.device).expand_as(z)
        else:
            neg = torch.where(z > 0, out == 0, out != 0)
        return {"relu": ~neg, "neglu": neg}
    if isinstance(module, MinMaxout):
        mins = module.min_mask.to(z.device).repeat_interleave(module.pieces)
        mins = mins.view((1, -1) + (1,) * (z.dim() - 2)).expand_as(z)
        return {"max": ~mins, "min": mins}
    return {unit_type(module): torch.ones_like(z, dtype=torch.bool)}


def _is_feeder(module: nn.Module) -> bool:
    """A layer whose weights are the synapses into the activation it feeds."""
    if isinstance(module, StackedConv2d):
        return module.groups == module.members
    if isinstance(module, nn.Conv2d):
        return module.groups == 1
    return isinstance(module, nn.Linear | StackedLinear)


@dataclass
class StepRecord:
    """Counts for one optimizer step, one activation layer, one unit type."""

    step: int
    layer: str
    unit_type: str
    member: int = 0
    normal: int = 0
    inverted: int = 0
    silent: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REGIME_LABELS, 0))
    agree: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REGIME_LABELS, 0))

    @property
    def events(self) -> int:
        return sum(self.counts.values())


@dataclass
class _Pending:
    """What one activation saw in the current step (all members of a stack)."""

    z: Tensor
    types: list[dict[str, Tensor]]  # per member: unit type -> bool mask of its z slice
    pieces: int = 1  # input elements per output element (Min-Maxout)
    feeder: nn.Module | None = None
    pre: Tensor | None = None  # input of the feeding layer
    grad_in: Tensor | None = None
    grad_out: Tensor | None = None
    weight_before: Tensor | None = None


class UpdateSignMonitor:
    """Count STDP-regime events of the updates applied during training.

    Parameters
    ----------
    model : nn.Module
        Any model; its activation modules are found by type.
    convention : {"rate", "literal"}
        Timing convention of :mod:`bridge.sign_mapping` (default ``"rate"``).
    activation_types : tuple of types, optional
        Module types treated as activations; types the monitor does not know are
        element-wise units of type ``"other"``.  Default: every activation position
        the toolkit knows (:func:`ann.diagnostics.position_modules`: ReLU, NegLU,
        MixLU, the baselines, Min-Maxout, ConvAct, stacked activations).
    synapses : bool
        Also count synapse-level regime events and agreement (default True).
    members : int
        K for a stacked model of the batched engine (tensors member-major along
        dimension 1, parameters along dimension 0); records carry the member index.
        Default 1: a plain model.

    Notes
    -----
    Steps are counted by a global optimizer step hook; only optimizers that hold
    the weight of a monitored feeding layer (or, for layers without one, any
    optimizer) close a step.
    """

    def __init__(
        self,
        model: nn.Module,
        convention: str = DEFAULT_CONVENTION,
        activation_types: tuple[type, ...] | None = None,
        synapses: bool = True,
        members: int = 1,
    ):
        self.model = model
        self.convention = check_convention(convention)
        self.activation_types = None if activation_types is None else tuple(activation_types)
        self.synapses = synapses
        if not is_integer(members) or members < 1:
            raise ValueError(f"members must be a positive integer, got {members!r}")
        self.members = members
        self.records: list[StepRecord] = []
        self.step = 0
        self._handles: list = []
        self._pending: dict[str, _Pending] = {}
        self._outputs: dict[int, tuple[nn.Module, Tensor, Tensor]] = {}
        self._feeding: dict[str, tuple[nn.Module, Tensor]] = {}
        if self.activation_types is None:
            self.activations = dict(position_modules(model))
        else:
            self.activations = {name: m for name, m in model.named_modules()
                                if isinstance(m, self.activation_types)}
        if not self.activations:
            names = ("the toolkit's activations" if self.activation_types is None
                     else [t.__name__ for t in self.activation_types])
            raise ValueError(f"model has no activation module of types {names}")
        for name, m in self.activations.items():
            if getattr(m, "inplace", False):
                raise ValueError(
                    f"activation {name!r} is in-place; use inplace=False to monitor it"
                )

    # -- attaching -------------------------------------------------------------------------
    def attach(self) -> UpdateSignMonitor:
        """Register the hooks (idempotent).  Returns ``self``."""
        if self._handles:
            return self
        for module in self.model.modules():
            if _is_feeder(module):
                self._handles.append(module.register_forward_hook(self._feeder_hook))
        for name, module in self.activations.items():
            self._handles.append(module.register_forward_pre_hook(self._pre_forward_hook(name)))
            self._handles.append(module.register_forward_hook(self._forward_hook(name)))
            self._handles.append(module.register_full_backward_hook(self._backward_hook(name)))
        self._handles.append(optim_hooks.register_optimizer_step_pre_hook(self._pre_step))
        self._handles.append(optim_hooks.register_optimizer_step_post_hook(self._post_step))
        return self

    def detach(self) -> None:
        """Remove every hook; recorded data stays."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._pending.clear()
        self._outputs.clear()
        self._feeding.clear()

    def __enter__(self) -> UpdateSignMonitor:
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    # -- hooks -----------------------------------------------------------------------------
    def _feeder_hook(self, module, inputs, output):
        if torch.is_grad_enabled():
            # the output is kept so that its id cannot be reused while stored
            self._outputs[id(output)] = (module, inputs[0].detach(), output)

    def _pre_forward_hook(self, name):
        # Runs before the backward hooks wrap the input, so the input is still the
        # very tensor the feeding layer returned.
        def hook(module, inputs):
            stored = self._outputs.pop(id(inputs[0]), None)
            if stored is not None and stored[2] is inputs[0]:
                self._feeding[name] = stored[:2]
            else:
                self._feeding.pop(name, None)

        return hook

    def _forward_hook(self, name):
        def hook(module, inputs, output):
            z = inputs[0]
            if not (torch.is_grad_enabled() and z.requires_grad):
                return
            z, out = z.detach(), output.detach()
            k = self.members
            units = module.member_modules() if isinstance(module, MemberUnits) else [module] * k
            if len(units) != k:
                raise ValueError(f"activation {name!r} holds {len(units)} members, the "
                                 f"monitor was made for {k}")
            pieces = units[0].pieces if isinstance(units[0], MinMaxout) else 1
            zs, outs = z.chunk(k, 1), out.chunk(k, 1)
            types = [element_types(u, zm, om) for u, zm, om in zip(units, zs, outs, strict=True)]
            pending = _Pending(z=z, types=types, pieces=pieces)
            feeder = self._feeding.pop(name, None)
            if self.synapses and feeder is not None:
                pending.feeder, pending.pre = feeder
            self._pending[name] = pending

        return hook

    def _backward_hook(self, name):
        def hook(module, grad_input, grad_output):
            pending = self._pending.get(name)
            if pending is not None and grad_input[0] is not None:
                pending.grad_in = grad_input[0].detach()
                pending.grad_out = grad_output[0].detach()

        return hook

    def _owns(self, optimizer, pending: _Pending) -> bool:
        if pending.feeder is None:
            return True
        weight = pending.feeder.weight
        return any(p is weight for group in optimizer.param_groups for p in group["params"])

    def _pre_step(self, optimizer, args, kwargs):
        for pending in self._pending.values():
            if pending.feeder is not None and pending.grad_out is not None:
                if self._owns(optimizer, pending):
                    pending.weight_before = pending.feeder.weight.detach().clone()

    def _post_step(self, optimizer, args, kwargs):
        closed = False
        for name, pending in list(self._pending.items()):
            if pending.grad_out is None or not self._owns(optimizer, pending):
                continue
            self.records.extend(self._measure(name, pending))
            del self._pending[name]
            closed = True
        self._outputs.clear()
        if closed:
            self.step += 1

    # -- counting --------------------------------------------------------------------------
    def _measure(self, name: str, p: _Pending) -> list[StepRecord]:
        k = self.members
        grad_out = p.grad_out
        if p.pieces > 1:  # every piece of a unit sees the unit's descent signal
            grad_out = grad_out.repeat_interleave(p.pieces, dim=1)
        descent = -grad_out
        deriv = effective_derivative(p.grad_in, grad_out)
        s_all = torch.sign(descent)
        d_all = torch.nan_to_num(torch.sign(deriv), nan=0.0)
        weights = None
        if p.feeder is not None and p.weight_before is not None:
            after = p.feeder.weight.detach()
            weights = (member_view(p.weight_before, k), member_view(after, k))
        records = []
        for m, (s, d, types) in enumerate(zip(s_all.chunk(k, 1), d_all.chunk(k, 1), p.types,
                                              strict=True)):
            signalled = s != 0
            synapses = None
            if weights is not None:
                synapses = self._synapse_terms(p.feeder, p.pre.chunk(k, 1)[m],
                                               weights[0][m], weights[1][m])
            for kind, mask in types.items():
                if not bool(mask.any()):
                    continue
                rec = StepRecord(self.step, name, kind, m)
                sel = mask & signalled
                rec.normal = int((sel & (d > 0)).sum())
                rec.inverted = int((sel & (d < 0)).sum())
                rec.silent = int((sel & (d == 0)).sum())
                if synapses is not None:
                    rows, q_pos, q_neg = synapses
                    self._count_synapses(rec, rows(s), rows(s * d) * rows(mask), q_pos, q_neg)
                records.append(rec)
        return records

    def _synapse_terms(self, feeder: nn.Module, pre: Tensor, weight: Tensor, after: Tensor):
        """Per (row, unit): how many inputs of each sign meet each weight class, for one
        member's slice of the feeding layer (input ``pre``, weight before and after the
        step).

        Rows are samples (Linear) or (sample, output position) pairs (Conv2d).
        Returns ``(rows, q_pos, q_neg)``: ``rows`` reshapes a ``z``-shaped tensor to
        ``(rows, units)``; ``q_pos[r, k, i]`` counts inputs ``j`` with ``pre[r, j] > 0``
        and synapse ``(i, j)`` in weight class ``k`` (:data:`_WEIGHT_CLASSES`);
        ``q_neg`` the same for ``pre < 0``.  Exact integers in float32 (at most the
        number of inputs, far below 2**24).
        """
        applied = torch.sign(after - weight)
        if isinstance(feeder, nn.Conv2d):
            pre = F.unfold(
                pre,
                feeder.kernel_size,
                dilation=feeder.dilation,
                padding=feeder.padding,
                stride=feeder.stride,
            ).transpose(1, 2)
            pre = pre.reshape(-1, pre.shape[-1])

            def rows(t: Tensor) -> Tensor:
                return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])

            weight, applied = weight.flatten(1), applied.flatten(1)
        else:
            pre = pre.reshape(-1, pre.shape[-1])

            def rows(t: Tensor) -> Tensor:
                return t.reshape(-1, t.shape[-1])

        w_pos, w_neg = weight > 0, weight < 0
        up, down = applied > 0, applied < 0
        classes = torch.stack(
            [w_pos, w_neg, w_pos & up, w_neg & down, w_neg & up, w_pos & down]
        ).to(pre.dtype)  # (6, units, inputs)
        k, units, inputs = classes.shape
        flat = classes.reshape(k * units, inputs).T
        q_pos = ((pre > 0).to(pre.dtype) @ flat).view(-1, k, units)
        q_neg = ((pre < 0).to(pre.dtype) @ flat).view(-1, k, units)
        return rows, q_pos, q_neg

    def _count_synapses(self, rec: StepRecord, s: Tensor, u: Tensor, q_pos: Tensor, q_neg: Tensor):
        """Add the synapse-level events of one unit type to ``rec``.

        ``s``: sign of the descent signal per (row, unit); ``u``: sign of descent x
        derivative, zero outside this unit type.  An event's own gradient
        contribution has the sign of ``u * pre``: it raises ``w`` ("same" sign) or
        lowers it ("opp").  With weight classes ``w>0, w<0, w>0 & raised, w<0 &
        lowered, w<0 & raised, w>0 & lowered`` (0..5): potentiation = same[0] +
        opp[1], depression = same[1] + opp[0]; agreeing potentiation = same[2] +
        opp[3], agreeing depression = same[4] + opp[5].
        """
        a_first = s > 0 if self.convention == "rate" else s < 0
        for timing, side in (("pre-post", a_first), ("post-pre", ~a_first & (s != 0))):
            u_pos = ((u > 0) & side).to(q_pos.dtype).unsqueeze(1)
            u_neg = ((u < 0) & side).to(q_pos.dtype).unsqueeze(1)
            same = (u_pos * q_pos + u_neg * q_neg).sum(dim=(0, 2), dtype=torch.float64)
            opp = (u_pos * q_neg + u_neg * q_pos).sum(dim=(0, 2), dtype=torch.float64)
            same, opp = same.tolist(), opp.tolist()
            pot = Regime.from_parts(timing, "potentiation").label
            dep = Regime.from_parts(timing, "depression").label
            rec.counts[pot] += int(same[0] + opp[1])
            rec.counts[dep] += int(same[1] + opp[0])
            rec.agree[pot] += int(same[2] + opp[3])
            rec.agree[dep] += int(same[4] + opp[5])

    # -- results ---------------------------------------------------------------------------
    def summary(self, by: tuple[str, ...] = ("layer", "unit_type")) -> list[dict]:
        """Totals over all recorded steps, one dict per group (:func:`summarise`)."""
        return summarise(self.records, by)


def summarise(records: Sequence[StepRecord], by: tuple[str, ...] = ("layer", "unit_type")
              ) -> list[dict]:
    """Totals of ``records`` (:class:`StepRecord`), one dict per group.

    Parameters
    ----------
    by : tuple of str
        Record fields to group by: ``("layer", "unit_type")`` (default),
        ``("unit_type",)`` to sum over layers, with ``"member"`` for a stack.

    Returns
    -------
    list of dict
        The ``by`` fields, then ``steps``, ``events``, ``counts`` and ``shares``
        keyed by regime label, ``agreement`` (overall) and
        ``agreement_by_regime``, ``normal_fraction``, ``inverted_fraction``,
        ``silent_fraction`` (of unit-samples that received a descent signal).
        NaN where a denominator is 0.
    """
    groups: dict[tuple, list[StepRecord]] = {}
    for rec in records:
        groups.setdefault(tuple(getattr(rec, f) for f in by), []).append(rec)
    out = []
    for key, recs in groups.items():
        counts = {k: sum(r.counts[k] for r in recs) for k in REGIME_LABELS}
        agree = {k: sum(r.agree[k] for r in recs) for k in REGIME_LABELS}
        events = sum(counts.values())
        derivs = {k: sum(getattr(r, k) for r in recs) for k in ("normal", "inverted", "silent")}
        signalled = sum(derivs.values())
        out.append(
            {
                **dict(zip(by, key, strict=True)),
                "steps": len({r.step for r in recs}),
                "events": events,
                "counts": counts,
                "shares": {k: _ratio(v, events) for k, v in counts.items()},
                "agreement": _ratio(sum(agree.values()), events),
                "agreement_by_regime": {k: _ratio(agree[k], counts[k]) for k in REGIME_LABELS},
                **{f"{k}_fraction": _ratio(v, signalled) for k, v in derivs.items()},
            }
        )
    return out


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")
