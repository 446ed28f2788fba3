"""Diehl & Cook's network compiled once by Brian2's C++ standalone mode, run as one
program call per chunk of images.

The model is the one of :mod:`~stdp_sim.diehl_cook.network` (same layers, equations and
plastic synapses); what the Cython runtime does between steps in Python (a
``NetworkOperation`` every phase) happens here inside the compiled program:

- a one-neuron ``control`` group steps the schedule every time step (``run_regularly``
  code, arithmetic only): it counts the excitatory spikes of the current presentation
  (through ``exc -> control`` synapses), switches the input on at the start of every
  slot and off after ``presentation``, re-presents an image that drew fewer than
  ``min_spikes`` spikes with the intensity one step higher (at most ``max_repeats``
  times), and stops the program at the end of the slot in which the last image of the
  chunk finished;
- the input neurons spike when a counter-based uniform number (:data:`UNIFORM`, a
  splitmix64 hash of the stream, the image's index in its phase, the repeat, the
  step of the slot and the input) is below ``pixel/8 * intensity * dt``: the input of
  an image depends on the image and its repeat only, never on where a chunk starts;
- every excitatory neuron keeps the running sum ``wsum`` of its input weights (each
  applied update adds its change); at the start of each presentation while learning a
  custom event rescales its input weights by ``weight_sum / wsum`` (one pass over the
  synapses per slot, not a sum over them every step).

The program is built once per network shape and chunk size into a folder of stdp_sim's
C++ build cache (:func:`project_dir`) and reused by later runs and processes; seeds, rules,
weights and every other state variable are passed to each call as run arguments, so
a new seed or rule never recompiles.  Between chunks the whole state comes back to
Python (:meth:`StandaloneNetwork.state`) and can be checkpointed; a run resumed from a
checkpoint with the same chunk size gives the same numbers as one never interrupted.
Spike times are kept relative to the end of the last chunk (each program call starts
its clock at 0), so chunks of another size round differently: the numbers are
reproducible for a given chunk size, and agree with the Cython runtime's statistically,
not bit for bit (its Poisson input comes from Brian2's generator).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stdp_sim.backend import output_to, standalone_available, standalone_dir
from stdp_sim.diehl_cook.network import _STATE as _NETWORK_STATE
from stdp_sim.diehl_cook.network import (
    COUNTED_UPDATE,
    Presentation,
    build_layers,
    derived_seed,
    initial_weights,
    network_rules,
    plastic_code,
    schedule_counts,
)
from stdp_sim.diehl_cook.parameters import DiehlCookParameters
from stdp_sim.diehl_cook.plasticity import RuleAssignment

__all__ = ["ENGINES", "StandaloneNetwork", "compiler_problem", "resolve_engine",
           "project_dir", "uniform", "BUILD_VERSION", "BuildError"]

#: The two ways to simulate the network: compiled C++ (one program call per chunk)
#: and Brian2's Cython runtime (one ``run()`` per chunk, the schedule in Python).
ENGINES = ("standalone", "runtime")
#: Bumped when the generated program changes (a new project folder is built).
BUILD_VERSION = 1

_UNIFORM_CPP = """
static inline uint64_t _dc_splitmix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static inline double dc_uniform(double stream, double image, double repeat, double step,
                                double neuron)
{
    uint64_t h = _dc_splitmix((uint64_t)stream);
    h = _dc_splitmix(h ^ (uint64_t)image);
    h = _dc_splitmix(h ^ (uint64_t)repeat);
    h = _dc_splitmix(h ^ (uint64_t)step);
    h = _dc_splitmix(h ^ (uint64_t)neuron);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}
