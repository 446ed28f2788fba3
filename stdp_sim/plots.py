"""Figures of the STDP tables (matplotlib, imported only when a figure is drawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from brian2 import ms

from common.plotting import new_figure, save_figure, styled
from stdp_sim.rule import preset
from stdp_sim.window import pairing_dw

__all__ = ["draw_windows", "plot_windows"]


def plot_windows(path: str | Path, windows: dict[str, dict], rules: dict | None = None) -> Path:
    """:func:`draw_windows`, written atomically to ``path``.

    Parameters
    ----------
    path : str or Path
        PNG file to write (parent directories are created), in the toolkit's figure
        style (:mod:`common.plotting`: 150 dpi, no text under 8 pt).
    windows : dict
        :func:`stdp_sim.tables.window_data` (the ``windows`` entry of
        ``stdp_table.json``): per preset name, ``delta_t_ms``, ``dw``, ``n_pairings``.
    rules : dict, optional
        Unused; kept so that ``plot_windows(path, doc["windows"], doc["rules"])`` works.

    Returns
    -------
    Path
        ``path``.
    """
    return save_figure(draw_windows(windows), path)


def draw_windows(windows: dict[str, dict]):
    """One panel per preset of ``windows`` (as :func:`plot_windows`): the analytic
    learning window and the simulated points; returns the matplotlib Figure."""
    names = list(windows)
    if not names:
        raise ValueError("windows must hold at least one preset, got {}")
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    with styled():
        fig = new_figure(2.6 * cols, 2.2 * rows + 0.35)
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax, name in zip(axes.flat, names, strict=False):
            w = windows[name]
            grid = np.asarray(w["delta_t_ms"])
            ax.axhline(0, color="0.6", lw=0.6)
            ax.axvline(0, color="0.6", lw=0.6)
            # the window jumps at Δt = 0 (which belongs to the pre-post side): two branches
            branches = ((min(grid.min(), 0.0), 0.0), (1e-9, max(grid.max(), 0.0)))
            for k, (lo, hi) in enumerate(branches):
                fine = np.linspace(lo, hi, 400)
                curve = pairing_dw(preset(name), fine * ms, w["n_pairings"])
                ax.plot(fine, curve, color="C0", label="analytic" if k == 0 else None)
            ax.plot(grid, w["dw"], "o", color="C3", label="Brian2")
            ax.set_title(name)
            ax.set_xlabel("Δt = t_pre − t_post (ms)")
            ax.set_ylabel(f"Δw after {w['n_pairings']} pairings")
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside lower center",
                   ncols=2)
    return fig
