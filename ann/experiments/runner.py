"""A sweep experiment: its definition (:class:`Experiment`) and how it runs.

An experiment is a model, a dataset and its preprocessing, a training protocol, a
sweep of activations and seeds, and the report tables that put the thesis's numbers
beside ours.  :meth:`Experiment.run` trains (or resumes, or only reports) the sweep of
:class:`~ann.experiments.options.SweepOptions`: it validates the options before
anything long, claims ``out`` (one process writes a folder), loads the data, trains
every run not yet stored (:func:`ann.sweep.run_sweep`), prints the report and writes
``STEM.json``, ``STEM.csv`` and ``STEM.png`` (:mod:`ann.experiments.outputs`).

The thesis's experiments are :data:`ann.experiments.mnist.MNIST_LENET_SWEEP` (Tables
6-8) and :data:`ann.experiments.cifar.CIFAR_LENET5_SWEEP` (Tables 9-10); a new one
subclasses :class:`Experiment`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ann.activations import BACKWARDS, MASK_MODES
from ann.config import TrainConfig
from ann.data.datasets import TensorData
from ann.engine_choice import choose_engine
from ann.environment import environment
from ann.executors import TaskFailed
from ann.experiments.options import (
    SweepOptions,
    check_options,
    make_executor,
    sweep_specs,
)
from ann.experiments.outputs import write_outputs
from ann.report import column_of
from ann.run_store import RunStore, StoreError
from ann.specs import ActivationSpec, RunSpec, is_plain_relu
from ann.step_observer import Observer
from ann.sweep import ENGINES, present, run_sweep, sweep_meta
from ann.train import resolve_device
from common.cli import UserError
from common.run_store import read_document, set_aside

__all__ = ["Experiment", "check_store_layout", "stored_results"]

#: ``(results, dataset name) -> text``: a section added to an experiment's report
#: (e.g. the bridge's update-sign table).
ReportSection = Callable[[list[dict[str, Any]], str], str | None]


class Experiment:
    """A sweep experiment: subclass it and set the class attributes and methods.

    Attributes:
        stem: name of its output files (``mixlu_mnist`` -> ``mixlu_mnist.json``) and of
            its script (``experiments/mixlu_mnist.py``).
        model: model name of every run (:data:`ann.specs.MODELS`).
        defaults: the experiment's values of options left ``None``
            (``percents``, ``dataset``, ``mask``).
        quick: the demo settings of ``quick=True`` (for options left ``None``).
        metric: ``"error"`` or ``"accuracy"`` (of the PNG).
    """

    stem: str
    model: str
    defaults: dict[str, Any]
    quick: dict[str, Any]
    metric: str = "error"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(stem={self.stem!r}, model={self.model!r})"

    # -- what a subclass defines ---------------------------------------------------

    def check(self, options: SweepOptions) -> None:
        """Checks of this experiment's own options (:class:`UserError`)."""

    def config(self, options: SweepOptions) -> TrainConfig:
        """The training protocol for ``options``."""
        raise NotImplementedError

    def load_data(self, options: SweepOptions, log: Callable[[str], None] = print
                  ) -> TensorData:
        """The preprocessed dataset of ``options``."""
        raise NotImplementedError

    def report(self, results: list[dict[str, Any]], dataset: str,
               options: SweepOptions) -> str:
        """The report tables of ``results`` (thesis beside ours)."""
        raise NotImplementedError

    def settings(self, data: TensorData, options: SweepOptions) -> dict[str, Any]:
        """Settings saved in ``sweep.json`` and checked on resume (model description,
        preprocessing ...)."""
        return {}

    def build_model(self, options: SweepOptions) -> Callable[[RunSpec], nn.Module] | None:
        """``spec -> nn.Module`` of every run (``None``: :func:`ann.models.build_model`)."""
        return None

    def title(self, dataset: str) -> str:
        """The PNG's title."""
        return f"{self.stem} on {dataset}"

    def announce(self, options: SweepOptions) -> str | None:
        """A line printed before the sweep starts (``None``: nothing)."""
        return None

    # -- running ------------------------------------------------------------------

    def resolve(self, options: SweepOptions) -> SweepOptions:
        """``options`` with the ``quick`` settings (when asked) and this experiment's
        defaults filled in, validated (:class:`UserError`)."""
        if options.quick:
            quick = dict(self.quick)
            if options.activations is not None:
                quick.pop("percents", None)  # the activations replace the grid
            options = options.with_defaults(**quick)
        options = options.with_defaults(**{k: v for k, v in self.defaults.items()
                                           if k != "percents"})
        check_options(options)
        self.check(options)
        return options

    def command(self, options: SweepOptions) -> str:
        """The shell command that runs ``options`` with this experiment's script."""
        return options.command(self.stem)

    def run(self, options: SweepOptions | None = None, *, observer: Observer | None = None,
            sections: Sequence[ReportSection] = (), log: Callable[[str], None] = print,
            command: str | None = None, **changes: Any) -> dict[str, Any]:
        """Run the sweep of ``options`` (or of the keyword ``changes`` to the defaults);
        return the JSON document (also written to ``options.out / "STEM.json"``).

        Args:
            options: the sweep's options (default: :class:`SweepOptions`'s).
            observer: watches every training step (:mod:`ann.step_observer`, e.g. the
                bridge's update signs); its identity is saved with the sweep.
            sections: extra report sections, printed after the tables.
            log: where lines go (default ``print``).
            command: the ``command`` recorded in the document (default: the equivalent
                command line, :meth:`command`).
            **changes: options, e.g. ``seeds=3, out="results/table6"``.

        Raises:
            UserError: a bad option, an unusable ``out``, a stored sweep that differs.
        """
        options = self.resolve((options or SweepOptions()).replace(**changes))
        return _run(self, options, observer, sections, log,
                    command or self.command(options))


