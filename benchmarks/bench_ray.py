"""Benchmark: one sweep through ``--executor local`` and through ``--executor ray``.

Trains the same MixLU-LeNet sweep (default: Table 6's 11 percentages, backward
``reference``, batched engine) twice in one process — once here, once as Ray tasks on a
private local Ray instance (bound to 127.0.0.1) — on the real mnist-5k data (5,000
training images; the test set from ``--data-dir`` if it holds MNIST's, else a
stratified split), checks that both gave the same numbers, and prints as its last line
``ratio: <ray time / local time>`` (the Ray side includes starting the instance).

Examples::

    python benchmarks/bench_ray.py --epochs 2                   # a few minutes
    python benchmarks/bench_ray.py --data-dir DIR --epochs 20   # the full Table 6 sweep
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ann.config import MNIST_LENET  # noqa: E402
from ann.data import load_dataset, subtract_mean_image  # noqa: E402
from ann.executors import RayExecutor, RayNotInstalled  # noqa: E402
from ann.experiments.options import parse_percents  # noqa: E402
from ann.specs import mixlu_grid  # noqa: E402
from ann.sweep import make_specs, run_sweep  # noqa: E402
from common.cli import OneLineArgumentParser, UserError, cli_main  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="bench_ray.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--percents", default="0,1,2,3,4,5,6,7,8,9,10")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--engine", default="batched", choices=["batched", "loop"])
    parser.add_argument("--ray-cpus-per-task", type=int, default=1)
    return parser


def run(args: argparse.Namespace) -> float:
    if not 1 <= args.epochs <= 1000:
        raise UserError(f"--epochs must be an integer in 1..1000, got {args.epochs}")
    if not 1 <= args.ray_cpus_per_task <= 1024:
        raise UserError(f"--ray-cpus-per-task must be an integer in 1..1024, got "
                        f"{args.ray_cpus_per_task}")
    specs = make_specs(mixlu_grid(parse_percents(args.percents), ["reference"], "fixed"), 1)
    data = subtract_mean_image(load_dataset("mnist-5k", args.data_dir, log=print))
    config = MNIST_LENET.replace(epochs=args.epochs)
    quiet = dict(progress=False, log=lambda line: None, engine=args.engine)
    print(f"{len(specs)} runs, {args.epochs} epochs, {data.train_size} training images, "
          f"engine {args.engine}, torch threads {torch.get_num_threads()}")
    start = time.perf_counter()
    local = run_sweep(specs, data, config, **quiet)
    local_s = time.perf_counter() - start
    print(f"local: {local_s:.1f} s")
    start = time.perf_counter()
    try:
        executor = RayExecutor(num_cpus=args.ray_cpus_per_task)
    except RayNotInstalled as exc:
        raise UserError(str(exc)) from None
    with executor:
        remote = run_sweep(specs, data, config, executor=executor, **quiet)
    ray_s = time.perf_counter() - start
    print(f"ray: {ray_s:.1f} s ({len(executor.nodes)} node(s), "
          f"{args.ray_cpus_per_task} CPU(s) per task)")
    worst = max(abs(a[k] - b[k]) for a, b in zip(local, remote, strict=True)
                for k in ("train_error", "test_error"))
    print(f"largest train/test error difference between the executors: {worst:.4f}")
    print(f"ratio: {ray_s / local_s:.3f}")
    return ray_s / local_s


def main(argv: list[str] | None = None) -> int:
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
