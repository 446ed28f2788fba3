"""One parametrised STDP rule (pair or triplet), its Brian2 equations, and the presets.

Sign convention (the whole toolkit): ``delta_t = t_pre - t_post``.  Both amplitudes
are the *signed* weight change per pairing, whatever the regime: ``a_pre_post`` for
a pairing where the presynaptic spike comes first (``delta_t < 0``; also
``delta_t == 0``, see below), ``a_post_pre`` for one where the postsynaptic spike
comes first (``delta_t > 0``).  No code path flips a sign: a depressing side simply
has a negative amplitude.  (Some toolkits store a positive depression amplitude and
subtract it inside the update; mixing the two conventions is the classic STDP bug.)
The triplet amplitudes follow the same rule: Pfister & Gerstner's positive ``A3-``
is a negative ``a3_post_pre`` here (:func:`triplet_rule` converts their parameters,
:mod:`stdp_sim.triplet` holds the published sets).

Every variant — the four pairing schemes of :mod:`stdp_sim.pairing`, the triplet
terms, the three weight dependences — comes from ONE equation template
(:func:`_equations`): for a single rule its flags are folded into the strings
(:meth:`STDPRule.equations`), for many rules in one ``Synapses`` object they are
per-synapse constants (:func:`generic_equations`).
"""

from __future__ import annotations

import numpy as np
from brian2 import Quantity, Synapses, ms

from stdp_sim import _checks
from stdp_sim.pairing import PAIRING_SCHEMES, PAIRINGS, PairingScheme, pairing_scheme
from stdp_sim.regime import Regime
from stdp_sim.triplet import (
    TRIPLET_PARAMETERS,
    TRIPLET_W_BOUNDS,
    TRIPLET_W_INIT,
    triplet_parameters,
)

__all__ = [
    "STDPRule",
    "PRESETS",
    "PAIR_PRESETS",
    "TRIPLET_PRESETS",
    "triplet_rule",
    "preset",
    "preset_names",
    "all_presets",
    "WEIGHT_DEPENDENCES",
    "PAIRINGS",
    "TAU_PLUS_BI_POO",
    "TAU_MINUS_BI_POO",
    "TAU_SONG",
    "A_PLUS",
    "PairingScheme",
    "generic_equations",
    "generic_parameters",
    "GENERIC_PARAMETERS",
]

WEIGHT_DEPENDENCES = ("additive", "multiplicative", "power")
FORMULATIONS = ("event-driven", "explicit")
#: Exponent ``mu`` that each weight dependence implies (``"power"`` takes it as given).
_IMPLIED_MU = {"additive": 0.0, "multiplicative": 1.0}


