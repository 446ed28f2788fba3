"""The verdict report: every claim of the 2015 thesis tested with seed statistics.

Runs the sweeps the claims need (:mod:`bridge.claims.plan`) with the sweep experiments
of :mod:`ann.experiments` (those of ``mixlu_mnist.py`` and ``mixlu_cifar.py``; each
sweep's log starts with its equivalent command), each into its own resumable store
``DIR/sweeps/NAME`` (runs shared by several claims are trained once), runs the Brian2
rate experiment of claim 8 and the MixSTDP spiking experiment of claim 9
(``DIR/mixstdp``, :data:`bridge.claims.spiking.SPIKING_SCALES`), and writes
``DIR/report.md``, ``DIR/report.json`` and the figures: per claim its pre-registered
plan (``--plan`` prints it alone), the thesis's evidence, ours (mean ± sd, 95 %
interval, n), a verdict (supported / refuted / not distinguishable at n = k /
untestable on this data / true or false by construction / a finding,
:data:`common.stats.VERDICTS`) and the data used.

Scales: ``smoke`` (every claim, tiny, a few minutes: checks the machinery),
``offline`` (what a 2-core machine without downloads settles: mnist-5k at the full
protocol with 5 seeds, Fashion-MNIST's 60,000 images for the thesis's 12,000 SGD steps
per run, LeNet5 at a reduced epoch count), ``full`` (10 seeds, every share, MNIST and
CIFAR-10 from --mnist-dir / --cifar-dir; for a GPU or a cluster: --executor ray).

Rerunning the same command resumes where it stopped: finished runs are never
recomputed, and the stated wall time adds up every invocation.

    python experiments/thesis_claims.py --scale offline --mnist-dir DIR --out results/claims
    python experiments/thesis_claims.py --out results/claims --report-only
    python experiments/thesis_claims.py --plan    # the analysis plan, nothing run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ann.experiments import experiment  # noqa: E402
from ann.run_store import RunStore  # noqa: E402
from ann.train import resolve_device  # noqa: E402
from bridge.claims import figures  # noqa: E402
from bridge.claims.analysis import analyse  # noqa: E402
from bridge.claims.analysis_plan import plan_text  # noqa: E402
from bridge.claims.plan import SCALES, Sweep, scale_sweeps  # noqa: E402
from bridge.claims.records import rate_problem, spiking_problem  # noqa: E402
from bridge.claims.report import build_report, label_scale, summary_table  # noqa: E402
from bridge.sweep_signs import run_with_signs  # noqa: E402
from common.checks import is_within  # noqa: E402
from common.cli import OneLineArgumentParser, UserError, cli_main, raise_interrupt  # noqa: E402
from common.environment import environment  # noqa: E402
from common.files import (  # noqa: E402
    atomic_write_json,
    atomic_write_text,
    check_writable_dir,
    directory_argument,
)
from common.run_store import StoreError, read_document, set_aside  # noqa: E402

#: Synapses per preset and ramp of claim 8's rate experiment, per scale.
RATE_SYNAPSES = {"smoke": 200, "offline": 2000, "full": 10000}
#: The scale of a study when --scale is not given (--report-only: the stored one).
DEFAULT_SCALE = "offline"
#: The data options whose folders ``study.json`` records (``data_dirs``).
DATA_DIRS = ("mnist_dir", "fashion_dir", "cifar_dir")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="thesis_claims.py",
        description="Every thesis claim tested with seed statistics: runs the sweeps, "
        "writes DIR/report.md, DIR/report.json and figures.",
        epilog="Rerunning the same command resumes it. Bad options print one 'error: ...' "
        "line and exit with status 2.")
    parser.add_argument("--scale", default=None, choices=SCALES,
                        help="smoke: every claim, tiny (minutes); offline: what a 2-core "
                             "machine without downloads settles (hours); full: 10 seeds, "
                             "every share, full protocols (a GPU or a cluster) "
                             f"(default: {DEFAULT_SCALE}; with --report-only: the stored "
                             f"study's, and another is refused)")
    parser.add_argument("--out", type=directory_argument, default=Path("results/claims"),
                        metavar="DIR", help="where the sweeps, report and figures go "
                        "(default: %(default)s)")
    parser.add_argument("--mnist-dir", type=Path, default=None, metavar="DIR",
                        help="MNIST files (the official test set for mnist-5k; all of MNIST "
                             "for the full scale), passed as --data-dir to the LeNet sweeps")
    parser.add_argument("--fashion-dir", type=Path, default=None, metavar="DIR",
                        help="Fashion-MNIST files (default: the loader's search: user cache, "
                             "/usr/share/datasets/fashion-mnist, download)")
    parser.add_argument("--cifar-dir", type=Path, default=None, metavar="DIR",
                        help="CIFAR-10 python batches: with --scale full the LeNet5 sweeps "
                             "use CIFAR-10 (else Fashion-MNIST padded to 32x32)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rebuild the report from the stored runs")
    parser.add_argument("--plan", action="store_true",
                        help="print the pre-registered analysis plan (primary test, the "
                             "thesis's effect and its noise, family, decision rule) and exit")
    parser.add_argument("--device", default="auto",
                        help="torch device of the sweeps (default: %(default)s)")
    parser.add_argument("--executor", default="local", choices=["local", "ray"],
                        help="where the sweeps train (see mixlu_mnist.py --help) "
                             "(default: %(default)s)")
    parser.add_argument("--ray-address", default=None, metavar="ADDR",
                        help="with --executor ray: 'auto' or host:port of a cluster")
    parser.add_argument("--ray-cpus-per-task", type=int, default=None, metavar="N",
                        help="with --executor ray: CPUs per task")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _data_dir(sweep: Sweep, args: argparse.Namespace) -> Path | None:
    return {"mnist": args.mnist_dir, "fashion": args.fashion_dir,
            "cifar": args.cifar_dir}[sweep.data]


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """Where and how every sweep runs: the sweep options given to the study."""
    options = {"device": args.device, "executor": args.executor,
               "ray_address": args.ray_address, "no_progress": args.no_progress}
    if args.ray_cpus_per_task is not None:
        options["ray_cpus_per_task"] = args.ray_cpus_per_task
    return options


def check_arguments(args: argparse.Namespace) -> None:
    """Validate before anything long runs (one-line :class:`UserError`)."""
    for name in DATA_DIRS:
        value = getattr(args, name)
        if value is not None and not value.is_dir():
            raise UserError(f"--{name.replace('_', '-')} {str(value)!r} is not a directory")
    if args.cifar_dir is not None and not args.report_only \
            and (args.scale or DEFAULT_SCALE) != "full":
        raise UserError("--cifar-dir is used by --scale full only")
    if args.executor != "ray" and (args.ray_address is not None
                                   or args.ray_cpus_per_task is not None):
        raise UserError("--ray-address and --ray-cpus-per-task need --executor ray")
    if args.ray_cpus_per_task is not None and not 1 <= args.ray_cpus_per_task <= 1024:
        raise UserError(f"--ray-cpus-per-task must be an integer in 1..1024, got "
                        f"{args.ray_cpus_per_task}")
    try:
        resolve_device(args.device)
    except ValueError as exc:
        raise UserError(f"--device: {exc}") from None
    if args.report_only:
        if not os.path.lexists(args.out / "study.json"):
            raise UserError(f"--report-only needs --out DIR with a stored study "
                            f"({args.out / 'study.json'} not found)")
        return
    try:
        check_writable_dir(args.out, "--out")
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _stored_document(path: Path, what: str, problem) -> dict[str, Any]:
    """The JSON object in ``path`` (:func:`common.run_store.read_document`) for which
    ``problem(document)`` says ``""``; else one-line :class:`StoreError` naming it."""
    return _checked(read_document(path, what), path, what, problem)


def _checked(document: dict[str, Any], path: Path, what: str, problem) -> dict[str, Any]:
    """``document`` (read from ``path``) if ``problem(document)`` says ``""``; else
    one-line :class:`StoreError` naming the file."""
    reason = problem(document)
    if reason:
        raise StoreError(f"{path} is not a {what} ({reason}); {set_aside(path)}")
    return document


def study_problem(study: dict[str, Any]) -> str:
    """What makes ``study`` (``DIR/study.json``) not a study of this toolkit, or ``""``:
    ``scale`` one of :data:`~bridge.claims.plan.SCALES`, ``cifar`` a bool,
    ``wall_seconds`` a finite duration, ``data_dirs`` folder names (or null) by option."""
    if study.get("scale") not in SCALES:
        return f"scale is {str(study.get('scale'))[:40]!r}, not one of {', '.join(SCALES)}"
    if not isinstance(study.get("cifar", False), bool):
        return f"cifar is {str(study['cifar'])[:40]!r}, not true or false"
    if not is_within(study.get("wall_seconds", 0.0), 0.0):
        return f"wall_seconds is {str(study['wall_seconds'])[:40]!r}, not a duration (>= 0)"
    dirs = study.get("data_dirs", {})
    if not isinstance(dirs, dict) or not all(v is None or isinstance(v, str) and v
                                             for v in dirs.values()):
        return (f"data_dirs is {str(dirs)[:40]!r}, not folders by option "
                f"({', '.join(DATA_DIRS)})")
    return ""


def read_study(out: Path) -> dict[str, Any]:
    """``DIR/study.json``, checked (:func:`study_problem`).

    Raises:
        StoreError: one line naming the file, what is wrong and how to set it aside.
    """
    return _stored_document(out / "study.json", "study.json", study_problem)


def claim_study(out: Path, scale: str, cifar: bool) -> dict[str, Any]:
    """The study ``DIR`` holds (:func:`read_study`), which must be of ``scale`` and
    ``cifar``, or a new one of them; nothing is written (the caller writes a new study
    once every stored file is checked, :func:`check_stored_files`).

    Raises:
        UserError: ``DIR`` holds a study of another scale.
        StoreError: ``study.json`` is corrupt.
    """
    study = {"scale": scale, "cifar": cifar}
    if not os.path.lexists(out / "study.json"):
        return {**study, "wall_seconds": 0.0}
    stored = read_study(out)
    if {k: stored.get(k, False if k == "cifar" else None) for k in study} != study:
        raise UserError(f"{out} holds the {stored['scale']!r} study; use another --out "
                        f"for --scale {scale}")
    return stored


def _same_dir(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them is not there (from here)
        return Path(a).resolve() == Path(b).resolve()


def check_report_options(args: argparse.Namespace, study: dict[str, Any]) -> None:
    """``--report-only``: refuse options that select another study than the stored one
    (another ``--scale``, ``--cifar-dir`` for a study without CIFAR-10, a data folder
    other than the one its sweeps read), which would otherwise label its report."""
    where = f"--report-only --out {str(args.out)!r}"
    if args.scale is not None and args.scale != study["scale"]:
        raise UserError(f"--scale {args.scale}: {where} holds the {study['scale']!r} study; "
                        f"leave --scale out to report it, or choose the --out of a "
                        f"{args.scale} study")
    if args.cifar_dir is not None and not study.get("cifar", False):
        raise UserError(f"--cifar-dir: {where} holds a study without CIFAR-10; leave "
                        f"--cifar-dir out to report it")
    stored = study.get("data_dirs", {})
    for name in DATA_DIRS:
        given = getattr(args, name)
        if given is None or name not in stored or (
                stored[name] is not None and _same_dir(given, stored[name])):
            continue
        option = "--" + name.replace("_", "-")
        read = (f"{stored[name]!r}" if stored[name] is not None
                else "the loader's default folders")
        raise UserError(f"{option} {str(given)!r}: the sweeps of {where} read {read} "
                        f"(study.json); leave {option} out to report them")


class WallClock:
    """Adds this invocation's wall time to ``DIR/study.json``'s ``wall_seconds``: every
    ``every`` seconds from a background thread and on exit, so a killed study loses at
    most that much of its stated time.  The data folders of the sweeps that ran
    (:meth:`confirm`) go into its ``data_dirs`` with it.  A study refused (a
    :class:`UserError`, e.g. a sweep of other data) before the first ``every`` seconds
    leaves ``study.json`` as it was.

    Args:
        out: the study's directory.
        study: its ``study.json`` as checked (:func:`claim_study`).
        every: seconds between writes.
    """

    def __init__(self, out: Path, study: dict[str, Any], every: float = 60.0):
        self.path, self.every = out / "study.json", every
        self.study = dict(study)
        self.base = float(study.get("wall_seconds", 0.0))
        self.data_dirs = dict(study.get("data_dirs") or {})
        self.started = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._guard = threading.Lock()
        self._ticks = 0
        self._final: float | None = None

    def total(self) -> float:
        """The study's wall time so far (after exit: as written)."""
        if self._final is not None:
            return self._final
        return self.base + time.perf_counter() - self.started

    def confirm(self, name: str, folder: Path | None) -> None:
        """Record that the sweeps of data option ``name`` (``mnist_dir`` ...) ran on
        ``folder`` (``None``: the loader's default folders)."""
        with self._guard:
            self.data_dirs[name] = None if folder is None else str(folder)

    def _write(self) -> float:
        total = self.total()
        with self._guard:
            document = {**self.study, "wall_seconds": total, "data_dirs": dict(self.data_dirs)}
        atomic_write_json(self.path, document)
        return total

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self._write()
            self._ticks += 1

    def __enter__(self) -> WallClock:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if kind is not None and issubclass(kind, UserError) and not self._ticks:
            self._final = self.base  # refused: study.json as it was
            return
        self._final = self._write()


