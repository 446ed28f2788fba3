"""Run many (rule, spike-train) conditions as separate synapses of ONE Brian2 network.

Every condition gets its own presynaptic and postsynaptic neuron (two halves of one
``SpikeGeneratorGroup``) and one synapse between them; the parameters of its rule
are per-synapse constants of one ``Synapses`` object (see
:func:`stdp_sim.rule.generic_equations`).  One ``Network.run`` then simulates all
conditions: the cost per time step barely depends on how many there are, which is
what makes a whole table cost about as much as one condition
(``benchmarks/stdp_bench.py`` measures it).

Objects carry fixed names so that the generated code — and Brian2's Cython cache —
is the same from one run to the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from brian2 import (
    Clock,
    Network,
    Quantity,
    SpikeGeneratorGroup,
    SpikeMonitor,
    Synapses,
    ms,
    second,
)

from common.files import short_write_error
from common.progress import on_terminal, progress_bar
from stdp_sim import _checks, backend
from stdp_sim._interrupt import build_failed, interrupts_raise
from stdp_sim.backend import resolve_target, runtime_target
from stdp_sim.protocols import DEFAULT_IDT_WINDOW, SpikeTrains, integral_delta_t
from stdp_sim.rule import STDPRule, generic_equations, generic_parameters

__all__ = [
    "BuildFailed",
    "Condition",
    "ConditionResult",
    "run_conditions",
    "simulate_protocol",
    "max_time_step",
    "check_time_step",
    "DEFAULT_DT",
    "STEPS_PER_INTERVAL",
]

#: Brian2's default time step; spike times are rounded to it.
DEFAULT_DT = 0.1 * ms

#: The time step must fit this many times into every interval the simulation has to
#: resolve: the smallest non-zero ``|delta_t|`` of the protocol and the rules' time
#: constants (see :func:`max_time_step`).
STEPS_PER_INTERVAL = 10


@dataclass(eq=False)
class Condition:
    """One synapse to simulate: a rule, the spikes of its two neurons, a start weight.

    Parameters
    ----------
    rule : STDPRule
    trains : SpikeTrains
    w_init : float, optional
        Start weight; default ``rule.w_init``.
    tags : dict, optional
        Free-form labels carried into the result (table row, trial number, ...).
    """

    rule: STDPRule
    trains: SpikeTrains
    w_init: float | None = None
    tags: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.rule, STDPRule):
            raise ValueError(f"rule must be an STDPRule, got {self.rule!r}")
        if not isinstance(self.trains, SpikeTrains):
            raise ValueError(f"trains must be SpikeTrains, got {self.trains!r}")
        if self.w_init is None:
            self.w_init = self.rule.w_init
        else:
            w = _checks.finite_float(self.w_init, "w_init")
            if not self.rule.w_min <= w <= self.rule.w_max:
                raise ValueError(
                    f"w_init must lie in [{self.rule.w_min}, {self.rule.w_max}], got {w!r}"
                )
            self.w_init = w


@dataclass(eq=False)
class ConditionResult:
    """What one condition's synapse did.

    Attributes
    ----------
    condition : Condition
    w_start, w_end, dw : float
        Weight before, after, and the change ``w_end - w_start``.
    pre_spikes, post_spikes : numpy.ndarray
        Spike times (s) actually emitted, as recorded by a ``SpikeMonitor``; plain
        floats, as published.  :attr:`pre_spike_times` and :attr:`post_spike_times`
        are the same with Brian2 units.
    integral_delta_t : float
        ``∫Δt`` (s) of the emitted spikes, see :func:`stdp_sim.integral_delta_t`;
        :attr:`integral_delta_t_quantity` carries the unit.
    target : str
        The code-generation target that ran it.
    """

    condition: Condition
    w_start: float
    w_end: float
    pre_spikes: np.ndarray
    post_spikes: np.ndarray
    integral_delta_t: float
    target: str

    @property
    def dw(self) -> float:
        return self.w_end - self.w_start

    @property
    def rule(self) -> STDPRule:
        return self.condition.rule

    @property
    def pre_spike_times(self) -> Quantity:
        """:attr:`pre_spikes` with time units (a Brian2 ``Quantity``)."""
        return self.pre_spikes * second

    @property
    def post_spike_times(self) -> Quantity:
        """:attr:`post_spikes` with time units (a Brian2 ``Quantity``)."""
        return self.post_spikes * second

    @property
    def integral_delta_t_quantity(self) -> Quantity:
        """:attr:`integral_delta_t` with time units (NaN if it was not computed)."""
        return self.integral_delta_t * second

    @property
    def tags(self) -> dict:
        return self.condition.tags


def _quantize(times: np.ndarray, dt: float) -> np.ndarray:
    """Integer time steps of ``times`` (s), one spike per step at most."""
    steps = np.round(np.asarray(times, dtype=float) / dt).astype(np.int64)
    return np.unique(steps)


def _lags(delta_t) -> list[float]:
    """``|delta_t|`` in seconds of the non-zero, non-``None`` entries."""
    if delta_t is None:
        return []
    if isinstance(delta_t, Quantity) or np.ndim(delta_t) == 0:
        delta_t = np.atleast_1d(np.asarray(delta_t, dtype=float))
    return [abs(float(v)) for v in delta_t if v is not None and float(v) != 0.0]


def _taus(rules: Sequence[STDPRule]) -> list[float]:
    return [float(tau) for rule in rules for tau in rule.time_constants]


def max_time_step(rules: Sequence[STDPRule], delta_t=()) -> Quantity:
    """The largest time step that resolves a protocol: ``min(|Δt|, τ) / 10``.

    Spike times are rounded to the time step, each by up to ``dt/2``, so a pairing's
    ``Δt = t_pre - t_post`` is off by up to ``dt``: when ``dt`` approaches ``|Δt|`` the
    two spikes of a pairing fall into one step (``Δt`` becomes 0, which counts as
    pre-post) or swap order, and the measured regime has the wrong sign.  The window
    ``exp(-|Δt|/τ)`` changes by a factor up to ``exp(dt/τ)`` for the same error.
    Requiring ``dt <= min(|Δt|_min, τ) / STEPS_PER_INTERVAL`` over every time
    constant of the rules (``tau_pre_post``, ``tau_post_pre`` and a triplet rule's
    ``tau_x``, ``tau_y``; ``STEPS_PER_INTERVAL = 10``) bounds both errors at about
    10 % and keeps every sign.  The default 0.1 ms resolves ``|Δt| >= 1 ms`` and all
    presets (τ >= 16.8 ms).

    Parameters
    ----------
    rules : sequence of STDPRule
        The rules simulated (their time constants count).
    delta_t : sequence of float or Quantity, optional
        Nominal ``t_pre - t_post`` values of the protocol (floats in seconds, or
        quantities); zeros (coincident spikes stay coincident) and ``None`` (no
        nominal lag, e.g. the trains of a rate ramp) are ignored.

    Returns
    -------
    Quantity
        The bound, in time units.
    """
    intervals = _taus(rules) + _lags(delta_t)
    if not intervals:
        raise ValueError("max_time_step needs at least one rule or non-zero delta_t")
    return min(intervals) / STEPS_PER_INTERVAL * second


def check_time_step(dt, rules: Sequence[STDPRule], delta_t=()) -> Quantity:
    """``dt`` if it resolves the protocol (:func:`max_time_step`), else ``ValueError``.

    The message names ``dt``, the bound and the intervals that set it.
    """
    dt_q = _checks.time_scalar(dt, "dt")
    bound = float(max_time_step(rules, delta_t))
    if float(dt_q) > bound * (1 + 1e-9):
        lags, taus = _lags(delta_t), _taus(rules)
        parts = []
        if lags:
            parts.append(f"the smallest non-zero |delta_t| ({min(lags) * 1e3:g} ms)")
        if taus:
            parts.append(f"the shortest rule time constant ({min(taus) * 1e3:g} ms)")
        raise ValueError(
            f"dt = {float(dt_q) * 1e3:g} ms is too coarse for this protocol: spike times are "
            f"rounded to dt, so dt must be at most 1/{STEPS_PER_INTERVAL} of "
            f"{' and of '.join(parts)}: dt <= {bound * 1e3:g} ms"
        )
    return dt_q


def run_conditions(
    conditions: Sequence[Condition],
    *,
    dt=DEFAULT_DT,
    target: str = "auto",
    idt_window=DEFAULT_IDT_WINDOW,
    progress: bool = True,
    standalone_dir: str | None = None,
) -> list[ConditionResult]:
    """Simulate all ``conditions`` in a single Brian2 network run.

    Parameters
    ----------
    conditions : sequence of Condition
        Non-empty.  Rules may differ between conditions in everything: weight
        dependence, pairing scheme, pair or triplet (one ``Synapses`` object holds
        them all, :func:`stdp_sim.rule.generic_equations`).
    dt : Quantity, default 0.1 ms
        Simulation time step; spike times are rounded to it (two spikes of one
        neuron in the same step merge into one).  Must resolve the protocol:
        ``dt <= min(|delta_t|, tau_pre_post, tau_post_pre) / 10`` over the conditions'
        nominal non-zero ``delta_t`` and rules (:func:`max_time_step`).
    target : {"auto", "cython", "numpy", "cpp_standalone"}, default "auto"
        Code-generation target, see :func:`stdp_sim.backend.resolve_target`
        (``"auto"`` here never picks ``cpp_standalone``).
    idt_window : Quantity or None, default 25 ms
        Pair window for ``∫Δt`` (:func:`stdp_sim.integral_delta_t`); ``None`` skips
        the computation (``integral_delta_t`` is then NaN).
    progress : bool, default True
        Show a tqdm progress bar over simulated time (runtime targets; for
        ``cpp_standalone`` only the elapsed time).
    standalone_dir : str, optional
        Project directory for ``cpp_standalone``; default
        :func:`stdp_sim.backend.standalone_dir` (a persistent cache, locked while in
        use), so an unchanged network skips recompilation.

    Returns
    -------
    list of ConditionResult
        In the order of ``conditions``.

    Raises
    ------
    ValueError
        For bad input, including a ``dt`` too coarse for the protocol
        (:func:`check_time_step`), before anything is simulated.
    KeyboardInterrupt
        On Ctrl-C during the simulation (build, compilation or run), in place of
        Brian2's default of stopping the run early and returning its partial
        results; nothing else is printed (:mod:`stdp_sim._interrupt`).
    OSError
        When a file of the ``cpp_standalone`` build cannot be written (a full disk,
        a file-size limit): ``filename`` names the file (or the build folder).
    """
    conditions = list(conditions)
    if not conditions:
        raise ValueError("conditions must not be empty, got []")
    for k, cond in enumerate(conditions):
        if not isinstance(cond, Condition):
            raise ValueError(f"conditions[{k}] must be a Condition, got {cond!r}")
    dt_q = check_time_step(
        dt, [c.rule for c in conditions], [c.trains.delta_t for c in conditions]
    )
    if idt_window is not None:
        _checks.time_scalar(idt_window, "idt_window")
    target = resolve_target(target)
    step = float(dt_q)
    n = len(conditions)

    indices, steps = [], []
    for k, cond in enumerate(conditions):
        for neuron, times in ((k, cond.trains.pre), (n + k, cond.trains.post)):
            s = _quantize(times, step)
            indices.append(np.full(s.size, neuron, dtype=np.int64))
            steps.append(s)
    indices = np.concatenate(indices)
    steps = np.concatenate(steps)
    last_step = int(steps.max()) if steps.size else 0
    n_steps = max(
        last_step + 2,
        int(np.ceil(max(c.trains.duration for c in conditions) / step - 1e-9)),
    )
    params = generic_parameters([c.rule for c in conditions])
    w_start = np.array([c.w_init for c in conditions], dtype=float)
    ctrl_c = interrupts_raise()

    def build_and_run():
        # one explicitly named clock: an auto-named one becomes "..._clock_1" while an
        # earlier network is still alive, which changes the code and misses the cache
        clock = Clock(dt=dt_q, name="stdp_sim_clock")
        spikes = SpikeGeneratorGroup(
            2 * n, indices, steps * step * second, clock=clock, name="stdp_sim_spikes"
        )
        # explicit decay (exp(-(t - t_last)/tau) at each spike): for four event-driven
        # traces Brian2's exact integrator would solve a 4x4 linear system in sympy in
        # every new process (about 2.5 s); the update it generates is the same exponential
        eqs = generic_equations("explicit")
        syn = Synapses(
            spikes,
            spikes,
            model=eqs["model"],
            on_pre=eqs["on_pre"],
            on_post=eqs["on_post"],
            clock=clock,
            namespace={},
            name="stdp_sim_synapses",
        )
        syn.connect(i=np.arange(n), j=np.arange(n) + n)
        for key, values in params.items():
            setattr(syn, key, values * second if key.startswith("tau") else values)
        syn.w = w_start
        monitor = SpikeMonitor(spikes, name="stdp_sim_spikemonitor")
        net = Network(spikes, syn, monitor, name="stdp_sim_network")
        duration = n_steps * dt_q
        if target == "cpp_standalone":
            net.run(duration, namespace={})
        else:
            with (runtime_target(target),
                  _progress_bar(progress, duration, ctrl_c.stderr) as report):
                net.run(duration, namespace={}, report=report, report_period=1 * second)
        order = np.asarray(syn.i[:])
        w_end = np.empty(n)
        w_end[order] = np.asarray(syn.w[:], dtype=float)
        return w_end, np.asarray(monitor.i[:]), np.asarray(monitor.t[:], dtype=float)

    with ctrl_c:
        if target == "cpp_standalone":
            w_end, spike_i, spike_t = _run_standalone(
                build_and_run, standalone_dir, progress, ctrl_c.stderr
            )
        else:
            w_end, spike_i, spike_t = build_and_run()

    sort = np.argsort(spike_i, kind="stable")
    spike_i, spike_t = spike_i[sort], spike_t[sort]
    bounds = np.searchsorted(spike_i, np.arange(2 * n + 1))
    results = []
    for k, cond in enumerate(conditions):
        pre = np.sort(spike_t[bounds[k] : bounds[k + 1]])
        post = np.sort(spike_t[bounds[n + k] : bounds[n + k + 1]])
        results.append(
            ConditionResult(
                condition=cond,
                w_start=float(w_start[k]),
                w_end=float(w_end[k]),
                pre_spikes=pre,
                post_spikes=post,
                integral_delta_t=(
                    float("nan") if idt_window is None else integral_delta_t(pre, post, idt_window)
                ),
                target=target,
            )
        )
    return results


class _progress_bar:
    """Context manager giving a Brian2 ``report`` callback that drives a tqdm bar."""

    def __init__(self, enabled: bool, duration, file=None):
        self.enabled = enabled
        self.total = float(duration)
        self.file = file
        self.bar = None

    def __enter__(self):
        if not (self.enabled and on_terminal(self.file)):
            return None
        self.bar = progress_bar(total=round(self.total, 3), unit="s sim", desc="Brian2 run",
                                leave=False, file=self.file)

        def report(elapsed, completed, start, duration):
            self.bar.n = round(float(completed) * self.total, 3)
            self.bar.refresh()

        return report

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False


def _run_standalone(build_and_run, directory, progress, file=None):
    from brian2 import device, set_device
    from brian2.devices.device import all_devices
    from brian2.utils.filelock import FileLock

    # a compiled program that ran in this process before (a MixSTDP network) leaves the
    # one standalone device marked as run: start it afresh
    all_devices["cpp_standalone"].reinit()

    directory = Path(directory) if directory is not None else backend.standalone_dir()
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / BUILD_LOG
    with FileLock(str(directory) + ".lock"), backend.output_to(log) as terminal, \
            _elapsed_bar(progress, "C++ standalone build+run", file or terminal):
        set_device("cpp_standalone", directory=str(directory), build_on_run=True, with_output=False)
        start = time.time()
        try:
            return build_and_run()
        except RuntimeError as exc:
            if build_failed(exc):  # one line names the log; the caller decides what next
                raise BuildFailed(f"{exc} (compiler output: {log})", log) from None
            raise
        except OSError as exc:
            if exc.filename is not None:
                raise
            # Brian2 writes the project's files without naming them in its errors (a
            # short numpy write says "N requested and M written", without errno): name
            # the file last written, as common.files does for the outputs
            written = _newest_file(directory, since=start) or directory
            if exc.errno is None:
                raise short_write_error(exc, written) from exc
            raise OSError(exc.errno, exc.strerror, str(written)) from exc
        finally:
            device.reinit()
            device.activate()
            set_device("runtime")


class BuildFailed(RuntimeError):
    """The C++ standalone build failed; :attr:`log` holds the compiler's output."""

    def __init__(self, message: str, log: Path):
        super().__init__(message)
        self.log = log