class STDPRule:
    r"""A spike-timing-dependent plasticity rule with signed amplitudes.

    The analytic learning window of one isolated pairing, with
    ``delta_t = t_pre - t_post``:

    .. math::

        W(\Delta t) = \begin{cases}
            a_\text{pre-post}\, e^{\Delta t / \tau_\text{pre-post}} & \Delta t \le 0 \\
            a_\text{post-pre}\, e^{-\Delta t / \tau_\text{post-pre}} & \Delta t > 0
        \end{cases}

    With the triplet terms of Pfister & Gerstner (2006), with traces ``r1`` (presynaptic,
    ``tau_pre_post``), ``r2`` (presynaptic, ``tau_x``), ``o1`` (postsynaptic,
    ``tau_post_pre``), ``o2`` (postsynaptic, ``tau_y``), each spike changes the weight
    by (``ε``: just before the spike's own traces are incremented)

    .. math::

        \text{post spike: } \Delta w = r_1\,(a_\text{pre-post} + a^{(3)}_\text{pre-post}\,
            o_2(t-\epsilon)), \qquad
        \text{pre spike: } \Delta w = o_1\,(a_\text{post-pre} + a^{(3)}_\text{post-pre}\,
            r_2(t-\epsilon))

    so the pair rule is the case ``a3_pre_post = a3_post_pre = 0``.

    **Sign convention.**  ``a_pre_post`` and ``a_post_pre`` are both the signed weight
    change produced by one pairing (at ``|delta_t| -> 0``): positive potentiates,
    negative depresses, for either order.  The classic Hebbian rule has
    ``a_pre_post > 0`` and ``a_post_pre < 0``; its mirror (anti-Hebbian) the opposite.
    Coincident spikes (``delta_t == 0``) count as pre-post under ``"all-to-all"``:
    Brian2 runs the ``pre`` pathway before the ``post`` pathway within a time step, so
    the presynaptic trace is already incremented when the postsynaptic spike reads it,
    and the postsynaptic trace is not yet incremented when the presynaptic spike reads
    it.  This matches the regime table's ``∫Δt <= 0`` rule.  The nearest-spike schemes
    discard a pair with ``delta_t == 0``, as NEST does (:mod:`stdp_sim.pairing`).

    Parameters
    ----------
    a_pre_post : float
        Signed weight change per pre-before-post pairing (dimensionless weight units);
        Pfister & Gerstner's ``A2+``.
    a_post_pre : float
        Signed weight change per post-before-pre pairing; ``-A2-``.
    tau_pre_post : Quantity, default 16.8 ms
        Time constant of the pre-before-post side (the presynaptic trace ``r1``; τ+).
    tau_post_pre : Quantity, default 33.7 ms
        Time constant of the post-before-pre side (the postsynaptic trace ``o1``; τ-).
    weight_dependence : {"additive", "multiplicative", "power"}, default "additive"
        Scale of each update.  ``"additive"``: the amplitude times the trace, then
        clipped to ``[w_min, w_max]``.  ``"multiplicative"`` (soft bounds,
        weight-dependent): a potentiating update is scaled by
        ``(w_max - w) / (w_max - w_min)`` and a depressing one by
        ``(w - w_min) / (w_max - w_min)``, so the amplitudes are the change of a weight
        sitting at the opposite bound (van Rossum, Bi & Turrigiano 2000 use this form
        for depression; here it applies to both signs).  Weights then approach the
        bounds without crossing them as long as each single update is smaller than
        ``w_max - w_min``; the result is clipped as well.  ``"power"`` (Gütig et al.
        2003): the same factors raised to the power ``mu``, which interpolates between
        additive (``mu = 0``) and multiplicative (``mu = 1``).
    w_min, w_max : float, default 0.0, 1.0
        Weight bounds, ``w_min < w_max``.
    w_init : float, default 0.5
        Initial weight of every synapse, within the bounds.
    pairing : str, default "all-to-all"
        Which spikes pair: ``"all-to-all"``, ``"nearest-symmetric"`` (alias
        ``"nearest"``), ``"nearest-pre-centered"`` or ``"nearest-restricted"``, NEST's
        four schemes; see :mod:`stdp_sim.pairing` for which spikes pair in each.  The
        rule stores the canonical name (``"nearest"`` becomes ``"nearest-symmetric"``).
        The triplet traces ``r2``, ``o2`` sum over spikes under ``"all-to-all"`` and
        hold only the last spike under the nearest schemes (Pfister & Gerstner's
        nearest-spike model); they are never reset by the other neuron.
    name : str, default "custom"
        Label used in tables.
    mu : float, optional
        Exponent of ``"power"`` weight dependence, in ``[0, 1]``; required there.  The
        other weight dependences imply it (0 additive, 1 multiplicative), and a
        contradicting value raises ``ValueError``.
    a3_pre_post, a3_post_pre : float, default 0.0
        Signed triplet amplitudes (``A3+`` and ``-A3-`` of Pfister & Gerstner 2006):
        the extra change per pre-before-post pairing per unit of the postsynaptic
        trace ``o2``, and per post-before-pre pairing per unit of ``r2``.
    tau_x : Quantity, optional
        Time constant of the presynaptic triplet trace ``r2``; required when
        ``a3_post_pre != 0``.
    tau_y : Quantity, optional
        Time constant of the postsynaptic triplet trace ``o2``; required when
        ``a3_pre_post != 0``.

    Examples
    --------
    >>> from brian2 import ms
    >>> rule = preset("hebbian")
    >>> float(rule.window(-10 * ms)) > 0 > float(rule.window(10 * ms))
    True
    >>> rule.regime("post-pre").label
    'post-pre depression'
    >>> rule.replace(pairing="nearest").pairing
    'nearest-symmetric'
    """

    _FIELDS = (
        "a_pre_post",
        "a_post_pre",
        "tau_pre_post",
        "tau_post_pre",
        "weight_dependence",
        "w_min",
        "w_max",
        "w_init",
        "pairing",
        "name",
        "mu",
        "a3_pre_post",
        "a3_post_pre",
        "tau_x",
        "tau_y",
    )

    def __init__(
        self,
        a_pre_post: float,
        a_post_pre: float,
        tau_pre_post: Quantity = 16.8 * ms,
        tau_post_pre: Quantity = 33.7 * ms,
        weight_dependence: str = "additive",
        w_min: float = 0.0,
        w_max: float = 1.0,
        w_init: float = 0.5,
        pairing: str = "all-to-all",
        name: str = "custom",
        *,
        mu: float | None = None,
        a3_pre_post: float = 0.0,
        a3_post_pre: float = 0.0,
        tau_x: Quantity | None = None,
        tau_y: Quantity | None = None,
    ):
        self.a_pre_post = _checks.finite_float(a_pre_post, "a_pre_post")
        self.a_post_pre = _checks.finite_float(a_post_pre, "a_post_pre")
        self.tau_pre_post = _checks.time_scalar(tau_pre_post, "tau_pre_post")
        self.tau_post_pre = _checks.time_scalar(tau_post_pre, "tau_post_pre")
        self.weight_dependence = _checks.choice(
            weight_dependence, "weight_dependence", WEIGHT_DEPENDENCES
        )
        self.mu = _mu(mu, self.weight_dependence)
        self.pairing = pairing_scheme(pairing).name
        self.a3_pre_post = _checks.finite_float(a3_pre_post, "a3_pre_post")
        self.a3_post_pre = _checks.finite_float(a3_post_pre, "a3_post_pre")
        self.tau_x = None if tau_x is None else _checks.time_scalar(tau_x, "tau_x")
        self.tau_y = None if tau_y is None else _checks.time_scalar(tau_y, "tau_y")
        for amplitude, tau in (("a3_post_pre", "tau_x"), ("a3_pre_post", "tau_y")):
            if getattr(self, amplitude) != 0 and getattr(self, tau) is None:
                raise ValueError(
                    f"{tau} must be given (a time, e.g. 100*ms) when {amplitude} != 0, "
                    f"got {amplitude}={getattr(self, amplitude)!r} and {tau}=None"
                )
        w_min = _checks.finite_float(w_min, "w_min")
        w_max = _checks.finite_float(w_max, "w_max")
        w_init = _checks.finite_float(w_init, "w_init")
        if not w_min < w_max:
            raise ValueError(f"w_min must be below w_max, got w_min={w_min!r}, w_max={w_max!r}")
        if not w_min <= w_init <= w_max:
            raise ValueError(
                f"w_init must lie in [w_min, w_max] = [{w_min}, {w_max}], got {w_init!r}"
            )
        self.w_min, self.w_max, self.w_init = w_min, w_max, w_init
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self.name = name
        self._frozen = True

    def __setattr__(self, key, value):
        if getattr(self, "_frozen", False):
            raise AttributeError(f"STDPRule is immutable; use rule.replace({key}=...)")
        object.__setattr__(self, key, value)

    # ------------------------------------------------------------------ structure
    @property
    def scheme(self) -> PairingScheme:
        """The :class:`~stdp_sim.pairing.PairingScheme` of :attr:`pairing`."""
        return PAIRING_SCHEMES[self.pairing]

    @property
    def is_triplet(self) -> bool:
        """True if a triplet amplitude is non-zero."""
        return self.a3_pre_post != 0 or self.a3_post_pre != 0

    @property
    def time_constants(self) -> tuple[Quantity, ...]:
        """Every time constant the rule's dynamics use (the triplet ones if set)."""
        taus = [self.tau_pre_post, self.tau_post_pre]
        taus += [tau for tau in (self.tau_x, self.tau_y) if tau is not None]
        return tuple(taus)

    # ------------------------------------------------------------------ analytics
    def window(self, delta_t, w=None) -> np.ndarray:
        """The analytic weight change of one isolated pairing at ``delta_t``.

        Isolated: no earlier spike left anything in the traces, so the triplet terms
        (which need an earlier spike of the same neuron) contribute nothing.

        Parameters
        ----------
        delta_t : Quantity
            ``t_pre - t_post``, scalar or array, with time units.  ``0`` counts as
            pre-post under ``"all-to-all"`` and gives 0 under the nearest schemes
            (the pair is discarded; see the class docstring).
        w : float, optional
            Weight before the pairing, used by the ``"multiplicative"`` and ``"power"``
            rules; default ``w_init``.  The additive window ignores it (and clipping).

        Returns
        -------
        numpy.ndarray
            Dimensionless weight change, same shape as ``delta_t``.
        """
        if not isinstance(delta_t, Quantity):
            raise ValueError(f"delta_t must carry time units (e.g. 10*ms), got {delta_t!r}")
        _checks._quantity(delta_t, "delta_t", ms, "time", "10*ms")
        dt_s = np.asarray(delta_t, dtype=float)
        pre_first = dt_s <= 0
        tau_pp = float(self.tau_pre_post)
        tau_qp = float(self.tau_post_pre)
        with np.errstate(over="ignore"):
            raw = np.where(
                pre_first,
                self.a_pre_post * np.exp(np.minimum(dt_s, 0.0) / tau_pp),
                self.a_post_pre * np.exp(-np.maximum(dt_s, 0.0) / tau_qp),
            )
        if self.scheme.discard_zero:
            raw = np.where(dt_s == 0, 0.0, raw)
        if self.weight_dependence != "additive":
            w = self.w_init if w is None else _checks.finite_float(w, "w")
            raw = raw * self.soft_bound_factor(raw, w)
        return raw

    def soft_bound_factor(self, change, w):
        """Scale of a raw change ``change`` at weight ``w`` under this weight dependence.

        ``((w_max - w) / (w_max - w_min))**mu`` for potentiation (``change > 0``),
        ``((w - w_min) / (w_max - w_min))**mu`` otherwise; ``mu = 1`` for
        ``"multiplicative"``, 0 (factor 1) for ``"additive"``.  Works element-wise.
        """
        span = self.w_max - self.w_min
        factor = np.where(
            np.asarray(change) > 0, (self.w_max - w) / span, (w - self.w_min) / span
        )
        if self.mu == 1.0:
            return factor
        return np.power(np.maximum(factor, 0.0), self.mu)

    @property
    def window_integral(self) -> Quantity:
        """``∫ W(Δt) dΔt = a_pre_post·tau_pre_post + a_post_pre·tau_post_pre`` (additive).

        Zero for a *balanced* window: uncorrelated spike trains then cause no drift
        (for a pair rule; triplet terms add rate-dependent drift).
        """
        return self.a_pre_post * self.tau_pre_post + self.a_post_pre * self.tau_post_pre

    @property
    def window_first_moment(self) -> Quantity:
        """``∫ Δt·W(Δt) dΔt = -a_pre_post·tau_pre_post² + a_post_pre·tau_post_pre²``.

        Sets the response to a changing postsynaptic rate (see
        :mod:`stdp_sim.rate_ramp`): negative for Hebbian windows.
        """
        return -self.a_pre_post * self.tau_pre_post**2 + self.a_post_pre * self.tau_post_pre**2

    def regime(self, timing: str) -> Regime | None:
        """The regime this rule produces for isolated pairings of one timing side.

        Decided by the sign of the pair amplitude (``a_pre_post`` or ``a_post_pre``),
        like the window at low pairing rates.  A triplet rule can change regime as the
        pairing rate grows (its triplet terms need a recent spike of the same neuron):
        ``experiments/stdp_table.py`` measures that (its frequency table).

        Parameters
        ----------
        timing : {"pre-post", "post-pre"}

        Returns
        -------
        Regime or None
            ``None`` if that side's amplitude is zero.
        """
        _checks.choice(timing, "timing", ("pre-post", "post-pre"))
        amplitude = self.a_pre_post if timing == "pre-post" else self.a_post_pre
        if amplitude == 0:
            return None
        return Regime.from_parts(timing, "potentiation" if amplitude > 0 else "depression")

    @property
    def regimes(self) -> tuple[Regime | None, Regime | None]:
        """``(regime for pre-post pairings, regime for post-pre pairings)``."""
        return self.regime("pre-post"), self.regime("post-pre")

    def replace(self, **changes) -> STDPRule:
        """A copy with some fields changed (validated again).

        Changing ``weight_dependence`` without giving ``mu`` drops the old exponent
        (``"power"`` then needs a new one).
        """
        unknown = set(changes) - set(self._FIELDS)
        if unknown:
            raise ValueError(f"replace got unknown field(s) {sorted(unknown)!r}")
        fields = {key: getattr(self, key) for key in self._FIELDS}
        if self.weight_dependence != "power" or "weight_dependence" in changes:
            fields["mu"] = None
        fields.update(changes)
        return STDPRule(**fields)

    def as_dict(self) -> dict:
        """Plain-Python description (time constants in ms), for JSON output.

        The keys of the pair rule come first, as published; ``mu``, the triplet
        amplitudes and ``tau_x_ms``/``tau_y_ms`` (``None`` when not set) were added.
        """
        return {
            "name": self.name,
            "a_pre_post": self.a_pre_post,
            "a_post_pre": self.a_post_pre,
            "tau_pre_post_ms": float(self.tau_pre_post / ms),
            "tau_post_pre_ms": float(self.tau_post_pre / ms),
            "weight_dependence": self.weight_dependence,
            "w_min": self.w_min,
            "w_max": self.w_max,
            "w_init": self.w_init,
            "pairing": self.pairing,
            "mu": self.mu,
            "a3_pre_post": self.a3_pre_post,
            "a3_post_pre": self.a3_post_pre,
            "tau_x_ms": None if self.tau_x is None else float(self.tau_x / ms),
            "tau_y_ms": None if self.tau_y is None else float(self.tau_y / ms),
        }

    @classmethod
    def from_dict(cls, data: dict) -> STDPRule:
        """The rule of an :meth:`as_dict` description (``rules`` of ``stdp_table.json``).

        Reads older documents too: keys added later take their defaults, and the
        pairing ``"nearest"`` is read as ``"nearest-symmetric"``.
        """

        def time(key):
            value = data.get(key)
            return None if value is None else value * ms

        weight_dependence = data.get("weight_dependence", "additive")
        return cls(
            data["a_pre_post"],
            data["a_post_pre"],
            time("tau_pre_post_ms"),
            time("tau_post_pre_ms"),
            weight_dependence,
            data.get("w_min", 0.0),
            data.get("w_max", 1.0),
            data.get("w_init", 0.5),
            data.get("pairing", "all-to-all"),
            data.get("name", "custom"),
            mu=data.get("mu") if weight_dependence == "power" else None,
            a3_pre_post=data.get("a3_pre_post", 0.0),
            a3_post_pre=data.get("a3_post_pre", 0.0),
            tau_x=time("tau_x_ms"),
            tau_y=time("tau_y_ms"),
        )

    def __eq__(self, other):
        if not isinstance(other, STDPRule):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __hash__(self):
        return hash(tuple(sorted(self.as_dict().items())))

    def __repr__(self):
        text = (
            f"STDPRule(name={self.name!r}, a_pre_post={self.a_pre_post:g}, "
            f"a_post_pre={self.a_post_pre:g}, tau_pre_post={self.tau_pre_post!s}, "
            f"tau_post_pre={self.tau_post_pre!s}, weight_dependence={self.weight_dependence!r}, "
            f"w_min={self.w_min:g}, w_max={self.w_max:g}, w_init={self.w_init:g}, "
            f"pairing={self.pairing!r}"
        )
        if self.weight_dependence == "power":
            text += f", mu={self.mu:g}"
        if self.is_triplet or self.tau_x is not None or self.tau_y is not None:
            text += (
                f", a3_pre_post={self.a3_pre_post:g}, a3_post_pre={self.a3_post_pre:g}, "
                f"tau_x={self.tau_x!s}, tau_y={self.tau_y!s}"
            )
        return text + ")"

    # ------------------------------------------------------------------ Brian2
    @property
    def namespace(self) -> dict:
        """The constants the equation strings refer to.

        Brian2 reserves the suffixes ``_pre``/``_post`` for references to the source
        and target groups, so inside equations the amplitudes are called
        ``A_prepost`` (= ``a_pre_post``) and ``A_postpre`` (= ``a_post_pre``), the time
        constants ``tau_prepost`` and ``tau_postpre``; a triplet rule adds
        ``A3_prepost``, ``A3_postpre``, ``tau_x``, ``tau_y``, a ``"power"`` rule
        ``mu``.
        """
        space = {
            "A_prepost": self.a_pre_post,
            "A_postpre": self.a_post_pre,
            "tau_prepost": self.tau_pre_post,
            "tau_postpre": self.tau_post_pre,
            "w_min": self.w_min,
            "w_max": self.w_max,
        }
        if self.weight_dependence == "power":
            space["mu"] = self.mu
        if self.is_triplet:
            space.update(
                A3_prepost=self.a3_pre_post,
                A3_postpre=self.a3_post_pre,
                tau_x=self.tau_x if self.tau_x is not None else self.tau_pre_post,
                tau_y=self.tau_y if self.tau_y is not None else self.tau_post_pre,
            )
        return space

    def equations(self, formulation: str = "event-driven") -> dict[str, str]:
        """Brian2 ``model``, ``on_pre`` and ``on_post`` strings for this rule.

        The strings use the weight ``w`` (dimensionless), the traces ``apre`` and
        ``apost`` (and ``apre2``, ``apost2`` for a triplet rule; ``t_lastpre`` to find
        coincident spikes under a nearest scheme) and the constants of
        :attr:`namespace` (pass it as the Synapses ``namespace``, or use
        :meth:`synapses`).

        Parameters
        ----------
        formulation : {"event-driven", "explicit"}, default "event-driven"
            ``"event-driven"`` declares the trace decay as ``(event-driven)``
            differential equations.  ``"explicit"`` stores the traces as plain
            variables and decays them with ``exp(-(t - t_last)/tau)`` at each spike;
            the two must agree (the test suite checks it).  With the four traces of a
            triplet rule, Brian2's exact integrator spends a few seconds in sympy on
            the event-driven form each time a ``Synapses`` object is built; the
            explicit form skips that (:func:`stdp_sim.run_conditions` uses it).

        Returns
        -------
        dict
            Keys ``"model"``, ``"on_pre"``, ``"on_post"``.
        """
        _checks.choice(formulation, "formulation", FORMULATIONS)
        scheme = self.scheme
        mu = {"additive": 0, "multiplicative": 1}.get(self.weight_dependence, "mu")
        return _equations(
            formulation=formulation,
            flags={**scheme.flags(), "keep_trip": int(not scheme.nearest)},
            triplet=self.is_triplet,
            mu=mu,
            pre_side=_Side("A_postpre", self.a_post_pre, "A3_postpre", self.a3_post_pre),
            post_side=_Side("A_prepost", self.a_pre_post, "A3_prepost", self.a3_pre_post),
            parameters="",
        )

    def synapses(
        self,
        source,
        target,
        *,
        model: str = "",
        on_pre: str = "",
        on_post: str = "",
        connect: dict | bool | None = None,
        formulation: str = "event-driven",
        namespace: dict | None = None,
        **kwargs,
    ) -> Synapses:
        """Build a Brian2 ``Synapses`` object between two groups that learns with this rule.

        Parameters
        ----------
        source, target : brian2 Group
            Pre- and postsynaptic groups (any group that emits spikes).
        model, on_pre, on_post : str, default ""
            Extra lines appended to the rule's own strings, e.g.
            ``on_pre="v_post += w*mV"`` to make the weight act on the target.
        connect : dict or bool, optional
            If given, ``Synapses.connect(**connect)`` is called (``True`` means
            ``connect()``, all-to-all) and ``w`` is set to ``w_init``.  Otherwise
            connect the synapses yourself and set ``S.w = rule.w_init``.
        formulation : {"event-driven", "explicit"}, default "event-driven"
            See :meth:`equations`.
        namespace : dict, optional
            Extra names for your own additions; merged with :attr:`namespace`.
        **kwargs
            Passed on to ``brian2.Synapses`` (``name``, ``dt``, ``method``, ...).

        Returns
        -------
        brian2.Synapses
        """
        eqs = self.equations(formulation)
        full_namespace = dict(self.namespace)
        full_namespace.update(namespace or {})
        syn = Synapses(
            source,
            target,
            model=_join(eqs["model"], model),
            on_pre=_join(eqs["on_pre"], on_pre),
            on_post=_join(eqs["on_post"], on_post),
            namespace=full_namespace,
            **kwargs,
        )
        if connect is not None and connect is not False:
            syn.connect(**({} if connect is True else connect))
            syn.w = self.w_init
        return syn


