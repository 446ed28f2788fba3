"""Diehl & Cook's (2015) network in Brian2, with a rule per input synapse.

Layers (``docs/reference.md``, "A learning spiking network"): ``n_input`` Poisson
inputs → ``n_exc`` excitatory conductance-based LIF neurons with an adaptive threshold
(all-to-all, plastic, 0–10 ms delays) → as many inhibitory neurons (one-to-one, 10.4)
→ back to every excitatory neuron but their own (17.0).

This module is the Cython-runtime engine; :mod:`~stdp_sim.diehl_cook.standalone`
builds the same layers (:func:`build_layers`) and plastic synapses
(:func:`plastic_code`) into a C++ program with the schedule inside it.

The presentation schedule runs inside one Brian2 ``run()`` per batch of images: a
``network_operation`` at the start of each phase (the presentation and the rest are
multiples of its period) normalises the weights before every presentation while
learning, switches the input rates on and off, and re-presents an image that drew fewer
than ``min_spikes`` excitatory spikes with the intensity raised by one step.  Between
batches the whole state (potentials, conductances, thresholds, weights, traces, the
clock) can be saved and restored (:meth:`DiehlCookNetwork.state`), so a run resumes
where it stopped.

The synapses follow the rule each was given (:class:`~stdp_sim.diehl_cook.plasticity.
RuleAssignment`); every applied update is summed per postsynaptic neuron into the four
regimes of :data:`~stdp_sim.diehl_cook.plasticity.UPDATE_REGIMES` (magnitude, and the
number of updates larger than :data:`COUNTED_UPDATE`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from brian2 import (
    Hz,
    Network,
    NetworkOperation,
    NeuronGroup,
    PoissonGroup,
    Synapses,
    mV,
    second,
)
from brian2 import seed as brian_seed

from stdp_sim.diehl_cook.parameters import DiehlCookParameters
from stdp_sim.diehl_cook.plasticity import UPDATE_REGIMES, RuleAssignment, assign_rules

__all__ = ["DiehlCookNetwork", "Presentation", "COUNTED_UPDATE", "TARGET_COUNTERS",
           "input_synapses", "set_rules", "derived_seed", "plastic_code", "rule_values",
           "initial_weights", "schedule_counts", "shown_again", "build_layers",
           "layer_namespace"]

#: An applied update counts (in the ``n_*`` counters) when it moves the weight by more
#: than this; the magnitude sums (``m_*``) take every update.
COUNTED_UPDATE = 1e-6

_REGIME_NAMES = tuple(name for name, _ in UPDATE_REGIMES)

_EXC = """
dv/dt = ((v_rest_e - v) + ge*(e_exc - v) + gi*(e_inh_e - v)) / tau_e : volt (unless refractory)
dge/dt = -ge/tau_ge : 1
dgi/dt = -gi/tau_gi : 1
dtheta/dt = -theta/tau_theta * learning : volt
count : 1
learning : 1 (shared)
"""

_INH = """
dv/dt = ((v_rest_i - v) + ge*(e_exc - v) + gi*(e_inh_i - v)) / tau_i : volt (unless refractory)
dge/dt = -ge/tau_ge : 1
dgi/dt = -gi/tau_gi : 1
"""

_SYNAPSE = """
w : 1
k_onpre : 1 (constant)
k_onpost : 1 (constant)
triplet : 1 (constant)
nearest : 1 (constant)
soft : 1 (constant)
tau_x : second (constant)
tau_y1 : second (constant)
tau_y2 : second (constant)
plastic : 1 (shared)
dx/dt = -x/tau_x : 1 (event-driven)
dy1/dt = -y1/tau_y1 : 1 (event-driven)
dy2/dt = -y2/tau_y2 : 1 (event-driven)
"""


def _applied(change: str, side: str, track_sum: bool = False) -> str:
    """Apply ``change`` to ``w`` (soft bounds where ``soft``, clipped to the bounds) and
    add the applied update to the postsynaptic neuron's regime counters (and, with
    ``track_sum``, to its running weight sum ``wsum``)."""
    factor = "(soft*(int(dw_raw > 0)*(w_max - w) + int(dw_raw < 0)*w)/w_max + (1 - soft))"
    tracked = "wsum_post += w_new - w\n" if track_sum else ""
    return f"""
