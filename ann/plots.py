"""Figure-12-style plots: training (solid) and test (dotted) metric over epochs, one
panel per configuration and NegLU percentage that ran, and the figure helpers every
figure of the toolkit shares.

A configuration (:func:`ann.report.column_of`: a MixLU backward mode and mask, or an
activation) run at several percentages gets a row of its own, labelled with its name
on the left, one panel per percentage; configurations run at one percentage only (the
0 % baselines: ReLU, Leaky ReLU, ...) are packed into rows of their own, each panel
titled with its configuration.  Nothing that did not run gets a panel.  All panels
share their epoch axis and their y axis, which spans every point drawn (epoch 1
included), so panels can be compared at a glance.

The helpers every figure shares (:func:`new_figure`, :func:`save_figure`, ...) live in
:mod:`common.plotting`, so that ``stdp_sim``'s figures use them without torch; they are
re-exported here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ann.report import column_of
from common.plotting import (
    DPI,
    MIN_FONT_PT,
    RC,
    integer_ticks,
    new_figure,
    offsets,
    save_figure,
    series_style,
    styled,
    wrap,
)

__all__ = ["plot_curves", "draw_curves", "new_figure", "save_figure", "styled",
           "series_style", "offsets", "integer_ticks", "wrap", "DPI", "MIN_FONT_PT", "RC"]

#: Width and height of one panel of :func:`draw_curves`, inches.
PANEL = (2.25, 1.9)


def plot_curves(
    results: Iterable[dict[str, Any]],
    path: str | Path,
    metric: str = "error",
    title: str = "",
) -> Path:
    """Write a PNG of per-epoch training (solid) and test (dotted) curves
    (:func:`draw_curves`).

    Args:
        results: run results (see :mod:`ann.train`); several seeds of a configuration
            are averaged per epoch (over the epochs all of them completed).
        path: output PNG file.
        metric: ``"error"`` (percent error) or ``"accuracy"`` (100 - error).
        title: figure title.

    Returns:
        ``path``.
    """
    return save_figure(draw_curves(results, metric, title), path)


def _layout(groups: dict[tuple[str, float], list]
            ) -> list[tuple[str | None, list[tuple[str, float, str]]]]:
    """Rows as ``(row label, [(column, percent, panel title), ...])``: first the
    configurations run at one percentage, packed (no row label: each panel's title names
    its configuration), then one row per configuration run at several, labelled with it."""
    percents: dict[str, list[float]] = defaultdict(list)
    for column, p in groups:
        percents[column].append(p)
    many = {c: sorted(ps) for c, ps in percents.items() if len(ps) > 1}
    single = [(c, ps[0]) for c, ps in percents.items() if len(ps) == 1]
    ncols = max((len(ps) for ps in many.values()), default=min(len(single), 4))
    rows: list[tuple[str | None, list[tuple[str, float, str]]]] = [
        (None, [(c, p, f"{c}, {p:g} %") for c, p in single[k:k + ncols]])
        for k in range(0, len(single), ncols)]
    rows += [(c, [(c, p, f"{p:g} %") for p in ps]) for c, ps in many.items()]
    return rows


def draw_curves(results: Iterable[dict[str, Any]], metric: str = "error", title: str = ""):
    """The Figure of :func:`plot_curves` (module docstring), not saved."""
    if metric not in ("error", "accuracy"):
        raise ValueError(f"metric must be 'error' or 'accuracy', got {metric!r}")
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[(column_of(r), float(r["neg_percent"]))].append(r)
    if not groups:
        raise ValueError("results must not be empty")
    rows = _layout(groups)
    ncols, nrows = max(len(row) for _, row in rows), len(rows)
    width = max(3.6, PANEL[0] * ncols + 0.5)

    def value(e: float) -> float:
        return 100 * e if metric == "error" else 100 * (1 - e)

    with styled():
        fig = new_figure(width, PANEL[1] * nrows + 1.0)
        grid = fig.add_gridspec(nrows, ncols)
        first = None
        drawn, epochs = [], 1
        for i, (row_label, row) in enumerate(rows):
            for j, (column, p, name) in enumerate(row):
                ax = fig.add_subplot(grid[i, j], sharex=first, sharey=first)
                first = first or ax
                runs = groups[(column, p)]
                n = min(len(r["epochs"]) for r in runs)
                epochs = max(epochs, n)
                if n:
                    xs = list(range(1, n + 1))
                    for key, style, colour, label in (("train_error", "-", "C0", "train"),
                                                      ("test_error", ":", "C3", "test")):
                        ys = [sum(value(r["epochs"][e][key]) for r in runs) / len(runs)
                              for e in range(n)]
                        ax.plot(xs, ys, style, color=colour, label=label,
                                marker="o" if n <= 5 else None, markersize=3)
                        drawn += ys
                diverged = sum(r["status"] == "diverged" for r in runs)
                ax.set_title(name + (f" ({diverged} diverged)" if diverged else ""))
                if j == 0:
                    ax.set_ylabel(f"{row_label}\n{metric} %" if row_label else f"{metric} %")
                else:
                    ax.tick_params(labelleft=False)
                below = i + 1 < nrows and j < len(rows[i + 1][1])
                if not below:
                    ax.set_xlabel("epoch")
        integer_ticks(first.xaxis)
        first.set_xlim(0.6, epochs + 0.4)
        first.set_ylim(*_limits(drawn or [0.0], metric))
        handles, labels = first.get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncols=2)
        if title:
            fig.suptitle(wrap(title, width - 0.2, RC["figure.titlesize"]))
    return fig


def _limits(values: list[float], metric: str) -> tuple[float, float]:
    """y range of the panels: errors from 0, accuracies around the values, never past
    100 %; every value inside."""
    if metric == "error":
        return 0.0, max(max(values) * 1.15, 0.5)
    low, high = min(values), max(values)
    margin = 0.1 * (high - low) + 0.5
    return max(0.0, low - margin), min(100.0, high + margin)