def _mu(mu, weight_dependence: str) -> float:
    """The exponent of ``weight_dependence``: given for ``"power"``, implied otherwise."""
    if weight_dependence == "power":
        if mu is None:
            raise ValueError(
                "weight_dependence='power' needs mu, a number in [0, 1] (Gütig et al. "
                "2003: 0 is additive, 1 multiplicative), got mu=None"
            )
        value = _checks.finite_float(mu, "mu")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"mu must lie in [0, 1], got {mu!r}")
        return value
    implied = _IMPLIED_MU[weight_dependence]
    if mu is not None and _checks.finite_float(mu, "mu") != implied:
        raise ValueError(
            f"mu is only free with weight_dependence='power'; {weight_dependence!r} implies "
            f"mu={implied:g}, got mu={mu!r}"
        )
    return implied


# ---------------------------------------------------------------------- the template
class _Side:
    """The weight update at a spike of one neuron: ``trace·(A + A3·trace2)``.

    ``amplitude``/``amplitude3`` are the names used in the equations; ``value``/``value3``
    the numbers when they are known (one rule), ``None`` when they are per-synapse
    constants (:func:`generic_equations`).
    """

    def __init__(self, amplitude: str, value, amplitude3: str, value3):
        self.amplitude, self.value = amplitude, value
        self.amplitude3, self.value3 = amplitude3, value3

    @property
    def active(self) -> bool:
        return self.value is None or self.value != 0 or self.value3 != 0

    @property
    def has_triplet(self) -> bool:
        return self.value3 is None or self.value3 != 0

    @property
    def sign(self) -> int | None:
        """+1/-1 if every update of this side has that sign (traces are >= 0)."""
        if self.value is None:
            return None
        signs = {np.sign(v) for v in (self.value, self.value3) if v != 0}
        return int(signs.pop()) if len(signs) == 1 else None