dw_raw = plastic*{change}
w_new = clip(w + dw_raw*{factor}, 0, w_max)
m_{side}_pot_post += int(w_new > w)*(w_new - w)
m_{side}_dep_post += int(w_new < w)*(w - w_new)
n_{side}_pot_post += int(w_new - w > counted)
n_{side}_dep_post += int(w - w_new > counted)
{tracked}w = w_new
"""


def plastic_code(track_sum: bool = False, y1: str = "y1", y2: str = "y2") -> tuple[str,
                                                                                  str]:
    """``(on_pre, on_post)`` of the plastic input synapses; with ``track_sum`` every
    applied update is also added to the postsynaptic ``wsum`` (the C++ standalone
    engine normalises from it).  ``y1``/``y2`` name the postsynaptic traces; when they
    are not the synapses' own (the standalone engine keeps them per neuron, set at the
    neuron's reset), the postsynaptic update leaves them alone."""
    on_pre = "ge_post += w\nx = x*(1 - nearest) + 1" + _applied(f"k_onpre*{y1}", "postpre",
                                                                 track_sum)
    on_post = _applied(f"k_onpost*x*(triplet*{y2} + 1 - triplet)", "prepost", track_sum)
    if (y1, y2) == ("y1", "y2"):
        on_post += "y1 = y1*(1 - nearest) + 1\ny2 = y2*(1 - nearest) + 1\n"
    return on_pre, on_post


_ON_PRE, _ON_POST = plastic_code()


def network_rules(p: DiehlCookParameters, rules: RuleAssignment | None,
                  seed: int) -> RuleAssignment:
    """``rules``, checked against the network's shape; ``None``: every synapse under
    Diehl & Cook's rule (a 0 % share)."""
    if rules is None:
        rules = assign_rules(p.n_input, p.n_exc, 0.0, seed=seed)
    if rules.mixed.shape != (p.n_input, p.n_exc):
        raise ValueError(f"rules are for {rules.mixed.shape[0]} inputs x "
                         f"{rules.mixed.shape[1]} neurons, the network has "
                         f"{p.n_input} x {p.n_exc}")
    return rules


def derived_seed(*parts) -> int:
    """A 32-bit seed from any JSON-ready parts (a hash: nearby parts give unrelated
    seeds)."""
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()
    return int.from_bytes(digest[:4], "little")


#: Variables a target group of :func:`input_synapses` must have besides ``ge``: the
#: per-neuron sums of applied updates.
TARGET_COUNTERS = "".join(f"m_{name} : 1\nn_{name} : 1\n" for name in _REGIME_NAMES)


def input_synapses(source, target, *, w_max: float = 1.0, **kwargs) -> Synapses:
    """The plastic input synapses (not yet connected): weight ``w``, traces ``x``,
    ``y1``, ``y2`` and the per-synapse rule coefficients, which :func:`set_rules`
    fills.  ``target`` needs ``ge`` and :data:`TARGET_COUNTERS`.  ``plastic`` (shared)
    switches learning on (1, set by :func:`set_rules`) and off (0)."""
    return Synapses(source, target, _SYNAPSE, on_pre=_ON_PRE, on_post=_ON_POST,
                    namespace={"w_max": w_max, "counted": COUNTED_UPDATE}, **kwargs)


def set_rules(synapses: Synapses, base, other, mixed: np.ndarray) -> None:
    """Give each synapse ``base``'s coefficients, or ``other``'s where ``mixed`` (a
    boolean per synapse, in the synapses' order), and switch learning on."""
    for name, values in rule_values(base, other, mixed).items():
        setattr(synapses, name, values * second if name.startswith("tau_") else values)
    synapses.plastic = 1


def rule_values(base, other, mixed: np.ndarray) -> dict[str, np.ndarray]:
    """The per-synapse rule coefficients that :func:`set_rules` sets, as plain arrays
    (time constants in seconds)."""
    out = {}
    for name, attr in (("k_onpre", "on_pre"), ("k_onpost", "on_post"),
                       ("triplet", "triplet"), ("nearest", "nearest"),
                       ("soft", "multiplicative"), ("tau_x", "tau_x"),
                       ("tau_y1", "tau_y1"), ("tau_y2", "tau_y2")):
        out[name] = np.where(mixed, float(getattr(other, attr)), float(getattr(base, attr)))
    return out


def initial_weights(parameters: DiehlCookParameters, seed: int) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """``(w, delay)`` of the input synapses at construction, one value per synapse in
    :meth:`Synapses.connect` order (input ``i`` to neuron ``j`` at ``i*n_exc + j``;
    delays in seconds), drawn from ``seed``."""
    p = parameters
    rng = np.random.default_rng([int(seed), 0xD1C0])
    n = p.n_input * p.n_exc
    w = (rng.random(n) + 0.01) * p.w_init_scale
    return w, rng.random(n) * float(p.delay_max)


