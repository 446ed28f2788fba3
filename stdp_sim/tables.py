"""The STDP tables of ``experiments/stdp_table.py``: the four regimes and the windows.

Three tables, all simulated as synapses of ONE Brian2 network (:func:`run_tables`):

1. **regimes, pairing protocol** — every rule on pre-before-post and post-before-pre
   pairings (Bi & Poo 1998 protocol: 60 pairings at 1 Hz, ``Δt = ∓10 ms``): ∫Δt of
   the emitted spikes, Δw (mean ± sd over trials), the regime it classifies as, and
   both names of the regime;
2. **regimes, correlated Poisson trains** — the same with Poisson trains whose
   postsynaptic spikes follow (or lead) presynaptic ones by 10 ms;
3. **learning windows** — simulated Δw of every preset over a grid of Δt beside the
   analytic value.

(Table 4, the ANN sign patterns per regime, needs PyTorch and lives in
:mod:`bridge.regime_table`; it plugs into the same :class:`Table` interface.)

Sign convention: ``Δt = t_pre - t_post``; ∫Δt ≤ 0 is the pre-post side.

Adding a table: build a :class:`Table`.  Its ``conditions(config)`` returns the Brian2
conditions it needs (they join the shared network run; ``[]`` for none), its
``summarize(config, results)`` turns the results of *its* conditions into JSON-ready
data stored under ``json_key`` (lists from several tables with the same key are
concatenated, dicts merged; :func:`results_document`), and ``markdown(data)`` renders
it.  Pass ``[*TABLES, your_table]`` to :func:`run_tables`.

This module never imports torch.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from brian2 import Hz, ms, second

from common.checks import is_integer, is_real
from common.environment import environment
from stdp_sim.backend import TARGETS, resolve_target
from stdp_sim.protocols import CorrelatedPoisson, PairingProtocol
from stdp_sim.regime import Regime, classify
from stdp_sim.rule import preset, preset_names
from stdp_sim.simulate import Condition, check_time_step, run_conditions
from stdp_sim.window import pairing_dw

__all__ = [
    "REGIME_RULES",
    "WINDOW_GRID_MS",
    "TIMINGS",
    "TableConfig",
    "Table",
    "regime_table",
    "regime_rows",
    "regime_markdown",
    "window_table",
    "window_data",
    "window_markdown",
    "TABLES",
    "run_tables",
    "report",
    "results_document",
]

REGIME_RULES = ("hebbian", "anti_hebbian", "potentiation_only", "depression_only")
WINDOW_GRID_MS = (
    -100, -80, -60, -40, -30, -20, -15, -10, -5, -2, 0, 2, 5, 10, 15, 20, 30, 40, 60, 80, 100,
)  # fmt: skip
TIMINGS = ("pre-post", "post-pre")


# ---------------------------------------------------------------- configuration
def _real(option: str, value, *, minimum: float = 0.0, inclusive: bool = False,
          maximum: float = math.inf) -> float:
    """A finite number ``> minimum`` (``>=`` with ``inclusive``) and ``<= maximum``, else
    ``ValueError``."""
    ok = is_real(value) and math.isfinite(value)
    if not ok or not (value >= minimum if inclusive else value > minimum) or value > maximum:
        bound = "" if minimum == -math.inf else f" {'>=' if inclusive else '>'} {minimum:g}"
        if maximum < math.inf:
            bound += f" and <= {maximum:g}"
        raise ValueError(f"{option} must be a finite number{bound}, got {value!r}")
    return float(value)


def _integer(option: str, value, *, minimum: int, maximum: int | None = None) -> int:
    ok = is_integer(value)
    if not ok or value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ValueError(f"{option} must be an integer {bound}, got {value!r}")
    return int(value)


#: Bounds of the options: numpy seeds are 32-bit; beyond the others (hours of simulated
#: time per row) a table cannot be meant.
MAX_SEED = 2**32 - 1
MAX_PAIRINGS = 100_000
MAX_TRIALS = 10_000
MAX_POISSON_S = 10_000.0


@contextlib.contextmanager
def _blame(*options: str):
    """Prefix a library ``ValueError`` with the options that caused it."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"{' / '.join(options)}: {exc}") from None