def _report(experiment: Experiment, options: SweepOptions,
            sections: Sequence[ReportSection]) -> Callable[[list[dict[str, Any]], str], str]:
    def report(results: list[dict[str, Any]], dataset: str) -> str:
        parts = [experiment.report(results, dataset, options)]
        parts += [text for section in sections if (text := section(results, dataset))]
        return "\n\n".join(parts)
    return report


def _run(experiment: Experiment, options: SweepOptions, observer: Observer | None,
         sections: Sequence[ReportSection], out: Callable[[str], None],
         command: str) -> dict[str, Any]:
    """The body of :meth:`Experiment.run`, for resolved ``options``; ``out``: its log."""
    stem, model = experiment.stem, experiment.model
    report = _report(experiment, options, sections)
    mask = options.mask if options.activations is None else "per activation spec"
    device = resolve_device(options.device)
    env = environment(str(device))
    started = time.perf_counter()
    announcement = experiment.announce(options)
    if announcement:
        out(announcement)
    if options.out is not None:
        check_store_layout(options.out, [f"{stem}.{ext}" for ext in ("json", "csv", "png")])
    if options.report_only:
        store = RunStore.open(options.out)
        for key in ("experiment", "dataset"):  # what the report names
            if not isinstance(store.meta.get(key, ""), str):
                raise StoreError(f"{store.meta_path} is not a readable sweep.json ({key} is "
                                 f"{str(store.meta[key])[:40]!r}, not a name); "
                                 f"{set_aside(store.meta_path)}")
        if store.meta.get("experiment", stem) != stem:
            raise UserError(f"--report-only: {str(options.out)!r} holds a "
                            f"{store.meta['experiment']} sweep, not {stem}; report it with "
                            f"{store.meta['experiment']}.py")
        results = stored_results(store, model)
        if not results:
            raise UserError(f"--report-only: no stored runs in {str(options.out)!r}")
        meta = store.stored_meta
        dataset = meta.get("dataset", "?")
        out(f"report only: {len(results)} stored runs from {options.out}, nothing trained")
        document = {"experiment": stem, "dataset": dataset,
                    **{k: v for k, v in meta.items() if k not in ("experiment", "dataset")},
                    "report_only": True}
    else:
        config = experiment.config(options)
        specs = sweep_specs(options, experiment.defaults["percents"], model)
        claim = (RunStore.claim(options.out) if options.out is not None
                 else contextlib.nullcontext())
        with claim:  # locked, stored runs checked: before the data is loaded
            data = experiment.load_data(options, out)
            dataset = data.name
            extra = {**experiment.settings(data, options), "mask": mask}
            if observer is not None:
                extra["observer"] = observer.identity()
            engine = _resolve_engine(options, specs, data, config,
                                     experiment.build_model(options), device, env, out)
            store = None
            if options.out is not None:
                store = RunStore(options.out,
                                 sweep_meta(stem, data, config, engine, **extra),
                                 provenance=env)
            out(f"config: {config.to_dict()}")
            activations = list(dict.fromkeys(s.activation for s in specs))
            out(f"runs: {len(specs)} ({len(activations)} activations x {options.seeds} "
                f"seeds), engine {engine}, device {device}"
                + ("" if options.out else "; no --out: nothing saved, no resume"))
            executor = make_executor(options)
            try:
                results = run_sweep(specs, data, config, experiment.build_model(options),
                                    device=device, engine=engine, store=store,
                                    progress=not options.no_progress,
                                    verbose=options.verbose, observer=observer,
                                    executor=executor)
            except TaskFailed as exc:
                raise UserError(str(exc)) from None
            finally:
                if executor is not None:
                    executor.close()
            if observer is not None and observer.report():
                out(observer.report())
        document = {
            "experiment": stem,
            "dataset": data.name,
            "train_size": data.train_size,
            "test_size": data.test_size,
            "dataset_info": data.info,
            "config": config.to_dict(),
            **extra,
            "engine": engine,
        }
    elapsed = time.perf_counter() - started
    out("")
    out(report(results, dataset))
    document.update({
        "environment": env,
        "command": command,
        "sweep_seconds": elapsed,
        "runs": results,
    })
    if options.out is not None:
        written = write_outputs(options.out, stem, document, metric=experiment.metric,
                                title=experiment.title(dataset))
        out("")
        out("wrote " + ", ".join(str(p) for p in written))
    return document


