"""Benchmark: a MixLU sweep trained by the plain loop and by the batched engine.

Trains the same sweep (default: the 11 MNIST percentages 0..10 of Table 6, one seed,
backward ``reference``) (a) one model at a time by :func:`ann.train.train_one` and (b)
all at once by :func:`ann.batched.train_batched`, in one process on one device, on
synthetic data of the real shape (MNIST: 1x28x28 on the 0-255 scale, mean image
subtracted; CIFAR-10 with ``--model lenet5``: 3x32x32) that the nets can learn, with
the experiments' MixLU masks (fixed for LeNet, resampled every pass for LeNet5).  It
prints, for each engine, the training images per second per model (each model's images
over the whole sweep's time) and for all models together, how far the two
engines' results are apart, the model's FLOPs per image (counted from its layer shapes,
:mod:`ann.flops`), each engine's achieved GFLOP/s and the fraction of this device's fp32
matrix-product peak that is (measured in the same process), and as its last line
``ratio: <loop time / batched time>``.  With ``--peer vmap`` it also trains the sweep by
PyTorch's ``torch.func`` model-ensembling recipe (``benchmarks/peers/``) and prints
``vmap ratio: <vmap time / batched time>`` before it; with ``--engines loop,batched,auto``
it times ``--engine auto``'s probe (:mod:`ann.engine_choice`) and prints what auto would
cost against the better engine.

Examples::

    python benchmarks/bench_sweep.py                     # CPU: 50 steps per model
    python benchmarks/bench_sweep.py --engines loop,batched,auto --peer vmap
    python benchmarks/bench_sweep.py --device cuda --train-size 60000 --test-size 10000 \\
        --epochs 20 --loop-sample 1 --loop-epochs 1      # GPU: full Table 6 sweep

With ``--loop-sample M --loop-epochs E`` the loop trains only the first M runs for E
epochs and its time for the whole sweep is extrapolated linearly (printed as such).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ann.activations import BACKWARDS  # noqa: E402
from ann.batched import train_batched  # noqa: E402
from ann.checkpoint import Checkpoints, checkpoint_identity  # noqa: E402
from ann.config import MNIST_LENET  # noqa: E402
from ann.data import TensorData  # noqa: E402
from ann.engine_choice import PROBE_FROM_STEPS, choose_engine  # noqa: E402
from ann.experiments.options import parse_percents  # noqa: E402
from ann.flops import count_flops, sgemm_gflops  # noqa: E402
from ann.models import build_model  # noqa: E402
from ann.specs import ActivationSpec, RunSpec, mixlu_grid, parse_activations  # noqa: E402
from ann.train import resolve_device, train_one  # noqa: E402
from common.cli import OneLineArgumentParser, UserError, cli_main  # noqa: E402
from common.files import atomic_write_json, check_writable_dir  # noqa: E402

#: model name -> (image channels, image size)
MODELS = {"lenet": (1, 28), "lenet5": (3, 32)}


def default_mask(model: str) -> str:
    """The experiments' MixLU mask for ``model``: fixed for LeNet (``mixlu_mnist.py``),
    resampled for LeNet5 (``mixlu_cifar.py``)."""
    return "resample" if model == "lenet5" else "fixed"


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


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    p.add_argument("--model", default="lenet", choices=sorted(MODELS))
    p.add_argument("--mask", default=None, choices=["fixed", "resample"],
                   help="MixLU mask (default: the experiments' defaults, fixed for lenet as "
                        "mixlu_mnist.py, resample for lenet5 as mixlu_cifar.py)")
    p.add_argument("--percents", default="0,1,2,3,4,5,6,7,8,9,10",
                   help="comma-separated NegLU percentages (default: Table 6)")
    p.add_argument("--activations", default=None, metavar="SPECS",
                   help="activation specs instead of the MixLU grid of --percents, e.g. "
                        "'prelu, noisy:1, relu:dropout=0.5' (ann.specs)")
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
    p.add_argument("--cuda-graph", default="off", choices=["on", "off"],
                   help="batched engine: replay each stack's step from a CUDA graph "
                        "(ann.batched.graph; fixed masks only); on with a CPU device runs "
                        "the same path without capture (default off)")
    p.add_argument("--engines", default="loop,batched",
                   help="which engines to run: loop, batched or both (default both); add "
                        "auto (with both) to time --engine auto's probe and report what it "
                        "would cost against the better engine")
    p.add_argument("--peer", default=None, choices=["vmap"],
                   help="vmap: also train the sweep by PyTorch's torch.func model-ensembling "
                        "recipe (benchmarks/peers/torch_func_ensemble.py) in this process and "
                        "print 'vmap ratio: <vmap time / batched time>' (fixed masks, one "
                        "backward mode)")
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
    p.add_argument("--checkpoint-cost", action="store_true",
                   help="train the batched sweep once more writing its epoch checkpoints "
                        "(as a sweep with --out does) to a temporary folder, and print what "
                        "they cost: count, MB and seconds each, share of the time (needs "
                        "--epochs 2 or more: none is written after the last epoch)")
    p.add_argument("--progress", action="store_true", help="tqdm bars while training")
    p.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    return p


#: Most training images of a benchmark (synthetic, held in memory).
MAX_IMAGES = 1_000_000


def _bounds() -> dict[str, int]:
    """Upper bounds of the numeric options (beyond them a benchmark cannot be meant)."""
    import os

    return {"seeds": 1000, "batch_size": 100_000, "steps": MAX_IMAGES, "epochs": 10_000,
            "test_size": 100_000, "train_size": MAX_IMAGES, "max_members": 10_000,
            "loop_sample": 10_000, "loop_epochs": 10_000,
            "threads": 4 * (os.cpu_count() or 1)}


def check_args(args: argparse.Namespace) -> argparse.Namespace:
    """Validate every option before anything is timed; :class:`UserError` in one line."""
    for name in ("seeds", "batch_size", "steps", "test_size", "epochs"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be positive, got "
                            f"{getattr(args, name)}")
    for name in ("train_size", "max_members", "loop_sample", "loop_epochs", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    for name, most in _bounds().items():
        value = getattr(args, name)
        if value is not None and value > most:
            raise UserError(f"--{name.replace('_', '-')} must be at most {most:,}, got {value:,}")
    n_train = args.train_size or args.steps * args.batch_size
    if n_train > MAX_IMAGES:
        raise UserError(f"--steps x --batch-size (or --train-size) gives {n_train:,} training "
                        f"images; at most {MAX_IMAGES:,}")
    args.mask = args.mask or default_mask(args.model)
    if args.cuda_graph == "on" and args.mask == "resample":
        raise UserError("--cuda-graph on needs fixed masks (--mask fixed): resampled masks "
                        "draw from private generators that a CUDA graph does not capture")
    args.percent_list = parse_percents(args.percents)
    args.backward_list = [b.strip() for b in args.backward.split(",")]
    bad = [b for b in args.backward_list if b not in BACKWARDS]
    if bad or len(set(args.backward_list)) != len(args.backward_list):
        raise UserError(f"--backward must list distinct modes of {', '.join(BACKWARDS)}, got "
                        f"{args.backward!r}")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or any(e not in ("loop", "batched", "auto") for e in engines) or (
            "auto" in engines and not {"loop", "batched"} <= set(engines)):
        raise UserError(f"--engines must list loop and/or batched (and auto only with both), "
                        f"got {args.engines!r}")
    args.engines = engines
    if args.activations is not None:
        try:
            args.activation_list = parse_activations(args.activations)
        except ValueError as exc:
            raise UserError(f"--activations: {exc}") from None
    else:
        args.activation_list = None
    if args.peer == "vmap":
        if "batched" not in engines:
            raise UserError("--peer vmap is compared with the batched engine: keep it in "
                            "--engines")
        if args.mask == "resample" and args.activation_list is None:
            raise UserError("--peer vmap needs fixed masks (--mask fixed): the torch.func "
                            "recipe cannot draw resampled masks inside vmap")
        if len(args.backward.split(",")) > 1:
            raise UserError("--peer vmap runs one backward mode (one module's code for "
                            "every member): give one --backward")
    try:
        args.device_resolved = resolve_device(args.device)
    except ValueError as exc:
        raise UserError(f"--device: {exc}") from None
    if args.timer == "cpu" and args.device_resolved.type != "cpu":
        raise UserError("--timer cpu measures CPU devices only")
    if args.rounding_floor and (set(engines) != {"loop", "batched"}
                                or args.loop_epochs not in (None, args.epochs)):
        raise UserError("--rounding-floor needs both engines and the loop's full --epochs "
                        "(no --loop-epochs)")
    if args.rounding_floor and args.device_resolved.type != "cpu":
        raise UserError(f"--rounding-floor varies CPU threads: use --device cpu, not "
                        f"{args.device_resolved}")
    if args.checkpoint_cost and ("batched" not in engines or args.epochs < 2):
        raise UserError("--checkpoint-cost needs the batched engine and --epochs 2 or more "
                        "(no checkpoint is written after the last epoch)")
    if args.json is not None:
        if args.json.is_dir():
            raise UserError(f"--json {str(args.json)!r} is a directory; name a file")
        try:
            check_writable_dir(args.json.parent, "--json's folder")
        except ValueError as exc:
            raise UserError(str(exc)) from None
    return args


def parse_args(argv=None) -> argparse.Namespace:
    """Parsed and checked options (raises :class:`UserError` or exits 2 on bad ones)."""
    return check_args(build_parser().parse_args(argv))


def _load() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "unknown"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _warm_up(data, model, mask, device, max_members, channels_last, cuda_graph) -> None:
    """One tiny run of each engine: library initialisation stays out of the timings."""
    small = TensorData(data.train_x[:200], data.train_y[:200], data.test_x[:100],
                       data.test_y[:100], name="warm-up")
    cfg = MNIST_LENET.replace(epochs=1)
    specs = [RunSpec(ActivationSpec.make("relu"), 0, model),
             RunSpec.mixlu(5, "reference", 1, mask, model)]
    train_one(specs[0], small, cfg, None, device)
    list(train_batched(specs, small, cfg, None, device, progress=False,
                       max_members=max_members, channels_last=channels_last,
                       cuda_graph=cuda_graph))
    _sync(device)


def run(args: argparse.Namespace) -> dict:
    """Time both engines for checked ``args``; print the lines and return the numbers."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device_resolved
    clock = time.process_time if args.timer == "cpu" else time.perf_counter
    channels, size = MODELS[args.model]
    mask = args.mask  # resolved by check_args
    activations = args.activation_list or mixlu_grid(args.percent_list, args.backward_list, mask)
    specs = [RunSpec(a, s, args.model) for a in activations for s in range(args.seeds)]
    n_train = args.train_size or args.steps * args.batch_size
    data = synthetic_data(n_train, args.test_size, channels, size).to(device)
    config = MNIST_LENET.replace(epochs=args.epochs, batch_size=args.batch_size)
    channels_last = not args.no_channels_last
    images = n_train * args.epochs  # training images per model

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    print(f"device: {device}" + (f" ({gpu})" if gpu else f" ({platform.processor() or 'cpu'}"
                                 f", {torch.get_num_threads()} threads)"))
    print(f"timer: {'CPU seconds of this process' if args.timer == 'cpu' else 'wall clock'}; "
          f"load average before: {_load()}")
    what = (f"activations {args.activations}" if args.activation_list else
            f"percents {args.percents}; backward {args.backward}")
    print(f"torch {torch.__version__}; model {args.model}, mask {mask}; {len(specs)} runs "
          f"({what}; {args.seeds} seed(s)); "
          f"{n_train} training images x {args.epochs} epoch(s), batch {args.batch_size} "
          f"({math.ceil(n_train / args.batch_size)} steps/epoch), {args.test_size} test images")
    cuda_graph = args.cuda_graph == "on"
    _warm_up(data, args.model, mask, device, args.max_members, channels_last, cuda_graph)

    out: dict = {"device": str(device), "gpu": gpu, "runs": len(specs),
                 "cuda_graph": args.cuda_graph,
                 "train_images": n_train, "epochs": args.epochs, "model": args.model, "mask": mask}
    results: dict[str, dict] = {}
    if "loop" in args.engines:
        sample = specs[: args.loop_sample] if args.loop_sample else specs
        loop_epochs = args.loop_epochs or args.epochs
        loop_config = config.replace(epochs=loop_epochs)
        start = clock()
        for spec in sample:
            results.setdefault("loop", {})[spec] = train_one(spec, data, loop_config, None,
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
        with _timed_diagnostics(clock) as diagnostics:
            results["batched"] = dict(train_batched(
                specs, data, config, None, device, progress=args.progress,
                max_members=args.max_members,
                channels_last=channels_last, cuda_graph=cuda_graph))
        _sync(device)
        batched_time = clock() - start
        print(_speed_line("batched", batched_time, images, len(specs))
              + f" (CUDA graph: {args.cuda_graph})")
        print(f"batched unit diagnostics (ann.diagnostics, after each epoch): "
              f"{diagnostics['calls']} probe passes, {diagnostics['seconds']:.2f} s, "
              f"{100 * diagnostics['seconds'] / batched_time:.1f} % of the batched time")
        out["batched_diagnostics_seconds"] = diagnostics["seconds"]
        out.update(batched_seconds=batched_time,
                   batched_images_per_s_per_model_over_sweep=images / batched_time)
        statuses = [r["status"] for r in results["batched"].values()]
        print(f"batched runs: {statuses.count('ok')} ok, {statuses.count('diverged')} diverged")
    if "auto" in args.engines:
        out.update(_auto_cost(specs, data, config, device, clock, out))
    if args.peer == "vmap":
        out.update(_vmap_peer(specs, data, config, device, clock, results, out))
    if args.checkpoint_cost:
        out.update(_checkpoint_cost(specs, data, config, device, args, clock))
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
            difference, threads, other = _rounding_floor(results["loop"], data, loop_config)
            print(f"rounding floor: the loop alone, {threads} vs {other} CPU threads, "
                  f"differs by up to {difference:.4f} over the same runs (float summation "
                  f"order only)")
            out["loop_thread_difference"] = difference
    out.update(_arithmetic_lines(specs[0], (channels, size, size), n_train, args, out,
                                 device))
    if "loop_seconds" in out and "batched_seconds" in out:
        out["ratio"] = out["loop_seconds"] / out["batched_seconds"]
    if args.json:
        atomic_write_json(args.json, out)
    print(f"load average after: {_load()}")
    if "vmap_ratio" in out:
        print(f"vmap ratio: {out['vmap_ratio']:.2f}")
    if "ratio" in out:
        print(f"ratio: {out['ratio']:.2f}")
    return out


def _arithmetic_lines(spec: RunSpec, image_shape, n_train: int, args, out: dict,
                      device: torch.device) -> dict:
    """Print the model's FLOPs per image (counted from its layer shapes), each engine's
    achieved GFLOP/s over the sweep (training steps and test passes) and the sgemm
    GFLOP/s of this device measured here; return them for the JSON."""
    flops = count_flops(build_model(spec), image_shape)
    per_model = (n_train * flops.training + args.test_size * flops.forward) * args.epochs
    total = per_model * out["runs"]
    print(f"model FLOPs per image (ann.flops, from the layer shapes): forward "
          f"{flops.forward / 1e6:.2f} MFLOP, training step {flops.training / 1e6:.2f} MFLOP "
          f"(3 x forward); the sweep: {total / 1e12:.3f} TFLOP (training + test passes)")
    peak = sgemm_gflops(device)
    found = {"flops_forward_per_image": flops.forward,
             "flops_training_per_image": flops.training, "sweep_tflop": total / 1e12,
             "sgemm_gflops": peak}
    threads = "" if device.type == "cuda" else f", {torch.get_num_threads()} threads"
    parts = []
    for engine in ("loop", "batched"):
        if f"{engine}_seconds" in out:
            achieved = total / out[f"{engine}_seconds"] / 1e9
            found[f"{engine}_gflops"] = achieved
            found[f"{engine}_peak_fraction"] = achieved / peak
            parts.append(f"{engine} {achieved:.1f} GFLOP/s = {100 * achieved / peak:.0f} %")
    print(f"sgemm (fp32 2048 x 2048 in this process{threads}): {peak:.1f} GFLOP/s; "
          + "; ".join(parts) + " of it")
    return found


def _auto_cost(specs, data, config, device, clock, out: dict) -> dict:
    """Time ``--engine auto`` on this sweep as a sweep command decides it (a probe from
    :data:`~ann.engine_choice.PROBE_FROM_STEPS` training steps on, else batched), and
    a probe forced at any size; auto's cost is its probe plus the chosen engine's
    measured time, printed against the better engine."""
    best = min(out["loop_seconds"], out["batched_seconds"])
    found = {}
    for label, probe_from in (("auto", PROBE_FROM_STEPS), ("auto, probe forced", 0)):
        start = clock()
        choice = choose_engine(specs, data, config, None, device, probe_from=probe_from)
        _sync(device)
        probe = clock() - start
        total = probe + out[f"{choice.engine}_seconds"]
        print(f"{label}: {choice.line()}; {probe:.2f} s + {choice.engine} "
              f"{out[f'{choice.engine}_seconds']:.2f} s = {total:.2f} s, "
              f"{100 * (total / best - 1):+.1f} % against the better engine ({best:.2f} s)")
        key = "auto" if probe_from else "auto_forced"
        found.update({f"{key}_engine": choice.engine, f"{key}_probe_seconds": probe,
                      f"{key}_over_best": total / best})
    return found


def _vmap_peer(specs, data, config, device, clock, results, out: dict) -> dict:
    """Train the sweep by the torch.func recipe (the peer); time it against batched."""
    from benchmarks.peers.torch_func_ensemble import train_vmap

    try:
        start = clock()
        peer = train_vmap(specs, data, config, device)
        _sync(device)
        seconds = clock() - start
    except ValueError as exc:
        raise UserError(f"--peer vmap: {exc}") from None
    runs = len(specs)
    images = data.train_size * config.epochs
    print(_speed_line("vmap", seconds, images, runs) + " (torch.func stack_module_state + "
          "functional_call + vmap(grad), one torch.optim.SGD; no diagnostics)")
    batched = results["batched"]
    diff = max(abs(peer[s][k] - batched[s][k]) for s in specs
               for k in ("train_error", "test_error") if batched[s]["status"] == "ok")
    print(f"largest |vmap - batched| final train/test error over runs: {diff:.4f}")
    return {"vmap_seconds": seconds, "vmap_ratio": seconds / out["batched_seconds"],
            "vmap_max_error_difference": diff}


@contextlib.contextmanager
def _timed_diagnostics(clock):
    """Time every unit-diagnostics pass of the engines while the block runs."""
    import ann.batched.engine as engine
    import ann.train as loop

    stats = {"calls": 0, "seconds": 0.0}
    original = engine.unit_diagnostics

    def timed(*args, **kwargs):
        start = clock()
        try:
            return original(*args, **kwargs)
        finally:
            stats["calls"] += 1
            stats["seconds"] += clock() - start

    engine.unit_diagnostics = loop.unit_diagnostics = timed
    try:
        yield stats
    finally:
        engine.unit_diagnostics = loop.unit_diagnostics = original


def _checkpoint_cost(specs, data, config, device, args, clock) -> dict:
    """The batched sweep again, checkpointing every epoch into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bench-checkpoints-") as folder:
        checkpoints = Checkpoints(folder, checkpoint_identity(config.to_dict(), "bench",
                                                              device))
        start = clock()
        for _ in train_batched(specs, data, config, None, device, progress=args.progress,
                               max_members=args.max_members,
                               channels_last=not args.no_channels_last,
                               checkpoints=checkpoints):
            pass
        _sync(device)
        seconds = clock() - start
    print("batched with " + checkpoints.cost_line(seconds))
    return {"checkpoints_written": checkpoints.written,
            "checkpoint_mb_each": checkpoints.bytes / checkpoints.written / 1e6,
            "checkpoint_seconds_each": checkpoints.seconds / checkpoints.written,
            "batched_with_checkpoints_seconds": seconds}


def _rounding_floor(loop_results, data, config):
    """Largest error difference between the loop's runs (on the CPU) and the same runs
    with another CPU thread count (only other summation orders):
    ``(difference, threads, other)``."""
    threads = torch.get_num_threads()
    other = 1 if threads > 1 else 2
    diffs = []
    torch.set_num_threads(other)
    try:
        for spec, first in loop_results.items():
            again = train_one(spec, data, config, None, "cpu", progress=False)
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


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status (2 for user errors)."""
    return cli_main(build_parser(), lambda args: run(check_args(args)), argv)


if __name__ == "__main__":
    sys.exit(main())
