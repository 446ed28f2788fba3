"""Compare biological and artificial update signs, regime by regime (thesis Tables 2–5).

Three measurements, printed side by side as Markdown:

1. **biology** — for each of the four STDP regimes, the preset rule that produces it,
   simulated in Brian2 on the pairing protocol (60 pairings at 1 Hz, Δt = ∓10 ms):
   the sign of Δw;
2. **ANN** — ReLU-LeNet, MixLU-LeNet (5 % NegLU under each backward mode:
   exact, reference, inverted), Min-Maxout-LeNet (half Min units) and ConvAct-LeNet
   trained on the embedded MNIST subset with the reference protocol as a ``--signs``
   sweep (:mod:`bridge.training_signs`: the sweep engine with the monitor attached): per
   model, mode and unit type, the share of synapse-level update events in each
   regime, their agreement with the update actually applied, and the fractions of
   temporally-inverted and silent local derivatives;
3. **rate experiment** — Brian2 Poisson trains with a constant presynaptic rate and
   a postsynaptic rate that ramps up, stays flat or ramps down, for every preset:
   which timing convention (``rate`` or ``literal``) the measured Δw supports.

Reproduce::

    python experiments/update_signs.py                       # ~ minutes on 2 cores
    python experiments/update_signs.py --quick               # ~ a minute, for demos/CI
    python experiments/update_signs.py --out results/signs   # + update_signs.json, .png
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ann.config import MNIST_LENET  # noqa: E402
from ann.data.datasets import (  # noqa: E402
    dataset_names,
    load_dataset,
    subset,
    subtract_mean_image,
)
from ann.environment import environment  # noqa: E402
from ann.train import resolve_device  # noqa: E402
from bridge.biology import pairing_signs, rate_verdicts  # noqa: E402
from bridge.sign_mapping import CONVENTIONS, DEFAULT_CONVENTION  # noqa: E402
from bridge.sweep_signs import MAX_EVERY  # noqa: E402
from bridge.training_signs import (  # noqa: E402
    ann_rows,
    default_variants,
    overhead,
    series_arrays,
    signs_sweep,
)
from common.cli import OneLineArgumentParser, UserError, cli_main  # noqa: E402
from common.files import (  # noqa: E402
    atomic_write_json,
    check_writable_dir,
    directory_argument,
)
from common.plotting import (  # noqa: E402
    RC,
    integer_ticks,
    new_figure,
    save_figure,
    series_style,
    styled,
    wrap,
)
from stdp_sim.regime import Regime  # noqa: E402

LABELS = [r.label for r in Regime]
#: Bounds of the options (numpy seeds are 32-bit; beyond the others a run cannot be meant).
MAX_SEED = 2**32 - 1
MAX_SYNAPSES = 1_000_000
MAX_RAMP_S = 10_000.0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs per model (default: 3; 1 with --quick)")
    parser.add_argument(
        "--neg-percent", type=float, default=5.0, help="NegLU share of the MixLU-LeNet, in %%"
    )
    parser.add_argument(
        "--convention",
        choices=CONVENTIONS,
        default=DEFAULT_CONVENTION,
        help="how the descent signal's sign reads as spike timing (see bridge.sign_mapping)",
    )
    parser.add_argument(
        "--dataset", default="mnist-5k", choices=dataset_names(), help="training data"
    )
    parser.add_argument(
        "--data-dir", default=None, help="directory with the dataset's IDX files (optional)"
    )
    parser.add_argument(
        "--train-size", type=int, default=None, help="use this many training images (all)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the models and data order")
    parser.add_argument("--signs-every", type=int, default=1, metavar="K",
                        help="watch one optimizer step in K (as mixlu_mnist.py --signs-every)")
    parser.add_argument(
        "--synapses",
        type=int,
        default=None,
        help="independent synapses per (preset, ramp) in the rate experiment (default: 2000; "
        "300 with --quick)",
    )
    parser.add_argument(
        "--ramp-duration-s", type=float, default=1.0, help="rate-ramp duration, in seconds"
    )
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, ...")
    parser.add_argument("--out", type=directory_argument, default=None,
                        help="write update_signs.json and .png here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="1 epoch on 1,000 images, 300 synapses per ramp, each unless given: a demo in "
        "about a minute",
    )
    return parser


def check_args(args: argparse.Namespace) -> None:
    """Validate every option before any simulation; :class:`UserError` in one line.

    ``--quick`` sets only the options the user left unset (1 epoch, 1,000 images, 300
    synapses), and creates ``--out`` to prove it writable.
    """
    if args.quick:
        args.epochs = 1 if args.epochs is None else args.epochs
        args.train_size = 1000 if args.train_size is None else args.train_size
        args.synapses = 300 if args.synapses is None else args.synapses
    args.epochs = 3 if args.epochs is None else args.epochs
    args.synapses = 2000 if args.synapses is None else args.synapses
    if not 1 <= args.epochs <= 10_000:
        raise UserError(f"--epochs must be an integer in 1..10000, got {args.epochs}")
    if not 0.0 < args.neg_percent <= 100.0:
        raise UserError(f"--neg-percent must be in (0, 100], got {args.neg_percent}")
    if args.train_size is not None and args.train_size < 100:
        raise UserError(f"--train-size must be >= 100, got {args.train_size}")
    if not 1 <= args.signs_every <= MAX_EVERY:
        raise UserError(f"--signs-every must be an integer in 1..{MAX_EVERY}, got "
                        f"{args.signs_every}")
    if not 0 <= args.seed <= MAX_SEED:
        raise UserError(f"--seed must be an integer in 0..{MAX_SEED}, got {args.seed}")
    if not 2 <= args.synapses <= MAX_SYNAPSES:
        raise UserError(f"--synapses must be an integer in 2..{MAX_SYNAPSES}, got "
                        f"{args.synapses}")
    if not (math.isfinite(args.ramp_duration_s) and 0 < args.ramp_duration_s <= MAX_RAMP_S):
        raise UserError(f"--ramp-duration-s must be in (0, {MAX_RAMP_S:g}] seconds, got "
                        f"{args.ramp_duration_s}")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise UserError(f"--data-dir {args.data_dir!r} is not a directory")
    try:
        resolve_device(args.device)
        if args.out is not None:
            check_writable_dir(args.out, "--out")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for name in ("update_signs.json", "update_signs.png"):
        if args.out is not None and (args.out / name).is_dir():
            raise UserError(f"{args.out / name} is a directory where a file is written; move "
                            f"it aside and rerun")


# ------------------------------------------------------------------ tables
def _pct(x: float) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:.1f}"


def biology_markdown(rows: list[dict]) -> str:
    head = (
        "| regime (Table 5) | legacy name | rule | Δt (ms) | Δw (60 pairings) | sign "
        "| classified as |\n|---|---|---|---:|---:|:---:|---|\n"
    )
    return head + "\n".join(
        f"| {r['regime']} | {r['legacy_name']} | {r['rule']} | {r['delta_t_ms']:+g} "
        f"| {r['dw']:+.4f} | {'+' if r['dw_sign'] > 0 else '−'} | {r['classified_as']} |"
        for r in rows
    )


def _column(row: dict) -> str:
    model = row["model"] if row["backward"] == "none" else f"MixLU {row['backward']}"
    return f"{model} / {row['unit_type']}"


def ann_markdown(rows: list[dict], biology: list[dict]) -> str:
    """Regimes as rows; per model/mode/unit type: share % (agreement %)."""
    bio = {r["regime"]: r for r in biology}
    cols = [_column(r) for r in rows]
    head = "| regime | biology Δw | " + " | ".join(cols) + " |\n"
    head += "|---|:---:|" + "---:|" * len(cols) + "\n"
    lines = []
    for label in LABELS:
        sign = "+" if bio[label]["dw_sign"] > 0 else "−"
        cells = [
            f"{_pct(r['shares'][label])} ({_pct(r['agreement_by_regime'][label])})" for r in rows
        ]
        lines.append(f"| {label} | {sign} | " + " | ".join(cells) + " |")
    extra = {
        "agreement, all events": [_pct(r["agreement"]) for r in rows],
        "inverted local derivative": [_pct(r["inverted_fraction"]) for r in rows],
        "silent local derivative": [_pct(r["silent_fraction"]) for r in rows],
        "events (millions)": [f"{r['events'] / 1e6:.1f}" for r in rows],
        "test error %": [_pct(r["test_error"]) for r in rows],
    }
    lines += [f"| {name} | | " + " | ".join(cells) + " |" for name, cells in extra.items()]
    note = (
        "Cells: share of synapse-level update events in the regime, % (in brackets: of those, "
        "% whose synapse the optimizer moved the way the regime predicts).  Inverted/silent: "
        "% of unit-samples with a descent signal whose applied local derivative was < 0 / = 0.\n\n"
    )
    return note + head + "\n".join(lines)


def rate_markdown(verdicts: list[dict], convention: str) -> str:
    head = (
        "| preset | Δw(up) − Δw(flat) | Δw(down) − Δw(flat) | supports |\n"
        "|---|---:|---:|---|\n"
    )
    lines = [
        f"| {v['preset']} | {v['effect_up']:+.5f} ± {v['effect_up_sem']:.5f} "
        f"| {v['effect_down']:+.5f} ± {v['effect_down_sem']:.5f} | {v['supports']} |"
        for v in verdicts
    ]
    note = (
        f"\nConvention used for the ANN table: **{convention}**.  "
        "'rate': a rising postsynaptic rate changed w with the sign of the rule's "
        "pre-before-post amplitude; 'either': the rule has one sign for both orders; "
        "'undecided': no effect beyond 3 standard errors.\n"
    )
    return head + "\n".join(lines) + note


# ------------------------------------------------------------------ figure
#: Share every regime would have if the four were equally common (%).
EQUAL_SHARE = 100.0 / len(LABELS)


def draw_shares(series: list[tuple[str, dict]]):
    """Regime shares of synapse-level update events over training, one panel per
    ``(title, series_arrays(...))``, a moving average over a twentieth of the steps
    (none under 40 steps).
    Every panel has the same axes, 0-50 % (0-100 % when a share passes 45 %) with the
    equal-share line at 25 %, so that panels compare and noise is not magnified; the
    legend sits under the panels.  Returns the Figure."""
    import numpy as np

    if not series:
        raise ValueError("series must hold at least one panel")
    n = len(series)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    highest, windows = 0.0, set()
    with styled():
        fig = new_figure(2.6 * cols + 0.3, 2.2 * rows + 1.0)
        axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
        for k, (ax, (title, s)) in enumerate(zip(axes.flat, series, strict=False)):
            window = max(1, len(s["step"]) // 20)
            windows.add(window)
            kernel = np.ones(window) / window
            ax.axhline(EQUAL_SHARE, color="0.5", linewidth=0.8, linestyle=(0, (1, 2)),
                       label=f"equal shares ({EQUAL_SHARE:g} %)")
            for i, label in enumerate(LABELS):
                if len(s["step"]) >= window:
                    smooth = 100 * np.convolve(s[label], kernel, mode="valid")
                    highest = max(highest, float(smooth.max(initial=0.0)))
                    ax.plot(s["step"][window - 1:], smooth, label=label,
                            **{**series_style(i), "marker": None})
            ax.set_title(wrap(title, 2.4, RC["axes.titlesize"]))
            if k % cols == 0:
                ax.set_ylabel("share of events (%)")
            if k + cols >= n:
                ax.set_xlabel("training step")
                ax.tick_params(labelbottom=True)
        for ax in list(axes.flat)[n:]:
            ax.set_axis_off()
        first = axes.flat[0]
        integer_ticks(first.xaxis)
        first.set_ylim(0.0, 50.0 if highest <= 45.0 else 100.0)
        fig.legend(*first.get_legend_handles_labels(), loc="outside lower center", ncols=5)
        smoothed = max(windows)
        fig.suptitle("Regime shares of synapse-level updates over training"
                     + (f" (moving average over {smoothed} steps)" if smoothed > 1 else ""))
    return fig


def plot_shares(path: Path, series: list[tuple[str, dict]]) -> Path:
    """Write :func:`draw_shares` to ``path`` as a PNG, atomically; return ``path``."""
    return save_figure(draw_shares(series), path)


# ------------------------------------------------------------------ main
def run(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    device = resolve_device(args.device)
    # the data first: a missing or corrupt file is refused before any simulation
    data = load_dataset(args.dataset, args.data_dir, download=False, log=print)
    if args.train_size is not None and args.train_size < data.train_size:
        data = subset(data, args.train_size, None, seed=args.seed)
    data = subtract_mean_image(data)
    print("Brian2: pairing protocol for the four regimes …", flush=True)
    biology = pairing_signs(progress=True)
    print("Brian2: rate-ramp experiment …", flush=True)
    rate_rows, verdicts = rate_verdicts(
        n_synapses=args.synapses, duration_s=args.ramp_duration_s, seed=args.seed, progress=True
    )

    config = MNIST_LENET.replace(epochs=args.epochs)
    ann, series = [], []
    variants = default_variants(args.neg_percent, args.seed)
    print(f"ANN: {len(variants)} models with --signs (every step watched) …", flush=True)
    results = signs_sweep(variants, data, config, args.convention, every=args.signs_every,
                          device=device)
    for variant, result in zip(variants, results, strict=True):
        for row in ann_rows(variant, result):
            ann.append(row)
            series.append((f"{variant.label}: {row['unit_type']} units",
                           series_arrays(result, row["unit_type"])))
    cost = overhead(data, config, steps=20, convention=args.convention, device=device)

    text = [
        "## Biology: the four regimes in Brian2 (pairing protocol)\n",
        biology_markdown(biology),
        f"\n## ANN: update events during training ({data.name}, {data.train_size} images, "
        f"{args.epochs} epochs, convention '{args.convention}')\n",
        ann_markdown(ann, biology),
        "\n## Rate experiment: which timing convention simulated biology supports\n",
        rate_markdown(verdicts, args.convention),
        f"Monitor overhead: {cost['ratio']:.2f}x the plain step time "
        f"({1e3 * cost['plain_s']:.0f} ms → {1e3 * cost['monitored_s']:.0f} ms per step).",
    ]
    print("\n".join(text))
    document = {
        "convention": args.convention,
        "dataset": data.name,
        "train_size": data.train_size,
        "test_size": data.test_size,
        "config": {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                   "train": config.to_dict()},
        "biology": biology,
        "ann": ann,
        "rate": rate_rows,
        "rate_verdicts": verdicts,
        "overhead": cost,
        "environment": environment(str(device)),
        "seconds": time.perf_counter() - start,
    }
    if args.out:
        out = Path(args.out)
        atomic_write_json(out / "update_signs.json", document)
        plot_shares(out / "update_signs.png", series)
        print(f"wrote {out / 'update_signs.json'} and {out / 'update_signs.png'}")
    return document


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for user errors)."""

    def checked_run(args: argparse.Namespace) -> dict:
        check_args(args)
        return run(args)

    return cli_main(build_parser(), checked_run, argv)


if __name__ == "__main__":
    sys.exit(main())
