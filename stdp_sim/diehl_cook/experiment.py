"""The MixSTDP digit experiment: shares × seeds of the Diehl & Cook network.

For each share of neurons under the mixed-in rule (temporally-inverted STDP by
default) and each seed, one run of :func:`~stdp_sim.diehl_cook.training.train_and_test`
on mnist-5k training images and the official MNIST test set (when ``data_dir`` or the
cache holds it; else a held-out split of the 5k), with the engine of
:func:`~stdp_sim.diehl_cook.standalone.resolve_engine` (C++ standalone when a compiler
works, else the Cython runtime; one line says which).  The biological form of the thesis's
question: does a share of temporally-inverted STDP change what the network learns and
how it generalises (train − test gap), as MixLU is claimed to in LeNet?

Output directory (``out``), with the sweeps' error policy, lock and resume
(:mod:`common.run_store`): ``sweep.json`` (identity), ``runs/<key>.json`` (one run
each), ``arrays/<key>.npz`` (final weights, labels, thresholds), ``checkpoints/``
(unfinished runs, resumed chunk by chunk), and ``mixstdp_mnist.json``/``.csv``/``.png``,
``mixstdp_fields.png``, ``mixstdp_weights.png``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.checks import is_integer, is_real, is_within
from common.cli import UserError
from common.environment import environment
from common.files import atomic_write, atomic_write_json, atomic_write_text
from common.progress import progress_bar
from common.run_store import RunStore, StoreError
from common.stats import seed_stat, slope
from stdp_sim.diehl_cook.parameters import DiehlCookParameters
from stdp_sim.diehl_cook.plasticity import UPDATE_REGIMES, mixed_rule
from stdp_sim.diehl_cook.standalone import (
    ENGINES,
    BuildError,
    compiler_problem,
    resolve_engine,
)
from stdp_sim.diehl_cook.training import CHECKPOINT_VERSION, RunSettings, train_and_test

__all__ = ["MixSTDPOptions", "MixSTDPStore", "run_experiment", "summarize", "QUICK",
           "DEFAULT_PERCENTS", "EXPERIMENT", "choose_engine"]

EXPERIMENT = "mixstdp_mnist"
DEFAULT_PERCENTS = (0.0, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0)
#: ``--quick``: a machinery check (well under 2 minutes on 2 cores once Brian2's
#: modules, or the standalone program, are compiled), not evidence.
QUICK = {"percents": (0.0, 50.0), "seeds": 1, "n_exc": 20, "n_train": 100, "n_test": 100,
         "chunk": 50}


@dataclass
class MixSTDPOptions:
    """One field per command-line option of ``experiments/mixstdp_mnist.py``."""

    percents: tuple[float, ...] = DEFAULT_PERCENTS
    seeds: int = 3
    n_exc: int = 100
    n_train: int = 1000
    n_test: int = 1000
    by: str = "neuron"
    rule: str = "mirror"
    chunk: int = 100
    data_dir: Path | None = None
    out: Path | None = None
    progress: bool = True
    quick: bool = False
    #: "auto" (C++ standalone when a compiler works, else the Cython runtime),
    #: "standalone" or "runtime" (:func:`~stdp_sim.diehl_cook.standalone.resolve_engine`).
    engine: str = "auto"

    def resolved(self) -> MixSTDPOptions:
        """These options with ``quick`` applied and every value checked."""
        values = asdict(self)
        if self.quick:
            values.update(QUICK)
        options = MixSTDPOptions(**values)
        check_options(options)
        return options


def check_options(o: MixSTDPOptions) -> None:
    """One :class:`UserError` line naming the first bad option."""
    if not o.percents:
        raise UserError("--percents must name at least one percentage")
    for p in o.percents:
        if not is_real(p) or not 0 <= float(p) <= 100:
            raise UserError(f"--percents: {p!r} is not a percentage in [0, 100]")
    if len(set(o.percents)) != len(o.percents):
        raise UserError("--percents: each percentage once")
    for name, low, high in (("seeds", 1, 1000), ("n_exc", 1, 10000), ("n_train", 1, 60000),
                            ("n_test", 1, 10000), ("chunk", 1, 100000)):
        value = getattr(o, name)
        if not is_integer(value) or not low <= value <= high:
            raise UserError(f"--{name.replace('_', '-')} must be an integer in "
                            f"[{low}, {high}], got {value!r}")
    if o.engine not in ("auto", *ENGINES):
        raise UserError(f"--engine must be 'auto', 'standalone' or 'runtime', got "
                        f"{o.engine!r}")
    if o.by not in ("neuron", "synapse"):
        raise UserError(f"--by must be 'neuron' or 'synapse', got {o.by!r}")
    try:
        mixed_rule(o.rule)
    except ValueError as exc:
        raise UserError(f"--rule: {exc}") from None


class MixSTDPStore(RunStore):
    """The experiment's finished runs: each record has the published fields."""

    fields = ("share", "seed", "train_accuracy", "test_accuracy", "images_per_second")
    version_key = "checkpoint_version"

    def problem(self, result: dict[str, Any]) -> str:
        for name in ("share", "train_accuracy", "test_accuracy"):
            if not is_within(result[name], 0.0, 1.0):
                return f"{name} is {result[name]!r}, not a fraction"
        if not is_within(result["images_per_second"], 0.0):
            return f"images_per_second is {result['images_per_second']!r}, not a rate"
        if not is_integer(result["seed"]) or result["seed"] < 0:
            return f"seed is {result['seed']!r}, not a non-negative integer"
        return ""


