"""The verdict report's figures, in the style of the thesis's Figures 12 and 13, with
seed bands (mean ± sd over seeds; collapse rates with exact 95 % intervals).

Each writer takes the runs of one sweep (and its description for the title) and a
path, writes a PNG atomically and returns the path, or ``None`` when the runs hold
nothing to draw; its ``draw_*`` twin builds the Figure without saving it.  Percentages
are on linear axes, series that share an x value are set side by side with their own
colour, marker and line style, and legends sit outside the axes
(:mod:`ann.plots` holds the shared look).
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
    dead_share,
    finished,
    gap_of,
    is_relu,
    mode_name,
    mode_of,
    modes,
    points,
    prelu_slopes,
)
from common.plotting import (
    RC,
    integer_ticks,
    new_figure,
    offsets,
    save_figure,
    series_style,
    styled,
    wrap,
)
from common.stats import exact_binomial, seed_stat

__all__ = ["errors_over_epochs", "divergence_vs_share", "gap_vs_share", "dead_units_vs_share",
           "prelu_slopes_figure", "draw_errors_over_epochs", "draw_divergence_vs_share",
           "draw_gap_vs_share", "draw_dead_units_vs_share", "draw_prelu_slopes"]

Runs = list[dict[str, Any]]

#: Size of the one-panel figures, inches (the two-panel ones are wider).
SIZE = (5.6, 3.8)
#: Opacity of a seed band: light, so that the lines stay readable where bands overlap.
BAND_ALPHA = 0.1


def _save(fig, path: Path) -> Path | None:
    return None if fig is None else save_figure(fig, path)


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    s = seed_stat(values)
    return s.mean, (0.0 if math.isnan(s.sd) else s.sd)


def _share_axis(ax, shares: Sequence[float]) -> None:
    """x axis of the NegLU share: ticks at the shares that ran."""
    ax.set_xticks(sorted(set(shares)))
    ax.set_xlabel("NegLU share (%)")


def _from_zero(ax) -> None:
    """y axis of a quantity that cannot be negative: from just under 0 (markers at 0
    whole, no negative tick)."""
    top = ax.get_ylim()[1]
    ax.set_ylim(-0.03 * top, top)


def errors_over_epochs(runs: Runs, path: Path, title: str) -> Path | None:
    """Write :func:`draw_errors_over_epochs` to ``path``; ``None`` when nothing to draw."""
    return _save(draw_errors_over_epochs(runs, title), path)


def draw_errors_over_epochs(runs: Runs, title: str):
    """Training (left) and test (right) error per epoch on a shared linear axis, one
    colour, marker and line style per share of the published mode (ReLU = 0 %), mean
    ± sd band over the runs that did not collapse; the Figure, or ``None``."""
    groups = {share: fin for share, rs in by_share(runs, PUBLISHED_MODE).items()
              if (fin := finished(rs))}
    if not groups:
        return None
    with styled():
        fig = new_figure(SIZE[0] + 1.0, SIZE[1] + 0.4)
        axes = fig.subplots(1, 2, sharex=True, sharey=True)
        for i, (share, fin) in enumerate(groups.items()):
            epochs = min(len(r["epochs"]) for r in fin)
            xs = list(range(1, epochs + 1))
            style = series_style(i)
            for ax, key in zip(axes, ("train_error", "test_error"), strict=True):
                stats = [_mean_sd([points(r["epochs"][e][key]) for r in fin])
                         for e in range(epochs)]
                ax.fill_between(xs, [max(0.0, m - s) for m, s in stats],
                                [m + s for m, s in stats], color=style["color"],
                                alpha=BAND_ALPHA, linewidth=0)
                ax.plot(xs, [m for m, _ in stats], **style, markersize=3,
                        markevery=max(1, epochs // 10), zorder=3,
                        label=f"{share:g} % (n = {len(fin)})")
        for ax, name in zip(axes, ("training", "test"), strict=True):
            ax.set_title(f"{name} error")
            ax.set_xlabel("epoch")
            integer_ticks(ax.xaxis)
        axes[0].set_ylabel("error (%), mean ± sd over seeds")
        _from_zero(axes[0])
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
                   ncols=min(4, len(groups)),
                   title=f"NegLU share, {mode_name(PUBLISHED_MODE)} (n: runs not collapsed)")
        fig.suptitle(wrap(title, SIZE[0], RC["figure.titlesize"]))
    return fig


def _per_mode(runs: Runs, title: str, ylabel: str,
              point: Callable[[list[dict[str, Any]]], tuple[float, float, float] | None],
              nonnegative: bool = False):
    """One series per mode, ``point(runs of a share) -> (y, err_low, err_high)``, the
    modes set side by side at each share (:func:`ann.plots.offsets`), with distinct
    colours, markers and line styles; the legend under the axes.  ``None`` when no
    share gives a point."""
    series = []
    for mode in modes(runs):
        values = [(share, v) for share, rs in by_share(runs, mode).items()
                  if (v := point(rs)) is not None]
        if values:
            series.append((mode, values))
    if not series:
        return None
    shares = [share for _, values in series for share, _ in values]
    shift = offsets(len(series), shares)
    with styled():
        fig = new_figure(*SIZE)
        ax = fig.subplots()
        for i, (mode, values) in enumerate(series):
            ys = [y for _, (y, _, _) in values]
            ax.errorbar([share + shift[i] for share, _ in values], ys,
                        yerr=[[max(0.0, y - a) for _, (y, a, _) in values],  # no negative bar
                              [max(0.0, b - y) for _, (y, _, b) in values]],  # from rounding
                        **series_style(i), markersize=4, capsize=2, label=mode_name(mode))
        _share_axis(ax, shares)
        ax.set_ylabel(ylabel)
        if nonnegative:
            _from_zero(ax)
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center",
                   ncols=min(3, len(series)), title="MixLU mode (backward/mask)")
        ax.set_title(wrap(title, SIZE[0] - 0.6, RC["axes.titlesize"]))
    return fig


def divergence_vs_share(runs: Runs, path: Path, title: str) -> Path | None:
    """Write :func:`draw_divergence_vs_share` to ``path``; ``None`` when nothing to draw."""
    return _save(draw_divergence_vs_share(runs, title), path)


def draw_divergence_vs_share(runs: Runs, title: str):
    """Collapse rate per share and mode with exact (Clopper-Pearson) 95 % intervals, on
    a 0-100 % axis; the Figure, or ``None``."""
    def point(rs):
        b = exact_binomial(sum(collapsed(r) for r in rs), len(rs))
        return 100.0 * b.k / b.n, 100.0 * b.lo, 100.0 * b.hi
    fig = _per_mode(runs, title, "collapsed runs (%), exact 95 % interval", point)
    if fig is not None:
        fig.axes[0].set_ylim(-4.0, 104.0)
        fig.axes[0].set_yticks(range(0, 101, 20))
    return fig


def gap_vs_share(runs: Runs, path: Path, title: str) -> Path | None:
    """Write :func:`draw_gap_vs_share` to ``path``; ``None`` when nothing to draw."""
    return _save(draw_gap_vs_share(runs, title), path)


def draw_gap_vs_share(runs: Runs, title: str):
    """Test − training error per share and mode, mean with its 95 % t-interval; the
    Figure, or ``None``."""
    def point(rs):
        gaps = [gap_of(r) for r in finished(rs)]
        if not gaps:
            return None
        s = seed_stat(gaps)
        if s.n < 2:
            return s.mean, s.mean, s.mean
        return s.mean, s.lo, s.hi
    return _per_mode(runs, title, "test − training error (points),\nmean, 95 % interval",
                     point)


def dead_units_vs_share(runs: Runs, path: Path, title: str) -> Path | None:
    """Write :func:`draw_dead_units_vs_share` to ``path``; ``None`` when nothing to draw."""
    return _save(draw_dead_units_vs_share(runs, title), path)


def draw_dead_units_vs_share(runs: Runs, title: str):
    """Dead ReLU-side units (%) per share and mode, mean ± sd (the bar stops at 0); the
    Figure, or ``None``."""
    def point(rs):
        vals = [v for r in finished(rs) if (v := dead_share(r)) is not None]
        if not vals:
            return None
        m, s = _mean_sd(vals)
        return m, max(0.0, m - s), m + s
    return _per_mode(runs, title, "dead ReLU-side units (%),\nmean ± sd", point,
                     nonnegative=True)


def _mixlu_name(r: dict[str, Any]) -> str:
    """``MixLU reference/resample`` (``+ dropout 0.5`` with dropout)."""
    spec = r["activation_spec"]
    mode = mode_of(r) or (spec.get("backward", r.get("backward")), spec.get("mask", "fixed"))
    return f"MixLU {mode_name(mode)}" + (f" + dropout {spec['dropout']:g}"
                                         if spec.get("dropout") else "")


def prelu_slopes_figure(runs: Runs, path: Path, title: str) -> Path | None:
    """Write :func:`draw_prelu_slopes` to ``path``; ``None`` when nothing to draw."""
    return _save(draw_prelu_slopes(runs, title), path)


def draw_prelu_slopes(runs: Runs, title: str):
    """Test error (one point per run, shared y axis) against the negative-side slope
    (left: ReLU 0, the Leaky ReLU slopes, the learned mean PReLU slopes) and against the
    NegLU share (right: ReLU 0 %, each MixLU mode set beside the others); the Figure, or
    ``None`` without a PReLU or Leaky ReLU run."""
    slope: dict[str, list[tuple[float, float]]] = defaultdict(list)
    share: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in finished(runs):
        kind, err = r["activation_spec"]["kind"], points(r["test_error"])
        if kind == "prelu" and (s := prelu_slopes(r)) is not None:
            slope["PReLU (learned mean slope)"].append((s, err))
        elif kind == "leaky":
            slope["Leaky ReLU"].append((float(r["activation_spec"]["slope"]), err))
        elif kind == "mixlu" and float(r["neg_percent"]) > 0:
            share[_mixlu_name(r)].append((float(r["neg_percent"]), err))
        elif is_relu(r):
            slope["ReLU"].append((0.0, err))
            share["ReLU"].append((0.0, err))
    if not slope.keys() - {"ReLU"}:
        return None
    names = ["ReLU", *sorted(slope.keys() - {"ReLU"}), *sorted(share.keys() - {"ReLU"})]
    names = [n for n in names if n in slope or n in share]
    mixlu = [n for n in names if n in share and n != "ReLU"]
    xs = [x for x, _ in (p for pts in share.values() for p in pts)] or [0.0]
    shift = dict(zip(mixlu, offsets(len(mixlu), xs), strict=True))
    with styled():
        fig = new_figure(SIZE[0] + 1.4, SIZE[1] + 0.6)
        left, right = fig.subplots(1, 2, sharey=True, width_ratios=(1, 1.4))
        for i, name in enumerate(names):
            style = {**series_style(i), "linestyle": "none", "markersize": 4, "alpha": 0.8,
                     "label": name}
            if name in slope:
                left.plot(*zip(*slope[name], strict=True), **style)
                style["label"] = None  # one legend entry per series
            if name in share:
                pts = share[name]
                right.plot([x + shift.get(name, 0.0) for x, _ in pts], [y for _, y in pts],
                           **style)
        left.set_xlabel("negative-side slope")
        left.set_title("ReLU, Leaky ReLU, PReLU")
        right.set_title("ReLU, MixLU")
        _share_axis(right, xs)
        left.set_ylabel("test error (%), one point per run")
        handles = [h for ax in (left, right) for h in ax.get_legend_handles_labels()[0]]
        fig.legend(handles=handles, loc="outside lower center", ncols=3)
        fig.suptitle(wrap(title, SIZE[0], RC["figure.titlesize"]))
    return fig