def _resolve_engine(options: SweepOptions, specs, data, config, build_model, device,
                    env: dict[str, Any], out: Callable[[str], None]) -> str:
    """The engine of this sweep: the one asked for; under ``auto``, the one a resumed
    store's ``sweep.json`` records, else the probe's choice (:mod:`ann.engine_choice`),
    which goes into ``env`` (the store's provenance) and prints one line."""
    if options.engine != "auto":
        return options.engine
    if options.out is not None and (options.out / "sweep.json").is_file():
        stored = read_document(options.out / "sweep.json", "sweep.json").get("engine")
        if stored in ENGINES:
            out(f"engine: auto keeps {stored}, the engine recorded in "
                f"{options.out / 'sweep.json'}")
            return stored
    choice = choose_engine(specs, data, config, build_model, device)
    out(choice.line())
    env["engine_choice"] = choice.record()
    return choice.engine


def check_store_layout(out: Path, outputs: Sequence[str] = ()) -> None:
    """Refuse, in one line, an output directory whose entries have the wrong type
    (``runs`` or ``checkpoints`` a file, ``.lock`` or an output file a directory)
    before anything is computed."""
    for name in ("runs", "checkpoints"):
        if (out / name).exists() and not (out / name).is_dir():
            raise UserError(f"{out / name} is a file where the run store keeps a directory; "
                            f"move it aside and rerun")
    for name in (".lock", "sweep.json", *outputs):
        if (out / name).is_dir():
            raise UserError(f"{out / name} is a directory where a file is written; move it "
                            f"aside and rerun")


def stored_results(store: RunStore, model: str) -> list[dict[str, Any]]:
    """Every run in ``store``, ordered column (backward modes as :data:`BACKWARDS`, then
    other activations), seed, percent.  Runs of the earlier layout get the keys of the
    current one (their MixLU spec, from the sweep's mask mode, and ``model``)."""
    mask = store.stored_meta.get("mask", "fixed")
    results = []
    for key in store.keys():
        r = store.load(key)
        if "activation_spec" not in r:
            try:
                spec = RunSpec.from_result(r, mask if mask in MASK_MODES else "fixed", model)
            except ValueError as exc:
                raise StoreError(f"{store.path(key)} is not a stored run ({exc}); move it "
                                 f"aside and rerun") from None
            r = {**r, **spec.fields(), "layout": "earlier"}
        results.append(r)
    # a ReLU run that stands for the 0 % MixLU of every backward/mask mode of the store
    # (the specs in full: a stored one may leave out parameters at their defaults)
    specs = [ActivationSpec.from_dict(r["activation_spec"]).to_dict() for r in results]
    modes = list(dict.fromkeys((s["backward"], s["mask"]) for s in specs
                               if s["kind"] == "mixlu"))
    if modes:
        expanded = []
        for r, spec in zip(results, specs, strict=True):
            if not is_plain_relu(spec):  # ReLU with dropout is a baseline of its own
                expanded.append(r)
                continue
            expanded.extend(present(r, RunSpec.mixlu(0.0, b, r["seed"], m, r.get("model", model)))
                            for b, m in modes)
        results = expanded
    rank = {b: i for i, b in enumerate(BACKWARDS)}
    return sorted(results, key=lambda r: (rank.get(r["backward"], len(rank)), column_of(r),
                                          r["seed"], r["neg_percent"]))
