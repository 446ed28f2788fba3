"""One run of the MixSTDP digit network: train, label, test, in resumable chunks.

A run (:class:`RunSettings`) builds the network of :mod:`~stdp_sim.diehl_cook.network`
with a share of its neurons (or synapses) under the mixed-in rule, then goes through
three phases, as Diehl & Cook's code does:

1. ``train``: the training images once, in an order drawn from the seed, learning on;
2. ``label``: the same images again with weights and thresholds frozen, whose spike
   counts label each neuron (:func:`~stdp_sim.diehl_cook.labels.assign_labels`) and
   give the training accuracy;
3. ``test``: the test images, frozen, classified with those labels.

Both accuracies use labels fitted on half the training images, never on the image
scored (:func:`~stdp_sim.diehl_cook.labels.split_half_accuracies`); the in-sample
numbers are kept beside them.

Each phase runs in chunks of ``chunk`` images (with the standalone engine, one call of
the compiled program each).  The Poisson input of every presentation is drawn from
``(seed, phase, image, repeat)`` (the runtime reseeds Brian2's generator; the
standalone program hashes them), so the runtime's numbers do not depend on the chunk
size (the standalone's spike times are rounded per chunk: the same chunk size gives the
same numbers).  After every chunk the whole state (network, counts so far, timings) is
written atomically to ``checkpoint``; a run killed at any moment and started again
with the same settings (the chunk size and engine are among them) resumes from its
last chunk and gives the same numbers as a run never interrupted.  Chunks end after a
rest, when no input spike is in flight (the input is silent for ``rest`` = 150 ms,
longer than the 10 ms delays).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from common.files import atomic_write
from stdp_sim.diehl_cook.labels import accuracy, assign_labels, split_half_accuracies
from stdp_sim.diehl_cook.parameters import DiehlCookParameters
from stdp_sim.diehl_cook.plasticity import UPDATE_REGIMES, assign_rules, mixed_rule
from stdp_sim.diehl_cook.standalone import ENGINES

__all__ = ["RunSettings", "RunResult", "train_and_test", "PHASES", "CHECKPOINT_VERSION"]

PHASES = ("train", "label", "test")
#: Bumped when the checkpoint layout changes (older checkpoints are then ignored).
CHECKPOINT_VERSION = 2
#: Neurons silent over this many last training images count as dead.
DEAD_WINDOW = 1000
WEIGHT_BINS = np.linspace(0.0, 1.0, 21)


@dataclass(frozen=True)
class RunSettings:
    """What defines one run (its key in a result store).

    ``share`` is the fraction (0–1) of neurons (``by="neuron"``) or input synapses
    (``by="synapse"``) under ``rule`` ("mirror": Diehl & Cook's rule temporally
    inverted; or a preset of :mod:`stdp_sim.rule`); the rest follow Diehl & Cook's.
    ``engine`` is ``"runtime"`` (Brian2's Cython runtime) or ``"standalone"`` (the
    program compiled by Brian2's C++ standalone mode,
    :mod:`~stdp_sim.diehl_cook.standalone`; one program call per ``chunk``); the two
    draw different Poisson input, so their numbers agree statistically, not bit for
    bit, and a standalone run's key ends in ``-standalone``.
    """

    share: float
    seed: int
    n_exc: int = 100
    by: str = "neuron"
    rule: str = "mirror"
    chunk: int = 100
    engine: str = "runtime"

    def __post_init__(self):
        if not isinstance(self.chunk, int) or self.chunk < 1:
            raise ValueError(f"chunk must be a positive integer, got {self.chunk!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got "
                             f"{self.engine!r}")
        mixed_rule(self.rule)  # raises for an unknown name

    @property
    def key(self) -> str:
        share = f"{self.share:.6g}".replace(".", "p")
        suffix = "" if self.engine == "runtime" else f"-{self.engine}"  # runtime: as before
        return f"{self.rule}-{self.by}-{share}-n{self.n_exc}-seed{self.seed}{suffix}"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunResult:
    """A finished run: its JSON-ready ``record`` and the arrays behind the figures."""

    record: dict
    weights: np.ndarray  # (n_input, n_exc) float32, final input weights
    mixed_neurons: np.ndarray  # (n_exc,) bool, neurons under the mixed-in rule
    assignments: np.ndarray  # (n_exc,) int, class of each neuron (-1: none)
    theta: np.ndarray  # (n_exc,) float32, adaptive thresholds (volt)


def _cpu_time() -> float:
    """CPU seconds of this process and of its finished children (the standalone
    engine's compiled program runs as a child)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _save(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, _meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                     **arrays)
    atomic_write(path, write)


def _load(path: Path, identity: dict) -> tuple[dict[str, np.ndarray], dict] | None:
    """The checkpoint at ``path`` if it belongs to this run, else ``None``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(arrays.pop("_meta").tobytes().decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # unreadable: the run starts again
    if meta.get("identity") != identity:
        return None
    return arrays, meta


def _weight_summary(weights: np.ndarray, mask: np.ndarray) -> dict:
    w = weights[mask]
    if w.size == 0:
        return {"n": 0}
    hist, _ = np.histogram(w, bins=WEIGHT_BINS)
    return {"n": int(w.size), "mean": float(w.mean()), "sd": float(w.std()),
            "at_zero": float(np.mean(w < 1e-3)), "above_half": float(np.mean(w > 0.5)),
            "histogram": hist.astype(int).tolist()}


def _update_shares(totals: dict[str, np.ndarray], neurons: np.ndarray) -> dict:
    out = {}
    for prefix, what in (("m", "magnitude"), ("n", "count")):
        values = {name: float(totals[f"{prefix}_{name}"][neurons].sum())
                  for name, _ in UPDATE_REGIMES}
        total = sum(values.values())
        out[what] = {regime.label: (values[name] / total if total > 0 else None)
                     for name, regime in UPDATE_REGIMES}
        out[f"{what}_total"] = total
    return out


def train_and_test(settings: RunSettings, train_x: np.ndarray, train_y: np.ndarray,
                   test_x: np.ndarray, test_y: np.ndarray, *,
                   parameters: DiehlCookParameters | None = None,
                   checkpoint: str | Path | None = None,
                   progress: Callable[[int], None] | None = None,
                   stop_after_chunks: int | None = None) -> RunResult | None:
    """Run ``settings`` on the given images.

    ``train_x``/``test_x`` are ``(n, 28, 28)`` or ``(n, 784)`` pixel values 0–255.
    ``checkpoint`` (a file) makes the run resumable.  ``progress(k)`` is called as
    ``k`` more images (of any phase) finish.  ``stop_after_chunks`` (tests) returns
    ``None`` after that many chunks, as a kill would.

    The result's ``record`` holds the published fields ``share``, ``seed``, ``train_accuracy`` and
    ``test_accuracy`` (fractions) and ``images_per_second`` (training phase), and the
    diagnostics: dead neurons, the applied-update regime shares per neuron kind, the
    weight distribution per rule, re-presentations, timings.
    """
    from stdp_sim.diehl_cook.network import DiehlCookNetwork
    from stdp_sim.diehl_cook.standalone import StandaloneNetwork

    p = (parameters or DiehlCookParameters()).replace(n_exc=settings.n_exc)
    train_x = np.asarray(train_x).reshape(len(train_x), -1)
    test_x = np.asarray(test_x).reshape(len(test_x), -1)
    other = mixed_rule(settings.rule)
    rules = assign_rules(p.n_input, p.n_exc, settings.share, by=settings.by,
                         seed=settings.seed, other=other)
    if settings.engine == "standalone":
        net = StandaloneNetwork(p, rules, seed=settings.seed, chunk=settings.chunk)
    else:
        net = DiehlCookNetwork(p, rules, seed=settings.seed)
    order = np.random.default_rng([settings.seed, 0x0DE5]).permutation(len(train_x))
    inputs = {"train": (train_x[order], train_y[order]), "label": (train_x[order],
              train_y[order]), "test": (test_x, test_y)}
    identity = {"version": CHECKPOINT_VERSION, "settings": settings.as_dict(),
                "parameters": p.as_dict(), "n_train": len(train_x), "n_test": len(test_x),
                "data": hashlib.sha256(np.ascontiguousarray(train_x).tobytes()
                                       + np.ascontiguousarray(test_x).tobytes()).hexdigest()}
    counts = {ph: np.zeros((len(inputs[ph][0]), p.n_exc), dtype=np.int32) for ph in PHASES}
    repeats = {ph: np.zeros(len(inputs[ph][0]), dtype=np.int32) for ph in PHASES}
    gave_up = {ph: np.zeros(len(inputs[ph][0]), dtype=bool) for ph in PHASES}
    seconds = dict.fromkeys(PHASES, 0.0)
    cpu_seconds = dict.fromkeys(PHASES, 0.0)
    position = {"phase": 0, "done": 0}
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        loaded = _load(path, identity)
        if loaded is not None:
            arrays, meta = loaded
            net.set_state({k[4:]: v for k, v in arrays.items() if k.startswith("net.")})
            for ph in PHASES:
                counts[ph], repeats[ph] = arrays[f"counts.{ph}"], arrays[f"repeats.{ph}"]
                gave_up[ph] = arrays[f"gave_up.{ph}"]
            seconds.update(meta["seconds"])
            cpu_seconds.update(meta.get("cpu_seconds", {}))
            position = meta["position"]
            if progress is not None:
                progress(sum(len(inputs[ph][0]) for ph in PHASES[:position["phase"]])
                         + position["done"])
    chunks_run = 0
    while position["phase"] < len(PHASES):
        phase = PHASES[position["phase"]]
        images, _ = inputs[phase]
        start = position["done"]
        if start >= len(images):
            position = {"phase": position["phase"] + 1, "done": 0}
            continue
        stop = min(start + settings.chunk, len(images))
        began, began_cpu = time.perf_counter(), _cpu_time()
        shown = net.present(images[start:stop], learning=phase == "train", progress=progress,
                            stream=(settings.seed, phase), first=start)
        seconds[phase] += time.perf_counter() - began
        cpu_seconds[phase] += _cpu_time() - began_cpu
        counts[phase][start:stop] = shown.counts
        repeats[phase][start:stop] = shown.repeats
        gave_up[phase][start:stop] = shown.gave_up
        position = {"phase": position["phase"], "done": stop}
        if path is not None:
            arrays = {f"net.{k}": v for k, v in net.state().items()}
            for ph in PHASES:
                arrays.update({f"counts.{ph}": counts[ph], f"repeats.{ph}": repeats[ph],
                               f"gave_up.{ph}": gave_up[ph]})
            _save(path, arrays, {"identity": identity, "position": position,
                                 "seconds": seconds, "cpu_seconds": cpu_seconds})
        chunks_run += 1
        if stop_after_chunks is not None and chunks_run >= stop_after_chunks \
                and not (position["phase"] == len(PHASES) - 1 and stop >= len(images)):
            return None
    labels_train = inputs["label"][1]
    assignments = assign_labels(counts["label"], labels_train)
    train_accuracy, test_accuracy = split_half_accuracies(counts["label"], labels_train,
                                                          counts["test"], test_y)
    window = counts["train"][-DEAD_WINDOW:]
    dead = window.sum(axis=0) == 0
    weights = net.weights
    kinds = {"normal": ~rules.neurons, "mixed": rules.neurons}
    totals = net.update_totals()
    record = {
        "share": settings.share,
        "seed": settings.seed,
        "engine": settings.engine,
        "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy,
        "gap": train_accuracy - test_accuracy,
        "accuracy_labels": "split halves: each half of the training images labels the "
                           "neurons that score the other half; test: mean over both halves",
        "train_accuracy_in_sample": accuracy(counts["label"], labels_train, assignments),
        "test_accuracy_all_labels": accuracy(counts["test"], test_y, assignments),
        "images_per_second": len(train_x) / seconds["train"] if seconds["train"] else None,
        "settings": settings.as_dict(),
        "key": settings.key,
        "mixed_rule": other.as_dict(),
        "base_rule": rules.base.as_dict(),
        "n_train": len(train_x),
        "n_test": len(test_x),
        "n_mixed_neurons": int(rules.neurons.sum()),
        "n_mixed_synapses": rules.n_mixed,
        "dead_neurons": int(dead.sum()),
        "dead_window": int(len(window)),
        "dead_by_kind": {k: int(dead[m].sum()) for k, m in kinds.items()},
        "unlabelled_neurons": int(np.sum(assignments < 0)),
        "updates": {k: _update_shares(totals, m) for k, m in kinds.items() if m.any()},
        "weights": {"base": _weight_summary(weights, ~rules.mixed),
                    "mixed": _weight_summary(weights, rules.mixed)},
        "repeats": {ph: int(repeats[ph].sum()) for ph in PHASES},
        "gave_up": {ph: int(gave_up[ph].sum()) for ph in PHASES},
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "mean_spikes_per_image": {ph: float(counts[ph].sum(axis=1).mean())
                                  if len(counts[ph]) else None for ph in PHASES},
    }
    return RunResult(record, weights.astype(np.float32), rules.neurons.copy(),
                     assignments, net.theta.astype(np.float32))