def _fold(flag, one: str, zero: str, symbolic: str) -> str:
    """The line for a flag that is 1, 0 or a per-synapse constant's name."""
    if isinstance(flag, str):
        return symbolic
    return one if flag == 1 else zero


def _weight_update(side: _Side, trace: str, trace2: str, mu) -> list[str]:
    """``w = clip(w + change·factor, w_min, w_max)`` lines for one pathway."""
    if not side.active:
        return []
    if side.has_triplet:
        change = f"{trace}*({side.amplitude} + {side.amplitude3}*{trace2})"
    else:
        change = f"{side.amplitude}*{trace}"
    if mu == 0:
        return [f"w = clip(w + {change}, w_min, w_max)"]
    sign = side.sign
    if sign is not None:  # one rule, one sign: the factor is fixed
        factor = "(w_max - w)" if sign > 0 else "(w - w_min)"
        if mu == 1:
            return [f"w = clip(w + {change}*{factor}/(w_max - w_min), w_min, w_max)"]
        return [f"w = clip(w + {change}*({factor}/(w_max - w_min))**{mu}, w_min, w_max)"]
    return [
        f"stdp_dw = {change}",
        "w = clip(w + stdp_dw*((int(stdp_dw > 0)*(w_max - w) + int(stdp_dw <= 0)*(w - w_min))"
        f"/(w_max - w_min))**{mu}, w_min, w_max)",
    ]


