"""Where a sweep's time goes: the top operators of the loop and the batched engine.

Trains the same small sweep as ``bench_sweep.py`` (synthetic data of the real shape, the
experiments' masks) once per engine under :mod:`torch.profiler` and prints, per engine,
the operators that took the most self CPU time with their share of the engine's total,
so that the gap between the batched engine and the arithmetic limit has a named cause.
Profiling slows both engines; read shares, not times.

Examples::

    python benchmarks/profile_sweep.py                          # LeNet, 11 runs, 20 steps
    python benchmarks/profile_sweep.py --model lenet5 --percents 0,0.25,0.5,1,2,3
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from ann.batched import train_batched  # noqa: E402
from ann.config import MNIST_LENET  # noqa: E402
from ann.experiments.options import parse_percents  # noqa: E402
from ann.specs import RunSpec, mixlu_grid  # noqa: E402
from ann.train import train_one  # noqa: E402
from benchmarks.bench_sweep import MODELS, default_mask, synthetic_data  # noqa: E402
from common.cli import OneLineArgumentParser, UserError, cli_main  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="lenet", choices=sorted(MODELS))
    p.add_argument("--percents", default="0,1,2,3,4,5,6,7,8,9,10")
    p.add_argument("--steps", type=int, default=20, help="training steps per run (default 20)")
    p.add_argument("--top", type=int, default=12, help="operators listed (default 12)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p


def top_ops(averages, total_us: float, top: int) -> list[tuple[str, float, float, int]]:
    """``(name, self ms, % of total, calls)`` of the ``top`` of the profiler's operator
    ``averages`` by self CPU time."""
    rows = sorted(averages, key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.self_cpu_time_total / 1e3, 100 * e.self_cpu_time_total / total_us,
             e.count) for e in rows[:top]]


def run(args: argparse.Namespace) -> dict:
    if args.steps < 1 or args.top < 1:
        raise UserError("--steps and --top must be positive")
    cores = os.cpu_count() or 1
    if args.threads is not None and not 1 <= args.threads <= 4 * cores:
        raise UserError(f"--threads must be an integer in 1..{4 * cores} (this machine has "
                        f"{cores} cores), got {args.threads}")
    try:
        percents = parse_percents(args.percents)
    except ValueError as exc:
        raise UserError(f"--percents: {exc}") from None
    if args.threads:
        torch.set_num_threads(args.threads)
    channels, size = MODELS[args.model]
    mask = default_mask(args.model)
    specs = [RunSpec(a, 0, args.model) for a in mixlu_grid(percents, ["reference"], mask)]
    data = synthetic_data(args.steps * 100, 100, channels, size)
    config = MNIST_LENET.replace(epochs=1)
    device = torch.device("cpu")
    print(f"{args.model}, mask {mask}, {len(specs)} runs x {args.steps} steps of batch 100, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    engines = {
        "loop": lambda: [train_one(s, data, config, None, device) for s in specs],
        "batched": lambda: list(train_batched(specs, data, config, None, device,
                                              progress=False)),
    }
    out = {}
    for name, train in engines.items():
        train()  # warm-up: allocator, kernels, caches
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            train()
        averages = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in averages)
        rows = top_ops(averages, total, args.top)
        out[name] = {"total_ms": total / 1e3, "top": rows}
        print(f"\n{name}: {total / 1e6:.2f} s of self CPU time in operators")
        print(f"{'operator':<44} {'self ms':>10} {'share':>7} {'calls':>8}")
        for op, ms, share, calls in rows:
            print(f"{op[:44]:<44} {ms:>10.1f} {share:>6.1f}% {calls:>8}")
    return out


def main(argv: list[str] | None = None) -> int:
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
