"""Spike pairing schemes: which presynaptic and postsynaptic spikes form a pair.

The four schemes of NEST (Morrison, Diesmann & Gerstner 2008, Fig. 7; NEST's
``stdp_synapse``, ``stdp_nn_symm_synapse``, ``stdp_nn_pre_centered_synapse`` and
``stdp_nn_restr_synapse``), as the ``pairing`` parameter of :class:`stdp_sim.STDPRule`.
Every scheme is the same trace equations with different flags (:class:`PairingScheme`;
the equations are written once, in :mod:`stdp_sim.rule`).

Sign convention: ``delta_t = t_pre - t_post``.  Spikes are taken in time order; at
equal times the presynaptic spike comes first (Brian2 runs the ``pre`` pathway before
the ``post`` pathway within a time step).  A pair whose presynaptic spike comes first
(``delta_t <= 0``) changes the weight by ``a_pre_post·exp(delta_t/tau_pre_post)`` when
the postsynaptic spike arrives; a pair whose postsynaptic spike comes first
(``delta_t > 0``) by ``a_post_pre·exp(-delta_t/tau_post_pre)`` when the presynaptic spike
arrives.

``"all-to-all"``
    Every presynaptic spike pairs with every postsynaptic spike.  Coincident spikes
    (``delta_t == 0``) form a pre-post pair (this toolkit's convention, the regime
    table's ``∫Δt <= 0``).
``"nearest-symmetric"`` (alias ``"nearest"``)
    A presynaptic spike pairs with the last postsynaptic spike before it; a
    postsynaptic spike pairs with the last presynaptic spike before it, or at the same
    time.  Each spike therefore pairs at most once on each side, but one spike can be
    the partner of several spikes of the other neuron.
``"nearest-pre-centered"``
    Depression as ``"nearest-symmetric"``; a postsynaptic spike pairs with *every*
    presynaptic spike since the previous postsynaptic spike (Izhikevich & Desai 2003;
    the presynaptic trace is reset at each postsynaptic spike).
``"nearest-restricted"``
    Only neighbouring spikes pair: a presynaptic spike pairs with the last
    postsynaptic spike if no presynaptic spike came between them (nor at its time), a
    postsynaptic spike with the last presynaptic spike if no postsynaptic spike came
    between them.  Each spike joins at most one pair on each side and no spike is the
    partner of two.

In the three nearest schemes a pair with ``delta_t == 0`` is discarded, as in NEST:
coincident spikes change nothing, and the postsynaptic spike does not pair with an
earlier presynaptic spike instead.  In ``"nearest-restricted"`` the discarded pair
still uses up both spikes (NEST's reference walk, ``t_previous_post > t_previous_pre``,
is false at equal times), so neither spike pairs with a later one.

Reference implementation: ``tests/test_pairing_schemes.py`` checks the Brian2
equations of every scheme against a plain walk over the spike history (no traces), as
NEST's ``testsuite/pytests/synapses/test_stdp_nn_synapses.py`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PairingScheme", "PAIRING_SCHEMES", "PAIRING_ALIASES", "PAIRINGS", "pairing_scheme"]


@dataclass(frozen=True)
class PairingScheme:
    """One pairing scheme as the flags of the shared trace equations.

    Each pair trace is set to ``trace*accumulate + 1`` at a spike of its own neuron
    (``accumulate = 1``: the trace sums all spikes; ``0``: it holds only the last one),
    and set to 0 after a spike of the other neuron has used it when ``consumed``.

    Attributes
    ----------
    name : str
        The ``pairing`` value of :class:`stdp_sim.STDPRule`.
    accumulate_pre, accumulate_post : int
        1 if the presynaptic (postsynaptic) pair trace sums over spikes.
    consume_pre : int
        1 if a postsynaptic spike resets the presynaptic trace after pairing with it.
    consume_post : int
        1 if a presynaptic spike resets the postsynaptic trace after pairing with it.
    discard_zero : int
        1 if pairs with ``delta_t == 0`` are discarded (NEST's nearest schemes).
    nest_model : str
        The NEST synapse model with this scheme.
    doc : str
        Which spikes pair (also the object's ``__doc__``).
    """

    name: str
    accumulate_pre: int
    accumulate_post: int
    consume_pre: int
    consume_post: int
    discard_zero: int
    nest_model: str
    doc: str = field(repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "__doc__", self.doc)

    @property
    def nearest(self) -> bool:
        """True for the three nearest-spike schemes."""
        return self.name != "all-to-all"

    def flags(self) -> dict[str, int]:
        """The flags by the names of the per-synapse constants of
        :func:`stdp_sim.rule.generic_equations`."""
        return {
            "keep_apre": self.accumulate_pre,
            "keep_apost": self.accumulate_post,
            "reset_apre": self.consume_pre,
            "reset_apost": self.consume_post,
            "discard_zero": self.discard_zero,
        }


PAIRING_SCHEMES: dict[str, PairingScheme] = {
    s.name: s
    for s in (
        PairingScheme(
            "all-to-all", 1, 1, 0, 0, 0, "stdp_synapse",
            doc="Every presynaptic spike pairs with every postsynaptic spike; coincident "
            "spikes form a pre-post pair (delta_t = 0 counts as pre-post).",
        ),
        PairingScheme(
            "nearest-symmetric", 0, 0, 0, 0, 1, "stdp_nn_symm_synapse",
            doc="A presynaptic spike pairs with the last postsynaptic spike before it, a "
            "postsynaptic spike with the last presynaptic spike before it or at its time; "
            "a pair with delta_t = 0 is discarded.",
        ),
        PairingScheme(
            "nearest-pre-centered", 1, 0, 1, 0, 1, "stdp_nn_pre_centered_synapse",
            doc="A presynaptic spike pairs with the last postsynaptic spike before it; a "
            "postsynaptic spike pairs with every presynaptic spike since the previous "
            "postsynaptic spike (Izhikevich & Desai 2003); pairs with delta_t = 0 are "
            "discarded.",
        ),
        PairingScheme(
            "nearest-restricted", 0, 0, 1, 1, 1, "stdp_nn_restr_synapse",
            doc="Only neighbouring spikes pair: a presynaptic spike with the last "
            "postsynaptic spike if no presynaptic spike came between them or at its "
            "time, a postsynaptic spike with the last presynaptic spike if no "
            "postsynaptic spike came between them; a pair with delta_t = 0 is discarded "
            "but uses up both spikes.",
        ),
    )
}  # fmt: skip

#: Other accepted names: ``"nearest"`` (this toolkit's name before the NEST schemes).
PAIRING_ALIASES = {"nearest": "nearest-symmetric"}

#: Every accepted ``pairing`` value: the canonical names, then the aliases.
PAIRINGS = (*PAIRING_SCHEMES, *PAIRING_ALIASES)


def pairing_scheme(name: str) -> PairingScheme:
    """The scheme called ``name`` (an alias resolves to its scheme).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the accepted ones.
    """
    if isinstance(name, PairingScheme):
        return name
    canonical = PAIRING_ALIASES.get(name, name) if isinstance(name, str) else None
    if canonical not in PAIRING_SCHEMES:
        listed = ", ".join(repr(p) for p in PAIRINGS)
        raise ValueError(f"pairing must be one of {listed}, got {name!r}")
    return PAIRING_SCHEMES[canonical]
