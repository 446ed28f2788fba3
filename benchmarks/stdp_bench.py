"""One Brian2 network for all table conditions vs one Brian2 run per condition.

Takes the conditions of the STDP tables (:data:`stdp_sim.tables.TABLES`: regime
tables and windows, as ``experiments/stdp_table.py`` runs them),
and times, in one process, with the same code-generation target and after one
untimed warm-up run (so Cython compilation is excluded from both):

(a) all conditions as synapses of ONE network, one ``Network.run``;
(b) one ``Network.run`` per condition, in a Python loop.

It checks that both give the same weight changes and prints ``ratio: <b/a>`` as
its last line.  The default protocol is shortened (5 pairings at 4 Hz, 1 s Poisson
trains) so that (b) finishes in a few minutes on 2 cores; the set of conditions
(rules x Δt x trials) is the table's.  ``--full`` uses the table's own defaults
(60 pairings at 1 Hz: (b) then takes the better part of an hour).

Run::

    python benchmarks/stdp_bench.py

Every option is checked before anything runs: a bad value prints one ``error: ...``
line and exits with status 2 (Ctrl-C: 130; (a) and (b) disagreeing: 1).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brian2 import ms  # noqa: E402

from common.cli import OneLineArgumentParser, UserError, cli_main  # noqa: E402
from common.progress import progress_bar  # noqa: E402
from stdp_sim import resolve_target, run_conditions  # noqa: E402
from stdp_sim.backend import TARGETS  # noqa: E402
from stdp_sim.tables import TABLES, TableConfig  # noqa: E402

#: Targets that can run many networks in one process (cpp_standalone builds a project
#: per network size, which would time the compiler).
BENCH_TARGETS = TARGETS[:3]

QUICK = {"n_pairings": 5, "pairing_rate_hz": 4.0, "poisson_duration_s": 1.0}


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog="stdp_bench.py", description=__doc__.split("\n")[0])
    p.add_argument(
        "--full",
        action="store_true",
        help="use the table's default protocol (60 pairings at 1 Hz, 10 s Poisson)",
    )
    p.add_argument(
        "--n-pairings",
        type=int,
        default=None,
        metavar="N",
        help=f"pairings per condition (default {QUICK['n_pairings']}, --full: 60)",
    )
    p.add_argument(
        "--pairing-rate-hz",
        type=float,
        default=None,
        metavar="HZ",
        help=f"pairing rate in Hz (default {QUICK['pairing_rate_hz']:g}, --full: 1)",
    )
    p.add_argument(
        "--poisson-duration-s",
        type=float,
        default=None,
        metavar="S",
        help=f"Poisson train length in s (default {QUICK['poisson_duration_s']:g}, --full: 10)",
    )
    p.add_argument(
        "--trials",
        type=int,
        default=10,
        metavar="N",
        help="trials per regime row (default %(default)s)",
    )
    p.add_argument(
        "--target",
        default="auto",
        metavar="TARGET",
        help=f"Brian2 target: {', '.join(BENCH_TARGETS)} (default %(default)s)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        metavar="N",
        help="timed repetitions of (a); the fastest counts (default %(default)s)",
    )
    return p


def bench(cfg: TableConfig, target: str, repeats: int = 3) -> dict:
    """Time (a) one network and (b) one run per condition; return the numbers."""
    conditions = [c for table in TABLES for c in table.conditions(cfg)]
    kwargs = {"dt": cfg.dt_ms * ms, "target": target, "idt_window": cfg.idt_window_ms * ms}

    run_conditions(conditions, progress=False, **kwargs)  # warm-up: compile / load cache
    times_a = []
    for _ in range(repeats):
        start = time.perf_counter()
        one = run_conditions(conditions, progress=False, **kwargs)
        times_a.append(time.perf_counter() - start)

    start = time.perf_counter()
    # closed (its line cleared) also on Ctrl-C, before cli_main prints "interrupted"
    with progress_bar(conditions, desc="(b) one run per condition", leave=False) as bar:
        separate = [run_conditions([c], progress=False, **kwargs)[0] for c in bar]
    time_b = time.perf_counter() - start

    dw_a = np.array([r.dw for r in one])
    dw_b = np.array([r.dw for r in separate])
    return {
        "n_conditions": len(conditions),
        "simulated_s": max(c.trains.duration for c in conditions),
        "time_a_s": min(times_a),
        "times_a_s": times_a,
        "time_b_s": time_b,
        "max_abs_dw_difference": float(np.max(np.abs(dw_a - dw_b))),
        "ratio": time_b / min(times_a),
    }


def check(args: argparse.Namespace) -> tuple[TableConfig, str]:
    """The validated table configuration and concrete target of ``args``.

    Raises
    ------
    UserError
        One line naming the option, for any bad value.
    """
    base = {} if args.full else dict(QUICK)
    for key in QUICK:
        if getattr(args, key) is not None:
            base[key] = getattr(args, key)
    try:
        if args.target not in BENCH_TARGETS:
            raise ValueError(
                f"--target must be one of {', '.join(BENCH_TARGETS)}, got {args.target!r}"
            )
        if not 1 <= args.repeats <= 1000:
            raise ValueError(f"--repeats must be an integer in 1..1000, got {args.repeats!r}")
        cfg = TableConfig(trials=args.trials, target=args.target, **base).validate()
        target = resolve_target(args.target)
    except (ValueError, RuntimeError) as exc:
        raise UserError(str(exc)) from None
    return cfg, target


def run(args: argparse.Namespace) -> dict:
    """Check ``args``, benchmark, print the report; return the numbers."""
    cfg, target = check(args)
    result = bench(cfg, target, args.repeats)
    print(f"target: {target}")
    print(
        f"conditions: {result['n_conditions']} (pairing {cfg.n_pairings} x "
        f"{cfg.pairing_rate_hz:g} Hz, Poisson {cfg.poisson_duration_s:g} s, "
        f"{cfg.trials} trials, {len(cfg.window_grid_ms)}-point windows of "
        f"{len(cfg.window_presets)} presets); {result['simulated_s']:.2f} s simulated"
    )
    print(
        f"(a) one network:           {result['time_a_s']:.2f} s "
        f"(fastest of {len(result['times_a_s'])}: "
        + ", ".join(f"{t:.2f}" for t in result["times_a_s"])
        + ")"
    )
    print(
        f"(b) one run per condition: {result['time_b_s']:.2f} s "
        f"({result['time_b_s'] / result['n_conditions']:.3f} s per condition)"
    )
    print(f"max |dw(a) - dw(b)|: {result['max_abs_dw_difference']:.1e}")
    if result["max_abs_dw_difference"] > 1e-9:
        print("error: (a) and (b) disagree", file=sys.stderr)
        raise SystemExit(1)
    print(f"ratio: {result['ratio']:.1f}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
