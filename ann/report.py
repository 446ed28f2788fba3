"""Thesis-versus-ours tables and seed statistics for MixLU sweeps.

The thesis's figures (docs/reference.md#benchmarks-and-protocols) are stored here as data;
tables put them beside measured results.  Tables are Markdown, so they paste into a README.

All functions take *results* as produced by :func:`ann.train.train_one` (fractions
in [0, 1]); displayed numbers are percentages.  ``metric="error"`` shows error rates
(MNIST tables), ``metric="accuracy"`` shows 100 - error (CIFAR-10 tables).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from common.stats import Stat, seed_stat, welch

__all__ = [
    "column_of",
    "THESIS_MNIST",
    "THESIS_MNIST_EPOCHS",
    "THESIS_CIFAR",
    "Stat",
    "seed_stat",
    "summarize",
    "final_table",
    "gap_table",
    "epoch_table",
    "noise_lines",
    "MNIST_LEVELS",
    "dynamics",
    "diagnostics_table",
]

#: Thesis Tables 6/7: % NegLU -> (test error %, training error %), MNIST ReLU-LeNet.
THESIS_MNIST: dict[float, tuple[float, float]] = {
    0: (0.92, 0.00), 1: (0.95, 0.12), 2: (1.02, 0.15), 3: (1.22, 0.34),
    4: (1.14, 0.36), 5: (1.26, 0.48), 6: (1.43, 0.61), 7: (1.45, 0.85),
    8: (2.53, 1.29), 9: (2.68, 2.09), 10: (90.20, 90.13),
}
#: Thesis Table 8: test error (fraction) per epoch 1-9, ReLU-LeNet (0 %) and MixLU 1 %.
THESIS_MNIST_EPOCHS: dict[float, list[float]] = {
    0: [0.0207, 0.0154, 0.0146, 0.0130, 0.0118, 0.0109, 0.0113, 0.0131, 0.0103],
    1: [0.0222, 0.0145, 0.0152, 0.0128, 0.0112, 0.0129, 0.0128, 0.0115, 0.0109],
}
#: Thesis Tables 9/10: % NegLU -> (test accuracy %, training accuracy %), CIFAR-10 LeNet5.
THESIS_CIFAR: dict[float, tuple[float, float]] = {
    0: (79.81, 88.64), 0.25: (79.72, 87.05), 0.5: (79.72, 85.57),
    1: (79.64, 84.44), 2: (78.85, 82.43), 3: (10.00, 10.00),
}


def column_of(result: dict[str, Any]) -> str:
    """The table column of a run: for a MixLU run (or a run of the earlier layout) its
    NegLU backward mode, with ``+resample`` for a resampled mask and ``+dropoutP`` with
    dropout; else its activation's key (``relu``, ``leaky0.05`` ...)."""
    spec = result.get("activation_spec", {"kind": "mixlu"})
    if spec["kind"] == "mixlu":
        return (str(result["backward"]) + ("+resample" if spec.get("mask") == "resample" else "")
                + (f"+dropout{spec['dropout']:g}" if spec.get("dropout") else ""))
    return str(result.get("activation", spec["kind"]))