def run_sweep(sweep: Sweep, args: argparse.Namespace) -> None:
    """Run (or resume) one sweep with its experiment (:mod:`ann.experiments`), its
    printed report into ``DIR/sweeps/NAME/log.txt``, headed by the equivalent command."""
    directory = args.out / "sweeps" / sweep.name
    directory.mkdir(parents=True, exist_ok=True)
    data_dir, run = _data_dir(sweep, args), _run_options(args)
    command = sweep.command(directory, data_dir, **run)
    with open(directory / "log.txt", "a", encoding="utf-8", buffering=1) as log, \
            contextlib.redirect_stdout(log):
        print(f"# {command}")
        run_with_signs(experiment(sweep.script), sweep.options(directory, data_dir, **run),
                       sweep.signs_every, command=command)


def rate_experiment(out: Path, scale: str, train: bool) -> dict[str, Any] | None:
    """Claim 8's Brian2 rate experiment, run once per study (``DIR/rate_experiment.json``)."""
    path = out / "rate_experiment.json"
    params = {"n_synapses": RATE_SYNAPSES[scale], "duration_s": 1.0, "seed": 0}
    if os.path.lexists(path):
        stored = read_document(path, "rate experiment document")
        if stored.get("params") == params:  # (read once, checked once)
            return _checked(stored, path, "rate experiment document", rate_problem)
    if not train:
        return None
    from bridge.biology import rate_verdicts

    rows, verdicts = rate_verdicts(**params)
    document = {"params": params, "rows": rows, "verdicts": verdicts}
    atomic_write_json(path, document)
    return document