#: Where the compiler's and make's output of the last C++ standalone build goes (in the
#: project directory), instead of the terminal.
BUILD_LOG = "build.log"


def _newest_file(directory: Path, since: float) -> Path | None:
    """The file under ``directory`` modified last, if at or after ``since`` (epoch s)."""
    newest, newest_mtime = None, since - 1.0  # coarse file-system timestamps
    for path in directory.rglob("*"):
        try:
            mtime = path.stat().st_mtime
            if path.is_file() and mtime >= newest_mtime:
                newest, newest_mtime = path, mtime
        except OSError:
            continue
    return newest


class _elapsed_bar:
    """A tqdm bar that only counts elapsed seconds (no progress information available)."""

    def __init__(self, enabled: bool, desc: str, file=None):
        self.enabled, self.desc, self.file = enabled, desc, file
        self.bar = self.thread = None
        self.stop = threading.Event()

    def __enter__(self):
        if self.enabled and on_terminal(self.file):
            self.bar = progress_bar(desc=self.desc, unit="s", bar_format="{desc}: {elapsed}",
                                    leave=False, file=self.file)
            self.thread = threading.Thread(target=self._tick, daemon=True)
            self.thread.start()
        return self

    def _tick(self):
        while not self.stop.wait(0.5):
            self.bar.refresh()

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
            self.bar.close()
        return False


