"""The STDP tables of ``experiments/stdp_table.py``: regimes, windows, schemes, rates.

Five tables, all simulated as synapses of ONE Brian2 network (:func:`run_tables`);
the last two are printed under their topic ("## Pairing schemes", "## Pairing
frequency") rather than a number, since "Table 5" is the thesis's table of regime
names:

1. **regimes, pairing protocol** — every rule on pre-before-post and post-before-pre
   pairings (Bi & Poo 1998 protocol: 60 pairings at 1 Hz, ``Δt = ∓10 ms``): ∫Δt of
   the emitted spikes, Δw (mean ± sd over trials), the regime it classifies as, and
   both names of the regime;
2. **regimes, correlated Poisson trains** — the same with Poisson trains whose
   postsynaptic spikes follow (or lead) presynaptic ones by 10 ms;
3. **learning windows** — simulated Δw of every preset over a grid of Δt beside the
   analytic value;
* **regimes under each pairing scheme** — tables 1 and 2 again under each of NEST's
   four pairing schemes (:mod:`stdp_sim.pairing`);
* **pairing frequency** — Δw after ``n_pairings`` pairings at 0.1–50 Hz for both
   orders, per rule, classified by regime, beside Sjöström et al.'s (2001) data with
   the residuals (:mod:`stdp_sim.pairing_frequency`; the 0.1 Hz conditions are
   simulated time-compressed, exactly, so that they fit in the run of the others).

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
from stdp_sim.pairing import PAIRING_SCHEMES, pairing_scheme
from stdp_sim.pairing_frequency import (
    SJOSTROM_2001,
    FrequencyProtocol,
    frequency_conditions,
    regime_changes,
    sjostrom_residuals,
    summarize_frequency,
)
from stdp_sim.protocols import CorrelatedPoisson, PairingProtocol
from stdp_sim.regime import Regime, classify
from stdp_sim.rule import TRIPLET_PRESETS, preset, preset_names
from stdp_sim.simulate import BuildFailed, Condition, check_time_step, run_conditions
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
    "scheme_table",
    "scheme_rows",
    "scheme_markdown",
    "frequency_table",
    "frequency_data",
    "frequency_markdown",
    "FREQUENCY_RULES",
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
#: Rules of the frequency table: the four regime rules and the triplet presets.
FREQUENCY_RULES = (*REGIME_RULES, *TRIPLET_PRESETS)


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
    schemes: list[str] = field(default_factory=lambda: list(PAIRING_SCHEMES))
    frequency_rules: list[str] = field(default_factory=lambda: list(FREQUENCY_RULES))
    frequency_rates_hz: list[float] = field(
        default_factory=lambda: list(SJOSTROM_2001["rates_hz"])
    )

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
        for option, values in (("--rules", self.rules), ("--window-presets", self.window_presets),
                               ("--frequency-rules", self.frequency_rules)):
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
        for name in self.schemes:
            with _blame("--schemes"):
                pairing_scheme(name)
        canonical = [pairing_scheme(name).name for name in self.schemes]
        if not canonical or len(set(canonical)) != len(canonical):
            raise ValueError(f"--schemes must list each scheme once, got {self.schemes!r}")
        if len(self.frequency_rates_hz) == 0:
            raise ValueError("--frequency-rates-hz must list at least one rate")
        for value in self.frequency_rates_hz:
            _real("--frequency-rates-hz", value)
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
        with _blame("--delta-t-ms", "--frequency-rates-hz"):
            self.frequency_protocol()
        rules = [preset(name) for name in self.rule_names()]
        with _blame(f"--dt-ms {self.dt_ms:g}"):
            check_time_step(self.dt_ms * ms, rules, self.delta_ts_ms() * ms)
        if self.target not in TARGETS:
            raise ValueError(f"--target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        try:
            resolve_target(self.target, single_run=True)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"--target {self.target}: {exc}") from None
        return self

    def rule_names(self) -> list[str]:
        """Every preset the tables use, each once: ``rules``, ``window_presets``,
        ``frequency_rules``."""
        return list(dict.fromkeys(self.rules + self.window_presets + self.frequency_rules))

    def frequency_protocol(self) -> FrequencyProtocol:
        """Sjöström's protocol: ``n_pairings`` at ``∓delta_t_ms`` and each rate."""
        return FrequencyProtocol(
            [-self.delta_t_ms, self.delta_t_ms] * ms,
            rates=np.asarray(self.frequency_rates_hz, dtype=float) * Hz,
            n_pairings=self.n_pairings,
        )

    def longest_other_protocol_s(self) -> float:
        """Duration (s) of the longest protocol of Tables 1–3 and the scheme table: the
        frequency table's longer conditions are compressed to fit in it."""
        pairing = float(self.pairing_protocol([self.delta_t_ms], jitter=False).duration)
        return max(pairing, self.poisson_duration_s)

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
def _regime_trains(cfg: TableConfig, protocol_name: str):
    protocol = (
        cfg.pairing_protocol([-cfg.delta_t_ms, cfg.delta_t_ms])
        if protocol_name == "pairing"
        else cfg.poisson_protocol()
    )
    seed = cfg.seed + (0 if protocol_name == "pairing" else 1)
    return protocol.trains(trials=cfg.trials, seed=seed)  # [-Δt x trials, +Δt x trials]