def _equations(formulation, flags, triplet, mu, pre_side, post_side, parameters) -> dict:
    """The one template of every rule: pair traces under a pairing scheme, optional
    triplet traces, a weight dependence.

    ``flags`` maps ``keep_apre``, ``keep_apost``, ``reset_apre``, ``reset_apost``,
    ``discard_zero`` (:meth:`stdp_sim.pairing.PairingScheme.flags`) and ``keep_trip``
    (1: the triplet traces sum over spikes) to 0/1, or to the name of a per-synapse
    constant; ``mu`` is 0, 1 or a name.  Known flags are folded, so a pair rule under
    ``"all-to-all"`` gets the plain ``apre += 1`` strings.

    Order within a pathway: the spiking neuron's own pair trace is incremented, the
    weight is updated from the other neuron's pair trace and the own triplet trace
    (still without this spike, Pfister & Gerstner's ``t - ε``), the other pair trace
    is consumed (restricted schemes), the own triplet trace is incremented.
    """
    f = flags
    discard = f["discard_zero"] if isinstance(f["discard_zero"], str) else int(f["discard_zero"])
    model = ["w : 1"]
    traces = [("apre", "tau_prepost"), ("apost", "tau_postpre")]
    if triplet:
        traces += [("apre2", "tau_x"), ("apost2", "tau_y")]
    if formulation == "event-driven":
        model += [f"d{x}/dt = -{x}/{tau} : 1 (event-driven)" for x, tau in traces]
        decay = []
    else:
        model += [f"{x} : 1" for x, _ in traces] + ["t_last : second"]
        decay = [f"{x} = {x}*exp(-(t - t_last)/{tau})" for x, tau in traces] + ["t_last = t"]
    if discard:
        model.append("t_lastpre : second")

    def increment(trace, acc):
        return _fold(acc, f"{trace} += 1", f"{trace} = 1", f"{trace} = {trace}*{acc} + 1")

    def consume(trace, flag):
        return _fold(flag, f"{trace} = 0", "", f"{trace} = {trace}*(1 - {flag})")

    # presynaptic spike: pairs with earlier postsynaptic spikes (never a coincident one)
    on_pre = [*decay, increment("apre", f["keep_apre"])]
    if discard:
        on_pre.append("t_lastpre = t")
    on_pre += _weight_update(pre_side, "apost", "apre2", mu)
    on_pre.append(consume("apost", f["reset_apost"]))
    if triplet:
        on_pre.append(increment("apre2", f["keep_trip"]))

    # postsynaptic spike: pairs with earlier or coincident presynaptic spikes; a
    # coincident one (delta_t = 0) contributes exactly 1 to apre, which the nearest
    # schemes take out again (apre > 0: t_lastpre starts at 0 before any spike)
    on_post = list(decay)
    pre_trace = "apre"
    if discard:
        coincident = "int(t == t_lastpre)*int(apre > 0)"
        if isinstance(discard, str):
            coincident += f"*{discard}"
        on_post.append(f"coincident = {coincident}")
        pre_trace = "(apre - coincident)"
        # restricted: the discarded pair uses up this postsynaptic spike as well
        acc, con = f["keep_apost"], f["reset_apost"]
        if isinstance(acc, str) or isinstance(con, str):
            on_post.append(f"apost = apost*{acc} + 1 - coincident*{con}")
        elif con:
            on_post.append(f"apost = {'apost + ' if acc else ''}1 - coincident")
        else:
            on_post.append(increment("apost", acc))
    else:
        on_post.append(increment("apost", f["keep_apost"]))
    on_post += _weight_update(post_side, pre_trace, "apost2", mu)
    on_post.append(consume("apre", f["reset_apre"]))
    if triplet:
        on_post.append(increment("apost2", f["keep_trip"]))

    dedent = lambda s: "\n".join(line.strip() for line in s.strip().splitlines())  # noqa: E731
    return {
        "model": dedent(_join(*model, parameters)),
        "on_pre": _join(*on_pre),
        "on_post": _join(*on_post),
    }


