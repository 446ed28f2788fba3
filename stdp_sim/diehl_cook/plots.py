"""Figures of the MixSTDP experiment: receptive fields, accuracy and gap against the
share, weight histograms per rule.  Written with matplotlib's Agg backend."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.files import atomic_write

__all__ = ["write_figures", "field_mosaic"]

DPI = 150


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI,
                                               bbox_inches="tight"))
    _pyplot().close(fig)
    return path


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


def _fields_figure(document: dict, arrays: dict):
    plt = _pyplot()
    runs = {}
    for run in document["runs"]:  # the first seed of each share
        runs.setdefault(run["share"], run)
    shares = sorted(runs)
    fig, axes = plt.subplots(1, len(shares), figsize=(3.6 * len(shares), 4.0), squeeze=False)
    for ax, share in zip(axes[0], shares, strict=True):
        run = runs[share]
        data = arrays.get(run["key"])
        ax.set_xticks([])
        ax.set_yticks([])
        if data is None:
            ax.set_title(f"{100 * share:g} % mixed: arrays missing")
            continue
        weights, mixed = data["weights"], data["mixed_neurons"]
        mosaic, cols = field_mosaic(weights)
        ax.imshow(mosaic, cmap="hot_r", vmin=0, vmax=max(float(np.nanmax(mosaic)), 1e-9),
                  interpolation="nearest")
        for j in np.flatnonzero(mixed):
            r, c = divmod(int(j), cols)
            ax.add_patch(plt.Rectangle((c * 29 - 0.5, r * 29 - 0.5), 28, 28, fill=False,
                                       edgecolor="tab:blue", linewidth=1.2))
        ax.set_title(f"{100 * share:g} % mixed (seed {run['seed']})\n"
                     f"test {100 * run['test_accuracy']:.1f} %", fontsize=10)
    rule = document["meta"]["rule"]
    fig.suptitle(f"Learned receptive fields (input weights); blue frames: neurons under "
                 f"the {rule!r} rule", fontsize=11)
    return fig


def _accuracy_figure(document: dict):
    plt = _pyplot()
    rows = document["summary"]["rows"]
    runs = document["runs"]
    x = np.array([r["percent"] for r in rows])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, label, color in (("train_accuracy", "train (labels from the other half)", "tab:blue"),
                               ("test_accuracy", "test", "tab:orange")):
        mean = np.array([100 * r[name]["mean"] for r in rows])
        sd = np.array([100 * (r[name]["sd"] or 0.0) for r in rows])
        axes[0].plot(x, mean, "o-", color=color, label=f"{label}, mean ± sd")
        axes[0].fill_between(x, mean - sd, mean + sd, color=color, alpha=0.2)
        axes[0].plot([r["percent"] for r in runs], [100 * r[name] for r in runs], ".",
                     color=color, alpha=0.5)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(loc="best", fontsize=9)
    mean = np.array([100 * r["gap"]["mean"] for r in rows])
    sd = np.array([100 * (r["gap"]["sd"] or 0.0) for r in rows])
    axes[1].plot(x, mean, "o-", color="tab:red", label="mean ± sd over seeds")
    axes[1].fill_between(x, mean - sd, mean + sd, color="tab:red", alpha=0.2)
    axes[1].plot([r["percent"] for r in runs], [100 * r["gap"] for r in runs], ".",
                 color="tab:red", alpha=0.5, label="one seed")
    axes[1].axhline(0, color="grey", linewidth=0.8)
    axes[1].set_ylabel("train − test accuracy (points)")
    axes[1].legend(loc="best", fontsize=9)
    for ax in axes:
        unit = "neurons" if document["meta"]["by"] == "neuron" else "input synapses"
        ax.set_xlabel(f"{unit} under the {document['meta']['rule']!r} rule (%)")
        ax.grid(alpha=0.3)
    n = {r["seeds"] for r in rows}
    fig.suptitle(f"MixSTDP, {document['meta']['n_exc']} neurons, "
                 f"{document['meta']['n_train']} training images "
                 f"(seeds per share: {', '.join(map(str, sorted(n)))})", fontsize=11)
    fig.tight_layout()
    return fig


def _weights_figure(document: dict):
    plt = _pyplot()
    runs = {}
    for run in document["runs"]:
        runs.setdefault(run["share"], run)
    shares = sorted(runs)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    edges = np.linspace(0, 1, 21)
    centers = (edges[:-1] + edges[1:]) / 2
    cmap = plt.get_cmap("viridis")
    for k, share in enumerate(shares):
        color = cmap(k / max(len(shares) - 1, 1))
        for ax, rule in zip(axes, ("base", "mixed"), strict=True):
            w = runs[share]["weights"][rule]
            if not w.get("n"):
                continue
            frac = np.asarray(w["histogram"], dtype=float) / w["n"]
            ax.step(centers, frac, where="mid", color=color,
                    label=f"{100 * share:g} % (seed {runs[share]['seed']})")
    axes[0].set_title("synapses under Diehl & Cook's rule")
    axes[1].set_title(f"synapses under the {document['meta']['rule']!r} rule")
    for ax in axes:
        ax.set_xlabel("weight")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(title="mixed share", fontsize=8)
    axes[0].set_ylabel("fraction of synapses (log)")
    fig.tight_layout()
    return fig


def write_figures(out: Path, document: dict, arrays: dict) -> list[Path]:
    """Write ``mixstdp_mnist.png`` (accuracy and gap), ``mixstdp_fields.png`` and
    ``mixstdp_weights.png`` into ``out``; return their paths."""
    out = Path(out)
    return [_save(_accuracy_figure(document), out / "mixstdp_mnist.png"),
            _save(_fields_figure(document, arrays), out / "mixstdp_fields.png"),
            _save(_weights_figure(document), out / "mixstdp_weights.png")]
