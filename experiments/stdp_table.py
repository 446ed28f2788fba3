"""The four STDP regimes of the thesis (Tables 1 and 5), measured in Brian2.

Prints six Markdown tables (the last two under their topic, "## Pairing schemes" and
"## Pairing frequency"):

1. **regimes, pairing protocol** — every rule on pre-before-post and post-before-pre
   pairings (Bi & Poo 1998 protocol: 60 pairings at 1 Hz, ``Δt = ∓10 ms``);
2. **regimes, correlated Poisson trains** — the same with Poisson trains whose
   postsynaptic spikes follow (or lead) presynaptic ones by 10 ms;
3. **learning windows** — simulated Δw of every preset over a grid of Δt beside the
   analytic value;
4. **the artificial side** — for each regime, the ANN sign patterns that map to it
   and the unit types that can produce them.  Needs PyTorch: without it this table
   is one line saying so, the others print as usual and ``stdp_table.json`` records
   the reason under ``skipped_tables``;
5. **pairing schemes** — the four regimes of tables 1 and 2 under NEST's four
   pairing schemes (all-to-all, nearest-symmetric, nearest-pre-centered, nearest-restricted);
6. **pairing frequency** — Δw after 60 pairings at 0.1, 10, 20, 40 and 50 Hz for both
   orders at ``|Δt| = 10 ms`` per rule (the four regime rules and the triplet rules of
   Pfister & Gerstner 2006), classified by regime, beside Sjöström et al.'s (2001)
   data, with the rate at which each rule changes regime and the residuals.

Tables 1-3, 5 and 6 are :mod:`stdp_sim.tables` (all their conditions are synapses of
ONE Brian2 network, simulated in one run), Table 4 is :mod:`bridge.regime_table`; this
script parses and checks the options (all before any simulation, ``--out`` included),
calls them and writes the outputs.  Run as a script, it starts Table 4's child process
before importing Brian2 (:func:`bridge.regime_table.start_background_patterns`), and
imports Brian2 without pylab (:mod:`stdp_sim.brian_import`): both only shorten the start.
Sign convention: ``Δt = t_pre - t_post``.

Reproduce::

    python experiments/stdp_table.py                      # print the tables
    python experiments/stdp_table.py --out results/stdp   # + stdp_table.json, stdp_windows.png

Bad options print one ``error: ...`` line and exit with status 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.regime_table import start_background_patterns  # noqa: E402
from common.cli import EXIT_INTERRUPTED  # noqa: E402
from stdp_sim.brian_import import import_brian2_without_pylab  # noqa: E402

#: Table 4's child process, started before Brian2 is imported (run as a script only)
BACKGROUND = None
if __name__ == "__main__":  # this process only: see stdp_sim.brian_import
    try:
        BACKGROUND = start_background_patterns()
        # most of the start (~2 s): a Ctrl-C here, before cli_main, is the same one line
        # (Brian2's excepthook would end the process silently by SIGINT, status -2)
        import_brian2_without_pylab()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)

from bridge.regime_table import KEY as BRIDGE_KEY  # noqa: E402
from bridge.regime_table import load_bridge_table, skipped_line  # noqa: E402
from bridge.sign_mapping import CONVENTIONS, DEFAULT_CONVENTION, check_convention  # noqa: E402
from common.cli import OneLineArgumentParser, UserError, cli_main  # noqa: E402
from common.files import (  # noqa: E402
    atomic_write_json,
    check_writable_dir,
    directory_argument,
)
from stdp_sim.backend import TARGETS  # noqa: E402
from stdp_sim.pairing import PAIRINGS  # noqa: E402
from stdp_sim.plots import plot_windows  # noqa: E402
from stdp_sim.rule import preset_names  # noqa: E402
from stdp_sim.simulate import STEPS_PER_INTERVAL  # noqa: E402
from stdp_sim.tables import TABLES, TableConfig, report, results_document, run_tables  # noqa: E402

JSON_NAME = "stdp_table.json"
PNG_NAME = "stdp_windows.png"


def build_parser() -> argparse.ArgumentParser:
    d = TableConfig()
    p = OneLineArgumentParser(
        prog="stdp_table.py",
        description="Measure the four STDP regimes (thesis Tables 1 and 5), the "
        "learning windows of every preset, the regimes under each pairing scheme and the "
        "pairing-frequency dependence (Sjöström et al. 2001) in one Brian2 network run; "
        "print Markdown.",
        epilog="Every option is checked before anything is simulated: a bad value (or an "
        "--out that cannot be written) prints one 'error: ...' line and exits with status 2.",
    )
    add = p.add_argument
    add("--rules", nargs="+", default=d.rules, metavar="PRESET",
        help=f"presets for the regime tables (default: {' '.join(d.rules)}; "
        f"available: {' '.join(preset_names('all'))})")
    add("--delta-t-ms", type=float, default=d.delta_t_ms, metavar="MS",
        help="|Δt| of the regime tables in ms; pre-post rows use -MS, post-pre +MS "
        "(default %(default)s)")
    add("--n-pairings", type=int, default=d.n_pairings, metavar="N",
        help="pairings per condition (default %(default)s)")
    add("--pairing-rate-hz", type=float, default=d.pairing_rate_hz, metavar="HZ",
        help="pairing repetition rate in Hz (default %(default)s)")
    add("--jitter-ms", type=float, default=d.jitter_ms, metavar="MS",
        help="sd of Gaussian jitter on every spike of the regime tables, in ms; "
        "0 makes trials identical (default %(default)s)")
    add("--trials", type=int, default=d.trials, metavar="N",
        help="trials per regime-table row, for mean ± sd (default %(default)s)")
    add("--poisson-rate-hz", type=float, default=d.poisson_rate_hz, metavar="HZ",
        help="rate of both Poisson trains in Hz (default %(default)s)")
    add("--correlation", type=float, default=d.correlation, metavar="C",
        help="fraction of postsynaptic spikes that copy a presynaptic spike shifted "
        "by -Δt, in [0, 1] (default %(default)s)")
    add("--poisson-duration-s", type=float, default=d.poisson_duration_s, metavar="S",
        help="length of the Poisson trains in s (default %(default)s)")
    add("--idt-window-ms", type=float, default=d.idt_window_ms, metavar="MS",
        help="spike pairs closer than this (ms) enter ∫Δt (default %(default)s)")
    add("--window-presets", nargs="+", default=d.window_presets, metavar="PRESET",
        help="presets of the window table (default: all pair-rule presets)")
    add("--window-grid-ms", nargs="+", type=float, default=d.window_grid_ms, metavar="MS",
        help="Δt grid of the window table in ms (default: -100 ... 100, 21 points)")
    add("--schemes", nargs="+", default=d.schemes, metavar="SCHEME",
        help=f"pairing schemes of the pairing-scheme table: {', '.join(PAIRINGS)} "
        "(default: the four; 'nearest' is nearest-symmetric)")
    add("--frequency-rules", nargs="+", default=d.frequency_rules, metavar="PRESET",
        help=f"presets of the frequency table (default: {' '.join(d.frequency_rules)})")
    add("--frequency-rates-hz", nargs="+", type=float, default=d.frequency_rates_hz,
        metavar="HZ", help="pairing rates of the frequency table in Hz; each period must "
        "exceed --delta-t-ms (default: 0.1 10 20 40 50, Sjöström et al. 2001)")
    add("--seed", type=int, default=d.seed,
        help="seed of the spike trains, an integer >= 0 (default %(default)s)")
    add("--convention", default=DEFAULT_CONVENTION, metavar="NAME",
        help=f"timing convention of the bridge table: {', '.join(CONVENTIONS)}; 'rate' reads "
        "a positive descent signal -dC/da as pre-before-post (default %(default)s)")
    add("--dt-ms", type=float, default=d.dt_ms, metavar="MS",
        help="simulation time step in ms; spike times are rounded to it, so it must be at "
        f"most 1/{STEPS_PER_INTERVAL} of the smallest non-zero |Δt| (of --delta-t-ms and "
        "--window-grid-ms) and of the rules' time constants, e.g. <= 0.2 ms for the "
        "default grid (default %(default)s)")
    add("--target", default=d.target, metavar="TARGET",
        help=f"Brian2 code generation: {', '.join(TARGETS)}; auto = cpp_standalone "
        "(project cached in $STDP_SIM_STANDALONE_DIR or ~/.cache/stdp_sim, rebuilt only "
        "where it changed) when a C++ compiler and make are present, else cython, else "
        "numpy (default %(default)s)")
    add("--out", type=directory_argument, default=None, metavar="DIR",
        help=f"write DIR/{JSON_NAME} and DIR/{PNG_NAME} (DIR is created and checked "
        "writable before the simulation)")
    add("--no-progress", action="store_true", help="no progress bar")
    return p


def config(args: argparse.Namespace) -> TableConfig:
    """The :class:`TableConfig` of parsed ``args`` (not yet validated)."""
    return TableConfig(
        rules=args.rules,
        delta_t_ms=args.delta_t_ms,
        n_pairings=args.n_pairings,
        pairing_rate_hz=args.pairing_rate_hz,
        jitter_ms=args.jitter_ms,
        trials=args.trials,
        poisson_rate_hz=args.poisson_rate_hz,
        correlation=args.correlation,
        poisson_duration_s=args.poisson_duration_s,
        idt_window_ms=args.idt_window_ms,
        window_presets=args.window_presets,
        window_grid_ms=args.window_grid_ms,
        seed=args.seed,
        dt_ms=args.dt_ms,
        target=args.target,
        schemes=args.schemes,
        frequency_rules=args.frequency_rules,
        frequency_rates_hz=args.frequency_rates_hz,
    )


def run(args: argparse.Namespace) -> dict:
    """Check ``args``, run, print the tables, write ``--out``; return the JSON document."""
    cfg = config(args)
    try:
        cfg.validate()
        try:
            check_convention(args.convention)
        except ValueError as exc:
            raise ValueError(f"--convention: {exc}") from None
        if args.out is not None:
            check_writable_dir(args.out, "--out")
            for name in (JSON_NAME, PNG_NAME):
                if (args.out / name).is_dir():
                    raise ValueError(f"--out {str(args.out)!r} holds a directory {name!r} where "
                                     f"the result file goes; remove it or choose another --out")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    bridge, reason = load_bridge_table(args.convention, background=BACKGROUND)
    tables = list(TABLES)
    if bridge is not None:  # Table 4 prints after Table 3
        after = [t.key for t in tables].index("windows") + 1
        tables.insert(after, bridge)
    skipped = {} if reason is None else {BRIDGE_KEY: reason}

    start = time.perf_counter()
    result = run_tables(cfg, tables, progress=not args.no_progress)
    run_s = time.perf_counter() - start
    notes = [] if reason is None else [skipped_line(reason)]
    print(report(result, tables, run_s, notes), end="")

    document = results_document(
        cfg,
        result,
        tables,
        run_s=run_s,
        config_extra={"convention": args.convention},
        skipped=skipped,
    )
    if args.out is not None:
        atomic_write_json(args.out / JSON_NAME, document)
        plot_windows(args.out / PNG_NAME, document["windows"], document["rules"])
        print(f"wrote {args.out / JSON_NAME} and {args.out / PNG_NAME}")
    return document


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for user errors, 130 Ctrl-C)."""
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
