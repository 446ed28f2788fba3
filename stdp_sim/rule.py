"""One parametrised pair-based STDP rule, its Brian2 equations, and the named presets.

Sign convention (the whole toolkit): ``delta_t = t_pre - t_post``.  Both amplitudes
are the *signed* weight change per pairing, whatever the regime: ``a_pre_post`` for
a pairing where the presynaptic spike comes first (``delta_t < 0``; also
``delta_t == 0``, see below), ``a_post_pre`` for one where the postsynaptic spike
comes first (``delta_t > 0``).  No code path flips a sign: a depressing side simply
has a negative amplitude.  (Some toolkits store a positive depression amplitude and
subtract it inside the update; mixing the two conventions is the classic STDP bug.)
"""

from __future__ import annotations

import numpy as np
from brian2 import Quantity, Synapses, ms

from stdp_sim import _checks
from stdp_sim.regime import Regime

__all__ = [
    "STDPRule",
    "PRESETS",
    "preset",
    "preset_names",
    "WEIGHT_DEPENDENCES",
    "PAIRINGS",
    "TAU_PLUS_BI_POO",
    "TAU_MINUS_BI_POO",
    "TAU_SONG",
    "A_PLUS",
]

WEIGHT_DEPENDENCES = ("additive", "multiplicative")
PAIRINGS = ("all-to-all", "nearest")
FORMULATIONS = ("event-driven", "explicit")