def mean_sd(values: Iterable[float | None], digits: int = 1) -> str:
    """``mean ± sd`` of the values that are numbers (``None`` and NaN left out), the mean
    alone for one, ``—`` for none."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "—"
    s = seed_stat(values)
    return f"{s.mean:.{digits}f}" + (f" ± {s.sd:.{digits}f}" if s.n > 1 else "")


def _value(error: float, metric: str) -> float:
    if metric == "error":
        return 100.0 * error
    if metric == "accuracy":
        return 100.0 * (1.0 - error)
    raise ValueError(f"metric must be 'error' or 'accuracy', got {metric!r}")


def summarize(results: Iterable[dict[str, Any]], metric: str = "error") -> dict:
    """Group results by ``(backward, neg_percent)`` (modes in order of first appearance,
    percentages ascending).

    Returns:
        ``{(backward, percent): {"test": Stat, "train": Stat, "n": int,
        "diverged": int, "epochs_test": [Stat per epoch]}}`` in percent units of
        ``metric``.  ``epochs_test`` covers the epochs every run of the group has.
    """
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[(column_of(r), float(r["neg_percent"]))].append(r)
    order = {b: i for i, b in enumerate(dict.fromkeys(b for b, _ in groups))}
    out = {}
    for key in sorted(groups, key=lambda k: (order[k[0]], k[1])):
        runs = groups[key]
        n_epochs = min(len(r["epochs"]) for r in runs)
        out[key] = {
            "test": seed_stat([_value(r["test_error"], metric) for r in runs]),
            "train": seed_stat([_value(r["train_error"], metric) for r in runs]),
            "n": len(runs),
            "diverged": sum(r["status"] == "diverged" for r in runs),
            "epochs_test": [
                seed_stat([_value(r["epochs"][e]["test_error"], metric) for r in runs])
                for e in range(n_epochs)
            ],
        }
    return out


def _backwards(summary: dict) -> list[str]:
    return list(dict.fromkeys(b for b, _ in summary))


def _percents(summary: dict, backward: str) -> list[float]:
    return sorted(p for b, p in summary if b == backward)


def _fmt_thesis(thesis: dict, p: float, i: int) -> str:
    return f"{thesis[p][i]:.2f}" if p in thesis else "—"


#: The cell of a value that does not exist (not run, not reached, not applicable).
EMPTY = "—"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], *,
                   drop_empty: bool = False) -> str:
    """A right-aligned Markdown table of string cells (every report table of the toolkit).

    ``drop_empty`` leaves out the columns whose every row is :data:`EMPTY` (a quick
    run's shares that did not run, levels no run reached) and names them in a line
    under the table, so that nothing is hidden silently.
    """
    def cell(text: str) -> str:  # a line break or "|" in a value would break the table
        return str(text).replace("\r", " ").replace("\n", " ").replace("|", "\\|")

    header, rows = [cell(h) for h in header], [[cell(c) for c in r] for r in rows]
    dropped: list[str] = []
    if drop_empty and rows:
        keep = [i for i in range(len(header)) if any(r[i] != EMPTY for r in rows)]
        dropped = [header[i] for i in range(len(header)) if i not in keep]
        header, rows = [header[i] for i in keep], [[r[i] for i in keep] for r in rows]
    if dropped:
        return (markdown_table(header, rows) + "\n\nLeft out, no value in any row: "
                + ", ".join(dropped) + ".")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join(
        [line(header), "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"]
        + [line(r) for r in rows]
    )


def _status_note(g: dict) -> str:
    return f" ({g['diverged']}/{g['n']} diverged)" if g["diverged"] else ""


def final_table(
    summary: dict,
    thesis: dict[float, tuple[float, float]],
    metric: str = "error",
    title: str = "Table 6",
    neg_counts: dict[float, int] | None = None,
) -> str:
    """Final test metric per percentage, the thesis's column beside ours (per mode)."""
    name = "error" if metric == "error" else "accuracy"
    blocks = []
    for b in _backwards(summary):
        rows = []
        for p in _percents(summary, b):
            g = summary[(b, p)]
            cells = [f"{p:g}"]
            if neg_counts is not None:
                cells.append(str(neg_counts.get(p, "?")))
            cells += [_fmt_thesis(thesis, p, 0), g["test"].format() + _status_note(g)]
            rows.append(cells)
        header = ["% NegLU"] + (["NegLUs"] if neg_counts is not None else []) + [
            f"thesis test {name} %", f"ours test {name} % ({b})"]
        blocks.append(f"{title} — test {name} (%), backward={b}\n\n" + markdown_table(header, rows))
    return "\n\n".join(blocks)


def gap_table(
    summary: dict,
    thesis: dict[float, tuple[float, float]],
    metric: str = "error",
    title: str = "Table 7",
) -> str:
    """Test, train, test - train, their changes from 0 % and the ratio of the changes.

    For errors the changes are increases (``value(p) - value(0)``); for accuracies
    decreases (``value(0) - value(p)``).  ``ratio = Δtrain / Δtest``: above 1 means the
    training metric worsens faster than the test metric (the thesis's pattern).
    """
    sign = 1.0 if metric == "error" else -1.0
    word = "Δ" if metric == "error" else "−Δ"

    def cols(test: float | None, train: float | None, test0, train0) -> list[str]:
        if test is None or train is None:
            return ["—"] * 6
        gap = test - train
        cells = [f"{test:.2f}", f"{train:.2f}", f"{gap:.2f}"]
        if test0 is None:
            return cells + ["—"] * 3
        dtest, dtrain = sign * (test - test0), sign * (train - train0)
        ratio = f"{dtrain / dtest + 0.0:.2f}" if abs(dtest) > 1e-12 else "—"  # no "-0.00"
        return cells + [f"{dtest:.2f}", f"{dtrain:.2f}", ratio]

    blocks = []
    for b in _backwards(summary):
        ps = _percents(summary, b)
        t0 = thesis.get(0)
        ours0 = summary.get((b, 0.0))
        rows = []
        for p in ps:
            g = summary[(b, p)]
            th = thesis.get(p)
            rows.append(
                [f"{p:g}"]
                + cols(th[0] if th else None, th[1] if th else None,
                       t0[0] if (t0 and p != 0) else None, t0[1] if t0 else None)
                + cols(g["test"].mean, g["train"].mean,
                       ours0["test"].mean if (ours0 and p != 0) else None,
                       ours0["train"].mean if ours0 else None)
            )
        header = ["%"] + [f"thesis {c}" for c in ("test", "train", "gap", f"{word}test",
                                                   f"{word}train", "ratio")] + [
            f"ours {c}" for c in ("test", "train", "gap", f"{word}test", f"{word}train", "ratio")]
        blocks.append(
            f"{title} — {metric} (%): test, train, gap = test − train, change from 0 % "
            f"and ratio = {word}train/{word}test; backward={b}"
            + (" (ours: mean over seeds)" if any(summary[(b, p)]["n"] > 1 for p in ps) else "")
            + "\n\n" + markdown_table(header, rows)
        )
    return "\n\n".join(blocks)


def epoch_table(
    summary: dict,
    thesis_epochs: dict[float, list[float]],
    percents: Sequence[float] = (0.0, 1.0),
    epochs: int = 9,
    metric: str = "error",
    title: str = "Table 8",
) -> str:
    """Test metric per epoch (fractions, like the thesis) for ``percents``, thesis beside ours."""
    blocks = []
    for b in _backwards(summary):
        header = ["epoch"] + [f"thesis {p:g} %" for p in percents] + [
            f"ours {p:g} % ({b})" for p in percents]
        rows = []
        for e in range(epochs):
            cells = [str(e + 1)]
            for p in percents:
                th = thesis_epochs.get(p)
                cells.append(f"{th[e]:.4f}" if th and e < len(th) else "—")
            for p in percents:
                g = summary.get((b, float(p)))
                if g and e < len(g["epochs_test"]):
                    s = g["epochs_test"][e]
                    sd = f" ± {s.sd / 100:.4f}" if s.n > 1 else ""
                    cells.append(f"{s.mean / 100:.4f}{sd}")
                else:
                    cells.append("—")
            rows.append(cells)
        blocks.append(f"{title} — test {metric} per epoch (fraction), backward={b}\n\n"
                      + markdown_table(header, rows, drop_empty=True))
    return "\n\n".join(blocks)


def noise_lines(
    summary: dict,
    results: Iterable[dict[str, Any]],
    thesis: dict[float, tuple[float, float]] | None = None,
    metric: str = "error",
    alpha: float = 0.05,
) -> list[str]:
    """Which differences from 0 % exceed seed-to-seed noise (Welch's t-test), and how
    the thesis's adjacent differences compare with our measured seed sd."""
    results = list(results)
    lines = []
    for b in _backwards(summary):
        ps = _percents(summary, b)
        if max(summary[(b, p)]["n"] for p in ps) < 2:
            lines.append(
                f"{b}: one seed per configuration, so seed-to-seed noise is not measured "
                f"(run with --seeds 3 or more to measure it)."
            )
            continue
        if (b, 0.0) not in summary:
            lines.append(f"{b}: no 0 % runs to compare with.")
            continue
        def values(p: float, b: str = b) -> list[float]:
            return [_value(r["test_error"], metric) for r in results
                    if column_of(r) == b and float(r["neg_percent"]) == p]

        base = values(0.0)
        beyond, within, untested = [], [], []
        for p in ps:
            if p == 0.0:
                continue
            other = values(p)
            if len(other) < 2 or len(base) < 2:
                untested.append(f"{p:g} %")
                continue
            effect = welch(other, base)
            diff, pval = effect.estimate, effect.p
            (beyond if pval < alpha else within).append(f"{p:g} % ({diff:+.2f}, p={pval:.2g})")
        lines.append(
            f"{b}: test {metric} differences from 0 % beyond seed noise (Welch t-test, "
            f"p < {alpha}): {', '.join(beyond) or 'none'}; within noise: "
            f"{', '.join(within) or 'none'}"
            + (f"; not tested (fewer than 2 seeds): {', '.join(untested)}" if untested else "")
            + "."
        )
        sds = [summary[(b, p)]["test"].sd for p in ps if summary[(b, p)]["n"] > 1
               and summary[(b, p)]["diverged"] == 0]
        if thesis and sds:
            sd = sorted(sds)[len(sds) // 2]
            tps = sorted(thesis)
            steps = [(a, c, thesis[c][0] - thesis[a][0])
                     for a, c in zip(tps, tps[1:], strict=False)]
            small = [f"{a:g}→{c:g} ({d:+.2f})" for a, c, d in steps if abs(d) < 2 * sd]
            lines.append(
                f"{b}: median seed sd of our test {metric} is {sd:.2f} points; thesis "
                f"differences between neighbouring percentages smaller than 2 sd "
                f"(indistinguishable from seed noise): {', '.join(small) or 'none'}."
            )
    return lines


#: Test-error levels of :func:`dynamics` for MNIST: 1.5 % and 1.2 %, which the
#: thesis's Table 8 rows cross (ReLU at epochs 3 and 5, MixLU 1 % at epochs 2 and 5).
MNIST_LEVELS = (0.015, 0.012)


def dynamics(result: dict[str, Any], levels: Sequence[float] = MNIST_LEVELS
             ) -> dict[str, Any]:
    """Table 8's convergence measures of one run, from its per-epoch test errors:
    ``first_epoch`` reaching each level (test error <= level; ``None`` if never) and
    ``roughness`` = the sum of epoch-to-epoch increases of the test error (fraction)."""
    errors = [e["test_error"] for e in result["epochs"]]
    first = {f"{level:g}": next((i + 1 for i, v in enumerate(errors) if v <= level), None)
             for level in levels}
    rough = sum(max(0.0, b - a) for a, b in zip(errors, errors[1:], strict=False))
    return {"first_epoch": first, "roughness": rough}


def _final_diagnostics(result: dict[str, Any]) -> dict[str, Any] | None:
    epochs = result.get("epochs") or []
    return epochs[-1].get("diagnostics") if epochs else None


def _dead_share(diag: dict[str, Any], *unit_types: str) -> float | None:
    """Dead units of ``unit_types`` as % of those units, ``None`` without such units."""
    units = sum(p["units"].get(t, 0) for p in diag["positions"] for t in unit_types)
    if not units:
        return None
    dead = sum(p["dead"].get(t, 0) for p in diag["positions"] for t in unit_types)
    return 100.0 * dead / units


def diagnostics_table(results: Iterable[dict[str, Any]],
                      levels: Sequence[float] = MNIST_LEVELS) -> str:
    """One compact table per configuration (column x % NegLU) at the last epoch: dead
    units (% of ReLU-side and of NegLU units, :mod:`ann.diagnostics`), the share of
    hidden units with a large negative bias, the hidden biases' mean, NegLUs per image,
    and :func:`dynamics` (epochs to each level, roughness); mean ± sd over seeds; and
    the model's parameter count (Maxout widens its feeding layer)."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if _final_diagnostics(r) is not None:
            groups[(column_of(r), float(r["neg_percent"]))].append(r)
    if not groups:
        return "Unit diagnostics: none recorded (runs of an earlier trainer version)."

    header = ["config", "% NegLU", "seeds", "dead ReLU-side %", "dead NegLU %",
              "large neg. bias %", "hidden bias mean", "NegLUs/image",
              *[f"epochs to ≤{100 * lv:g} %" for lv in levels], "roughness (points)",
              "parameters"]
    rows = []
    for (column, percent), runs in groups.items():
        diags = [_final_diagnostics(r) for r in runs]
        dyn = [dynamics(r, levels) for r in runs]
        hidden = [d["positions"][-1] for d in diags]
        rows.append([
            column, f"{percent:g}", str(len(runs)),
            mean_sd([_dead_share(d, "relu", "resampled") for d in diags]),
            mean_sd([_dead_share(d, "neglu") for d in diags]),
            mean_sd([100.0 * h["large_negative_bias_share"] if "large_negative_bias_share" in h
                  else None for h in hidden]),
            mean_sd([_hidden_bias_mean(d) for d in diags], 4),
            mean_sd([d["neglu_per_image"] for d in diags], 0),
            *[mean_sd([x["first_epoch"][f"{lv:g}"] for x in dyn], 1) for lv in levels],
            mean_sd([100.0 * x["roughness"] for x in dyn], 2),
            f"{runs[0]['parameters']:,}" if "parameters" in runs[0] else "—",
        ])
    return ("Unit diagnostics at the last epoch (probe: first 1,000 training images; dead: "
            "never in the active regime; large negative bias: below -2 sd of the unit's "
            "input; hidden: the last activation position)\n\n"
            + markdown_table(header, rows, drop_empty=True))


def _hidden_bias_mean(diag: dict[str, Any]) -> float | None:
    layers = list(diag["layers"].values())
    if len(layers) < 2 or "bias" not in layers[-2]:
        return None
    return layers[-2]["bias"]["mean"]  # the layer before the classifier