def _join(*parts: str) -> str:
    return "\n".join(p.strip("\n") for p in parts if p and p.strip())


#: The per-synapse constants of :func:`generic_equations`, in declaration order.
GENERIC_PARAMETERS = (
    ("A_prepost", "1"), ("A_postpre", "1"), ("A3_prepost", "1"), ("A3_postpre", "1"),
    ("tau_prepost", "second"), ("tau_postpre", "second"), ("tau_x", "second"),
    ("tau_y", "second"), ("w_min", "1"), ("w_max", "1"), ("mu", "1"), ("keep_apre", "1"),
    ("keep_apost", "1"), ("keep_trip", "1"), ("reset_apre", "1"), ("reset_apost", "1"),
    ("discard_zero", "1"),
)  # fmt: skip


def generic_equations(formulation: str = "event-driven") -> dict[str, str]:
    """Equations where every rule parameter is a per-synapse constant.

    Used by :mod:`stdp_sim.simulate` to put synapses of *different* rules into one
    ``Synapses`` object: the same template as :meth:`STDPRule.equations` with the
    flags of the pairing scheme (``keep_apre``, ``keep_apost``, ``keep_trip``,
    ``reset_apre``, ``reset_apost``, ``discard_zero``), the exponent ``mu`` of the
    weight dependence and the triplet amplitudes as constants of each synapse
    (:data:`GENERIC_PARAMETERS`; :func:`generic_parameters` gives their values).
    Same semantics as :meth:`STDPRule.equations`.
    """
    _checks.choice(formulation, "formulation", FORMULATIONS)
    names = {key: key for key in ("keep_apre", "keep_apost", "keep_trip", "reset_apre",
                                  "reset_apost", "discard_zero")}  # fmt: skip
    return _equations(
        formulation=formulation,
        flags=names,
        triplet=True,
        mu="mu",
        pre_side=_Side("A_postpre", None, "A3_postpre", None),
        post_side=_Side("A_prepost", None, "A3_prepost", None),
        parameters="\n".join(f"{name} : {unit} (constant)" for name, unit in GENERIC_PARAMETERS),
    )


