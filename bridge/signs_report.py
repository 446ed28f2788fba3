"""The ``--signs`` table and figure of a sweep: update-sign statistics over seeds.

:func:`signs_table` prints, per configuration (the columns of Tables 6-8: backward
mode and mask, or activation) x NegLU share x unit type, the share of synapse-level
update events in each STDP regime and the inverted and silent fractions of the
applied local derivatives, mean ± sd over the seeds (a diverged run's counts up to its
divergence, and how many diverged), beside each
regime's biological Δw sign as the :mod:`stdp_sim` presets give it.
:func:`plot_inverted` draws the inverted fraction (all unit types together) against
the NegLU share, one line per backward mode (:func:`draw_inverted` builds the figure).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ann.report import column_of, markdown_table, mean_sd, seed_stat
from common.plotting import RC, new_figure, offsets, save_figure, series_style, styled, wrap
from stdp_sim.regime import Regime

__all__ = ["biology_signs", "signs_table", "plot_inverted", "draw_inverted", "inverted_fraction"]


def biology_signs() -> dict[str, int]:
    """Per regime label, the sign of Δw of the first preset of
    :data:`~bridge.biology.REGIME_PRESETS` that produces it, from the rule's window at
    ``Δt = ∓10 ms`` (pre-post: ``Δt < 0``)."""
    import numpy as np
    from brian2 import ms  # Brian2 only here: the sweep scripts do not load it otherwise

    from bridge.biology import REGIME_PRESETS
    from stdp_sim.rule import preset

    out = {}
    for regime in Regime:
        for name in REGIME_PRESETS:
            rule = preset(name)
            if rule.regime(regime.timing) is regime:
                dt = (-10.0 if regime.timing == "pre-post" else 10.0) * ms
                out[regime.label] = int(np.sign(float(np.asarray(rule.window(dt)))))
                break
    return out


def inverted_fraction(signs: dict[str, Any]) -> float | None:
    """Inverted local derivatives over all unit types of one run's ``signs``."""
    totals = defaultdict(int)
    for row in signs["by_unit_type"].values():
        for k, v in row.get("derivatives", {}).items():
            totals[k] += v
    n = sum(totals.values())
    return totals["inverted"] / n if n else None


def _cell(values: list[float | None]) -> str:
    """Fractions as ``mean ± sd`` in %."""
    return mean_sd(100.0 * v if v is not None else None for v in values)


def signs_table(results: Iterable[dict[str, Any]]) -> str:
    """The signs table of the module docstring, Markdown; a one-line note when no run
    carries signs."""
    groups: dict[tuple[str, float, str], list[dict[str, Any]]] = defaultdict(list)
    diverged: dict[tuple[str, float, str], int] = defaultdict(int)
    every = set()
    for r in results:
        if "signs" in r:  # a diverged run's counts up to its divergence count too
            every.add(r["signs"]["every"])
            for unit, row in r["signs"]["by_unit_type"].items():
                key = (column_of(r), float(r["neg_percent"]), unit)
                groups[key].append(row)
                diverged[key] += r.get("status") == "diverged"
    if not groups:
        return "Update signs: none recorded (run with --signs)."
    bio = biology_signs()
    labels = [r.label for r in Regime]
    header = ["config", "% NegLU", "unit", "seeds", "diverged",
              *[f"{lb} (bio Δw {'+' if bio[lb] > 0 else '−'}) %" for lb in labels],
              "inverted %", "silent %", "agreement %"]
    rows = []
    for (column, percent, unit), rs in groups.items():
        rows.append([column, f"{percent:g}", unit, str(len(rs)),
                     str(diverged[(column, percent, unit)]),
                     *[_cell([x["shares"][lb] for x in rs]) for lb in labels],
                     _cell([x["inverted_fraction"] for x in rs]),
                     _cell([x["silent_fraction"] for x in rs]),
                     _cell([x["agreement"] for x in rs])])
    table = markdown_table(header, rows)
    watched = ", ".join(f"1 in {e}" for e in sorted(every))
    return (f"Update signs (bridge monitor, steps watched: {watched}; regimes: share of "
            f"synapse-level update events; inverted/silent: share of unit-samples with a "
            f"descent signal whose applied local derivative was < 0 / = 0; agreement: events "
            f"whose synapse moved as the regime predicts; mean ± sd over seeds, diverged "
            f"runs counted up to their divergence)\n\n" + table)


def plot_inverted(results: Iterable[dict[str, Any]], path: str | Path, title: str = ""
                  ) -> Path | None:
    """PNG of :func:`draw_inverted`; ``None`` (nothing written) when no run carries
    signs."""
    fig = draw_inverted(results, title)
    return None if fig is None else save_figure(fig, path)


def draw_inverted(results: Iterable[dict[str, Any]], title: str = ""):
    """The inverted fraction (all unit types) vs NegLU share, one series per column
    (backward mode and mask, or activation), mean ± sd over seeds (diverged runs up to
    their divergence), the columns set side by side at each share with their own colour,
    marker and line style, the legend under the axes; the Figure, or ``None`` when no
    run carries signs."""
    groups: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if "signs" in r:
            value = inverted_fraction(r["signs"])
            if value is not None:
                groups[column_of(r)][float(r["neg_percent"])].append(100.0 * value)
    if not groups:
        return None
    shares = sorted({x for by_percent in groups.values() for x in by_percent})
    shift = offsets(len(groups), shares)
    with styled():
        fig = new_figure(5.6, 3.4 + 0.25 * math.ceil(len(groups) / 3))
        ax = fig.subplots()
        for i, (column, by_percent) in enumerate(groups.items()):
            xs = sorted(by_percent)
            stats = [seed_stat(by_percent[x]) for x in xs]
            means = [s.mean for s in stats]
            sds = [0.0 if math.isnan(s.sd) else s.sd for s in stats]
            ax.errorbar([x + shift[i] for x in xs], means,
                        yerr=[[min(m, sd) for m, sd in zip(means, sds, strict=True)], sds],
                        **series_style(i), markersize=4, capsize=2, label=column)
        ax.set_xticks(shares)
        ax.set_xlabel("NegLU share (%)")
        ax.set_ylabel("inverted local derivatives (%),\nmean ± sd over seeds")
        top = ax.get_ylim()[1]
        ax.set_ylim(-0.03 * top, top)  # a share: from 0, markers at 0 whole
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center",
                   ncols=min(3, len(groups)))
        ax.set_title(wrap(title or "Temporally-inverted updates vs NegLU share", 5.0,
                          RC["axes.titlesize"]))
    return fig