@dataclass
class TableConfig:
    """Resolved configuration of a run (plain numbers, units in the field names).

    Each field is a command-line option of ``experiments/stdp_table.py``
    (``delta_t_ms`` is ``--delta-t-ms``); :meth:`validate` names the option in its
    messages.
    """

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

    def validate(self) -> TableConfig:
        """Check everything before any simulation; return ``self``.

        Raises
        ------
        ValueError
            One line naming the option (``--delta-t-ms``, ...) and the offending value,
            for anything the library would reject later, including a time step too
            coarse for the protocol (:func:`stdp_sim.simulate.check_time_step`:
            ``dt <= min(|Δt|, τ) / 10``) and a ``--target`` that cannot run here.
        """
        for option, values in (("--rules", self.rules), ("--window-presets", self.window_presets)):
            for name in values:
                with _blame(option):
                    preset(name)
            if len(set(values)) != len(values):
                raise ValueError(f"{option} lists a preset twice: {values!r}")
        _real("--delta-t-ms", self.delta_t_ms)
        _integer("--n-pairings", self.n_pairings, minimum=1, maximum=MAX_PAIRINGS)
        _real("--pairing-rate-hz", self.pairing_rate_hz)
        _real("--jitter-ms", self.jitter_ms, inclusive=True)
        _integer("--trials", self.trials, minimum=1, maximum=MAX_TRIALS)
        _real("--poisson-rate-hz", self.poisson_rate_hz)
        _real("--correlation", self.correlation, inclusive=True)
        if self.correlation > 1:
            raise ValueError(f"--correlation must lie in [0, 1], got {self.correlation!r}")
        _real("--poisson-duration-s", self.poisson_duration_s, maximum=MAX_POISSON_S)
        _real("--idt-window-ms", self.idt_window_ms)
        if len(self.window_grid_ms) == 0:
            raise ValueError("--window-grid-ms must list at least one Δt")
        for value in self.window_grid_ms:
            _real("--window-grid-ms", value, minimum=-math.inf)
        _integer("--seed", self.seed, minimum=0, maximum=MAX_SEED)
        _real("--dt-ms", self.dt_ms)
        # combinations: the protocols' own checks, blamed on the options involved
        with _blame("--window-grid-ms", "--pairing-rate-hz"):
            self.pairing_protocol(self.window_grid_ms, jitter=False)
        with _blame("--delta-t-ms", "--pairing-rate-hz"):
            self.pairing_protocol([-self.delta_t_ms, self.delta_t_ms])
        with _blame("--delta-t-ms", "--poisson-duration-s"):
            self.poisson_protocol()
        rules = [preset(name) for name in dict.fromkeys(self.rules + self.window_presets)]
        with _blame(f"--dt-ms {self.dt_ms:g}"):
            check_time_step(self.dt_ms * ms, rules, self.delta_ts_ms() * ms)
        if self.target not in TARGETS:
            raise ValueError(f"--target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        try:
            resolve_target(self.target, single_run=True)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"--target {self.target}: {exc}") from None
        return self

    def delta_ts_ms(self) -> np.ndarray:
        """Every nominal Δt (ms) the tables simulate: ``±delta_t_ms`` and the window grid."""
        return np.array([-self.delta_t_ms, self.delta_t_ms, *self.window_grid_ms], dtype=float)

    def pairing_protocol(self, delta_t_ms, jitter: bool = True) -> PairingProtocol:
        """The pairing protocol at ``delta_t_ms`` (jitter of the regime tables if ``jitter``)."""
        return PairingProtocol(
            np.asarray(delta_t_ms, dtype=float) * ms,
            n_pairings=self.n_pairings,
            rate=self.pairing_rate_hz * Hz,
            jitter=(self.jitter_ms if jitter else 0.0) * ms,
        )

    def poisson_protocol(self) -> CorrelatedPoisson:
        """The correlated Poisson protocol at ``∓delta_t_ms``."""
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


