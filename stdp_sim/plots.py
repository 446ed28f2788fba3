"""Figures of the STDP tables (matplotlib, imported only when a figure is drawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from brian2 import ms

from common.files import atomic_write
from stdp_sim.rule import preset
from stdp_sim.window import pairing_dw

__all__ = ["plot_windows"]


def plot_windows(path: str | Path, windows: dict[str, dict], rules: dict | None = None) -> Path:
    """One panel per preset: analytic curve and simulated points, written atomically.

    Parameters
    ----------
    path : str or Path
        PNG file to write (parent directories are created).
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(windows)
    if not names:
        raise ValueError("windows must hold at least one preset, got {}")
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    try:
        for ax, name in zip(axes.flat, names, strict=False):
            w = windows[name]
            grid = np.asarray(w["delta_t_ms"])
            ax.axhline(0, color="0.8", lw=0.8)
            ax.axvline(0, color="0.8", lw=0.8)
            # the window jumps at Δt = 0 (which belongs to the pre-post side): two branches
            branches = ((min(grid.min(), 0.0), 0.0), (1e-9, max(grid.max(), 0.0)))
            for k, (lo, hi) in enumerate(branches):
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
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    finally:
        plt.close(fig)