class STDPRule:
    r"""A pair-based spike-timing-dependent plasticity rule with signed amplitudes.

    The analytic learning window, with ``delta_t = t_pre - t_post``:

    .. math::

        W(\Delta t) = \begin{cases}
            a_\text{pre-post}\, e^{\Delta t / \tau_\text{pre-post}} & \Delta t \le 0 \\
            a_\text{post-pre}\, e^{-\Delta t / \tau_\text{post-pre}} & \Delta t > 0
        \end{cases}

    **Sign convention.**  ``a_pre_post`` and ``a_post_pre`` are both the signed weight
    change produced by one pairing (at ``|delta_t| -> 0``): positive potentiates,
    negative depresses, for either order.  The classic Hebbian rule has
    ``a_pre_post > 0`` and ``a_post_pre < 0``; its mirror (anti-Hebbian) the opposite.
    Coincident spikes (``delta_t == 0``) count as pre-post: Brian2 runs the ``pre``
    pathway before the ``post`` pathway within a time step, so the presynaptic trace
    is already incremented when the postsynaptic spike reads it, and the postsynaptic
    trace is not yet incremented when the presynaptic spike reads it.  This matches
    the regime table's ``∫Δt <= 0`` rule.

    Parameters
    ----------
    a_pre_post : float
        Signed weight change per pre-before-post pairing (dimensionless weight units).
    a_post_pre : float
        Signed weight change per post-before-pre pairing.
    tau_pre_post : Quantity, default 16.8 ms
        Time constant of the pre-before-post side (the presynaptic trace).
    tau_post_pre : Quantity, default 33.7 ms
        Time constant of the post-before-pre side (the postsynaptic trace).
    weight_dependence : {"additive", "multiplicative"}, default "additive"
        ``"additive"``: every update is the amplitude times the trace, then clipped to
        ``[w_min, w_max]``.  ``"multiplicative"`` (soft bounds, weight-dependent):
        a potentiating update is scaled by ``(w_max - w) / (w_max - w_min)`` and a
        depressing one by ``(w - w_min) / (w_max - w_min)``, so the amplitudes are the
        change of a weight sitting at the opposite bound (van Rossum, Bi & Turrigiano
        2000 use this form for depression; here it applies to both signs).  Weights
        then approach the bounds without crossing them as long as each single update
        is smaller than ``w_max - w_min``; the result is clipped as well.
    w_min, w_max : float, default 0.0, 1.0
        Weight bounds, ``w_min < w_max``.
    w_init : float, default 0.5
        Initial weight of every synapse, within the bounds.
    pairing : {"all-to-all", "nearest"}, default "all-to-all"
        ``"all-to-all"``: every pre/post spike pair contributes (traces add up).
        ``"nearest"``: symmetric nearest-spike interaction, each spike pairs only with
        the most recent spike of the other neuron (traces are reset to 1).
    name : str, default "custom"
        Label used in tables.

    Examples
    --------
    >>> from brian2 import ms
    >>> rule = preset("hebbian")
    >>> float(rule.window(-10 * ms)) > 0 > float(rule.window(10 * ms))
    True
    >>> rule.regime("post-pre").label
    'post-pre depression'
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
    ):
        self.a_pre_post = _checks.finite_float(a_pre_post, "a_pre_post")
        self.a_post_pre = _checks.finite_float(a_post_pre, "a_post_pre")
        self.tau_pre_post = _checks.time_scalar(tau_pre_post, "tau_pre_post")
        self.tau_post_pre = _checks.time_scalar(tau_post_pre, "tau_post_pre")
        self.weight_dependence = _checks.choice(
            weight_dependence, "weight_dependence", WEIGHT_DEPENDENCES
        )
        self.pairing = _checks.choice(pairing, "pairing", PAIRINGS)
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

    # ------------------------------------------------------------------ analytics
    def window(self, delta_t, w=None) -> np.ndarray:
        """The analytic weight change of one isolated pairing at ``delta_t``.

        Parameters
        ----------
        delta_t : Quantity
            ``t_pre - t_post``, scalar or array, with time units.  ``0`` counts as
            pre-post (see the class docstring).
        w : float, optional
            Weight before the pairing, only used by the ``"multiplicative"`` rule;
            default ``w_init``.  The additive window ignores it (and clipping).

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
        if self.weight_dependence == "multiplicative":
            w = self.w_init if w is None else _checks.finite_float(w, "w")
            raw = raw * self.soft_bound_factor(raw, w)
        return raw

    def soft_bound_factor(self, change, w):
        """Scale of a raw change ``change`` at weight ``w`` for the multiplicative rule.

        ``(w_max - w) / (w_max - w_min)`` for potentiation (``change > 0``),
        ``(w - w_min) / (w_max - w_min)`` otherwise.  Works element-wise on arrays.
        """
        span = self.w_max - self.w_min
        return np.where(np.asarray(change) > 0, (self.w_max - w) / span, (w - self.w_min) / span)

    @property
    def window_integral(self) -> Quantity:
        """``∫ W(Δt) dΔt = a_pre_post·tau_pre_post + a_post_pre·tau_post_pre`` (additive).

        Zero for a *balanced* window: uncorrelated spike trains then cause no drift.
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
        """The regime this rule produces for pairings of one timing side.

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
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - set(self._FIELDS)
        if unknown:
            raise ValueError(f"replace got unknown field(s) {sorted(unknown)!r}")
        fields = {key: getattr(self, key) for key in self._FIELDS}
        fields.update(changes)
        return STDPRule(**fields)

    def as_dict(self) -> dict:
        """Plain-Python description (time constants in ms), for JSON output."""
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
        }

    def __eq__(self, other):
        if not isinstance(other, STDPRule):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __hash__(self):
        return hash(tuple(sorted(self.as_dict().items())))

    def __repr__(self):
        return (
            f"STDPRule(name={self.name!r}, a_pre_post={self.a_pre_post:g}, "
            f"a_post_pre={self.a_post_pre:g}, tau_pre_post={self.tau_pre_post!s}, "
            f"tau_post_pre={self.tau_post_pre!s}, weight_dependence={self.weight_dependence!r}, "
            f"w_min={self.w_min:g}, w_max={self.w_max:g}, w_init={self.w_init:g}, "
            f"pairing={self.pairing!r})"
        )

    # ------------------------------------------------------------------ Brian2
    @property
    def namespace(self) -> dict:
        """The constants the equation strings refer to.

        Brian2 reserves the suffixes ``_pre``/``_post`` for references to the source
        and target groups, so inside equations the amplitudes are called
        ``A_prepost`` (= ``a_pre_post``) and ``A_postpre`` (= ``a_post_pre``), the time
        constants ``tau_prepost`` and ``tau_postpre``.
        """
        return {
            "A_prepost": self.a_pre_post,
            "A_postpre": self.a_post_pre,
            "tau_prepost": self.tau_pre_post,
            "tau_postpre": self.tau_post_pre,
            "w_min": self.w_min,
            "w_max": self.w_max,
        }

    def equations(self, formulation: str = "event-driven") -> dict[str, str]:
        """Brian2 ``model``, ``on_pre`` and ``on_post`` strings for this rule.

        The strings use the weight ``w`` (dimensionless), the traces ``apre`` and
        ``apost`` and the constants of :attr:`namespace` (pass it as the Synapses
        ``namespace``, or use :meth:`synapses`).

        Parameters
        ----------
        formulation : {"event-driven", "explicit"}, default "event-driven"
            ``"event-driven"`` declares the trace decay as ``(event-driven)``
            differential equations.  ``"explicit"`` stores the traces as plain
            variables and decays them with ``exp(-(t - t_last)/tau)`` at each spike;
            the two must agree (the test suite checks it).

        Returns
        -------
        dict
            Keys ``"model"``, ``"on_pre"``, ``"on_post"``.
        """
        _checks.choice(formulation, "formulation", FORMULATIONS)
        return _equations(
            formulation=formulation,
            increment=("apre = 1", "apost = 1")
            if self.pairing == "nearest"
            else ("apre += 1", "apost += 1"),
            update_pre=self._update("A_postpre", "apost", self.a_post_pre),
            update_post=self._update("A_prepost", "apre", self.a_pre_post),
            parameters="",
        )

    def _update(self, amplitude: str, trace: str, value: float) -> str:
        if value == 0:
            return ""
        change = f"{amplitude}*{trace}"
        if self.weight_dependence == "multiplicative":
            factor = "(w_max - w)" if value > 0 else "(w - w_min)"
            change = f"{change}*{factor}/(w_max - w_min)"
        return f"w = clip(w + {change}, w_min, w_max)"

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