def _load_data(o: MixSTDPOptions, log: Callable[[str], None]):
    from common.data.download import DEFAULT_TIMEOUT
    from common.data.mnist import default_cache_dir, load_mnist_5k_arrays

    train_x, train_y, test_x, test_y, info = load_mnist_5k_arrays(
        data_dir=o.data_dir, cache_dir=default_cache_dir(), download=False,
        timeout=DEFAULT_TIMEOUT, log=log)
    if o.n_train > len(train_x):
        raise UserError(f"--n-train {o.n_train} is more than the {len(train_x)} training "
                        f"images of mnist-5k")
    if o.n_test > len(test_x):
        raise UserError(f"--n-test {o.n_test} is more than the {len(test_x)} test images "
                        f"({info['test_source']})")
    # the same images for every run (a class-mixed subset; each run orders them by seed)
    pick = np.random.default_rng(0).permutation(len(train_x))[:o.n_train]
    test_pick = np.random.default_rng(1).permutation(len(test_x))[:o.n_test]
    return train_x[pick], train_y[pick], test_x[test_pick], test_y[test_pick], info


def _settings(o: MixSTDPOptions, engine: str) -> list[RunSettings]:
    return [RunSettings(share=float(p) / 100.0, seed=s, n_exc=o.n_exc, by=o.by, rule=o.rule,
                        chunk=o.chunk, engine=engine)
            for p in o.percents for s in range(o.seeds)]


def _stored_engine(out: Path | None) -> str | None:
    """The engine of the runs already stored in ``out`` (``None``: no store there)."""
    if out is None or not os.path.lexists(out / "sweep.json"):
        return None
    meta = MixSTDPStore.open(out).stored_meta
    return meta.get("engine", "runtime")  # stores from before the option: runtime


def choose_engine(o: MixSTDPOptions, log: Callable[[str], None]) -> str:
    """The engine ``o.engine`` resolves to, logged in one line; a :class:`UserError`
    when ``standalone`` is asked for and no compiler works.  ``auto`` continues a
    store in ``o.out`` with the engine its runs were made with (when it can)."""
    stored = _stored_engine(o.out) if o.engine == "auto" else None
    if stored == "runtime" or (stored == "standalone" and compiler_problem() is None):
        log(f"engine: {stored} (as the runs already stored in {o.out})")
        return stored
    try:
        engine, line = resolve_engine(o.engine)
    except ValueError as exc:
        raise UserError(f"--engine: {exc}") from None
    log(line)
    return engine


