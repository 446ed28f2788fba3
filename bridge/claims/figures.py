"""The verdict report's figures, in the style of the thesis's Figures 12 and 13, with
seed bands (mean ± sd over seeds; collapse rates with exact 95 % intervals).

Each function takes the runs of one sweep (and its description for the title) and a
path, writes a PNG atomically and returns the path, or ``None`` when the runs hold
nothing to draw.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bridge.claims.plan import PUBLISHED_MODE
from bridge.claims.records import (
    by_share,
    collapsed,
    config_name,
    dead_share,
    finished,
    gap_of,
    is_relu,
    mode_name,
    modes,
    points,
    prelu_slopes,
)
from common.files import atomic_write
from common.stats import exact_binomial, seed_stat

__all__ = ["errors_over_epochs", "divergence_vs_share", "gap_vs_share", "dead_units_vs_share",
           "prelu_slopes_figure"]

Runs = list[dict[str, Any]]

#: The lowest error (points) the log axis of :func:`errors_over_epochs` shows.
FLOOR = 0.01


def _figure(size=(5.6, 3.6)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=100, format="png"))


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    s = seed_stat(values)
    return s.mean, (0.0 if math.isnan(s.sd) else s.sd)


def errors_over_epochs(runs: Runs, path: Path, title: str) -> Path | None:
    """Training (solid) and test (dotted) error per epoch, one colour per share of the
    published mode (ReLU = 0 %), mean ± sd band over the runs that did not collapse, on a
    log axis (values below :data:`FLOOR` points drawn at it)."""
    from matplotlib.ticker import MaxNLocator

    groups = by_share(runs, PUBLISHED_MODE)
    if not groups:
        return None
    fig = _figure()
    ax = fig.subplots()
    for i, (share, rs) in enumerate(groups.items()):
        fin = finished(rs)
        if not fin:
            continue
        epochs = min(len(r["epochs"]) for r in fin)
        xs = list(range(1, epochs + 1))
        colour = f"C{i % 10}"
        for key, style in (("train_error", "-"), ("test_error", ":")):
            stats = [_mean_sd([points(r["epochs"][e][key]) for r in fin]) for e in range(epochs)]
            floor = lambda v: max(v, FLOOR)  # noqa: E731  (a log axis: 0 % drawn at the floor)
            ax.plot(xs, [floor(m) for m, _ in stats], style, color=colour,
                    label=f"{share:g} % (n = {len(fin)})" if key == "train_error" else None)
            ax.fill_between(xs, [floor(m - s) for m, s in stats],
                            [floor(m + s) for m, s in stats], color=colour, alpha=0.15,
                            linewidth=0)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%), training solid, test dotted")
    ax.legend(fontsize=7, title=mode_name(PUBLISHED_MODE), title_fontsize=7)
    ax.set_title(title, fontsize=8)
    return _save(fig, path)


def _per_mode(runs: Runs, path: Path, title: str, ylabel: str,
              point: Callable[[list[dict[str, Any]]], tuple[float, float, float] | None]
              ) -> Path | None:
    """One line per mode: ``point(runs of a share) -> (y, err_low, err_high)``."""
    fig = _figure()
    ax = fig.subplots()
    drawn = False
    for mode in modes(runs):
        xs, ys, lo, hi = [], [], [], []
        for share, rs in by_share(runs, mode).items():
            value = point(rs)
            if value is None:
                continue
            y, a, b = value
            xs.append(share)
            ys.append(y)
            lo.append(max(0.0, y - a))  # no negative bar from float rounding at 0 or 1
            hi.append(max(0.0, b - y))
        if xs:
            drawn = True
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", markersize=3, capsize=2,
                        label=mode_name(mode))
    if not drawn:
        return None
    ax.set_xlabel("NegLU share (%)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=8)
    return _save(fig, path)


def divergence_vs_share(runs: Runs, path: Path, title: str) -> Path | None:
    """Collapse rate per share and mode with exact (Clopper-Pearson) 95 % intervals."""
    def point(rs):
        b = exact_binomial(sum(collapsed(r) for r in rs), len(rs))
        return 100.0 * b.k / b.n, 100.0 * b.lo, 100.0 * b.hi
    return _per_mode(runs, path, title, "collapsed runs (%)", point)


def gap_vs_share(runs: Runs, path: Path, title: str) -> Path | None:
    """Test − training error per share and mode, mean with its 95 % t-interval."""
    def point(rs):
        gaps = [gap_of(r) for r in finished(rs)]
        if not gaps:
            return None
        s = seed_stat(gaps)
        if s.n < 2:
            return s.mean, s.mean, s.mean
        return s.mean, s.lo, s.hi
    return _per_mode(runs, path, title, "gap = test − training error (points)", point)


def dead_units_vs_share(runs: Runs, path: Path, title: str) -> Path | None:
    """Dead ReLU-side units (%) per share and mode, mean ± sd."""
    def point(rs):
        vals = [v for r in finished(rs) if (v := dead_share(r)) is not None]
        if not vals:
            return None
        m, s = _mean_sd(vals)
        return m, m - s, m + s
    return _per_mode(runs, path, title, "dead ReLU-side units (%)", point)


def prelu_slopes_figure(runs: Runs, path: Path, title: str) -> Path | None:
    """Test error against the negative-side slope: learned PReLU slopes (one point per
    run), the Leaky ReLU slopes, and the NegLU shares as fractions (per mode)."""
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in finished(runs):
        name, kind = config_name(r), r["activation_spec"]["kind"]
        err = points(r["test_error"])
        if kind == "prelu" and (s := prelu_slopes(r)) is not None:
            series["PReLU (learned mean slope)"].append((s, err))
        elif kind == "leaky":
            series["Leaky ReLU (slope)"].append((float(r["activation_spec"]["slope"]), err))
        elif kind == "mixlu" and float(r["neg_percent"]) > 0:
            series[f"MixLU {name.split()[-1]} (share)"].append(
                (float(r["neg_percent"]) / 100.0, err))
        elif is_relu(r):
            series["ReLU"].append((0.0, err))
    if not any(k.startswith("PReLU") or k.startswith("Leaky") for k in series):
        return None
    fig = _figure()
    ax = fig.subplots()
    for i, (label, pts) in enumerate(sorted(series.items())):
        ax.scatter([x for x, _ in pts], [y for _, y in pts], s=10, color=f"C{i % 10}",
                   label=label, alpha=0.8)
    ax.set_xlabel("negative-side slope, or NegLU share as a fraction")
    ax.set_ylabel("test error (%)")
    ax.legend(fontsize=6)
    ax.set_title(title, fontsize=8)
    return _save(fig, path)