def _join(*parts: str) -> str:
    return "\n".join(p.strip("\n") for p in parts if p and p.strip())


def _equations(formulation, increment, update_pre, update_post, parameters) -> dict[str, str]:
    if formulation == "event-driven":
        model = """
            w : 1
            dapre/dt = -apre/tau_prepost : 1 (event-driven)
            dapost/dt = -apost/tau_postpre : 1 (event-driven)
            """
        decay = ""
    else:
        model = """
            w : 1
            apre : 1
            apost : 1
            t_last : second
            """
        decay = """
            apre = apre*exp(-(t - t_last)/tau_prepost)
            apost = apost*exp(-(t - t_last)/tau_postpre)
            t_last = t
            """
    dedent = lambda s: "\n".join(line.strip() for line in s.strip().splitlines())  # noqa: E731
    return {
        "model": dedent(_join(model, parameters)),
        "on_pre": dedent(_join(decay, increment[0], update_pre)),
        "on_post": dedent(_join(decay, increment[1], update_post)),
    }


def generic_equations(formulation: str = "event-driven") -> dict[str, str]:
    """Equations where every rule parameter is a per-synapse constant.

    Used by :mod:`stdp_sim.simulate` to put synapses of *different* rules into one
    ``Synapses`` object; flags ``soft`` (1 = multiplicative) and ``nearest``
    (1 = nearest-spike pairing) select the variant per synapse.  Same semantics as
    :meth:`STDPRule.equations`.
    """

    def update(amplitude: str, trace: str) -> str:
        scale = (
            f"((1 - soft) + soft*(int({amplitude} > 0)*(w_max - w)"
            f" + int({amplitude} <= 0)*(w - w_min))/(w_max - w_min))"
        )
        return f"w = clip(w + {amplitude}*{trace}*{scale}, w_min, w_max)"

    return _equations(
        formulation=formulation,
        increment=("apre = apre*(1 - nearest) + 1", "apost = apost*(1 - nearest) + 1"),
        update_pre=update("A_postpre", "apost"),
        update_post=update("A_prepost", "apre"),
        parameters="""
            A_prepost : 1 (constant)
            A_postpre : 1 (constant)
            tau_prepost : second (constant)
            tau_postpre : second (constant)
            w_min : 1 (constant)
            w_max : 1 (constant)
            soft : 1 (constant)
            nearest : 1 (constant)
            """,
    )


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


def preset_names() -> list[str]:
    """Names of the presets, in a fixed order."""
    return list(PRESETS)


def preset(name: str) -> STDPRule:
    """A named preset rule.

    Parameters
    ----------
    name : str
        One of :func:`preset_names`: ``"hebbian"`` (Bi & Poo time constants,
        balanced window), ``"anti_hebbian"`` (its mirror), ``"potentiation_only"``,
        ``"depression_only"``, ``"hebbian_multiplicative"``, ``"song2000"``.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
    return PRESETS[name]
