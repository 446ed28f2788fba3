#!/usr/bin/env bash
# GPU check of the batched sweep engine (issue 6), for a machine with one NVIDIA GPU.
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine: about 3-4 minutes
#   bash benchmarks/gpu_check.sh --dry-run  # the same steps, tiny sizes, on CPU (tests this script)
#
# Needs only this repository and a Python with torch ($PYTHON, default python3); the
# data are synthetic images of the real shapes.  Prints, in order:
#   0. the GPU, driver, Python and torch versions;
#   1. correctness on the GPU, TF32 off: LeNet, 5 runs (4 NegLU settings + 1 built to
#      diverge), and LeNet5 with resampled masks and flips, 3 runs, each trained batched
#      and by the loop trainer, largest differences per run; then a check that an epoch
#      of the batched engine makes no host synchronisation
#      (torch.cuda.set_sync_debug_mode("error")), for both nets;
#   2. the issue's benchmark: the full Table 6 sweep (11 NegLU percentages x 20 epochs x
#      60,000 images, batch 100, 10,000 test images) batched, each stack's step replayed
#      from a CUDA graph (ann.batched.graph; target: under 15 s), and the plain loop timed
#      on 2 runs x 1 epoch and extrapolated (target: ratio >= 10);
#   3. what decides the GPU defaults: the batched sweep for 2 epochs without channels-last,
#      the same without the CUDA graph (eager launches), and LeNet5 on CIFAR-shaped data
#      with resampled masks (6 percentages of Tables 9/10, 1 epoch of 50,000).
# The LeNet correctness cases, the LeNet host-sync check and step 2 use the CUDA-graph
# path (off by default in the library until this script has measured it on a GPU); in the
# dry run it runs on CPU without capture, so every new code path but the capture runs.
# Each step has its own time limit, so the whole script ends within about 6 minutes.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1

DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then
    DRY=1