def spiking_experiment(out: Path, scale: str, train: bool, data_dir: Path | None,
                       progress: bool) -> dict[str, Any] | None:
    """Claim 9's MixSTDP experiment (``DIR/mixstdp``, resumable); with ``train`` off, its
    stored document if it was run at this scale."""
    from bridge.claims.spiking import SPIKING_SCALES

    directory = out / "mixstdp"
    settings = SPIKING_SCALES[scale]
    if not train:
        path = directory / "mixstdp_mnist.json"
        if not os.path.lexists(path):
            return None
        stored = _stored_document(path, "MixSTDP document", spiking_problem)
        options = stored["options"]
        same = all(options.get(k) == (list(v) if isinstance(v, tuple) else v)
                   for k, v in settings.items())
        return stored if same else None
    from stdp_sim.diehl_cook.experiment import MixSTDPOptions, run_experiment

    with open(out / "mixstdp.log.txt", "a", encoding="utf-8", buffering=1) as log:
        return run_experiment(MixSTDPOptions(**settings, data_dir=data_dir, out=directory,
                                             progress=progress),
                              log=lambda line: print(line, file=log))


def stored_runs(out: Path, sweeps: list[Sweep]
                ) -> tuple[dict[str, list[dict[str, Any]]], list[Sweep]]:
    """Every stored run of every sweep (missing sweeps: none), and the sweeps as their
    stores say they ran (the dataset actually loaded, its sizes)."""
    runs, actual = {}, []
    for sweep in sweeps:
        directory = out / "sweeps" / sweep.name
        if not os.path.lexists(directory / "sweep.json"):
            runs[sweep.name] = []
            actual.append(sweep)
            continue
        store = RunStore.open(directory)
        runs[sweep.name] = [store.load(k) for k in store.keys()]
        actual.append(sweep.stored(store.stored_meta))
    return runs, actual