def run_experiment(options: MixSTDPOptions, *, log: Callable[[str], None] = print,
                   parameters: DiehlCookParameters | None = None) -> dict:
    """Run (or resume) every share × seed of ``options``; write the outputs to
    ``options.out`` (if given) and return the summary document."""
    o = options.resolved()
    parameters = (parameters or DiehlCookParameters()).replace(n_exc=o.n_exc)
    claim = RunStore.claim(o.out) if o.out is not None else contextlib.nullcontext()
    with claim:
        engine = choose_engine(o, log)
        target = "cpp_standalone" if engine == "standalone" else "cython"
        train_x, train_y, test_x, test_y, info = _load_data(o, log)
        fingerprint = hashlib.sha256(train_x.tobytes() + test_x.tobytes()).hexdigest()[:16]
        meta = {"experiment": EXPERIMENT, "checkpoint_version": CHECKPOINT_VERSION,
                "n_exc": o.n_exc, "n_train": o.n_train, "n_test": o.n_test, "by": o.by,
                "rule": o.rule, "data": fingerprint, "parameters": parameters.as_dict()}
        if engine != "runtime":  # runtime stores keep the identity they had before
            meta["engine"] = engine
        store = (MixSTDPStore(o.out, meta, provenance=environment(target=target))
                 if o.out is not None else None)
        runs: list[dict] = []
        arrays: dict[str, dict] = {}
        todo = []
        for settings in _settings(o, engine):
            stored = store.load(settings.key) if store is not None else None
            if stored is not None:
                runs.append(stored)
                arrays[settings.key] = _read_arrays(o.out, settings.key)
            else:
                todo.append(settings)
        log(f"{EXPERIMENT}: {len(runs) + len(todo)} runs ({len(o.percents)} shares x "
            f"{o.seeds} seeds), {o.n_exc} neurons, {o.n_train} training / {o.n_test} test "
            f"images, mixed-in rule {o.rule!r} by {o.by}, {engine} engine; {len(runs)} "
            f"stored, {len(todo)} to run")
        per_run = 2 * o.n_train + o.n_test
        bar = _progress(o.progress, len(todo) * per_run)
        try:
            for settings in todo:
                checkpoint = (o.out / "checkpoints" / f"{settings.key}.npz"
                              if o.out is not None else None)
                began = time.perf_counter()
                try:
                    result = train_and_test(settings, train_x, train_y, test_x, test_y,
                                            parameters=parameters, checkpoint=checkpoint,
                                            progress=bar.update)
                except BuildError as exc:
                    raise UserError(f"--engine standalone: {exc}; rerun with --engine "
                                    f"runtime") from None
                record = dict(result.record, percent=settings.share * 100,
                              wall_seconds=time.perf_counter() - began)
                if o.out is not None:
                    _write_arrays(o.out, settings.key, result)
                    store.save(settings.key, record)
                    checkpoint.unlink(missing_ok=True)
                runs.append(record)
                arrays[settings.key] = {"weights": result.weights,
                                        "mixed_neurons": result.mixed_neurons}
                log(f"  share {record['percent']:g} % seed {settings.seed}: train "
                    f"{100 * record['train_accuracy']:.1f} %, test "
                    f"{100 * record['test_accuracy']:.1f} %, "
                    f"{record['images_per_second']:.1f} images/s")
        finally:
            bar.close()
        runs.sort(key=lambda r: (r["share"], r["seed"]))
        document = {"experiment": EXPERIMENT, "options": _options_dict(o), "data": info,
                    "meta": meta, "summary": summarize(runs), "runs": runs,
                    "environment": environment(target=target)}
        if o.out is not None:
            _write_outputs(o.out, document, arrays, log)
        return document


def _options_dict(o: MixSTDPOptions) -> dict:
    d = asdict(o)
    d["data_dir"] = str(o.data_dir) if o.data_dir is not None else None
    d["out"] = str(o.out) if o.out is not None else None
    d["percents"] = list(o.percents)
    return d


def _progress(enabled: bool, total: int):
    """A progress bar in images (with images/s) on a terminal; nothing otherwise."""
    return progress_bar(total=total, unit="img", desc=EXPERIMENT, smoothing=0.05,
                        enabled=enabled and total > 0)


def _write_arrays(out: Path, key: str, result) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, weights=result.weights, mixed_neurons=result.mixed_neurons,
                                assignments=result.assignments, theta=result.theta)
    atomic_write(out / "arrays" / f"{key}.npz", write)


def _read_arrays(out: Path, key: str) -> dict:
    path = out / "arrays" / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path} cannot be read ({exc}); move runs/{key}.json aside and "
                         f"rerun to run it again") from None


def _stat(values: list[float]) -> dict:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return {"n": 0}
    s = seed_stat(values)
    if s.n < 2:  # no spread from one value (None, not NaN: the JSON stays standard)
        return {"n": 1, "mean": s.mean, "sd": None, "lo": None, "hi": None}
    return {"n": s.n, "mean": s.mean, "sd": s.sd, "lo": s.lo, "hi": s.hi}


