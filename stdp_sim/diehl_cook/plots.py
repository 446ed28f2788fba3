"""Figures of the MixSTDP experiment: receptive fields, accuracy and gap against the
share, weight histograms per rule, in the look every figure of the toolkit shares
(:mod:`common.plotting`: constrained layout, Agg canvas, no text under 8 pt)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.plotting import new_figure, save_figure, series_style, styled, wrap

__all__ = ["write_figures", "field_mosaic"]

def field_mosaic(weights: np.ndarray, side: int = 28) -> tuple[np.ndarray, int]:
    """The ``(n_input, n_exc)`` weights as one image of ``side``×``side`` tiles, in a
    square grid (row-major, neuron 0 top left); returns ``(image, columns)``."""
    n = weights.shape[1]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    mosaic = np.full((rows * (side + 1) - 1, cols * (side + 1) - 1), np.nan)
    for j in range(n):
        r, c = divmod(j, cols)
        tile = weights[:, j].reshape(side, side)
        mosaic[r * (side + 1):r * (side + 1) + side, c * (side + 1):c * (side + 1) + side] = tile
    return mosaic, cols


def _first_seed_runs(document: dict) -> dict[float, dict]:
    runs: dict[float, dict] = {}
    for run in document["runs"]:  # the first seed of each share
        runs.setdefault(run["share"], run)
    return runs


def _fields_figure(document: dict, arrays: dict):
    """One mosaic per share on ONE colour scale (a colour bar says which), neurons
    under the mixed-in rule framed."""
    runs = _first_seed_runs(document)
    shares = sorted(runs)
    mosaics = {}
    for share in shares:
        data = arrays.get(runs[share]["key"])
        if data is not None:
            mosaics[share] = (field_mosaic(data["weights"]), data["mixed_neurons"])
    vmax = max([float(np.nanmax(m[0][0])) for m in mosaics.values()] + [1e-9])
    from matplotlib.patches import Rectangle

    width = 2.6 * len(shares) + 0.9
    with styled():
        fig = new_figure(width, 3.4)
        axes = fig.subplots(1, len(shares), squeeze=False)[0]
        image = None
        for ax, share in zip(axes, shares, strict=True):
            run = runs[share]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if share not in mosaics:
                ax.set_title(f"{100 * share:g} % mixed: arrays missing")
                continue
            (mosaic, cols), mixed = mosaics[share]
            image = ax.imshow(mosaic, cmap="hot_r", vmin=0, vmax=vmax,
                              interpolation="nearest")
            for j in np.flatnonzero(mixed):
                r, c = divmod(int(j), cols)
                ax.add_patch(Rectangle((c * 29 - 0.5, r * 29 - 0.5), 28, 28, fill=False,
                                       edgecolor="tab:blue", linewidth=1.0))
            ax.set_title(f"{100 * share:g} % mixed (seed {run['seed']})\n"
                         f"test accuracy {100 * run['test_accuracy']:.1f} %")
        if image is not None:
            fig.colorbar(image, ax=list(axes), shrink=0.8, label="input weight")
        rule = document["meta"]["rule"]
        fig.suptitle(wrap(f"Learned receptive fields (input weights, one colour scale); "
                          f"blue frames: neurons under the {rule!r} rule", width - 0.3, 10))
    return fig


def _accuracy_figure(document: dict):
    """Train and test accuracy (left) and their gap (right) against the share: mean with
    a light ± sd band and every seed as a dot; legends under the panels."""
    rows = document["summary"]["rows"]
    runs = document["runs"]
    x = np.array([r["percent"] for r in rows])
    meta = document["meta"]
    unit = "neurons" if meta["by"] == "neuron" else "input synapses"
    with styled():
        fig = new_figure(7.5, 3.6)
        axes = fig.subplots(1, 2)
        series = (("train_accuracy", "train (labels from the other half)"),
                  ("test_accuracy", "test"), ("gap", "train - test (points)"))
        for i, (name, label) in enumerate(series):
            ax = axes[0] if name != "gap" else axes[1]
            style = series_style(i)
            mean = np.array([100 * r[name]["mean"] for r in rows])
            sd = np.array([100 * (r[name]["sd"] or 0.0) for r in rows])
            ax.plot(x, mean, label=f"{label}: mean ± sd", **style)
            ax.fill_between(x, mean - sd, mean + sd, color=style["color"], alpha=0.12,
                            linewidth=0)
            ax.plot([r["percent"] for r in runs], [100 * r[name] for r in runs], ".",
                    color=style["color"], alpha=0.6, markersize=3)
        axes[0].set_ylabel("accuracy (%)")
        axes[1].set_ylabel("train − test accuracy (points)")
        axes[1].axhline(0, color="grey", linewidth=0.8)
        for ax in axes:
            ax.set_xlabel(f"{unit} under the {meta['rule']!r} rule (%)")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
        seeds = sorted({r["seeds"] for r in rows})
        fig.suptitle(wrap(f"MixSTDP: {meta['n_exc']} neurons, {meta['n_train']} training "
                          f"images; dots: single seeds (per share: "
                          f"{', '.join(map(str, seeds))})", 7.2, 10))
    return fig


def _weights_figure(document: dict):
    """Weight histograms of the first seed per share, one panel per rule, one style per
    share; the x axis ends at the largest weight any run holds."""
    runs = _first_seed_runs(document)
    shares = sorted(runs)
    edges = np.linspace(0, 1, 21)
    centers = (edges[:-1] + edges[1:]) / 2
    top = 0.0
    with styled():
        fig = new_figure(7.5, 3.4)
        axes = fig.subplots(1, 2, sharey=True, sharex=True)
        for k, share in enumerate(shares):
            style = series_style(k)
            for ax, rule in zip(axes, ("base", "mixed"), strict=True):
                w = runs[share]["weights"][rule]
                if not w.get("n"):
                    continue
                frac = np.asarray(w["histogram"], dtype=float) / w["n"]
                filled = np.flatnonzero(frac > 0)
                if filled.size:
                    top = max(top, float(edges[filled[-1] + 1]))
                ax.plot(centers, np.where(frac > 0, frac, np.nan), drawstyle="steps-mid",
                        label=f"{100 * share:g} % (seed {runs[share]['seed']})", **style)
        axes[0].set_title("synapses under Diehl & Cook's rule")
        axes[1].set_title(wrap(f"synapses under the {document['meta']['rule']!r} rule",
                               3.4, 9))
        for ax in axes:
            ax.set_xlabel("weight")
            ax.set_yscale("log")
            ax.set_xlim(0, top or 1.0)
        axes[0].set_ylabel("fraction of synapses (log)")
        handles, labels = axes[0].get_legend_handles_labels()
        if not handles:
            handles, labels = axes[1].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, title="mixed share", loc="outside lower center",
                       ncol=min(len(labels), 4), frameon=False)
    return fig


def write_figures(out: Path, document: dict, arrays: dict) -> list[Path]:
    """Write ``mixstdp_mnist.png`` (accuracy and gap), ``mixstdp_fields.png`` and
    ``mixstdp_weights.png`` into ``out``; return their paths."""
    out = Path(out)
    return [save_figure(_accuracy_figure(document), out / "mixstdp_mnist.png"),
            save_figure(_fields_figure(document, arrays), out / "mixstdp_fields.png"),
            save_figure(_weights_figure(document), out / "mixstdp_weights.png")]