def _regime_conditions(cfg: TableConfig, protocol_name: str) -> list[Condition]:
    trains = _regime_trains(cfg, protocol_name)
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


# ---------------------------------------------------------------- scheme table
PROTOCOLS = ("pairing", "poisson")


def _scheme_conditions(cfg: TableConfig) -> list[Condition]:
    """Tables 1 and 2's conditions (same trains, same seeds) under every scheme."""
    conditions = []
    for protocol_name in PROTOCOLS:
        trains = _regime_trains(cfg, protocol_name)
        for scheme in cfg.schemes:
            pairing = pairing_scheme(scheme).name
            for name in cfg.rules:
                rule = preset(name).replace(pairing=pairing)
                for k, t in enumerate(trains):
                    tags = {"table": "schemes", "protocol": protocol_name, "pairing": pairing,
                            "rule": name, "timing": TIMINGS[k // cfg.trials]}  # fmt: skip
                    conditions.append(Condition(rule, t, tags=tags))
    return conditions


def scheme_rows(cfg: TableConfig, results: list) -> list[dict]:
    """Regime rows (:func:`regime_rows`) per scheme and protocol, with ``pairing`` added."""
    rows = []
    for protocol_name in PROTOCOLS:
        for scheme in cfg.schemes:
            pairing = pairing_scheme(scheme).name
            mine = [r for r in results
                    if r.tags["protocol"] == protocol_name and r.tags["pairing"] == pairing]
            rows += [{**row, "pairing": pairing}
                     for row in regime_rows(cfg, mine, protocol_name)]  # fmt: skip
    return rows


def scheme_markdown(rows: list[dict]) -> str:
    """One row per (regime, rule, protocol), one column per scheme: Δw mean ± sd and
    whether it classifies as the rule predicts."""
    if not rows:
        return "(no schemes)"
    schemes = list(dict.fromkeys(r["pairing"] for r in rows))
    cells: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        key = (r["regime"], r["legacy_name"], r["rule"], r["protocol_detail"], r["delta_t_ms"])
        cells.setdefault(key, {})[r["pairing"]] = r
    head = ("| regime (Table 5) | rule | protocol | Δt (ms) | " + " | ".join(schemes) + " |\n"
            "|---|---|---|---:|" + "---:|" * len(schemes) + "\n")  # fmt: skip
    lines = []
    for (regime, _, rule, detail, delta_t), by_scheme in cells.items():
        values = []
        for scheme in schemes:
            r = by_scheme[scheme]
            values.append(f"{r['dw']:+.4f} ± {r['dw_sd']:.4f} {'✓' if r['matches'] else '✗'}")
        lines.append(f"| {regime} | {rule} | {detail} | {delta_t:+g} | " + " | ".join(values)
                     + " |")  # fmt: skip
    matching = sum(r["matches"] for r in rows)
    note = (
        "\n\nCells: Δw mean ± sd over trials, ✓ when it classifies as the rule predicts. "
        "Schemes: NEST's four (stdp_sim.pairing); trains as in Tables 1 and 2, so "
        "the all-to-all column repeats them.  "
        f"{matching}/{len(rows)} (scheme, regime row) pairs classified as predicted."
    )
    return head + "\n".join(lines) + note


def scheme_table(
    title: str = "Pairing schemes — the four regimes under each of NEST's pairing schemes",
) -> Table:
    """Tables 1 and 2 under every scheme of ``cfg.schemes``."""
    return Table(
        key="schemes",
        json_key="schemes",
        title=title,
        conditions=_scheme_conditions,
        summarize=scheme_rows,
        markdown=scheme_markdown,
    )


# ---------------------------------------------------------------- frequency table
def _frequency_conditions(cfg: TableConfig) -> list[Condition]:
    return frequency_conditions(
        [preset(name) for name in cfg.frequency_rules],
        cfg.frequency_protocol(),
        max_duration=cfg.longest_other_protocol_s() * second,
        dt=cfg.dt_ms * ms,
        tags={"table": "frequency"},
    )


def frequency_data(cfg: TableConfig, results: list) -> dict:
    """Rows (:class:`stdp_sim.pairing_frequency.FrequencyRow` as dicts), the rate at which
    each rule's regime changes, and the residuals against Sjöström et al. (2001)."""
    rows = summarize_frequency(results, cfg.idt_window_ms * ms)
    changes = [
        {
            "rule": rule,
            "order": order,
            "lowest_rate_regime": _label(c["lowest_rate_regime"]),
            "changes_at_hz": None if c["changes_at"] is None else float(c["changes_at"] / Hz),
            "becomes": _label(c["becomes"]),
        }
        for (rule, order), c in regime_changes(rows).items()
    ]
    return {
        "protocol": {
            "n_pairings": cfg.n_pairings,
            "delta_t_ms": [-cfg.delta_t_ms, cfg.delta_t_ms],
            "rates_hz": list(cfg.frequency_rates_hz),
            "idt_window_ms": cfg.idt_window_ms,
            "sjostrom_source": SJOSTROM_2001["source"],
            "sjostrom_sd_range": list(SJOSTROM_2001["sd_range"]),
        },
        "rows": [row.as_dict() for row in rows],
        "regime_changes": changes,
        "sjostrom": {name: sjostrom_residuals(rows, name) for name in cfg.frequency_rules},
    }


def _label(regime: Regime | None) -> str | None:
    return regime.label if regime else None


_SHORT = {"potentiation": "pot.", "depression": "dep."}


def _short(label: str | None) -> str:
    if label is None:
        return "none"
    timing, consequence = label.split(" ")
    return f"{timing} {_SHORT[consequence]}"


def _order_text(delta_t_ms: float) -> str:
    first = "pre" if delta_t_ms < 0 else "post"
    return f"{first} first (Δt = {delta_t_ms:+g} ms; theirs {-delta_t_ms:+g})"


def frequency_markdown(data: dict) -> str:
    """Δw per rule, order and rate with its regime; Sjöström's data as a row; the rate at
    which each rule changes regime; the residuals against the data."""
    rows = data["rows"]
    if not rows:
        return "(no rules)"
    p = data["protocol"]
    rates = p["rates_hz"]
    index = {(r["rule"], r["order"], r["rate_hz"]): r for r in rows}
    changes = {(c["rule"], c["order"]): c for c in data["regime_changes"]}
    rules = list(dict.fromkeys(r["rule"] for r in rows))
    head = ("| rule | order | " + " | ".join(f"{r:g} Hz" for r in rates)
            + " | regime changes at |\n|---|---|" + "---:|" * len(rates) + "---|\n")  # fmt: skip
    lines = []
    for order, delta_t in zip(("pre-post", "post-pre"), p["delta_t_ms"], strict=True):
        data_cells = []
        for rate in rates:
            any_row = index.get((rules[0], order, rate))
            value = any_row["sjostrom_relative_dw"] if any_row else None
            data_cells.append("—" if value is None else f"{value:+.2f}")
        lines.append(f"| **Sjöström 2001** (relative Δw) | {_order_text(delta_t)} | "
                     + " | ".join(data_cells) + " | |")  # fmt: skip
        for rule in rules:
            cells = []
            for rate in rates:
                r = index[(rule, order, rate)]
                bound = " ‡" if r["at_bound"] else ""
                cells.append(f"{r['dw']:+.3f} {_short(r['classified_as'])}{bound}")
            c = changes[(rule, order)]
            change = ("never" if c["changes_at_hz"] is None
                      else f"{c['changes_at_hz']:g} Hz → {_short(c['becomes'])}")  # fmt: skip
            lines.append(f"| {rule} | {_order_text(delta_t)} | " + " | ".join(cells)
                         + f" | {change} |")  # fmt: skip
    compressed = sorted({r["rate_hz"] for r in rows if r["time_scale"] != 1.0})
    flips = sorted({r["rate_hz"] for r in rows if r["classified_by_integral_delta_t"]
                    and r["classified_as"] and r["classified_by_integral_delta_t"].split()[0]
                    != r["classified_as"].split()[0]})  # fmt: skip
    note = (
        f"Cells: Δw after {p['n_pairings']} pairings, then its regime: the order of the "
        "two spikes of each pairing is the timing side, the sign of Δw the consequence.  "
        + (f"By ∫Δt (pairs closer than {p['idt_window_ms']:g} ms, as in Tables 1–2) the "
           f"timing side flips at {', '.join(f'{r:g}' for r in flips)} Hz, where the "
           "second spike of a pairing is closer to the next pairing's first spike "
           "(stdp_table.json: classified_by_integral_delta_t).  " if flips else "")
        + "Sjöström et al. write Δt = t_post − t_pre (\"theirs\").  "
        + ("‡: the weight ended on a bound of the rule (clipped).  "
           if any(r["at_bound"] for r in rows) else "")
        + (f"Simulated time-compressed (exact; stdp_sim.pairing_frequency): "
           f"{', '.join(f'{r:g}' for r in compressed)} Hz." if compressed else "")
    ).rstrip() + "\n\n"  # fmt: skip
    return note + head + "\n".join(lines) + "\n\n" + _residual_markdown(data)


def _residual_markdown(data: dict) -> str:
    fits = {name: s for name, s in data["sjostrom"].items() if s["n_points"]}
    if not fits:
        return ("No residuals against Sjöström et al. (2001): their protocol is "
                f"{SJOSTROM_2001['n_pairings']} pairings at ±10 ms.")  # fmt: skip
    lines = [
        "Residuals against Sjöström et al. (2001): model relative Δw (Δw / w_init; the "
        "triplet presets start at w = 1, Pfister & Gerstner's convention; the pair presets "
        "were not fitted to these data) minus data, at each rate; their sd is "
        f"{data['protocol']['sjostrom_sd_range'][0]:g}–"
        f"{data['protocol']['sjostrom_sd_range'][1]:g}.\n",
    ]
    rates = data["protocol"]["rates_hz"]
    lines.append("| rule | their Δt (ms) | " + " | ".join(f"{r:g} Hz" for r in rates)
                 + " | RMS |\n|---|---:|" + "---:|" * len(rates) + "---:|")  # fmt: skip
    for name, fit in fits.items():
        for theirs in (-10.0, 10.0):
            points = {pt["rate_hz"]: pt for pt in fit["points"]
                      if pt["sjostrom_delta_t_ms"] == theirs}  # fmt: skip
            cells = [f"{points[r]['model']:+.2f} ({points[r]['residual']:+.2f})"
                     if r in points else "—" for r in rates]  # fmt: skip
            lines.append(f"| {name} | {theirs:+g} | " + " | ".join(cells)
                         + f" | {fit['rms_residual']:.2f} |")  # fmt: skip
    lines.append("\nCells: model relative Δw (model − data); RMS over both orders and all "
                 "rates with data.")  # fmt: skip
    return "\n".join(lines)


def frequency_table(
    title: str = "Pairing frequency — Δw and regime per rule at 0.1–50 Hz, beside Sjöström "
    "et al. (2001)",
) -> Table:
    """Δw after ``n_pairings`` pairings at each of ``frequency_rates_hz``, both orders."""
    return Table(
        key="frequency",
        json_key="frequency",
        title=title,
        conditions=_frequency_conditions,
        summarize=frequency_data,
        markdown=frequency_markdown,
    )


#: The Brian2 tables, in print order (``bridge.regime_table`` adds Table 4, which
#: ``experiments/stdp_table.py`` prints after Table 3).
TABLES: list[Table] = [
    regime_table("pairing", "Table 1 — the four STDP regimes, pairing protocol"),
    regime_table("poisson", "Table 2 — the four STDP regimes, correlated Poisson trains"),
    window_table(),
    scheme_table(),
    frequency_table(),
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
        except BuildFailed as exc:
            if not (cfg.target == "auto" and target == "cpp_standalone"):
                raise
            # the C++ build failed although a compiler was found: use the runtime instead
            target = resolve_target("auto")
            print(f"warning: the C++ standalone build failed (compiler output: {exc.log}); "
                  f"using Brian2's {target} target", file=sys.stderr)
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
    rows of both regime tables; ``windows``; ``schemes``: the regime rows under each
    scheme, with ``pairing``; ``frequency``: ``protocol``, ``rows``,
    ``regime_changes``, ``sjostrom``; ``bridge`` when Table 4 ran) and
    ``skipped_tables`` (``{json_key: why}`` for tables that could not run here).
    """
    results: dict[str, Any] = {
        "config": {**asdict(cfg), **(config_extra or {})},
        "environment": environment(target=run["target"]),
        "timing": {"run_s": run_s, "simulate_s": run["simulate_s"]},
        "n_conditions": run["n_conditions"],
        "rules": {name: preset(name).as_dict() for name in cfg.rule_names()},
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