def simulate_protocol(
    rules: Sequence[STDPRule],
    protocol,
    *,
    trials: int = 1,
    seed=None,
    **run_kwargs,
) -> list[ConditionResult]:
    """Every rule on every condition of a protocol, in one network run.

    Parameters
    ----------
    rules : sequence of STDPRule
        Non-empty.
    protocol : PairingProtocol or CorrelatedPoisson
        Anything with a ``trains(trials, seed)`` method.
    trials : int, default 1
        Repetitions per protocol condition.  All rules see the same spike trains.
    seed : int, optional
        Seed for the spike trains.
    **run_kwargs
        Passed on to :func:`run_conditions`.

    Returns
    -------
    list of ConditionResult
        Ordered rule-major, then protocol condition, then trial; ``tags`` holds
        ``rule`` (name), ``delta_t`` (s) and ``trial``.
    """
    rules = list(rules)
    if not rules:
        raise ValueError("rules must not be empty, got []")
    trials = _checks.positive_int(trials, "trials")
    trains = protocol.trains(trials=trials, seed=seed)
    conditions = [
        Condition(rule, t, tags={"rule": rule.name, "delta_t": t.delta_t, "trial": k % trials})
        for rule in rules
        for k, t in enumerate(trains)
    ]
    return run_conditions(conditions, **run_kwargs)