@dataclass
class Presentation:
    """What a batch of images drew: per image the excitatory spike counts during its
    (last) presentation, how often it was re-presented, and whether the repeats ran
    out (:attr:`DiehlCookParameters.max_repeats`)."""

    counts: np.ndarray  # (n_images, n_exc) int32
    repeats: np.ndarray  # (n_images,) int32
    gave_up: np.ndarray  # (n_images,) bool


def shown_again(spikes: int, repeats: int, parameters: DiehlCookParameters) -> bool:
    """Whether an image that drew ``spikes`` excitatory spikes after ``repeats``
    re-presentations is shown again (with the intensity one step higher)."""
    return spikes < parameters.min_spikes and repeats < parameters.max_repeats


def schedule_counts(slot_counts: np.ndarray, n_images: int,
                    parameters: DiehlCookParameters) -> Presentation:
    """The :class:`Presentation` of ``n_images`` images from the spike counts of every
    presentation slot in order (``(n_slots, n_exc)``), by the re-presentation rule
    (:func:`shown_again`); the slots must be exactly those the images took."""
    p = parameters
    counts = np.zeros((n_images, slot_counts.shape[1]), dtype=np.int32)
    repeats = np.zeros(n_images, dtype=np.int32)
    gave_up = np.zeros(n_images, dtype=bool)
    image = 0
    for slot in slot_counts:
        if image >= n_images:
            raise ValueError(f"{len(slot_counts)} slots are more than {n_images} images "
                             f"took")
        total = int(slot.sum())
        if shown_again(total, int(repeats[image]), p):
            repeats[image] += 1
            continue
        gave_up[image] = total < p.min_spikes
        counts[image] = slot
        image += 1
    if image != n_images:
        raise ValueError(f"{len(slot_counts)} slots finish {image} of {n_images} images")
    return Presentation(counts, repeats, gave_up)


def layer_namespace(parameters: DiehlCookParameters) -> dict:
    """The constants the excitatory and inhibitory layers' equations name."""
    p = parameters
    return {
        "v_rest_e": p.v_rest_e, "v_rest_i": p.v_rest_i, "tau_e": p.tau_e,
        "tau_i": p.tau_i, "tau_ge": p.tau_ge, "tau_gi": p.tau_gi, "e_exc": p.e_exc,
        "e_inh_e": p.e_inh_e, "e_inh_i": p.e_inh_i, "tau_theta": p.tau_theta,
        "theta_plus": p.theta_plus, "threshold_e": p.v_thresh_e - p.theta_offset,
        "lockout_e": p.threshold_lockout_e,
        "v_reset_e": p.v_reset_e, "v_reset_i": p.v_reset_i,
        "v_thresh_i": p.v_thresh_i, "w_max": p.w_max, "counted": COUNTED_UPDATE,
        "w_exc_inh": p.w_exc_inh, "w_inh_exc": p.w_inh_exc, "weight_sum": p.weight_sum,
    }


def build_layers(parameters: DiehlCookParameters, *, exc_model: str = "",
                 exc_reset: str = "", lockout: str = "t - lastspike > lockout_e",
                 **exc_options):
    """``(exc, inh, exc_inh, inh_exc)``: the excitatory layer (its equations plus
    ``exc_model``, its reset plus ``exc_reset``; spikes also need ``lockout``), the
    inhibitory layer and the two fixed connections between them, on the current Brian2
    device."""
    p = parameters
    namespace = layer_namespace(p)
    exc = NeuronGroup(
        p.n_exc, _EXC + TARGET_COUNTERS + exc_model,
        threshold=f"v > theta + threshold_e and {lockout}",
        reset="v = v_reset_e\ntheta += theta_plus*learning\ncount += 1\n" + exc_reset,
        refractory=p.refractory_e, method="euler", namespace=namespace, dt=p.dt,
        name="exc", **exc_options)
    inh = NeuronGroup(
        p.n_exc, _INH, threshold="v > v_thresh_i", reset="v = v_reset_i",
        refractory=p.refractory_i, method="euler", namespace=namespace, dt=p.dt,
        name="inh")
    exc_inh = Synapses(exc, inh, on_pre="ge_post += w_exc_inh", namespace=namespace,
                       dt=p.dt, name="exc_inh")
    exc_inh.connect(j="i")
    inh_exc = Synapses(inh, exc, on_pre="gi_post += w_inh_exc", namespace=namespace,
                       dt=p.dt, name="inh_exc")
    inh_exc.connect(condition="i != j")
    return exc, inh, exc_inh, inh_exc