"""

_STOP_CPP = """
static inline double dc_stop(double flag)
{
    if (flag > 0.5)
        Network::_globally_stopped = true;
    return flag;
}
"""

_MASK = (1 << 64) - 1


def _splitmix(z: np.ndarray) -> np.ndarray:
    z = (z + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(_MASK)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniform(stream, image, repeat, step, neuron) -> np.ndarray:
    """The input's uniform numbers in ``[0, 1)``: splitmix64 of the five non-negative
    integers in turn, the formula of the compiled program's ``dc_uniform`` written in
    numpy (for inspection and as the Python form Brian2's ``Function`` needs)."""
    with np.errstate(over="ignore"):
        h = _splitmix(np.asarray(stream, dtype=np.uint64))
        for part in (image, repeat, step, neuron):
            h = _splitmix(h ^ np.asarray(part, dtype=np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


_CONTROL = """
k : integer
image : integer
first : integer
n_images : integer
repeat : integer
slots : integer
intensity : 1
on : 1
begin : 1
done : 1
total : 1
stream : 1
stopped : 1
"""

# One time step of the schedule (at the start of the step, before anything else):
# k is the step within the slot (presentation + rest).
_CONTROL_STEP = """
at_start = int(k == 0)
at_end = int(k == on_steps)
few = at_end*int(total < min_spikes)*int(repeat < max_repeats)
advance = at_end - few
repeat = (repeat + few)*(1 - advance)
intensity = (intensity + few)*(1 - advance) + advance*start_intensity
image = image + advance
done = int(image >= n_images)
begin = at_start*(1 - done)
slots = slots + int(begin > 0.5)
on = on*(1 - at_end)*(1 - at_start) + begin
total = total*(1 - at_start)
stopped = dc_stop(done*int(k == slot_steps - 1))
k = (k + 1)*int(k + 1 < slot_steps)
"""

_INPUT = """
image_c : integer (linked)
first_c : integer (linked)
repeat_c : integer (linked)
step_c : integer (linked)
intensity_c : 1 (linked)
on_c : 1 (linked)
stream_c : 1 (linked)
"""

# Per neuron: the running weight sum, the normalisation factor, and the postsynaptic
# traces y1, y2 of the base rule (b) and of the mixed-in one (o): within one rule they
# are the same for every synapse of the neuron, so they are kept once, decayed every
# step by exp(-dt/tau) and set at the neuron's reset (after the synapses' updates of
# the step, as the synapses' own traces were).
_EXC_EXTRA = """
wsum : 1
norm : 1
begin_c : 1 (linked)
y1b : 1
y2b : 1
y1o : 1
y2o : 1
decay_y1b : 1 (shared)
decay_y2b : 1 (shared)
decay_y1o : 1 (shared)
decay_y2o : 1 (shared)
ynearest_b : 1 (shared)
ynearest_o : 1 (shared)
"""

_EXC_RESET = """
y1b = y1b*(1 - ynearest_b) + 1
y2b = y2b*(1 - ynearest_b) + 1
y1o = y1o*(1 - ynearest_o) + 1
y2o = y2o*(1 - ynearest_o) + 1
"""

_EXC_STEP = """
y1b = y1b*decay_y1b
y2b = y2b*decay_y2b
y1o = y1o*decay_y1o
y2o = y2o*decay_y2o
norm = 1 + begin_c*learning*int(wsum > 0)*(weight_sum/(wsum + int(wsum <= 0)) - 1)
wsum = wsum*norm
"""

# The input synapses: weight, presynaptic trace (its own: it follows the synapse's
# delay) and which rule the synapse follows; the two rules' coefficients are shared.
_RULE_COEFFICIENTS = ("k_onpre", "k_onpost", "triplet", "nearest", "soft")
_SYNAPSE = """
w : 1
mixed : 1
tau_x : second
plastic : 1 (shared)
dx/dt = -x/tau_x : 1 (event-driven)
y1s = mixed*y1o_post + (1 - mixed)*y1b_post : 1
y2s = mixed*y2o_post + (1 - mixed)*y2b_post : 1
""" + "".join(f"{name}_b : 1 (shared)\n{name}_o : 1 (shared)\n"
              f"{name} = mixed*{name}_o + (1 - mixed)*{name}_b : 1\n"
              for name in _RULE_COEFFICIENTS)

#: The state of the standalone network (besides the clock ``t``).
_STATE = {
    "exc": (*_NETWORK_STATE["exc"], "wsum", "y1b", "y2b", "y1o", "y2o"),
    "inh": _NETWORK_STATE["inh"],
    "synapses": ("w", "x", "lastupdate"),
}

_CONTROL_VARIABLES = ("image", "first", "repeat", "intensity", "on", "stream")

_compiler_checked: dict[str, str | None] = {}


def compiler_problem() -> str | None:
    """Why Brian2's C++ standalone mode cannot build here (no compiler named by
    ``$CXX`` or ``g++``, no ``make``, or a compiler that fails on a one-line
    program), or ``None`` when it can."""
    cxx = os.environ.get("CXX") or "g++"  # what make's $(CXX) runs
    if cxx in _compiler_checked:
        return _compiler_checked[cxx]
    problem = None
    try:
        command = shlex.split(cxx)
    except ValueError:
        command = []
    if not command or not standalone_available():
        problem = f"no C++ compiler (CXX={cxx}) or no make found"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                done = subprocess.run([*command, "-x", "c++", "-", "-o",
                                       str(Path(tmp) / "probe")],
                                      input="int main() { return 0; }\n",
                                      capture_output=True, text=True, timeout=120)
                if done.returncode != 0:
                    lines = done.stderr.strip().splitlines() or ["no message"]
                    problem = f"the C++ compiler {cxx} fails ({lines[0]})"
            except (OSError, subprocess.TimeoutExpired) as exc:
                problem = f"the C++ compiler {cxx} cannot run ({exc})"
    _compiler_checked[cxx] = problem
    return problem


def resolve_engine(engine: str) -> tuple[str, str]:
    """``(engine, line)``: the engine ``"auto"``, ``"standalone"`` or ``"runtime"``
    resolves to, and one line saying which and why.  ``"auto"`` is the C++ standalone
    mode when a compiler works, else the Cython runtime; ``"standalone"`` without a
    working compiler raises :class:`ValueError`."""
    if engine not in ("auto", *ENGINES):
        raise ValueError(f"engine must be 'auto', 'standalone' or 'runtime', got "
                         f"{engine!r}")
    if engine == "runtime":
        return "runtime", "engine: runtime (Brian2's Cython runtime, as asked)"
    problem = compiler_problem()
    if problem is None:
        cxx = os.environ.get("CXX") or "g++"
        return "standalone", f"engine: standalone (Brian2's C++ standalone mode, {cxx})"
    if engine == "standalone":
        raise ValueError(f"engine 'standalone' needs a working C++ compiler: {problem}; "
                         f"install g++ or set CXX, or use the runtime engine")
    return "runtime", f"engine: runtime (Brian2's Cython runtime): {problem}"


def project_dir(parameters: DiehlCookParameters, chunk: int) -> Path:
    """The folder of the compiled program for this network shape and chunk size, in
    stdp_sim's C++ build cache (:func:`stdp_sim.backend.standalone_dir`)."""
    import brian2

    identity = {"version": BUILD_VERSION, "brian2": brian2.__version__,
                "parameters": parameters.as_dict(), "chunk": int(chunk),
                "cxx": os.environ.get("CXX") or "g++"}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return standalone_dir() / f"diehl_cook-{digest[:16]}"


@contextlib.contextmanager
def _project_lock(directory: Path, *, shared: bool):
    """Builds hold the project folder alone, program calls together (POSIX ``flock``;
    elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(str(directory) + ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_stale(directory: Path) -> None:
    """Remove the argument and result folders of program calls whose process died."""
    for path in list(directory.glob("args_*")) + list(directory.glob("results_*")):
        try:
            pid = int(path.name.split("_")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, IndexError, OSError):
            continue


class _Program:
    """The Brian2 objects of one compiled program and the calls that run it."""

    def __init__(self, p: DiehlCookParameters, chunk: int):
        import brian2
        from brian2 import (
            Function,
            Network,
            NeuronGroup,
            SpikeMonitor,
            Synapses,
            TimedArray,
            linked_var,
            ms,
            set_device,
        )
        from brian2.devices.device import all_devices, reset_device

        self.p, self.chunk = p, int(chunk)
        self.directory = project_dir(p, chunk)
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        step = float(p.dt)
        self.slot_steps = round(float(p.slot) / step)
        self.on_steps = round(float(p.presentation) / step)
        device = all_devices["cpp_standalone"]
        with _project_lock(self.directory, shared=False):
            if self.directory.exists():
                _remove_stale(self.directory)
            device.reinit()
            set_device("cpp_standalone", directory=str(self.directory), build_on_run=False,
                       with_output=False)
            try:
                uniform_fn = Function(uniform, arg_units=[1] * 5, return_unit=1,
                                      stateless=True)
                uniform_fn.implementations.add_implementation(
                    "cpp", _UNIFORM_CPP, name="dc_uniform")
                stop_fn = Function(lambda flag: flag, arg_units=[1], return_unit=1,
                                   stateless=False)
                stop_fn.implementations.add_implementation(
                    "cpp", _STOP_CPP, name="dc_stop",
                    compiler_kwds={"headers": ['"network.h"']})
                namespace = {"on_steps": self.on_steps, "slot_steps": self.slot_steps,
                             "min_spikes": float(p.min_spikes),
                             "max_repeats": int(p.max_repeats),
                             "start_intensity": float(p.start_intensity),
                             "dc_stop": stop_fn}
                control = NeuronGroup(1, _CONTROL, dt=p.dt, namespace=namespace,
                                      name="control")
                control.intensity = float(p.start_intensity)
                control.run_regularly(_CONTROL_STEP, when="start",
                                      order=0, name="control_step")
                pixels = TimedArray(np.zeros((self.chunk, p.n_input)), dt=1 * ms,
                                    name="pixels")
                rate = float(p.rate_per_pixel_and_intensity) * step
                inputs = NeuronGroup(
                    p.n_input, _INPUT,
                    threshold="on_c > 0.5 and pixels(image_c*ms, i) > 0 and "
                              "dc_uniform(stream_c, first_c + image_c, repeat_c, step_c, i) "
                              "< pixels(image_c*ms, i)*intensity_c*rate",
                    reset="", namespace={"pixels": pixels, "dc_uniform": uniform_fn,
                                         "rate": rate, "ms": ms},
                    dt=p.dt, name="input")
                zeros = np.zeros(p.n_input, dtype=int)
                for name in _CONTROL_VARIABLES:
                    setattr(inputs, f"{name}_c", linked_var(control, name, index=zeros))
                inputs.step_c = linked_var(control, "k", index=zeros)
                lockout = round(float(p.threshold_lockout_e) / step)
                exc, inh, exc_inh, inh_exc = build_layers(
                    p, exc_model=_EXC_EXTRA, exc_reset=_EXC_RESET,
                    lockout=f"timestep(t - lastspike, dt) > {lockout}",
                    events={"normalise": "begin_c*learning > 0.5"})
                exc.begin_c = linked_var(control, "begin",
                                         index=np.zeros(p.n_exc, dtype=int))
                exc.run_regularly(_EXC_STEP, when="start", order=1, name="exc_step")
                exc.thresholder["normalise"].when = "start"
                exc.thresholder["normalise"].order = 2
                on_pre, on_post = plastic_code(track_sum=True, y1="y1s", y2="y2s")
                synapses = Synapses(
                    inputs, exc, _SYNAPSE, on_pre=on_pre,
                    on_post={"post": on_post, "normalise": "w = w*norm_post"},
                    on_event={"pre": "spike", "post": "spike", "normalise": "normalise"},
                    delay={"post": 0 * ms, "normalise": 0 * ms},
                    namespace={"w_max": p.w_max, "counted": COUNTED_UPDATE}, dt=p.dt,
                    name="input_exc")
                synapses.connect()
                # the program's setter of "input_exc.delay" must find the input delays
                # (the presynaptic pathway's), not the other pathways' (zero)
                for pathway in (synapses.post, synapses.normalise):
                    pathway.variables["delay"].read_only = True
                synapses.normalise.when = "start"
                synapses.normalise.order = 3
                counter = Synapses(exc, control, on_pre="total_post += 1", dt=p.dt,
                                   name="exc_control")
                counter.connect()
                spikes = SpikeMonitor(exc, name="exc_spikes")
                brian2.device.apply_run_args()
                network = Network(control, inputs, exc, inh, synapses, exc_inh, inh_exc,
                                  counter, spikes, name="diehl_cook")
                network.run(self.chunk * (1 + p.max_repeats) * p.slot, namespace={})
                with output_to(Path(str(self.directory) + ".log")):  # make's messages
                    brian2.device.build(directory=str(self.directory), compile=True,
                                        run=False, with_output=False)
            finally:
                reset_device()
        self.device = device
        self.groups = {"exc": exc, "inh": inh, "synapses": synapses, "control": control}
        self.pixels = pixels
        self.spikes = spikes

    def run(self, state: dict[str, np.ndarray], constants: dict[str, np.ndarray],
            pixels: np.ndarray, *, n_images: int, first: int, stream: int,
            learning: bool) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
        """One program call: ``(state after, spike counts per slot, slots)``."""
        p = self.p
        token = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
        args_dir = self.directory / f"args_{token}"
        args_dir.mkdir()
        results = f"results_{token}"
        try:
            args = [f"control.n_images={int(n_images)}", f"control.first={int(first)}",
                    f"control.stream={float(stream)!r}",
                    f"exc.learning={1.0 if learning else 0.0}",
                    f"input_exc.plastic={1.0 if learning else 0.0}"]
            values = dict(constants)
            values.update(state)
            values.pop("t", None)
            for key, value in values.items():
                group, name = key.split(".")
                owner = self.groups[group]
                if key == "synapses.delay":  # a variable of the presynaptic pathway
                    owner = owner.pre
                variable = owner.variables[name]
                if variable.scalar:
                    args.append(f"{variable.owner.name}.{name}={float(value)!r}")
                    continue
                path = args_dir / f"{key}.dat"
                np.ascontiguousarray(value, dtype=variable.dtype).tofile(path)
                args.append(f"{variable.owner.name}.{name}={path}")
            path = args_dir / "pixels.dat"
            np.ascontiguousarray(pixels, dtype=self.pixels.values.dtype).tofile(path)
            args.append(f"pixels.values={path}")
            with _project_lock(self.directory, shared=True):
                self.device.run(directory=str(self.directory), results_directory=results,
                                with_output=False, run_args=args)
            out = {}
            for group, names in _STATE.items():
                owner = self.groups[group]
                for name in names:
                    out[f"{group}.{name}"] = np.array(owner.state(name, use_units=False)[:])
            control = self.groups["control"]
            slots = int(control.slots[0])
            if int(control.image[0]) != n_images:
                raise RuntimeError(f"the compiled program finished {int(control.image[0])} "
                                   f"of {n_images} images")
            steps = np.rint(np.asarray(self.spikes.t_[:]) / float(p.dt)).astype(np.int64)
            neurons = np.asarray(self.spikes.i[:], dtype=np.int64)
            on = steps % self.slot_steps < self.on_steps
            counts = np.zeros((slots, p.n_exc), dtype=np.int32)
            np.add.at(counts, (steps[on] // self.slot_steps, neurons[on]), 1)
        finally:
            shutil.rmtree(args_dir, ignore_errors=True)
            shutil.rmtree(self.directory / results, ignore_errors=True)
        return out, counts, slots


_PROGRAM: dict[str, _Program] = {}


def _program(p: DiehlCookParameters, chunk: int) -> _Program:
    """The compiled program for this shape and chunk size; Brian2 holds one standalone
    project per process, so asking for another shape rebuilds (reusing its folder)."""
    from brian2.devices.device import all_devices

    key = str(project_dir(p, chunk))
    built = all_devices["cpp_standalone"].project_dir  # another network's build since?
    if key not in _PROGRAM or built is None or str(built) != key:
        _PROGRAM.clear()
        try:
            _PROGRAM[key] = _Program(p, chunk)
        except RuntimeError as exc:  # Brian2: "Project compilation failed ..."
            message = " ".join(str(exc).split()).split(". ")[0].rstrip(".")
            raise BuildError(f"the C++ standalone build in {key} failed ({message}; "
                             f"messages in {key}.log)") from exc
    return _PROGRAM[key]


class BuildError(RuntimeError):
    """The compiled program could not be built (one line saying where and why)."""


class StandaloneNetwork:
    """:class:`~stdp_sim.diehl_cook.network.DiehlCookNetwork` compiled with Brian2's C++
    standalone mode: the same parameters, rules, initial weights and interface
    (:meth:`present`, :meth:`state`, :meth:`set_state`, :attr:`weights`, :attr:`theta`,
    :meth:`update_totals`), one program call per ``chunk`` images.

    The first network of a shape and chunk size builds the program (about a minute;
    cached on disk for later processes).
    """

    engine = "standalone"

    def __init__(self, parameters: DiehlCookParameters | None = None,
                 rules: RuleAssignment | None = None, *, seed: int = 0, chunk: int = 100):
        p = parameters or DiehlCookParameters()
        self.parameters = p
        rules = network_rules(p, rules, seed)
        if not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
        self.rules, self.seed, self.chunk = rules, int(seed), chunk
        _program(p, chunk)  # build (or find) the program now, not at the first image
        w, delay = initial_weights(p, self.seed)
        mixed = rules.mixed.reshape(-1)
        self._constants = {
            "synapses.delay": delay, "synapses.mixed": mixed.astype(np.float64),
            "synapses.tau_x": np.where(mixed, float(rules.other.tau_x),
                                       float(rules.base.tau_x))}
        step = float(p.dt)
        for rule, tag in ((rules.base, "b"), (rules.other, "o")):
            for name, attr in (("k_onpre", "on_pre"), ("k_onpost", "on_post"),
                               ("triplet", "triplet"), ("nearest", "nearest"),
                               ("soft", "multiplicative")):
                self._constants[f"synapses.{name}_{tag}"] = float(getattr(rule, attr))
            for name in ("y1", "y2"):
                tau = float(getattr(rule, f"tau_{name}"))
                self._constants[f"exc.decay_{name}{tag}"] = math.exp(-step / tau)
            self._constants[f"exc.ynearest_{tag}"] = float(rule.nearest)
        self._state = self._initial_state(w)
        self._calls = 0

    def _initial_state(self, w: np.ndarray) -> dict[str, np.ndarray]:
        p = self.parameters
        n, m = p.n_exc, w.size
        never = -1e4  # Brian2's lastspike before any spike, in seconds
        state = {"t": np.asarray(0.0), "synapses.w": w}
        for group, names in _STATE.items():
            size = m if group == "synapses" else n
            for name in names:
                state.setdefault(f"{group}.{name}", np.zeros(size))
        state["exc.v"] = np.full(n, float(p.v_rest_e) - 0.040)  # 40 mV below rest
        state["inh.v"] = np.full(n, float(p.v_rest_i) - 0.040)
        state["exc.theta"] = np.full(n, float(p.theta_init))
        for group in ("exc", "inh"):
            state[f"{group}.lastspike"] = np.full(n, never)
            state[f"{group}.not_refractory"] = np.ones(n, dtype=bool)
        state["exc.wsum"] = w.reshape(p.n_input, n).sum(axis=0)
        return state

    def reseed(self, seed: int) -> None:
        """Use ``seed`` for the input of the next :meth:`present` calls without a
        ``stream``."""
        self.seed = int(seed)
        self._calls = 0

    def present(self, images: np.ndarray, *, learning: bool,
                progress: Callable[[int], None] | None = None,
                stream: tuple | None = None, first: int = 0) -> Presentation:
        """As :meth:`DiehlCookNetwork.present`; the input of image ``first + k`` and
        repeat ``r`` is drawn from ``(*stream, first + k, r)`` (without ``stream``,
        from the seed and the number of earlier calls)."""
        p = self.parameters
        images = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        if images.shape[1] != p.n_input:
            raise ValueError(f"images have {images.shape[1]} pixels, the network "
                             f"{p.n_input} inputs")
        if len(images) == 0:  # nothing to show: no program call
            return Presentation(np.zeros((0, p.n_exc), np.int32), np.zeros(0, np.int32),
                                np.zeros(0, bool))
        if stream is None:
            stream = (self.seed, "call", self._calls)
            self._calls += 1
        stream_id = derived_seed(*stream)
        parts = []
        for start in range(0, len(images), self.chunk):
            part = images[start:start + self.chunk]
            pixels = np.zeros((self.chunk, p.n_input))
            pixels[:len(part)] = part
            # (asked again each time: Brian2 holds one standalone project per process,
            # so a network of another shape built meanwhile replaced this one's)
            program = _program(p, self.chunk)
            state, counts, slots = program.run(
                self._state, self._constants, pixels, n_images=len(part),
                first=first + start, stream=stream_id, learning=learning)
            duration = slots * program.slot_steps * float(p.dt)
            for key in ("exc.lastspike", "inh.lastspike", "synapses.lastupdate"):
                state[key] = state[key] - duration
            state["t"] = np.asarray(float(self._state["t"]) + duration)
            self._state = state
            parts.append(schedule_counts(counts, len(part), p))
            if progress is not None:
                progress(len(part))
        return Presentation(np.concatenate([s.counts for s in parts]),
                            np.concatenate([s.repeats for s in parts]),
                            np.concatenate([s.gave_up for s in parts]))

    def state(self) -> dict[str, np.ndarray]:
        """Every variable that changes during a run and the clock ``t``, as plain arrays
        (SI units; ``lastspike`` and ``lastupdate`` relative to ``t``)."""
        return {k: np.array(v) for k, v in self._state.items()}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned (same sizes and rules)."""
        missing = sorted(set(self._state) - set(state))
        if missing:
            raise ValueError(f"network state lacks {missing[0]!r}")
        self._state = {k: np.array(state[k]) for k in self._state}

    @property
    def weights(self) -> np.ndarray:
        """Input weights, ``(n_input, n_exc)``."""
        p = self.parameters
        return self._state["synapses.w"].reshape(p.n_input, p.n_exc).copy()

    @property
    def theta(self) -> np.ndarray:
        return self._state["exc.theta"].copy()

    def update_totals(self) -> dict[str, np.ndarray]:
        """As :meth:`DiehlCookNetwork.update_totals`."""
        return {k[len("exc."):]: v.copy() for k, v in self._state.items()
                if k.startswith(("exc.m_", "exc.n_"))}