def generic_parameters(rules) -> dict[str, np.ndarray]:
    """Values of :data:`GENERIC_PARAMETERS` for a list of rules (times in seconds)."""
    rules = list(rules)

    def column(get):
        return np.array([float(get(r)) for r in rules], dtype=float)

    def tau(r, name, fallback):
        value = getattr(r, name)
        return value if value is not None else getattr(r, fallback)

    values = {
        "A_prepost": column(lambda r: r.a_pre_post),
        "A_postpre": column(lambda r: r.a_post_pre),
        "A3_prepost": column(lambda r: r.a3_pre_post),
        "A3_postpre": column(lambda r: r.a3_post_pre),
        "tau_prepost": column(lambda r: r.tau_pre_post),
        "tau_postpre": column(lambda r: r.tau_post_pre),
        # an unused triplet trace still decays: any positive time constant will do
        "tau_x": column(lambda r: tau(r, "tau_x", "tau_pre_post")),
        "tau_y": column(lambda r: tau(r, "tau_y", "tau_post_pre")),
        "w_min": column(lambda r: r.w_min),
        "w_max": column(lambda r: r.w_max),
        "mu": column(lambda r: r.mu),
        "keep_trip": column(lambda r: not r.scheme.nearest),
    }
    for key in ("keep_apre", "keep_apost", "reset_apre", "reset_apost", "discard_zero"):
        values[key] = column(lambda r, key=key: r.scheme.flags()[key])
    return {name: values[name] for name, _ in GENERIC_PARAMETERS}


# ---------------------------------------------------------------------- presets
#: Bi & Poo (2001) fit of the hippocampal window: potentiation side (pre first).
TAU_PLUS_BI_POO = 16.8 * ms
#: Bi & Poo (2001): depression side (post first).
TAU_MINUS_BI_POO = 33.7 * ms
#: Song, Miller & Abbott (2000): both sides.
TAU_SONG = 20 * ms
#: Weight change per pairing at |Δt| → 0 on the potentiating side, as a fraction of
#: the weight range (Song et al. 2000 use A+ = 0.005 g_max).  Small enough that the
#: 60-pairing protocol never reaches a bound from w_init = 0.5 (60·0.005 = 0.3).
A_PLUS = 0.005
#: Depression amplitude that makes the Bi & Poo window balanced,
#: a_pre_post·τ+ + a_post_pre·τ- = 0: uncorrelated spiking then causes no drift.
_A_MINUS_BALANCED = -A_PLUS * float(TAU_PLUS_BI_POO / TAU_MINUS_BI_POO)
#: Song et al. (2000): depression slightly dominant, A- / A+ = 1.05.
_SONG_RATIO = 1.05

