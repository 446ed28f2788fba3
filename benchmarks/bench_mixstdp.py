"""Our Diehl & Cook network against BindsNET's, on the same images, in one process.

Trains our Brian2 network (:mod:`stdp_sim.diehl_cook`, share 0: the plain network)
with each engine (``--engines``: Brian2's C++ standalone mode, one compiled program
call per chunk, and its Cython runtime; the same images, seed and chunk) and BindsNET's
``DiehlAndCook2015`` with its own example's settings
(``examples/mnist/eth_mnist.py``; run by ``benchmarks/peers/bindsnet_diehl_cook.py``
in a private virtual environment this script creates once, since BindsNET's pins —
numpy >= 2, torch >= 2.14 — clash with ours) on the same training images, the same
number of neurons, then tests all on the same test images.  Prints training images/s
(wall and per CPU-second, the compiled program's CPU included) and test accuracy for
each, the standalone ÷ runtime ratios, and as the last line ``ratio: <ours ÷
BindsNET's images/s>`` for the first engine.  The standalone program is built (or
found in the cache) before the timing starts.

Not the same simulation: ours follows Diehl & Cook's code (conductance-based neurons,
dt 0.5 ms, 350 ms per image + 150 ms rest, re-presentation of silent images); BindsNET's
model is current-based with dt 1 ms, 250 ms per image and no rest.  Ours simulates 4x
as many time steps per image.  Brian2's own port (``examples/frompapers/
Diehl_Cook_2015.py``) is not installed with the brian2 package, so it is not run.

Reproduce::

    python benchmarks/bench_mixstdp.py                       # 300 train / 300 test images
    python benchmarks/bench_mixstdp.py --n-train 1000 --n-test 1000
    python benchmarks/bench_mixstdp.py --n-train 200 --n-test 100 --skip-peer  # engines
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))

import numpy as np  # noqa: E402

from common.data.download import DEFAULT_TIMEOUT  # noqa: E402
from common.data.mnist import default_cache_dir, load_mnist_5k_arrays  # noqa: E402

BINDSNET = ["bindsnet==0.3.4", "torch==2.14.1", "torchvision==0.29.1"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-train", type=int, default=300)
    p.add_argument("--n-test", type=int, default=300)
    p.add_argument("--n-exc", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of BindsNET (default 1: faster than 2 on 2 cores "
                   "shared with Brian2's single thread)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder with the official MNIST test files")
    p.add_argument("--skip-peer", action="store_true", help="time ours only")
    p.add_argument("--engines", default="standalone,runtime",
                   help="our engines to time, in order (default %(default)s)")
    a = p.parse_args(argv)
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    if not engines or any(e not in ("standalone", "runtime") for e in engines):
        p.error(f"--engines: a comma-separated list of standalone, runtime; got "
                f"{a.engines!r}")

    from stdp_sim.diehl_cook.standalone import compiler_problem
    from stdp_sim.diehl_cook.training import RunSettings, train_and_test

    if "standalone" in engines and compiler_problem() is not None:
        print(f"standalone skipped: {compiler_problem()}")
        engines.remove("standalone")
        if not engines:
            return 2

    train_x, train_y, test_x, test_y, info = load_mnist_5k_arrays(
        data_dir=a.data_dir, cache_dir=default_cache_dir(), download=False,
        timeout=DEFAULT_TIMEOUT, log=print)
    pick = np.random.default_rng(a.seed).permutation(len(train_x))[:a.n_train]
    tpick = np.random.default_rng(a.seed + 1).permutation(len(test_x))[:a.n_test]
    train_x, train_y, test_x, test_y = train_x[pick], train_y[pick], test_x[tpick], test_y[tpick]
    print(f"{a.n_train} training images (mnist-5k), {a.n_test} test images "
          f"({info['test_source']}), {a.n_exc} neurons, seed {a.seed}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")

    chunk = max(a.n_train, a.n_test)
    rows, ours = [], {}
    for engine in engines:
        # warm-up: Brian2 compiles its Cython modules once per machine, the standalone
        # program once per shape and chunk (both cached on disk)
        began = time.perf_counter()
        train_and_test(RunSettings(share=0.0, seed=a.seed, n_exc=a.n_exc, chunk=chunk,
                                   engine=engine),
                       train_x[:2], train_y[:2], test_x[:2], test_y[:2])
        print(f"ours ({engine}): warm-up (compile if not cached) "
              f"{time.perf_counter() - began:.1f} s")
        began = time.perf_counter()
        record = train_and_test(RunSettings(share=0.0, seed=a.seed, n_exc=a.n_exc,
                                            chunk=chunk, engine=engine),
                                train_x, train_y, test_x, test_y).record
        ours[engine] = record
        rows.append((f"ours (Brian2, {engine})", record["images_per_second"],
                     a.n_train / record["cpu_seconds"]["train"], record["test_accuracy"],
                     record["train_accuracy"], time.perf_counter() - began))
    peer = None
    if not a.skip_peer:
        from private_venv import ensure_venv

        python = ensure_venv("bindsnet", BINDSNET)
        with tempfile.TemporaryDirectory() as tmp:
            images = Path(tmp) / "images.npz"
            np.savez(images, train_x=train_x.astype(np.uint8), train_y=train_y,
                     test_x=test_x.astype(np.uint8), test_y=test_y)
            out = Path(tmp) / "bindsnet.json"
            began = time.perf_counter()
            subprocess.run([str(python), str(ROOT / "benchmarks" / "peers" /
                                             "bindsnet_diehl_cook.py"),
                            "--images", str(images), "--n-neurons", str(a.n_exc),
                            "--n-train", str(a.n_train), "--n-test", str(a.n_test),
                            "--seed", str(a.seed), "--threads", str(a.threads),
                            "--json", str(out), "--quiet"], check=True,
                           stdout=subprocess.DEVNULL)
            peer_wall = time.perf_counter() - began
            peer = json.loads(out.read_text())
        rows.append((f"BindsNET {peer.get('bindsnet_version', '?')} (torch "
                     f"{peer.get('torch_version', '?')}, {a.threads} thread)",
                     peer["images_per_second_train"],
                     a.n_train / peer["train_cpu_seconds"], peer["test_accuracy"],
                     peer.get("train_accuracy"), peer_wall))
    print()
    print("| network | train images/s | per CPU-second | test accuracy % | train accuracy % "
          "| wall s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, ips, cpu, test, train, wall in rows:
        train_text = "—" if train is None else f"{100 * train:.1f}"
        print(f"| {name} | {ips:.2f} | {cpu:.2f} | {100 * test:.1f} | {train_text} "
              f"| {wall:.1f} |")
    print(f"ours: labels from a frozen pass over the training images, each half scored "
          f"with the other half's labels; BindsNET: its example's labelling (from the "
          f"training activity of completed 250-image blocks). Load now "
          f"{os.getloadavg()[0]:.2f}.")
    if len(ours) == 2:
        by = {row[0]: row for row in rows}
        sa, rt = by["ours (Brian2, standalone)"], by["ours (Brian2, runtime)"]
        print(f"standalone / runtime: {sa[1] / rt[1]:.2f} x the training images/s, "
              f"{sa[2] / rt[2]:.2f} x per CPU-second")
    if peer is not None:
        first = engines[0]
        cpu_ratio = rows[0][2] / rows[-1][2]
        print(f"images per CPU-second, ours ({first}) / BindsNET: {cpu_ratio:.2f} (less "
              f"sensitive to other load than the wall-time ratio)")
        print(f"ratio: {ours[first]['images_per_second'] / peer['images_per_second_train']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