def window_table(title: str = "Table 3 — learning windows, simulated vs analytic") -> Table:
    """Simulated vs analytic learning window of every ``window_presets`` preset."""
    return Table(
        key="windows",
        json_key="windows",
        title=title,
        conditions=_window_conditions,
        summarize=window_data,
        markdown=window_markdown,
    )


#: The Brian2 tables, in print order (``bridge.regime_table`` adds Table 4).
TABLES: list[Table] = [
    regime_table("pairing", "Table 1 — the four STDP regimes, pairing protocol"),
    regime_table("poisson", "Table 2 — the four STDP regimes, correlated Poisson trains"),
    window_table(),
]


# ---------------------------------------------------------------- running
def run_tables(
    cfg: TableConfig, tables: Sequence[Table] | None = None, *, progress: bool = True
) -> dict:
    """Validate ``cfg``, simulate every table's conditions in one network run, summarise.

    Parameters
    ----------
    cfg : TableConfig
        Checked with :meth:`TableConfig.validate` first (``ValueError`` before any
        simulation).
    tables : sequence of Table, optional
        Default :data:`TABLES`.
    progress : bool, default True
        Progress bar over simulated time.

    Returns
    -------
    dict
        ``{"tables": {key: data}, "markdown": {key: text}, "n_conditions": int,
        "target": str, "simulate_s": float}``.
    """
    cfg.validate()
    tables = TABLES if tables is None else list(tables)
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


def _regime_rows(run: dict, tables: Sequence[Table]) -> list[dict]:
    return [row for t in tables if t.json_key == "regimes" for row in run["tables"][t.key]]


def report(run: dict, tables: Sequence[Table], run_s: float, notes: Sequence[str] = ()) -> str:
    """The printed output: ``## title`` and Markdown of each table, then ``notes`` (one
    line each, e.g. a table that was skipped), then the summary line."""
    parts = [f"## {t.title}\n\n{run['markdown'][t.key]}\n\n" for t in tables]
    parts += [f"{line}\n\n" for line in notes]
    regimes = _regime_rows(run, tables)
    matching = sum(row["matches"] for row in regimes)
    parts.append(
        f"{matching}/{len(regimes)} regime rows classified as their rule predicts; "
        f"{run['n_conditions']} synapses in one Brian2 run ({run['target']}), {run_s:.1f} s\n"
    )
    return "".join(parts)


def results_document(
    cfg: TableConfig,
    run: dict,
    tables: Sequence[Table],
    *,
    run_s: float,
    config_extra: dict | None = None,
    skipped: dict[str, str] | None = None,
) -> dict:
    """The JSON document of a run (``stdp_table.json``).

    Keys: ``config`` (the :class:`TableConfig` fields plus ``config_extra``),
    ``environment`` (:func:`common.environment.environment` with the ``target``),
    ``timing`` (``run_s``, ``simulate_s``), ``n_conditions``, ``rules`` (every preset
    used, :meth:`STDPRule.as_dict`), one key per table ``json_key`` (``regimes``: the
    rows of both regime tables; ``windows``; ``bridge`` when Table 4 ran) and
    ``skipped_tables`` (``{json_key: why}`` for tables that could not run here).
    """
    results: dict[str, Any] = {
        "config": {**asdict(cfg), **(config_extra or {})},
        "environment": environment(target=run["target"]),
        "timing": {"run_s": run_s, "simulate_s": run["simulate_s"]},
        "n_conditions": run["n_conditions"],
        "rules": {
            name: preset(name).as_dict() for name in dict.fromkeys(cfg.rules + cfg.window_presets)
        },
    }
    for table in tables:
        value = run["tables"][table.key]
        if isinstance(value, list):
            results.setdefault(table.json_key, []).extend(value)
        elif isinstance(value, dict):
            results.setdefault(table.json_key, {}).update(value)
        else:
            results[table.json_key] = value
    results["skipped_tables"] = dict(skipped or {})
    return results