#: The variables of each group that change during a run (the network's state).
_STATE = {
    "exc": ("v", "ge", "gi", "theta", "lastspike", "not_refractory", "count",
            *(f"{k}_{name}" for name in _REGIME_NAMES for k in ("m", "n"))),
    "inh": ("v", "ge", "gi", "lastspike", "not_refractory"),
    "synapses": ("w", "x", "y1", "y2", "lastupdate"),
}


class DiehlCookNetwork:
    """The network of Diehl & Cook (2015) with per-synapse rules.

    Parameters
    ----------
    parameters : DiehlCookParameters, optional
        Sizes and constants (published values by default).
    rules : RuleAssignment, optional
        Which synapse follows which rule; default: all Diehl & Cook's rule.
    seed : int, default 0
        Seeds the initial weights and delays (``numpy``), and, through
        :meth:`reseed`, Brian2's generator for the Poisson input.

    Examples
    --------
    >>> net = DiehlCookNetwork(DiehlCookParameters(n_exc=10))   # doctest: +SKIP
    >>> shown = net.present(images[:20], learning=True)          # doctest: +SKIP
    >>> shown.counts.shape                                       # doctest: +SKIP
    (20, 10)
    """

    engine = "runtime"

    def __init__(self, parameters: DiehlCookParameters | None = None,
                 rules: RuleAssignment | None = None, *, seed: int = 0):
        p = parameters or DiehlCookParameters()
        self.parameters = p
        self.rules = network_rules(p, rules, seed)
        self.seed = int(seed)
        self.exc, self.inh, exc_inh, inh_exc = build_layers(p)
        self.input = PoissonGroup(p.n_input, rates=np.zeros(p.n_input) * Hz, dt=p.dt,
                                  name="input")
        self.synapses = input_synapses(self.input, self.exc, w_max=p.w_max, dt=p.dt,
                                       name="input_exc")
        self.synapses.connect()
        self._set_initial_state()
        self._control = NetworkOperation(self._phase, dt=self._phase_length, when="start",
                                         name="schedule")
        self.network = Network(self.exc, self.inh, self.input, self.synapses, exc_inh,
                               inh_exc, self._control)
        self._schedule: _Schedule | None = None

    # -- construction -----------------------------------------------------------------
    @property
    def _phase_length(self):
        p = self.parameters
        step = float(p.dt)
        steps = math.gcd(round(float(p.presentation) / step), round(float(p.rest) / step))
        return steps * p.dt

    def _set_initial_state(self) -> None:
        p, rules = self.parameters, self.rules
        # Synapses.connect() orders synapses by source, then target: (i, j) -> i*n_exc+j
        w, delay = initial_weights(p, self.seed)
        self.synapses.w = w
        self.synapses.delay = delay * second
        set_rules(self.synapses, rules.base, rules.other, rules.mixed.reshape(-1))
        self.exc.v = p.v_rest_e - 40 * mV  # as the original code
        self.exc.theta = p.theta_init
        self.exc.learning = 1
        self.inh.v = p.v_rest_i - 40 * mV

    # -- the schedule -------------------------------------------------------------------
    def _phase(self) -> None:
        s = self._schedule
        if s is None:
            return
        s.step()

    def reseed(self, seed: int) -> None:
        """Seed Brian2's generator (it draws the Poisson input) with ``seed``."""
        brian_seed(int(seed))

    def present(self, images: np.ndarray, *, learning: bool,
                progress: Callable[[int], None] | None = None,
                stream: tuple | None = None, first: int = 0) -> Presentation:
        """Show ``images`` (``(n, n_input)`` pixel values 0–255) one after the other.

        Each image is shown for ``presentation`` and followed by ``rest`` without
        input; an image that drew fewer than ``min_spikes`` excitatory spikes is shown
        again with the intensity one step higher.  With ``learning`` the input
        synapses learn, the thresholds adapt and decay, and every neuron's input
        weights are rescaled to sum to ``weight_sum`` before each presentation;
        without, weights and thresholds are frozen.  ``progress(k)`` is called as
        ``k`` more images finish.

        ``stream`` (any JSON-ready tuple, e.g. ``(seed, "train")``) reseeds Brian2's
        generator at the start of every presentation from ``(*stream, first + k,
        repeat)`` for image ``k`` of this call: the Poisson input of an image then
        depends on its position and repeat only, not on how a run is cut into calls.
        """
        p = self.parameters
        images = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        if images.shape[1] != p.n_input:
            raise ValueError(f"images have {images.shape[1]} pixels, the network "
                             f"{p.n_input} inputs")
        self.synapses.plastic = 1.0 if learning else 0.0
        self.exc.learning = 1.0 if learning else 0.0
        schedule = _Schedule(self, images, learning, progress, stream, first)
        self._schedule = schedule
        try:
            while not schedule.done:
                slots = schedule.remaining
                self.network.run(slots * p.slot, namespace={})
        finally:
            self._schedule = None
            self.input.rates = 0 * Hz
        return Presentation(schedule.counts, schedule.repeats, schedule.gave_up)

    # -- state ----------------------------------------------------------------------------
    _STATE = _STATE

    def state(self) -> dict[str, np.ndarray]:
        """Every variable that changes during a run, and the clock, as plain arrays
        (values in SI units); :meth:`set_state` puts them back."""
        out = {"t": np.asarray(float(self.network.t))}
        for group, names in self._STATE.items():
            owner = getattr(self, group)
            for name in names:
                out[f"{group}.{name}"] = np.array(owner.state(name, use_units=False)[:])
        return out

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned (same sizes and rules)."""
        for group, names in self._STATE.items():
            owner = getattr(self, group)
            for name in names:
                key = f"{group}.{name}"
                if key not in state:
                    raise ValueError(f"network state lacks {key!r}")
                owner.state(name, use_units=False)[:] = state[key]
        self.network.t_ = float(state["t"])

    @property
    def weights(self) -> np.ndarray:
        """Input weights, ``(n_input, n_exc)``."""
        p = self.parameters
        return np.asarray(self.synapses.w[:]).reshape(p.n_input, p.n_exc)

    @property
    def theta(self) -> np.ndarray:
        return np.asarray(self.exc.theta_[:])

    def update_totals(self) -> dict[str, np.ndarray]:
        """Per excitatory neuron, the summed magnitude (``m_*``) and number (``n_*``)
        of applied updates of each regime since construction."""
        return {f"{k}_{name}": np.asarray(getattr(self.exc, f"{k}_{name}")[:])
                for name in _REGIME_NAMES for k in ("m", "n")}


class _Schedule:
    """The presentation schedule of one :meth:`DiehlCookNetwork.present` call, stepped
    once per phase by the network operation."""

    def __init__(self, net: DiehlCookNetwork, images: np.ndarray, learning: bool,
                 progress, stream: tuple | None = None, first: int = 0):
        p = net.parameters
        self.net, self.images, self.learning, self.progress = net, images, learning, progress
        self.stream, self.first = stream, first
        self.n = len(images)
        self.counts = np.zeros((self.n, p.n_exc), dtype=np.int32)
        self.repeats = np.zeros(self.n, dtype=np.int32)
        self.gave_up = np.zeros(self.n, dtype=bool)
        phase = float(net._phase_length)
        self.on_phases = round(float(p.presentation) / phase)
        self.slot_phases = round(float(p.slot) / phase)
        self.index = 0
        self.intensity = p.start_intensity
        self.phase = 0

    @property
    def done(self) -> bool:
        return self.index >= self.n

    @property
    def remaining(self) -> int:
        return self.n - self.index

    def step(self) -> None:
        net, p = self.net, self.net.parameters
        if self.done:
            return
        if self.phase == 0:
            if self.stream is not None:
                brian_seed(derived_seed(*self.stream, self.first + self.index,
                                        int(self.repeats[self.index])))
            if self.learning:
                self._normalise()
            rate = p.rate_per_pixel_and_intensity * self.intensity
            net.input.rates = self.images[self.index] * rate
            net.exc.count = 0
        elif self.phase == self.on_phases:
            net.input.rates = 0 * Hz
            counts = np.asarray(net.exc.count[:]).astype(np.int32)
            if shown_again(int(counts.sum()), int(self.repeats[self.index]), p):
                self.repeats[self.index] += 1
                self.intensity += 1
            else:
                self.gave_up[self.index] = counts.sum() < p.min_spikes
                self.counts[self.index] = counts
                self.index += 1
                self.intensity = p.start_intensity
                if self.progress is not None:
                    self.progress(1)
        self.phase = (self.phase + 1) % self.slot_phases

    def _normalise(self) -> None:
        p, syn = self.net.parameters, self.net.synapses
        w = np.asarray(syn.w[:]).reshape(p.n_input, p.n_exc)
        sums = w.sum(axis=0)
        factor = np.divide(p.weight_sum, sums, out=np.ones_like(sums), where=sums > 0)
        syn.w[:] = (w * factor).reshape(-1)