#: The pair-rule presets (the triplet presets are :data:`TRIPLET_PRESETS`; :func:`all_presets`
#: has both).  Code that iterates over the pair presets — the rate-ramp experiment, the
#: bridge's rate verdicts — sees the same rules as before the triplet presets existed.
PRESETS: dict[str, STDPRule] = {
    rule.name: rule
    for rule in (
        # pre-post potentiation + post-pre depression (Bi & Poo 1998)
        STDPRule(A_PLUS, _A_MINUS_BALANCED, TAU_PLUS_BI_POO, TAU_MINUS_BI_POO, name="hebbian"),
        # the mirror: pre-post depression + post-pre potentiation (Bell et al. 1997;
        # Fino et al. 2010)
        STDPRule(
            -A_PLUS, -_A_MINUS_BALANCED, TAU_PLUS_BI_POO, TAU_MINUS_BI_POO, name="anti_hebbian"
        ),
        # one-sided rules: the same sign for both orders, symmetric window
        STDPRule(A_PLUS, A_PLUS, TAU_SONG, TAU_SONG, name="potentiation_only"),
        STDPRule(-A_PLUS, -A_PLUS, TAU_SONG, TAU_SONG, name="depression_only"),
        # weight-dependent (soft-bounded) Hebbian rule
        STDPRule(
            A_PLUS,
            _A_MINUS_BALANCED,
            TAU_PLUS_BI_POO,
            TAU_MINUS_BI_POO,
            weight_dependence="multiplicative",
            name="hebbian_multiplicative",
        ),
        # Song, Miller & Abbott (2000): additive, clipped to [0, g_max], A-/A+ = 1.05
        STDPRule(A_PLUS, -_SONG_RATIO * A_PLUS, TAU_SONG, TAU_SONG, name="song2000"),
    )
}
#: Same dict as :data:`PRESETS`, by a name that says what it holds.
PAIR_PRESETS = PRESETS


def triplet_rule(
    a2_plus: float,
    a3_plus: float,
    a2_minus: float,
    a3_minus: float,
    tau_x: Quantity,
    tau_y: Quantity,
    *,
    tau_plus: Quantity = TAU_PLUS_BI_POO,
    tau_minus: Quantity = TAU_MINUS_BI_POO,
    nearest: bool = False,
    name: str = "triplet",
    **rule_kwargs,
) -> STDPRule:
    """A triplet rule from Pfister & Gerstner's (2006) parameters, positive amplitudes.

    Parameters are those of :func:`stdp_sim.triplet.triplet_parameters` (``A2+``,
    ``A3+``, ``A2-``, ``A3-`` as magnitudes, ``tau_x``, ``tau_y``, ``tau_plus``,
    ``tau_minus``, ``nearest``); ``name`` and ``**rule_kwargs`` (``w_min``, ``w_max``,
    ``w_init``, ``weight_dependence``, ``mu``) go to :class:`STDPRule`.

    Examples
    --------
    >>> from brian2 import ms
    >>> rule = triplet_rule(5e-10, 6.2e-3, 7e-3, 2.3e-4, 101 * ms, 125 * ms)
    >>> rule.a_post_pre, rule.a3_post_pre  # depression is a negative amplitude here
    (-0.007, -0.00023)
    """
    params = triplet_parameters(a2_plus, a3_plus, a2_minus, a3_minus, tau_x, tau_y,
                                tau_plus=tau_plus, tau_minus=tau_minus, nearest=nearest)
    return STDPRule(**params, name=name, **rule_kwargs)


#: Pfister & Gerstner's (2006, Table 4) four sets as presets: weights in units of the
#: initial weight (``w_init = 1``, Δw is the relative change), bounds ``[0, 2]``
#: (:mod:`stdp_sim.triplet`).
TRIPLET_PRESETS: dict[str, STDPRule] = {
    name: triplet_rule(
        **{k: v for k, v in params.items() if k != "source"},
        name=name,
        w_init=TRIPLET_W_INIT,
        w_min=TRIPLET_W_BOUNDS[0],
        w_max=TRIPLET_W_BOUNDS[1],
    )
    for name, params in TRIPLET_PARAMETERS.items()
}  # fmt: skip

_FAMILIES = ("pair", "triplet", "all")


def all_presets() -> dict[str, STDPRule]:
    """Every preset: the pair presets, then the triplet presets."""
    return {**PRESETS, **TRIPLET_PRESETS}


def preset_names(family: str = "pair") -> list[str]:
    """Names of the presets of one family, in a fixed order.

    Parameters
    ----------
    family : {"pair", "triplet", "all"}, default "pair"
        ``"pair"``: :data:`PRESETS` (what this function returned before the triplet
        presets existed); ``"triplet"``: Pfister & Gerstner's four sets; ``"all"``:
        both.
    """
    _checks.choice(family, "family", _FAMILIES)
    if family == "pair":
        return list(PRESETS)
    names = list(all_presets())
    return names if family == "all" else [n for n in names if n not in PRESETS]


def preset(name: str) -> STDPRule:
    """A named preset rule (pair or triplet).

    Parameters
    ----------
    name : str
        One of ``preset_names("all")``: ``"hebbian"`` (Bi & Poo time constants,
        balanced window), ``"anti_hebbian"`` (its mirror), ``"potentiation_only"``,
        ``"depression_only"``, ``"hebbian_multiplicative"``, ``"song2000"``, and the
        triplet rules of Pfister & Gerstner (2006, Table 4)
        ``"triplet_visual_all_to_all"``, ``"triplet_visual_nearest"``,
        ``"triplet_hippocampus_all_to_all"``, ``"triplet_hippocampus_nearest"``
        (:data:`TRIPLET_PRESETS`).

    Raises
    ------
    ValueError
        For an unknown name.
    """
    presets = all_presets()
    if name not in presets:
        raise ValueError(f"preset must be one of {', '.join(presets)}; got {name!r}")
    return presets[name]