def check_stored_files(out: Path, sweeps: list[Sweep], scale: str) -> None:
    """Read every stored file a study of ``scale`` goes on from, before anything is
    written or trained: each sweep's ``sweep.json`` and run records (checked as the
    run store loads them), the rate experiment's document and the MixSTDP runs; a
    bad one is one line naming it (:class:`StoreError`)."""
    stored_runs(out, sweeps)
    rate_experiment(out, scale, train=False)
    mixstdp = out / "mixstdp"
    if os.path.lexists(mixstdp / "sweep.json"):
        from stdp_sim.diehl_cook.experiment import MixSTDPStore

        store = MixSTDPStore.open(mixstdp)
        for key in store.keys():
            store.load(key)


def expected_runs(sweep: Sweep) -> int:
    """How many runs the sweep plans (activations x seeds)."""
    from ann.specs import parse_activations

    return len(parse_activations(sweep.activations)) * sweep.seeds


def write_figures(out: Path, sweeps: list[Sweep], runs: dict[str, list[dict[str, Any]]]
                  ) -> list[Path]:
    """The figures, each from the first sweep of its claim that has runs."""
    def first(claim: int, model: str = "lenet") -> Sweep | None:
        return next((s for s in sweeps if claim in s.claims and s.model == model
                     and runs.get(s.name)), None)

    written = []
    jobs = [(figures.errors_over_epochs, 3, "errors_over_epochs.png"),
            (figures.divergence_vs_share, 2, "divergence_vs_share.png"),
            (figures.gap_vs_share, 1, "gap_vs_share.png"),
            (figures.dead_units_vs_share, 4, "dead_units_vs_share.png"),
            (figures.prelu_slopes_figure, 6, "prelu_slopes.png")]
    for draw, claim, name in jobs:
        sweep = first(claim)
        if sweep is not None:
            path = draw(runs[sweep.name], out / name, sweep.describe_data())
            if path is not None:
                written.append(path)
    return written


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the study for parsed ``args``; return the report's JSON document (``--plan``:
    print the analysis plan and return ``{"plan": text}``)."""
    if args.plan:
        text = plan_text()
        print(text, end="")
        return {"plan": text}
    check_arguments(args)
    if args.report_only:
        study = read_study(args.out)
        check_report_options(args, study)
        scale, cifar = study["scale"], study.get("cifar", False)
        for name in DATA_DIRS:  # the report's commands name the data the sweeps read
            if getattr(args, name) is None and study.get("data_dirs", {}).get(name):
                setattr(args, name, Path(study["data_dirs"][name]))
        sweeps = scale_sweeps(scale, cifar)
    else:
        scale, cifar = args.scale or DEFAULT_SCALE, args.cifar_dir is not None
        study = claim_study(args.out, scale, cifar)
        sweeps = scale_sweeps(scale, cifar)
        check_stored_files(args.out, sweeps, scale)  # before anything is written
        if not os.path.lexists(args.out / "study.json"):
            atomic_write_json(args.out / "study.json", study)
    command = shlex.join(["python", "experiments/thesis_claims.py", *sys.argv[1:]])
    with WallClock(args.out, study) if not args.report_only else contextlib.nullcontext() \
            as clock:
        if not args.report_only:
            for i, sweep in enumerate(sweeps, 1):
                print(f"[{i}/{len(sweeps)}] sweep {sweep.name}: {sweep.describe_data()}, "
                      f"{expected_runs(sweep)} runs (claims {', '.join(map(str, sweep.claims))}); "
                      f"log: {args.out / 'sweeps' / sweep.name / 'log.txt'}", flush=True)
                t0 = time.perf_counter()
                run_sweep(sweep, args)
                clock.confirm(f"{sweep.data}_dir", _data_dir(sweep, args))
                ran_on = stored_runs(args.out, [sweep])[1][0].describe_data()
                print(f"[{i}/{len(sweeps)}] sweep {sweep.name} done in "
                      f"{time.perf_counter() - t0:.0f} s on {ran_on}", flush=True)
            print("claim 8: the Brian2 rate experiment", flush=True)
        rate = rate_experiment(args.out, scale, train=not args.report_only)
        if not args.report_only:
            print(f"claim 9: the MixSTDP experiment (log: {args.out / 'mixstdp.log.txt'})",
                  flush=True)
        spiking = spiking_experiment(args.out, scale, train=not args.report_only,
                                     data_dir=args.mnist_dir, progress=not args.no_progress)
    wall = clock.total() if clock is not None else float(study.get("wall_seconds", 0.0))
    runs, actual = stored_runs(args.out, sweeps)
    claims = label_scale(analyse(runs, actual, rate, spiking), scale)
    sweep_rows = [{
        "name": s.name, "data": a.describe_data(), "claims": list(s.claims),
        "command": s.command(args.out / "sweeps" / s.name, _data_dir(s, args)),
        "runs": len(runs[s.name]), "expected": expected_runs(s),
        "seconds": sum(r.get("seconds", 0.0) for r in runs[s.name]),
    } for s, a in zip(sweeps, actual, strict=True)]
    rate_command = (f"bridge.biology.rate_verdicts(**{rate['params']})" if rate else None)
    written = write_figures(args.out, actual, runs)
    for claim in claims:  # link only the figures there was something to draw for
        claim["figures"] = [f for f in claim["figures"] if args.out / f in written]
    text, document = build_report(claims, sweep_rows, scale=scale, command=command,
                                  wall_seconds=wall, environment=environment(),
                                  rate_command=rate_command)
    written += [atomic_write_text(args.out / "report.md", text),
                atomic_write_json(args.out / "report.json", document)]
    print("")
    print(summary_table(claims))
    print("")
    print(f"wall time {wall / 60:.1f} min over all invocations; wrote "
          + ", ".join(str(p) for p in written))
    return document


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for user errors).  SIGTERM
    stops the study as Ctrl-C does, so its wall time up to then is kept."""
    if threading.current_thread() is not threading.main_thread():
        return cli_main(build_parser(), run, argv)
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        return cli_main(build_parser(), run, argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
