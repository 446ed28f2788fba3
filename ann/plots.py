"""Figure-12-style plots: training (solid) and test (dotted) metric over epochs,
one panel per NegLU percentage, one row per backward mode.  Each panel's y range
is fitted to epochs 2 onwards: the first epoch is far worse and runs off the panel
(off the top for error, off the bottom for accuracy).

Uses matplotlib's object API with the Agg canvas, so no display is needed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ann.report import column_of
from common.files import atomic_write

__all__ = ["plot_curves"]


def plot_curves(
    results: Iterable[dict[str, Any]],
    path: str | Path,
    metric: str = "error",
    title: str = "",
) -> Path:
    """Write a PNG of per-epoch training (solid) and test (dotted) curves.

    Args:
        results: run results (see :mod:`ann.train`); several seeds of a configuration
            are averaged per epoch (over the epochs all of them completed).
        path: output PNG file.
        metric: ``"error"`` (percent error) or ``"accuracy"`` (100 - error).
        title: figure title.

    Returns:
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if metric not in ("error", "accuracy"):
        raise ValueError(f"metric must be 'error' or 'accuracy', got {metric!r}")
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[(column_of(r), float(r["neg_percent"]))].append(r)
    if not groups:
        raise ValueError("results must not be empty")
    backwards = list(dict.fromkeys(b for b, _ in groups))
    percents = sorted({p for _, p in groups})
    ncols, nrows = len(percents), len(backwards)
    fig = Figure(figsize=(max(4.0, 2.1 * ncols), 2.0 * nrows + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)

    def value(e: float) -> float:
        return 100 * e if metric == "error" else 100 * (1 - e)

    for i, b in enumerate(backwards):
        for j, p in enumerate(percents):
            ax = axes[i][j]
            runs = groups.get((b, p), [])
            if not runs:
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"{p:g} %: not run", ha="center", va="center",
                        transform=ax.transAxes, fontsize=8, color="0.5")
                continue
            n = min((len(r["epochs"]) for r in runs), default=0)
            if n:
                xs = list(range(1, n + 1))
                tail = []
                for key, style in (("train_error", "-"), ("test_error", ":")):
                    ys = [sum(value(r["epochs"][e][key]) for r in runs) / len(runs)
                          for e in range(n)]
                    ax.plot(xs, ys, style, color="C0" if key == "train_error" else "C3",
                            label="train" if key == "train_error" else "test",
                            marker="o" if n <= 3 else None, markersize=3)
                    tail += ys[1:] if n > 1 else ys
                # Zoom on epochs 2.. (epoch 1 is far off the rest and would flatten them).
                ax.set_ylim(*_limits(tail, metric))
            diverged = sum(r["status"] == "diverged" for r in runs)
            ax.set_title(f"{p:g} %" + (f" ({diverged} diverged)" if diverged else ""),
                         fontsize=9)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel(f"{b}\n{metric} %", fontsize=8)
            if i == nrows - 1:
                ax.set_xlabel("epoch", fontsize=8)
    axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))


def _limits(values: list[float], metric: str) -> tuple[float, float]:
    """y range of a panel: errors from 0, accuracies around the values, never past 100 %."""
    if metric == "error":
        return 0.0, max(max(values) * 1.15, 0.5)
    low, high = min(values), max(values)
    margin = 0.1 * (high - low) + 0.5
    return max(0.0, low - margin), min(100.0, high + margin)
