"""The four STDP regimes of the thesis (Tables 1 and 5), measured in Brian2.

Prints four Markdown tables:

1. **regimes, pairing protocol** — every rule on pre-before-post and post-before-pre
   pairings (Bi & Poo 1998 protocol: 60 pairings at 1 Hz, ``Δt = ∓10 ms``): ∫Δt of
   the emitted spikes, Δw (mean ± sd over trials), the regime it classifies as, and
   both names of the regime;
2. **regimes, correlated Poisson trains** — the same with Poisson trains whose
   postsynaptic spikes follow (or lead) presynaptic ones by 10 ms;
3. **learning windows** — simulated Δw of every preset over a grid of Δt beside the
   analytic value;
4. **the artificial side** — for each regime, the ANN sign pattern (descent signal,
   local derivative) that maps to it under the chosen timing convention, and which
   unit types (ReLU; NegLU under each backward mode) can produce it (``bridge``).

Sign convention: ``Δt = t_pre - t_post``; ∫Δt ≤ 0 is the pre-post side.  All
conditions of all tables are synapses of ONE Brian2 network, simulated in one run.

Reproduce::

    python experiments/stdp_table.py                 # print the tables
    python experiments/stdp_table.py --out results/stdp   # + stdp_table.json, stdp_windows.png

Adding a table (e.g. the bridge's ANN sign patterns per regime): append a
:class:`Table` to :data:`TABLES`.  Its ``conditions(config)`` returns the Brian2
conditions it needs (they join the shared network run; return ``[]`` for none), its
``summarize(config, results)`` turns the results of *its* conditions into
JSON-ready data stored under ``json_key`` (lists from several tables with the same
key are concatenated), and ``markdown(data)`` renders it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brian2 import Hz, ms, second  # noqa: E402

from bridge.mapping import CONVENTIONS, DEFAULT_CONVENTION, check_convention  # noqa: E402
from bridge.patterns import sign_patterns  # noqa: E402
from stdp_sim import (  # noqa: E402
    Condition,
    CorrelatedPoisson,
    PairingProtocol,
    Regime,
    classify,
    pairing_dw,
    preset,
    preset_names,
    resolve_target,
    run_conditions,
)
from stdp_sim.backend import TARGETS  # noqa: E402

REGIME_RULES = ("hebbian", "anti_hebbian", "potentiation_only", "depression_only")
WINDOW_GRID_MS = (
    -100, -80, -60, -40, -30, -20, -15, -10, -5, -2, 0, 2, 5, 10, 15, 20, 30, 40, 60, 80, 100,
)  # fmt: skip
TIMINGS = ("pre-post", "post-pre")


@dataclass
class TableConfig:
    """Resolved configuration of a run (plain numbers, units in the field names)."""

    rules: list[str] = field(default_factory=lambda: list(REGIME_RULES))
    delta_t_ms: float = 10.0
    n_pairings: int = 60
    pairing_rate_hz: float = 1.0
    jitter_ms: float = 1.0
    trials: int = 10
    poisson_rate_hz: float = 10.0
    correlation: float = 0.8
    poisson_duration_s: float = 10.0
    idt_window_ms: float = 25.0
    window_presets: list[str] = field(default_factory=preset_names)
    window_grid_ms: list[float] = field(default_factory=lambda: list(WINDOW_GRID_MS))
    seed: int = 0
    dt_ms: float = 0.1
    target: str = "auto"
    convention: str = DEFAULT_CONVENTION

    def validate(self) -> TableConfig:
        """Raise ``ValueError`` (naming the option) for anything the library rejects."""
        if not self.delta_t_ms > 0:
            raise ValueError(f"--delta-t-ms must be positive, got {self.delta_t_ms!r}")
        for name in [*self.rules, *self.window_presets]:
            preset(name)
        for option, values in (("--rules", self.rules), ("--window-presets", self.window_presets)):
            if len(set(values)) != len(values):
                raise ValueError(f"{option} lists a preset twice: {values!r}")
        self.pairing_protocol(self.window_grid_ms, jitter=False)
        self.pairing_protocol([-self.delta_t_ms, self.delta_t_ms])
        self.poisson_protocol()
        if self.trials < 1:
            raise ValueError(f"--trials must be >= 1, got {self.trials!r}")
        if not self.dt_ms > 0:
            raise ValueError(f"--dt-ms must be positive, got {self.dt_ms!r}")
        if not self.idt_window_ms > 0:
            raise ValueError(f"--idt-window-ms must be positive, got {self.idt_window_ms!r}")
        check_convention(self.convention)
        if self.target not in TARGETS:
            raise ValueError(f"--target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        try:
            resolve_target(self.target, single_run=True)
        except RuntimeError as exc:
            raise ValueError(f"--target {self.target}: {exc}") from None
        return self

    def pairing_protocol(self, delta_t_ms, jitter: bool = True) -> PairingProtocol:
        return PairingProtocol(
            np.asarray(delta_t_ms, dtype=float) * ms,
            n_pairings=self.n_pairings,
            rate=self.pairing_rate_hz * Hz,
            jitter=(self.jitter_ms if jitter else 0.0) * ms,
        )

    def poisson_protocol(self) -> CorrelatedPoisson:
        return CorrelatedPoisson(
            [-self.delta_t_ms, self.delta_t_ms] * ms,
            rate=self.poisson_rate_hz * Hz,
            correlation=self.correlation,
            duration=self.poisson_duration_s * second,
        )


@dataclass
class Table:
    """One printed table: its conditions, its summary, its Markdown."""

    key: str
    json_key: str
    title: str
    conditions: Callable[[TableConfig], list[Condition]]
    summarize: Callable[[TableConfig, list], Any]
    markdown: Callable[[Any], str]


# ---------------------------------------------------------------- regime tables
def _regime_conditions(cfg: TableConfig, protocol_name: str) -> list[Condition]:
    protocol = (
        cfg.pairing_protocol([-cfg.delta_t_ms, cfg.delta_t_ms])
        if protocol_name == "pairing"
        else cfg.poisson_protocol()
    )
    seed = cfg.seed + (0 if protocol_name == "pairing" else 1)
    trains = protocol.trains(trials=cfg.trials, seed=seed)  # [-Δt x trials, +Δt x trials]
    conditions = []
    for name in cfg.rules:
        rule = preset(name)
        for k, t in enumerate(trains):
            timing = TIMINGS[k // cfg.trials]
            conditions.append(
                Condition(rule, t, tags={"table": protocol_name, "rule": name, "timing": timing})
            )
    return conditions


def _protocol_text(cfg: TableConfig, protocol_name: str) -> str:
    if protocol_name == "pairing":
        text = f"{cfg.n_pairings} pairings at {cfg.pairing_rate_hz:g} Hz"
        return text + (f", jitter {cfg.jitter_ms:g} ms" if cfg.jitter_ms else "")
    return (
        f"Poisson {cfg.poisson_rate_hz:g} Hz, c = {cfg.correlation:g}, {cfg.poisson_duration_s:g} s"
    )


def regime_rows(cfg: TableConfig, results: list, protocol_name: str) -> list[dict]:
    """One row per (rule, timing side): measured ∫Δt, Δw, and its classification."""
    rows = []
    for name in cfg.rules:
        rule = preset(name)
        for timing in TIMINGS:
            mine = [r for r in results if r.tags["rule"] == name and r.tags["timing"] == timing]
            dw = np.array([r.dw for r in mine])
            idt = np.array([r.integral_delta_t for r in mine])
            expected = rule.regime(timing)
            measured = classify(idt.mean(), dw.mean())
            per_trial = [classify(i, d) for i, d in zip(idt, dw, strict=True)]
            rows.append(
                {
                    "regime": expected.label if expected else None,
                    "legacy_name": expected.legacy_name if expected else None,
                    "rule": name,
                    "protocol": protocol_name,
                    "protocol_detail": _protocol_text(cfg, protocol_name),
                    "delta_t_ms": (-1 if timing == "pre-post" else 1) * cfg.delta_t_ms,
                    "integral_delta_t_ms": float(idt.mean() * 1e3),
                    "integral_delta_t_sd_ms": float(idt.std(ddof=1) * 1e3) if idt.size > 1 else 0.0,
                    "dw": float(dw.mean()),
                    "dw_sd": float(dw.std(ddof=1)) if dw.size > 1 else 0.0,
                    "n_trials": int(dw.size),
                    "classified_as": measured.label if measured else None,
                    "classified_legacy_name": measured.legacy_name if measured else None,
                    "matches": measured is not None and measured == expected,
                    "trials_matching": int(sum(p == expected for p in per_trial)),
                    "n_pre_spikes_mean": float(np.mean([r.pre_spikes.size for r in mine])),
                    "n_post_spikes_mean": float(np.mean([r.post_spikes.size for r in mine])),
                }
            )
    order = {r.label: k for k, r in enumerate(Regime)}
    rows.sort(key=lambda row: (order.get(row["regime"], 99), cfg.rules.index(row["rule"])))
    return rows


def regime_markdown(rows: list[dict]) -> str:
    """The regime table as Markdown."""
    head = (
        "| regime (Table 5) | legacy name (Table 1) | rule | protocol | Δt (ms) | ∫Δt (ms) "
        "| Δw mean ± sd | classified as | trials as expected |\n"
        "|---|---|---|---|---:|---:|---:|---|---:|\n"
    )
    lines = [
        f"| {r['regime']} | {r['legacy_name']} | {r['rule']} | {r['protocol_detail']} "
        f"| {r['delta_t_ms']:+g} | {r['integral_delta_t_ms']:+.0f} "
        f"| {r['dw']:+.4f} ± {r['dw_sd']:.4f} | {r['classified_as']} "
        f"{'✓' if r['matches'] else '✗'} | {r['trials_matching']}/{r['n_trials']} |"
        for r in rows
    ]
    return head + "\n".join(lines)


# ---------------------------------------------------------------- window table
def _window_conditions(cfg: TableConfig) -> list[Condition]:
    trains = cfg.pairing_protocol(cfg.window_grid_ms, jitter=False).trains()
    return [
        Condition(preset(name), t, tags={"table": "windows", "rule": name})
        for name in cfg.window_presets
        for t in trains
    ]


def window_data(cfg: TableConfig, results: list) -> dict[str, dict]:
    """Per preset: Δt grid, simulated Δw, analytic Δw (totals over the protocol)."""
    grid = np.asarray(cfg.window_grid_ms, dtype=float)
    data = {}
    for name in cfg.window_presets:
        rule = preset(name)
        mine = [r for r in results if r.tags["rule"] == name]
        dw = np.array([r.dw for r in mine])
        analytic = pairing_dw(rule, grid * ms, cfg.n_pairings)
        nonzero = analytic != 0
        rel = np.abs(dw - analytic)[nonzero] / np.abs(analytic[nonzero])
        data[name] = {
            "delta_t_ms": grid.tolist(),
            "dw": dw.tolist(),
            "dw_analytic": analytic.tolist(),
            "max_abs_error": float(np.max(np.abs(dw - analytic))),
            "max_rel_error": float(rel.max()) if rel.size else 0.0,
            "n_pre_spikes": [int(r.pre_spikes.size) for r in mine],
            "n_post_spikes": [int(r.post_spikes.size) for r in mine],
            "n_pairings": cfg.n_pairings,
        }
    return data


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def window_markdown(data: dict[str, dict]) -> str:
    """Wide table (Δt rows, ``simulated / analytic`` per preset) and an agreement table."""
    names = list(data)
    if not names:
        return "(no presets)"
    grid = data[names[0]]["delta_t_ms"]
    n = data[names[0]]["n_pairings"]
    head = "| Δt (ms) | " + " | ".join(names) + " |\n|---:|" + "---:|" * len(names) + "\n"
    rows = []
    for k, dt in enumerate(grid):
        cells = [f"{data[m]['dw'][k]:+.5f} / {data[m]['dw_analytic'][k]:+.5f}" for m in names]
        rows.append(f"| {dt:+g} | " + " | ".join(cells) + " |")
    agreement = (
        "\n\n| preset | points | max abs error | max rel error | within 1 % |\n"
        "|---|---:|---:|---:|---|\n"
        + "\n".join(
            f"| {m} | {len(grid)} | {data[m]['max_abs_error']:.1e} | "
            f"{data[m]['max_rel_error']:.1e} | {_yes(data[m]['max_rel_error'] <= 0.01)} |"
            for m in names
        )
    )
    note = f"Cells: simulated / analytic Δw after {n} pairings (Δt = t_pre − t_post).\n\n"
    return note + head + "\n".join(rows) + agreement


# ---------------------------------------------------------------- bridge table
def bridge_data(cfg: TableConfig, results: list) -> dict:
    """The artificial side: ANN sign patterns that map to each regime (no simulation)."""
    return {"convention": cfg.convention, "regimes": sign_patterns(cfg.convention)}


def _sign(value: int) -> str:
    return "+" if value > 0 else "−"


def bridge_markdown(data: dict) -> str:
    """Per regime: (descent, derivative) signs per synapse effect and the units giving them."""
    head = (
        "| regime (Table 5) | legacy name | excitatory synapse: −∂C/∂a, f′ | units "
        "| inhibitory synapse: −∂C/∂a, f′ | units |\n|---|---|:---:|---|:---:|---|\n"
    )
    lines = []
    for row in data["regimes"]:
        cells = []
        for synapse in ("excitatory", "inhibitory"):
            (pat,) = [p for p in row["patterns"] if p["synapse"] == synapse]
            cells.append(f"{_sign(pat['descent'])}, {_sign(pat['derivative'])}")
            cells.append(", ".join(pat["unit_types"]))
        lines.append(f"| {row['regime']} | {row['legacy_name']} | " + " | ".join(cells) + " |")
    note = (
        f"Timing convention: **{data['convention']}** (`--convention`; see `bridge.mapping`). "
        "−∂C/∂a is the descent signal at the postsynaptic unit, f′ the local derivative "
        "its backward pass applies (probed, not assumed); synapse effect = sign(a_pre)·sign(w). "
        "Potentiation means the descent update grows |w|.\n\n"
    )
    return note + head + "\n".join(lines)


def regime_table(protocol: str, title: str) -> Table:
    """The four-regime table measured with ``protocol`` (``"pairing"`` or ``"poisson"``)."""
    return Table(
        key=protocol,
        json_key="regimes",
        title=title,
        conditions=lambda cfg: _regime_conditions(cfg, protocol),
        summarize=lambda cfg, res: regime_rows(cfg, res, protocol),
        markdown=regime_markdown,
    )


TABLES: list[Table] = [
    regime_table("pairing", "Table 1 — the four STDP regimes, pairing protocol"),
    regime_table("poisson", "Table 2 — the four STDP regimes, correlated Poisson trains"),
    Table(
        key="windows",
        json_key="windows",
        title="Table 3 — learning windows, simulated vs analytic",
        conditions=_window_conditions,
        summarize=window_data,
        markdown=window_markdown,
    ),
    Table(
        key="bridge",
        json_key="bridge",
        title="Table 4 — the artificial side: ANN update signs that map to each regime",
        conditions=lambda cfg: [],
        summarize=bridge_data,
        markdown=bridge_markdown,
    ),
]


# ---------------------------------------------------------------- running
def run_tables(cfg: TableConfig, tables=None, *, progress: bool = True) -> dict:
    """Simulate every table's conditions in one network run and summarise each.

    Returns
    -------
    dict
        ``{"tables": {key: data}, "markdown": {key: text}, "n_conditions": int,
        "target": str, "simulate_s": float}``.
    """
    tables = TABLES if tables is None else tables
    per_table = [(t, t.conditions(cfg)) for t in tables]
    conditions = [c for _, conds in per_table for c in conds]
    target = resolve_target(cfg.target, single_run=True)
    start = time.perf_counter()
    results = []
    if conditions:
        kwargs = {"dt": cfg.dt_ms * ms, "idt_window": cfg.idt_window_ms * ms, "progress": progress}
        try:
            results = run_conditions(conditions, target=target, **kwargs)
        except RuntimeError as exc:
            if not (cfg.target == "auto" and target == "cpp_standalone"):
                raise
            # the C++ build failed although a compiler was found: use the runtime instead
            target = resolve_target("auto")
            print(f"warning: cpp_standalone failed ({exc}); using {target}", file=sys.stderr)
            results = run_conditions(conditions, target=target, **kwargs)
    simulate_s = time.perf_counter() - start
    by_condition = {id(r.condition): r for r in results}
    data, text = {}, {}
    for table, conds in per_table:
        mine = [by_condition[id(c)] for c in conds]
        data[table.key] = table.summarize(cfg, mine)
        text[table.key] = table.markdown(data[table.key])
    return {
        "tables": data,
        "markdown": text,
        "n_conditions": len(conditions),
        "target": target,
        "simulate_s": simulate_s,
    }


def environment() -> dict:
    import brian2

    return {
        "python": platform.python_version(),
        "brian2": brian2.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: dict) -> None:
    """Write ``obj`` as JSON atomically (temporary file, then ``os.replace``)."""
    text = json.dumps(obj, indent=1, allow_nan=False) + "\n"
    _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def plot_windows(path: Path, windows: dict[str, dict], rules: dict[str, dict]) -> None:
    """One panel per preset: analytic curve and simulated points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(windows)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        w = windows[name]
        grid = np.asarray(w["delta_t_ms"])
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        # the window jumps at Δt = 0 (which belongs to the pre-post side): two branches
        for k, (lo, hi) in enumerate(((min(grid.min(), 0.0), 0.0), (1e-9, max(grid.max(), 0.0)))):
            fine = np.linspace(lo, hi, 400)
            curve = pairing_dw(preset(name), fine * ms, w["n_pairings"])
            ax.plot(fine, curve, color="C0", lw=1.5, label="analytic" if k == 0 else None)
        ax.plot(grid, w["dw"], "o", color="C3", ms=4, label="Brian2")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("Δt = t_pre − t_post (ms)")
        ax.set_ylabel(f"Δw after {w['n_pairings']} pairings")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    _atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one ``error: ...`` line on stderr, exit status 2."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    d = TableConfig()
    p = OneLineParser(
        prog="stdp_table.py",
        description="Measure the four STDP regimes (thesis Tables 1 and 5) and the "
        "learning windows of every preset in one Brian2 network run; print Markdown.",
    )
    add = p.add_argument
    add(
        "--rules",
        nargs="+",
        default=d.rules,
        metavar="PRESET",
        help=f"presets for the regime tables (default: {' '.join(d.rules)}; "
        f"available: {' '.join(preset_names())})",
    )
    add(
        "--delta-t-ms",
        type=float,
        default=d.delta_t_ms,
        metavar="MS",
        help="|Δt| of the regime tables in ms; pre-post rows use -MS, post-pre +MS "
        "(default %(default)s)",
    )
    add(
        "--n-pairings",
        type=int,
        default=d.n_pairings,
        metavar="N",
        help="pairings per condition (default %(default)s)",
    )
    add(
        "--pairing-rate-hz",
        type=float,
        default=d.pairing_rate_hz,
        metavar="HZ",
        help="pairing repetition rate in Hz (default %(default)s)",
    )
    add(
        "--jitter-ms",
        type=float,
        default=d.jitter_ms,
        metavar="MS",
        help="sd of Gaussian jitter on every spike of the regime tables, in ms; "
        "0 makes trials identical (default %(default)s)",
    )
    add(
        "--trials",
        type=int,
        default=d.trials,
        metavar="N",
        help="trials per regime-table row, for mean ± sd (default %(default)s)",
    )
    add(
        "--poisson-rate-hz",
        type=float,
        default=d.poisson_rate_hz,
        metavar="HZ",
        help="rate of both Poisson trains in Hz (default %(default)s)",
    )
    add(
        "--correlation",
        type=float,
        default=d.correlation,
        metavar="C",
        help="fraction of postsynaptic spikes that copy a presynaptic spike shifted "
        "by -Δt, in [0, 1] (default %(default)s)",
    )
    add(
        "--poisson-duration-s",
        type=float,
        default=d.poisson_duration_s,
        metavar="S",
        help="length of the Poisson trains in s (default %(default)s)",
    )
    add(
        "--idt-window-ms",
        type=float,
        default=d.idt_window_ms,
        metavar="MS",
        help="spike pairs closer than this (ms) enter ∫Δt (default %(default)s)",
    )
    add(
        "--window-presets",
        nargs="+",
        default=d.window_presets,
        metavar="PRESET",
        help="presets of the window table (default: all)",
    )
    add(
        "--window-grid-ms",
        nargs="+",
        type=float,
        default=d.window_grid_ms,
        metavar="MS",
        help="Δt grid of the window table in ms (default: -100 ... 100, 21 points)",
    )
    add("--seed", type=int, default=d.seed, help="seed of the spike trains (default %(default)s)")
    add(
        "--convention",
        default=d.convention,
        metavar="NAME",
        help=f"timing convention of the bridge table: {', '.join(CONVENTIONS)}; 'rate' reads "
        "a positive descent signal -dC/da as pre-before-post (default %(default)s)",
    )
    add(
        "--dt-ms",
        type=float,
        default=d.dt_ms,
        metavar="MS",
        help="simulation time step in ms (default %(default)s)",
    )
    add(
        "--target",
        default=d.target,
        metavar="TARGET",
        help=f"Brian2 code generation: {', '.join(TARGETS)}; auto = cpp_standalone "
        "(project cached in $STDP_SIM_STANDALONE_DIR or ~/.cache/stdp_sim, rebuilt only "
        "where it changed) when a C++ compiler and make are present, else cython, else "
        "numpy (default %(default)s)",
    )
    add(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="write DIR/stdp_table.json and DIR/stdp_windows.png",
    )
    add("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv``, run, print the tables; return the results dict (JSON content).

    User errors print one ``error: ...`` line on stderr and exit with status 2.
    """
    args = build_parser().parse_args(argv)
    cfg = TableConfig(
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
        convention=args.convention,
    )
    try:
        cfg.validate()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    start = time.perf_counter()
    run = run_tables(cfg, progress=not args.no_progress)
    wall_s = time.perf_counter() - start

    for table in TABLES:
        print(f"## {table.title}\n")
        print(run["markdown"][table.key])
        print()
    regimes = [row for t in TABLES if t.json_key == "regimes" for row in run["tables"][t.key]]
    matching = sum(row["matches"] for row in regimes)
    print(
        f"{matching}/{len(regimes)} regime rows classified as their rule predicts; "
        f"{run['n_conditions']} synapses in one Brian2 run ({run['target']}), {wall_s:.1f} s"
    )

    results: dict[str, Any] = {
        "config": asdict(cfg),
        "environment": {**environment(), "target": run["target"]},
        "timing": {"run_s": wall_s, "simulate_s": run["simulate_s"]},
        "n_conditions": run["n_conditions"],
        "rules": {
            name: preset(name).as_dict() for name in dict.fromkeys(cfg.rules + cfg.window_presets)
        },
    }
    for table in TABLES:
        value = run["tables"][table.key]
        if isinstance(value, list):
            results.setdefault(table.json_key, []).extend(value)
        elif isinstance(value, dict):
            results.setdefault(table.json_key, {}).update(value)
        else:
            results[table.json_key] = value
    if args.out is not None:
        write_json(args.out / "stdp_table.json", results)
        plot_windows(args.out / "stdp_windows.png", results["windows"], results["rules"])
        print(f"wrote {args.out / 'stdp_table.json'} and {args.out / 'stdp_windows.png'}")
    return results


if __name__ == "__main__":
    main()
