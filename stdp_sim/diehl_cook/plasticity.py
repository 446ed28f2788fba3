"""The trace rules of the input synapses, their mirror, and which synapse follows which.

Diehl & Cook's rule (their code, ``eqs_stdp_ee``; ``docs/reference.md``): every input
synapse keeps a presynaptic trace ``x`` (τ 20 ms) and two postsynaptic traces ``y1``
(τ 20 ms) and ``y2`` (τ 40 ms), each set to 1 at its neuron's spike.  A presynaptic
spike *depresses* by ``nu_pre * y1`` (a pre spike after a post spike: post-pre
depression); a postsynaptic spike *potentiates* by ``nu_post * x * y2`` with ``y2``
read before the spike is counted (pre before post: pre-post potentiation).  Several
Brian2 ports on the web flip the sign of the presynaptic update; the tests check this
one against a spike-by-spike computation.

A :class:`TraceRule` is that rule with signed coefficients: ``on_pre`` is the change a
presynaptic spike makes per unit of ``y1``, ``on_post`` the change a postsynaptic
spike makes per unit of ``x`` (times ``y2`` when ``triplet``).  Its :meth:`~TraceRule.
mirror` swaps the consequences of the two timing orders: a post spike after a pre
spike depresses and a pre spike after a post spike potentiates (temporally-inverted
STDP, the thesis's reading of a NegLU; ``docs/reference.md``, "sign mapping").  Any
pair rule of :mod:`stdp_sim.rule` (a preset) converts with :meth:`TraceRule.from_stdp_rule`.

Weights stay within ``[0, w_max]`` under every rule, and the normalisation before each
image rescales every neuron's incoming weights to sum to 78 whatever rule they follow.
For a mirrored neuron that matters: its rule's mean drift is *negative* for correlated
input (potentiation of inputs that fire after it, depression of those that drive it),
so without normalisation its driving weights would fall; the rescaling turns that
drift into a redistribution at a constant total: the inputs that made it fire lose
weight relative to the others (proportionally, so a weight driven to zero stays at
zero).  The mirror keeps the original's 100:1 ratio of the two amplitudes (now +1e-4
per presynaptic and −1e-2 per postsynaptic spike).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from brian2 import ms

from stdp_sim import _checks
from stdp_sim.diehl_cook.parameters import quantity_field
from stdp_sim.regime import Regime, classify

__all__ = ["TraceRule", "DIEHL_COOK_RULE", "RuleAssignment", "assign_rules", "mixed_rule",
           "UPDATE_REGIMES"]

#: The four kinds of applied update the network counts, as (name, regime): a
#: postsynaptic spike's update pairs it with earlier presynaptic spikes (Δt = t_pre −
#: t_post < 0, the pre-post side), a presynaptic spike's update with earlier
#: postsynaptic ones (Δt > 0); the regime is stdp_sim's own classification.
UPDATE_REGIMES: tuple[tuple[str, Regime], ...] = tuple(
    (name, classify(integral, sign))
    for name, integral, sign in (
        ("prepost_pot", -1.0, 1.0),
        ("prepost_dep", -1.0, -1.0),
        ("postpre_pot", 1.0, 1.0),
        ("postpre_dep", 1.0, -1.0),
    )
)


@dataclass(frozen=True)
class TraceRule:
    """A trace-based rule of one input synapse.

    Parameters
    ----------
    on_pre : float
        Signed weight change of a presynaptic spike per unit of the postsynaptic
        trace ``y1`` (post-pre side; Diehl & Cook: −1e-4).
    on_post : float
        Signed weight change of a postsynaptic spike per unit of the presynaptic
        trace ``x`` (pre-post side; Diehl & Cook: +1e-2).
    tau_x, tau_y1, tau_y2 : Quantity
        Time constants of the presynaptic trace and the two postsynaptic traces.
    triplet : bool
        Whether a postsynaptic spike's change is also multiplied by ``y2`` before
        the spike (Diehl & Cook: yes; a pair rule: no).
    nearest : bool
        Traces set to 1 at a spike (nearest-spike, Diehl & Cook) or increased by 1
        (all-to-all).
    multiplicative : bool
        Soft bounds: a potentiation is scaled by ``(w_max - w)/w_max``, a depression
        by ``w/w_max``.
    name : str
        Label used in tables and result files.
    """

    on_pre: float
    on_post: float
    tau_x: object = quantity_field(20 * ms)
    tau_y1: object = quantity_field(20 * ms)
    tau_y2: object = quantity_field(40 * ms)
    triplet: bool = True
    nearest: bool = True
    multiplicative: bool = False
    name: str = "custom"

    def __post_init__(self):
        _checks.finite_float(self.on_pre, "on_pre")
        _checks.finite_float(self.on_post, "on_post")
        for name in ("tau_x", "tau_y1", "tau_y2"):
            _checks.time_scalar(getattr(self, name), name)

    def mirror(self) -> TraceRule:
        """The temporally-inverted rule: both timing orders change sign."""
        name = self.name[:-len("_mirror")] if self.name.endswith("_mirror") \
            else f"{self.name}_mirror"
        return replace(self, on_pre=-self.on_pre, on_post=-self.on_post, name=name)

    @classmethod
    def from_stdp_rule(cls, rule) -> TraceRule:
        """A pair rule of :mod:`stdp_sim.rule` (e.g. a preset) as a trace rule:
        ``on_post = a_pre_post`` with ``tau_x = tau_pre_post``, ``on_pre = a_post_pre``
        with ``tau_y1 = tau_post_pre``, no triplet factor, its pairing and weight
        dependence kept."""
        if rule.pairing not in ("all-to-all", "nearest", "nearest-symmetric"):
            raise ValueError(f"pairing {rule.pairing!r} of rule {rule.name!r} has no trace "
                             f"form here; use 'all-to-all' or 'nearest'")
        if getattr(rule, "a3_pre_post", 0.0) or getattr(rule, "a3_post_pre", 0.0):
            raise ValueError(f"rule {rule.name!r} has triplet terms, which the digit "
                             f"network's trace rule does not carry; use a pair rule")
        if rule.weight_dependence not in ("additive", "multiplicative"):
            raise ValueError(f"weight dependence {rule.weight_dependence!r} of rule "
                             f"{rule.name!r} is not offered by the digit network; use "
                             f"'additive' or 'multiplicative'")
        return cls(on_pre=rule.a_post_pre, on_post=rule.a_pre_post, tau_x=rule.tau_pre_post,
                   tau_y1=rule.tau_post_pre, tau_y2=rule.tau_post_pre, triplet=False,
                   nearest=rule.pairing != "all-to-all",
                   multiplicative=rule.weight_dependence == "multiplicative", name=rule.name)

    def regimes(self) -> tuple[Regime | None, Regime | None]:
        """(pre-post regime, post-pre regime) of this rule's two updates."""
        return classify(-1.0, self.on_post), classify(1.0, self.on_pre)

    def as_dict(self) -> dict:
        return {"name": self.name, "on_pre": self.on_pre, "on_post": self.on_post,
                "tau_x_ms": float(self.tau_x / ms), "tau_y1_ms": float(self.tau_y1 / ms),
                "tau_y2_ms": float(self.tau_y2 / ms), "triplet": self.triplet,
                "nearest": self.nearest, "multiplicative": self.multiplicative}