def summarize(runs: list[dict]) -> dict:
    """Per share: mean ± sd (and 95 % t-interval) over seeds of the accuracies, gap,
    dead neurons, update-regime shares per neuron kind and weights per rule; and the
    least-squares slope of the gap on the share over all runs (descriptive: the
    verdict belongs to the pre-registered claim)."""
    shares = sorted({r["share"] for r in runs})
    rows = []
    for share in shares:
        group = [r for r in runs if r["share"] == share]
        row = {"share": share, "percent": share * 100, "seeds": len(group)}
        for name in ("train_accuracy", "test_accuracy", "gap", "dead_neurons",
                     "images_per_second"):
            row[name] = _stat([r[name] for r in group])
        for kind in ("normal", "mixed"):
            for _, regime in UPDATE_REGIMES:
                values = [r["updates"][kind]["magnitude"][regime.label]
                          for r in group if kind in r["updates"]]
                row[f"{kind} {regime.label}"] = _stat(values)
        for rule in ("base", "mixed"):
            row[f"{rule} weight mean"] = _stat([r["weights"][rule].get("mean")
                                                for r in group])
        rows.append(row)
    gap_slope = None
    if len(shares) >= 2 and len(runs) >= 3:  # points per %, every share (100 % included)
        effect = slope([100 * r["share"] for r in runs], [100 * r["gap"] for r in runs])
        gap_slope = {"points_per_percent": effect.estimate, "lo": effect.lo, "hi": effect.hi,
                     "n": len(runs)}
    return {"rows": rows, "gap_slope": gap_slope}


def _fmt(stat: dict, scale: float = 1.0, digits: int = 1) -> str:
    if not stat or stat.get("n", 0) == 0:
        return "—"
    if stat["sd"] is None:
        return f"{scale * stat['mean']:.{digits}f}"
    return f"{scale * stat['mean']:.{digits}f} ± {scale * stat['sd']:.{digits}f}"


def table(document: dict) -> str:
    """The Markdown table printed by the script (mean ± sd over seeds)."""
    rows = document["summary"]["rows"]
    mixed = any(r["mixed post-pre potentiation"].get("n") for r in rows)
    head = ["% mixed", "seeds", "train acc. %", "test acc. %", "gap (points)", "dead",
            "normal: pre-post pot. %", "normal: post-pre dep. %"]
    if mixed:
        head += ["mixed: pre-post dep. %", "mixed: post-pre pot. %"]
    head += ["weight mean (DC)", "weight mean (mixed)", "images/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in rows:
        cells = [f"{r['percent']:g}", str(r["seeds"]), _fmt(r["train_accuracy"], 100),
                 _fmt(r["test_accuracy"], 100), _fmt(r["gap"], 100), _fmt(r["dead_neurons"]),
                 _fmt(r["normal pre-post potentiation"], 100),
                 _fmt(r["normal post-pre depression"], 100)]
        if mixed:
            cells += [_fmt(r["mixed pre-post depression"], 100),
                      _fmt(r["mixed post-pre potentiation"], 100)]
        cells += [_fmt(r["base weight mean"], 1, 3), _fmt(r["mixed weight mean"], 1, 3),
                  _fmt(r["images_per_second"])]
        lines.append("| " + " | ".join(cells) + " |")
    gap = document["summary"]["gap_slope"]
    if gap is not None:
        lines.append("")
        lines.append(f"gap slope over every share (100 % included): "
                     f"{gap['points_per_percent']:+.3f} points per %, 95 % CI "
                     f"[{gap['lo']:+.3f}, {gap['hi']:+.3f}] (n = {gap['n']} runs; "
                     f"descriptive: claim 9 of thesis_claims.py judges the pre-registered "
                     f"slope)")
    lines.append("")
    lines.append("accuracies: labels from the other half of the training images; update "
                 "shares: fraction of the summed |Δw| of applied updates, per neuron kind "
                 "(DC: Diehl & Cook's rule; mixed: the mixed-in rule)")
    return "\n".join(lines)


CSV_FIELDS = ("share", "percent", "seed", "train_accuracy", "test_accuracy", "gap",
              "dead_neurons", "images_per_second", "n_train", "n_test", "key", "engine")


def _write_outputs(out: Path, document: dict, arrays: dict, log) -> None:
    from stdp_sim.diehl_cook.plots import write_figures

    atomic_write_json(out / f"{EXPERIMENT}.json", document)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for run in document["runs"]:
        writer.writerow({k: run.get(k) for k in CSV_FIELDS})
    atomic_write_text(out / f"{EXPERIMENT}.csv", buffer.getvalue())
    for path in write_figures(out, document, arrays):
        log(f"wrote {path}")