elif [[ $# -gt 0 ]]; then
    echo "usage: bash benchmarks/gpu_check.sh [--dry-run]" >&2
    exit 2
fi

if [[ $DRY == 1 ]]; then
    DEVICE=cpu
    SLACK=5                          # step time limits x5: a busy CPU, not a speed test
    CHECK_SIZES="300 100 1"          # correctness: train images, test images, epochs
    T6=(--train-size 500 --test-size 200 --epochs 2 --percents 0,5 --loop-sample 1 --loop-epochs 1
        --cuda-graph on)
    CL=(--train-size 500 --test-size 200 --epochs 1 --percents 0,5 --engines batched)
    NG=(--train-size 500 --test-size 200 --epochs 1 --percents 0,5 --engines batched
        --cuda-graph off)
    L5=(--model lenet5 --train-size 200 --test-size 100 --epochs 1 --percents 0,3 --loop-sample 1)
else
    DEVICE=cuda
    SLACK=1
    CHECK_SIZES="3000 1000 3"
    T6=(--train-size 60000 --test-size 10000 --epochs 20 --loop-sample 2 --loop-epochs 1
        --cuda-graph on)
    CL=(--train-size 60000 --test-size 10000 --epochs 2 --engines batched --no-channels-last)
    NG=(--train-size 60000 --test-size 10000 --epochs 2 --engines batched --cuda-graph off)
    L5=(--model lenet5 --train-size 50000 --test-size 10000 --epochs 1
        --percents 0,0.25,0.5,1,2,3 --loop-sample 1)
fi

step() { echo; echo "== $* ($(date +%T))"; }

step "0. machine"
if [[ $DRY == 0 ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
"$PY" - "$DEVICE" <<'EOF' || exit 1
import sys
import torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}")
if sys.argv[1] == "cuda":
    if not torch.cuda.is_available():
        sys.exit("no CUDA device visible to torch: nothing to check")
    p = torch.cuda.get_device_properties(0)
    print(f"GPU: {p.name}, {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs")
else:
    print(f"dry run on CPU ({torch.get_num_threads()} threads)")
EOF

step "1. correctness: batched vs loop on $DEVICE, TF32 off; host syncs inside an epoch"
# shellcheck disable=SC2086
timeout $((100 * SLACK)) "$PY" - "$DEVICE" $CHECK_SIZES <<'EOF'
import sys
import time

sys.path[:0] = [".", "benchmarks"]
import torch

from bench_sweep import synthetic_data
from ann.batched import StackedRun, train_batched
from ann.models import build_model
from ann.protocols import MNIST_LENET
from ann.specs import RunSpec
from ann.train import train_one

device = torch.device(sys.argv[1])
n_train, n_test, epochs = (int(v) for v in sys.argv[2:5])
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
DIVERGE = 9  # this seed's weights are scaled by 1e30: its first loss is not finite


def lenet(spec):
    model = build_model(spec)
    if spec.seed == DIVERGE:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1e30)
    return model


def mix(p, backward, seed, model="lenet"):
    mask = "resample" if model == "lenet5" else "fixed"  # as mixlu_cifar.py / mixlu_mnist.py
    return RunSpec.mixlu(p, backward, seed, mask, model)


cifar = dict(lr_schedule=[0.05] * 2 + [0.005] * 10, flip=True, weight_decay=1e-4,
             weight_lr_mult=0.1, bias_lr_mult=2.0, last_weight_lr_mult=0.01,
             last_bias_lr_mult=0.2)
cases = [
    ("LeNet, fixed masks", lenet, (1, 28), n_train, epochs, {},
     [mix(0, "reference", 0), mix(5, "reference", 1), mix(10, "exact", 2),
      mix(10, "inverted", 3), mix(5, "reference", DIVERGE)]),
    ("LeNet5, resampled masks, flips", build_model, (3, 32), n_train // 3, 2, cifar,
     [mix(0, "reference", 0, "lenet5"), mix(3, "reference", 1, "lenet5"),
      mix(3, "inverted", 2, "lenet5")]),
]
ok = True
for name, build, shape, n, e, extra, specs in cases:
    data = synthetic_data(n, n_test, *shape).to(device)
    config = MNIST_LENET.replace(epochs=e, **extra)
    start = time.perf_counter()
    graph = "fixed" in name  # fixed masks: the CUDA-graph path (on CPU without capture)
    batched = dict(train_batched(specs, data, config, build, device, progress=False,
                                 cuda_graph=graph))
    print(f"{name}: batched {len(specs)} runs x {e} epochs of {n} images in "
          f"{time.perf_counter() - start:.1f} s")
    for spec in specs:
        loop = train_one(spec, data, config, build, device)
        b = batched[spec]
        pairs = list(zip(loop["epochs"], b["epochs"], strict=False))
        err = max((max(abs(x["train_error"] - y["train_error"]) * n,
                       abs(x["test_error"] - y["test_error"]) * n_test)
                   for x, y in pairs), default=0.0)
        rel = max((abs(x["loss"] - y["loss"]) / abs(y["loss"]) for x, y in pairs),
                  default=0.0)
        same = (loop["status"] == b["status"] and len(loop["epochs"]) == len(b["epochs"])
                and err <= 2 and rel <= 1e-3)
        ok &= same
        print(f"  {spec.key:<36} loop {loop['status']:<8} batched {b['status']:<8} "
              f"final test error {loop['test_error']:.4f} / {b['test_error']:.4f}; "
              f"largest difference: {err:.0f} images, loss {rel:.1e} relative"
              f"{'' if same else '  <-- DIFFERS'}")
print(f"correctness: {'PASS' if ok else 'FAIL'} (tolerance: 2 images, loss 1e-3 relative)")

for name, model, shape, extra in (("LeNet", "lenet", (1, 28), {}),
                                  ("LeNet5, resampled masks, flips", "lenet5", (3, 32), cifar)):
    small = synthetic_data(1000, 100, *shape).to(device)
    stack = [mix(0, "reference", 0, model), mix(3, "reference", 1, model),
             mix(5, "exact", 2, model)]
    run = StackedRun(stack, [build_model(s) for s in stack], small,
                     MNIST_LENET.replace(epochs=2, **extra), device,
                     cuda_graph=model == "lenet")
    run.run_epoch(*run.draw_epoch())  # warm-up: caches, cuDNN plans
    perm, flip_draws = run.draw_epoch()
    if device.type != "cuda":
        run.run_epoch(perm, flip_draws)
        print(f"host-sync check ({name}): skipped on {device}")
        continue
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        run.run_epoch(perm, flip_draws)
        verdict = "none in an epoch (PASS)"
    except RuntimeError as exc:
        verdict = f"FOUND: {str(exc).splitlines()[0]}"
    finally:
        torch.cuda.set_sync_debug_mode("default")
    print(f"host-sync check ({name}, {len(stack)} members, 10 steps, CUDA graph "
          f"{'on' if run.cuda_graph else 'off'}): {verdict}")
EOF
echo "(exit status $?)"

step "2. Table 6 sweep: batched vs loop on $DEVICE"
timeout $((170 * SLACK)) "$PY" benchmarks/bench_sweep.py --device "$DEVICE" "${T6[@]}"
echo "(exit status $?)"

step "3a. batched without channels-last (2 epochs of the same sweep; compare with step 2 / 10)"
timeout $((30 * SLACK)) "$PY" benchmarks/bench_sweep.py --device "$DEVICE" "${CL[@]}"
echo "(exit status $?)"

step "3b. batched without the CUDA graph (2 epochs of the same sweep; compare with step 2 / 10)"
timeout $((30 * SLACK)) "$PY" benchmarks/bench_sweep.py --device "$DEVICE" "${NG[@]}"
echo "(exit status $?)"

step "3c. LeNet5 on CIFAR-shaped data, Tables 9/10 percentages"
timeout $((40 * SLACK)) "$PY" benchmarks/bench_sweep.py --device "$DEVICE" "${L5[@]}"
echo "(exit status $?)"
echo
echo "== done ($(date +%T))"
