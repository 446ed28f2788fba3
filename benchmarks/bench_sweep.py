"""Benchmark: a MixLU sweep trained by the plain loop and by the batched engine.

Trains the same sweep (default: the 11 MNIST percentages 0..10 of Table 6, one seed,
backward ``reference``) (a) one model at a time by :func:`ann.train.train_one` and (b)
all at once by :func:`ann.batched.train_batched`, in one process on one device, on
synthetic data of the real shape (MNIST: 1x28x28 on the 0-255 scale, mean image
subtracted; CIFAR-10 with ``--model lenet5``: 3x32x32) that the nets can learn, with
the experiments' MixLU masks (fixed for LeNet, resampled every pass for LeNet5).  It
prints, for each engine, the training images per second per model (each model's images
over the whole sweep's time) and for all models together, how far the two
engines' results are apart, and as its last line ``ratio: <loop time / batched time>``.

Examples::

    python benchmarks/bench_sweep.py                     # CPU: 50 steps per model
    python benchmarks/bench_sweep.py --device cuda --train-size 60000 --test-size 10000 \\
        --epochs 20 --loop-sample 1 --loop-epochs 1      # GPU: full Table 6 sweep

With ``--loop-sample M --loop-epochs E`` the loop trains only the first M runs for E
epochs and its time for the whole sweep is extrapolated linearly (printed as such).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ann.batched import train_batched  # noqa: E402
from ann.data import TensorData  # noqa: E402
from ann.models import build_mixlu_lenet, build_mixlu_lenet5  # noqa: E402
from ann.train import RunSpec, TrainConfig, resolve_device, train_one  # noqa: E402

MODELS = {
    "lenet": (build_mixlu_lenet, 1, 28),
    "lenet5": (build_mixlu_lenet5, 3, 32),
}


def synthetic_data(n_train: int, n_test: int, channels: int, size: int, seed: int = 0
                   ) -> TensorData:
    """Real-shaped learnable images: class = position of a bright block on noise."""
    g = torch.Generator().manual_seed(seed)

    def make(n: int):
        y = torch.randint(0, 10, (n,), generator=g)
        x = torch.rand(n, channels, size, size, generator=g) * 60
        rows = (2 * y)[:, None] + torch.arange(6)[None, :]  # (n, 6) rows of the block
        block = torch.zeros(n, size, dtype=torch.bool)
        block.scatter_(1, rows, True)
        cols = torch.zeros(size, dtype=torch.bool)
        cols[3:10] = True
        mask = block[:, None, :, None] & cols[None, None, None, :]
        x = torch.where(mask, torch.full_like(x, 250.0), x)
        return x, y

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    mean = train_x.mean(0, keepdim=True)
    return TensorData(train_x - mean, train_y, test_x - mean, test_y, name="synthetic")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    p.add_argument("--model", default="lenet", choices=sorted(MODELS))
    p.add_argument("--mask", default=None, choices=["fixed", "resample"],
                   help="MixLU mask (default: the experiments' defaults, fixed for lenet as "
                        "mixlu_mnist.py, resample for lenet5 as mixlu_cifar.py)")
    p.add_argument("--percents", default="0,1,2,3,4,5,6,7,8,9,10",
                   help="comma-separated NegLU percentages (default: Table 6)")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per percentage")
    p.add_argument("--backward", default="reference",
                   help="NegLU backward mode, or a comma-separated list of modes")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--steps", type=int, default=50,
                   help="SGD steps per model per epoch: the training set is steps x batch "
                        "images, unless --train-size is given (default 50)")
    p.add_argument("--train-size", type=int, default=None)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-members", type=int, default=None,
                   help="most models per stack (default: the engine's)")
    p.add_argument("--no-channels-last", action="store_true",
                   help="batched engine without channels-last images")
    p.add_argument("--engines", default="loop,batched",
                   help="which engines to run: loop, batched or both (default both)")
    p.add_argument("--loop-sample", type=int, default=None, metavar="M",
                   help="train only the first M runs with the loop and extrapolate")
    p.add_argument("--loop-epochs", type=int, default=None, metavar="E",
                   help="with --loop-sample: loop epochs to time (default --epochs)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--timer", default="wall", choices=["wall", "cpu"],
                   help="wall: elapsed seconds (default); cpu: CPU seconds of this process "
                        "(time.process_time), a steadier measure on a CPU shared with other "
                        "work, best with --threads 1; CPU devices only")
    p.add_argument("--rounding-floor", action="store_true",
                   help="CPU only: train the loop's runs again with another thread count and "
                        "print how much that alone changes the errors, the scale against "
                        "which to read the loop vs batched difference")
    p.add_argument("--progress", action="store_true", help="tqdm bars while training")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    for name in ("seeds", "batch_size", "steps", "test_size", "epochs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.train_size is not None and args.train_size < 1:
        p.error(f"--train-size must be positive, got {args.train_size}")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or any(e not in ("loop", "batched") for e in engines):
        p.error(f"--engines must list loop and/or batched, got {args.engines!r}")
    args.engines = engines
    if args.timer == "cpu" and args.device not in ("cpu", "auto"):
        p.error("--timer cpu measures CPU devices only")
    if args.rounding_floor and (set(engines) != {"loop", "batched"}
                                or args.loop_epochs not in (None, args.epochs)):
        p.error("--rounding-floor needs both engines and the loop's full --epochs "
                "(no --loop-epochs)")
    return args


def _load() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "unknown"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _warm_up(data, build, device, max_members, channels_last) -> None:
    """One tiny run of each engine: library initialisation stays out of the timings."""
    small = TensorData(data.train_x[:200], data.train_y[:200], data.test_x[:100],
                       data.test_y[:100], name="warm-up")
    cfg = TrainConfig(epochs=1)
    specs = [RunSpec(0, "reference", 0), RunSpec(5, "reference", 1)]
    train_one(specs[0], small, cfg, build, device)
    list(train_batched(specs, small, cfg, build, device, progress=False,
                       max_members=max_members, channels_last=channels_last))
    _sync(device)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        raise SystemExit(f"bench_sweep.py: error: --device: {exc}") from None
    if args.timer == "cpu" and device.type != "cpu":
        raise SystemExit("--timer cpu measures CPU devices only")
    if args.rounding_floor and device.type != "cpu":
        raise SystemExit(f"--rounding-floor varies CPU threads: use --device cpu, not {device}")
    clock = time.process_time if args.timer == "cpu" else time.perf_counter
    build, channels, size = MODELS[args.model]
    mask = args.mask or ("resample" if args.model == "lenet5" else "fixed")
    build = functools.partial(build, mask=mask)
    percents = [float(p) for p in args.percents.split(",")]
    backwards = [b.strip() for b in args.backward.split(",")]
    specs = [RunSpec(p, b, s) for b in backwards for s in range(args.seeds) for p in percents]
    n_train = args.train_size or args.steps * args.batch_size
    data = synthetic_data(n_train, args.test_size, channels, size).to(device)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size)
    channels_last = not args.no_channels_last
    images = n_train * args.epochs  # training images per model

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    print(f"device: {device}" + (f" ({gpu})" if gpu else f" ({platform.processor() or 'cpu'}"
                                 f", {torch.get_num_threads()} threads)"))
    print(f"timer: {'CPU seconds of this process' if args.timer == 'cpu' else 'wall clock'}; "
          f"load average before: {_load()}")
    print(f"torch {torch.__version__}; model {args.model}, mask {mask}; {len(specs)} runs "
          f"(percents {args.percents}; backward {args.backward}; {args.seeds} seed(s)); "
          f"{n_train} training images x {args.epochs} epoch(s), batch {args.batch_size} "
          f"({math.ceil(n_train / args.batch_size)} steps/epoch), {args.test_size} test images")
    _warm_up(data, build, device, args.max_members, channels_last)

    out: dict = {"device": str(device), "gpu": gpu, "runs": len(specs),
                 "train_images": n_train, "epochs": args.epochs, "model": args.model, "mask": mask}
    results: dict[str, dict] = {}
    if "loop" in args.engines:
        sample = specs[: args.loop_sample] if args.loop_sample else specs
        loop_epochs = args.loop_epochs or args.epochs
        loop_config = TrainConfig(epochs=loop_epochs, batch_size=args.batch_size)
        start = clock()
        for spec in sample:
            results.setdefault("loop", {})[spec] = train_one(spec, data, loop_config, build,
                                                             device, progress=args.progress)
        _sync(device)
        measured = clock() - start
        loop_time = measured * (len(specs) / len(sample)) * (args.epochs / loop_epochs)
        note = ""
        if len(sample) < len(specs) or loop_epochs != args.epochs:
            note = (f" (extrapolated from {len(sample)} run(s) x {loop_epochs} epoch(s) "
                    f"in {measured:.2f} s)")
        print(_speed_line("loop", loop_time, images, len(specs)) + note)
        out.update(loop_seconds=loop_time, loop_measured_seconds=measured,
                   loop_images_per_s_per_model_over_sweep=images / loop_time)
    if "batched" in args.engines:
        start = clock()
        results["batched"] = dict(train_batched(
            specs, data, config, build, device, progress=args.progress,
            max_members=args.max_members,
            channels_last=channels_last))
        _sync(device)
        batched_time = clock() - start
        print(_speed_line("batched", batched_time, images, len(specs)))
        out.update(batched_seconds=batched_time,
                   batched_images_per_s_per_model_over_sweep=images / batched_time)
        statuses = [r["status"] for r in results["batched"].values()]
        print(f"batched runs: {statuses.count('ok')} ok, {statuses.count('diverged')} diverged")
    if "loop" in results and "batched" in results and args.loop_epochs in (None, args.epochs):
        diffs = []
        for spec, loop in results["loop"].items():
            b = results["batched"][spec]
            diffs.append(max((abs(x[k] - y[k]) for x, y in zip(loop["epochs"], b["epochs"],
                                                               strict=False)
                              for k in ("train_error", "test_error")), default=0.0))
            if loop["status"] != b["status"]:
                print(f"status differs for {spec.key}: loop {loop['status']}, "
                      f"batched {b['status']}")
        print(f"largest |loop - batched| train/test error over runs and epochs: "
              f"{max(diffs):.4f}")
        out["max_error_difference"] = max(diffs)
        if args.rounding_floor:
            difference, threads, other = _rounding_floor(results["loop"], data, loop_config,
                                                         build)
            print(f"rounding floor: the loop alone, {threads} vs {other} CPU threads, "
                  f"differs by up to {difference:.4f} over the same runs (float summation "
                  f"order only)")
            out["loop_thread_difference"] = difference
    if "loop_seconds" in out and "batched_seconds" in out:
        out["ratio"] = out["loop_seconds"] / out["batched_seconds"]
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(f"load average after: {_load()}")
    if "ratio" in out:
        print(f"ratio: {out['ratio']:.2f}")
    return out


def _rounding_floor(loop_results, data, config, build):
    """Largest error difference between the loop's runs (on the CPU) and the same runs
    with another CPU thread count (only other summation orders):
    ``(difference, threads, other)``."""
    threads = torch.get_num_threads()
    other = 1 if threads > 1 else 2
    diffs = []
    torch.set_num_threads(other)
    try:
        for spec, first in loop_results.items():
            again = train_one(spec, data, config, build, "cpu", progress=False)
            diffs.append(max((abs(x[k] - y[k]) for x, y in zip(first["epochs"],
                                                               again["epochs"], strict=False)
                              for k in ("train_error", "test_error")), default=0.0))
    finally:
        torch.set_num_threads(threads)
    return max(diffs), threads, other


def _speed_line(engine: str, seconds: float, images: int, runs: int) -> str:
    """Sweep time and throughput: every model's training images over the whole sweep's
    time, per model (so the two engines' numbers compare) and for all models together."""
    return (f"{engine + ':':9}{seconds:8.2f} s; {images / seconds:9.0f} images/s per model, "
            f"{images * runs / seconds:9.0f} images/s in all ({runs} models)")


if __name__ == "__main__":
    main()