#: Diehl & Cook's rule: ν_pre = 1e-4 (depression per presynaptic spike), ν_post = 1e-2.
DIEHL_COOK_RULE = TraceRule(on_pre=-1e-4, on_post=1e-2, name="diehl_cook")


def mixed_rule(name: str) -> TraceRule:
    """The rule a share of the network follows, by name: ``"mirror"`` (Diehl & Cook's
    rule temporally inverted), ``"diehl_cook"``, or any preset of :mod:`stdp_sim.rule`
    (``"anti_hebbian"``, ``"potentiation_only"``, ...), converted by
    :meth:`TraceRule.from_stdp_rule`."""
    if name == "mirror":
        return DIEHL_COOK_RULE.mirror()
    if name == "diehl_cook":
        return DIEHL_COOK_RULE
    from stdp_sim.rule import PRESETS

    if name not in PRESETS:
        raise ValueError(f"mixed-in rule must be 'mirror', 'diehl_cook' or a preset "
                         f"({', '.join(PRESETS)}); got {name!r}")
    return TraceRule.from_stdp_rule(PRESETS[name])


@dataclass(frozen=True)
class RuleAssignment:
    """Which input synapse follows which rule.

    ``mixed`` is a boolean array of shape ``(n_input, n_exc)`` (synapse from input
    ``i`` to neuron ``j``): ``True`` where the mixed-in rule applies.  ``neurons``
    marks the neurons all of whose synapses follow it (``by="neuron"``), or is all
    ``False`` for a per-synapse share.
    """

    base: TraceRule
    other: TraceRule
    share: float
    by: str
    mixed: np.ndarray
    neurons: np.ndarray

    @property
    def n_mixed(self) -> int:
        return int(self.mixed.sum())


def assign_rules(n_input: int, n_exc: int, share: float, *, by: str = "neuron",
                 seed: int = 0, base: TraceRule = DIEHL_COOK_RULE,
                 other: TraceRule | None = None) -> RuleAssignment:
    """Choose, once per seed, which neurons (or synapses) follow ``other``.

    Exactly ``round(share * n)`` of the ``n`` neurons (``by="neuron"``) or synapses
    (``by="synapse"``) are chosen, uniformly, by a generator seeded with ``seed``;
    share 0 chooses none (the plain network), share 1 all.  Like MixLU's fixed mask,
    the choice never changes during training.

    ``other`` defaults to the mirror of ``base``.
    """
    if not isinstance(share, int | float) or isinstance(share, bool) \
            or not 0.0 <= float(share) <= 1.0:
        raise ValueError(f"share must be a fraction in [0, 1], got {share!r}")
    if by not in ("neuron", "synapse"):
        raise ValueError(f"by must be 'neuron' or 'synapse', got {by!r}")
    other = base.mirror() if other is None else other
    rng = np.random.default_rng([int(seed), 0x5D1C])
    neurons = np.zeros(n_exc, dtype=bool)
    mixed = np.zeros((n_input, n_exc), dtype=bool)
    if by == "neuron":
        chosen = rng.permutation(n_exc)[:int(round(share * n_exc))]
        neurons[chosen] = True
        mixed[:, neurons] = True
    else:
        flat = mixed.reshape(-1)
        flat[rng.permutation(flat.size)[:int(round(share * flat.size))]] = True
    return RuleAssignment(base=base, other=other, share=float(share), by=by, mixed=mixed,
                          neurons=neurons)
