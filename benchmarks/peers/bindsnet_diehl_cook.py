"""BindsNET's Diehl & Cook (2015) MNIST network, as a benchmark peer.

Run by the python of a PRIVATE venv that has BindsNET (see ``private_venv.py``); it
imports nothing from this project.  It follows BindsNET's own example
``examples/mnist/eth_mnist.py`` (BindsNET repository, master at 34ee292, 2026-05-07;
the example last changed in 5cfa89e):

* model: ``bindsnet.models.DiehlAndCook2015(n_inpt=784, n_neurons, exc=22.5, inh=120,
  dt, norm=78.4, theta_plus=0.05, inpt_shape=(1, 28, 28))``, the rest at the model's
  defaults (nu=(1e-4, 1e-2), PostPre STDP on X->Ae, tc_theta_decay=1e7, ...);
* input: pixel/255 * intensity (128), i.e. ``ToTensor()`` then ``x * intensity``, encoded
  by ``PoissonEncoder(time=250, dt=1.0)`` into a ``[time, 1, 1, 28, 28]`` spike train;
  ``network.run(inputs={"X": ...}, time=time)``, then ``network.reset_state_variables()``;
* training: one pass over the first ``--n-train`` images in file order, unsupervised
  (labels are used only for the read-out below);
* labelling, exactly the example's scheme: every ``update_interval`` (250) training
  images, ``assign_labels(spikes of those 250 images, their labels, 10, rates)`` with
  ``rates`` carried over (alpha=1, so the per-class rates of all completed intervals
  add up); images of a last, incomplete interval are never used for labels (with
  ``--n-train 300``, labels come from images 0-249 only).  The example's loop runs
  ``n_train + 1`` images (``if step > n_train: break``) and labels at step ``n_train``
  when it is a multiple of 250; here exactly ``n_train`` images are trained and that
  final labelling is done after the loop, so the labels are the same images';
* test: ``network.train(mode=False)`` (no learning), ``all_activity`` (the headline
  ``test_accuracy``) and ``proportion_weighting`` on the Ae spike counts.

Extras (cheap, from the same recorded spike counts): ``train_accuracy`` = labels
assigned from ALL ``n_train`` training responses, read out on those same responses;
``test_accuracy_labels_from_all_train`` = those labels on the test set;
``train_interval_accuracy`` = the example's running estimate (each interval predicted
with the labels from the intervals before it; the first interval is 0 by construction).

Deviations from the example: the images come from ``--images`` (npz) in file order
rather than torchvision's MNIST through a shuffled DataLoader; no plotting; by default
only the Ae spike monitor is attached (the example also records X/Ai spikes and Ae/Ai
voltages for its plots: ``--example-monitors`` adds those, to price them); CPU only;
torch threads = the cores this process may use (the example: ``os.cpu_count() - 1``).

Timing: ``train_seconds`` is the wall time of the training loop (Poisson encoding,
simulation with learning, spike read-out, periodic label assignment), excluding network
construction and data loading; ``images_per_second_train = n_train / train_seconds``.
On a shared machine that number swings with the other load (torch's threads then wait
on each other): ``train_cpu_seconds`` and the 1-minute load average before and after
training are recorded beside it, so a contended run can be told apart; ``--threads 1``
is the steadier setting there.

    python bindsnet_diehl_cook.py --images mnist.npz --n-train 300 --n-test 1000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time as _time


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover
        return None


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", required=True, help="npz with train_x, train_y, test_x, test_y")
    p.add_argument("--n-neurons", type=int, default=100)
    p.add_argument("--n-train", type=int, default=None, help="default: all train_x")
    p.add_argument("--n-test", type=int, default=None, help="default: all test_x")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time", type=int, default=250, help="ms per image (example: 250)")
    p.add_argument("--dt", type=float, default=1.0)
    p.add_argument("--json", default=None, help="write the results here")
    # The example's other settings, exposed but defaulting to its values.
    p.add_argument("--exc", type=float, default=22.5)
    p.add_argument("--inh", type=float, default=120.0)
    p.add_argument("--theta-plus", type=float, default=0.05)
    p.add_argument("--intensity", type=float, default=128.0)
    p.add_argument("--update-interval", type=int, default=250)
    p.add_argument(
        "--threads", type=int, default=None, help="default: the cores this process may use"
    )
    p.add_argument(
        "--example-monitors",
        action="store_true",
        help="also attach the example's plotting monitors (X/Ai spikes, Ae/Ai voltages)",
    )
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    for name in ("n_neurons", "time", "update_interval"):
        if getattr(a, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if a.dt <= 0:
        p.error("--dt must be positive")
    return a


def main(argv: list[str] | None = None) -> int:
    a = _parse(argv)

    import numpy as np
    import torch

    threads = a.threads or _cores()
    torch.set_num_threads(threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)

    import bindsnet
    from bindsnet.encoding import PoissonEncoder
    from bindsnet.evaluation import all_activity, assign_labels, proportion_weighting
    from bindsnet.models import DiehlAndCook2015
    from bindsnet.network.monitors import Monitor

    try:
        from importlib.metadata import version as _pkg_version

        bindsnet_version = _pkg_version("bindsnet")
    except Exception:  # pragma: no cover
        bindsnet_version = getattr(bindsnet, "__version__", "unknown")

    def say(msg: str) -> None:
        if not a.quiet:
            print(msg, file=sys.stderr, flush=True)

    data = np.load(a.images)
    train_x, train_y = data["train_x"], np.asarray(data["train_y"]).astype(np.int64)
    test_x, test_y = data["test_x"], np.asarray(data["test_y"]).astype(np.int64)
    for key, arr in (("train_x", train_x), ("test_x", test_x)):
        if arr.ndim != 3 or arr.shape[1:] != (28, 28):
            raise SystemExit(f"error: {key} has shape {arr.shape}, want [N, 28, 28]")
    n_train = len(train_x) if a.n_train is None else a.n_train
    n_test = len(test_x) if a.n_test is None else a.n_test
    if not 0 < n_train <= len(train_x) or not 0 <= n_test <= len(test_x):
        raise SystemExit(
            f"error: n_train={n_train} / n_test={n_test} out of range "
            f"({len(train_x)} / {len(test_x)} images in {a.images})"
        )

    time, dt, n_neurons, n_classes = a.time, a.dt, a.n_neurons, 10
    steps = int(time / dt)
    update_interval = a.update_interval

    network = DiehlAndCook2015(
        n_inpt=784,
        n_neurons=n_neurons,
        exc=a.exc,
        inh=a.inh,
        dt=dt,
        norm=78.4,
        theta_plus=a.theta_plus,
        inpt_shape=(1, 28, 28),
    )
    spikes_ae = Monitor(network.layers["Ae"], state_vars=["s"], time=steps, device="cpu")
    network.add_monitor(spikes_ae, name="Ae_spikes")
    monitors = ["Ae_spikes"]
    if a.example_monitors:
        extra = {
            "exc_voltage": (network.layers["Ae"], "v"),
            "inh_voltage": (network.layers["Ai"], "v"),
            "X_spikes": (network.layers["X"], "s"),
            "Ai_spikes": (network.layers["Ai"], "s"),
            "Ae_voltages": (network.layers["Ae"], "v"),
            "Ai_voltages": (network.layers["Ai"], "v"),
        }
        for mname, (layer, var) in extra.items():
            network.add_monitor(
                Monitor(layer, state_vars=[var], time=steps, device="cpu"), name=mname
            )
            monitors.append(mname)

    encoder = PoissonEncoder(time=time, dt=dt)

    def encode(img_u8) -> torch.Tensor:
        # transforms.ToTensor() (uint8 HxW -> float 1xHxW in [0, 1]) then x * intensity.
        image = torch.from_numpy(np.ascontiguousarray(img_u8)).float().div(255.0).unsqueeze(0)
        return encoder(image * a.intensity).view(steps, 1, 1, 28, 28)

    def run_one(img_u8) -> torch.Tensor:
        network.run(inputs={"X": encode(img_u8)}, time=time)
        counts = spikes_ae.get("s").view(steps, n_neurons).sum(0).float()
        network.reset_state_variables()
        return counts

    # ---------------- training (one pass, unsupervised; example's label updates) -----
    assignments = -torch.ones(n_neurons)
    proportions = torch.zeros((n_neurons, n_classes))
    rates = torch.zeros((n_neurons, n_classes))
    train_counts = torch.zeros((n_train, n_neurons))
    train_labels = torch.from_numpy(train_y[:n_train])
    interval_acc: list[float] = []
    labelled_upto = 0

    def update_labels(end: int) -> None:
        nonlocal assignments, proportions, rates, labelled_upto
        block = train_counts[end - update_interval : end].unsqueeze(1)  # [n, 1, neurons]
        block_labels = train_labels[end - update_interval : end]
        pred = all_activity(spikes=block, assignments=assignments, n_labels=n_classes)
        interval_acc.append(100.0 * (pred == block_labels).float().mean().item())
        assignments, proportions, rates = assign_labels(
            spikes=block, labels=block_labels, n_labels=n_classes, rates=rates
        )
        labelled_upto = end

    network.train(mode=True)
    say(
        f"bindsnet {bindsnet_version}, torch {torch.__version__}, {threads} threads: "
        f"training {n_train} images x {time} ms ..."
    )
    load_before = _loadavg()
    c0 = _time.process_time()
    t0 = _time.perf_counter()
    last_report = t0
    for step in range(n_train):
        if step % update_interval == 0 and step > 0:
            update_labels(step)
        train_counts[step] = run_one(train_x[step])
        now = _time.perf_counter()
        if now - last_report > 30:
            say(f"  {step + 1}/{n_train} ({(step + 1) / (now - t0):.2f} images/s)")
            last_report = now
    if n_train % update_interval == 0:  # the example's labelling at step == n_train
        update_labels(n_train)
    train_seconds = _time.perf_counter() - t0
    train_cpu_seconds = _time.process_time() - c0
    load_after = _loadavg()
    say(
        f"trained {n_train} images in {train_seconds:.1f} s "
        f"({n_train / train_seconds:.2f} images/s)"
    )

    # Labels from all training responses (extra read-out, and train accuracy).
    all_assign, all_prop, _ = assign_labels(
        spikes=train_counts.unsqueeze(1), labels=train_labels, n_labels=n_classes
    )
    train_pred = all_activity(
        spikes=train_counts.unsqueeze(1), assignments=all_assign, n_labels=n_classes
    )
    train_accuracy = (train_pred == train_labels).float().mean().item()

    # ---------------- test (learning off) ---------------------------------------------
    network.train(mode=False)
    test_counts = torch.zeros((n_test, n_neurons))
    t1 = _time.perf_counter()
    for i in range(n_test):
        test_counts[i] = run_one(test_x[i])
    test_seconds = _time.perf_counter() - t1
    test_labels = torch.from_numpy(test_y[:n_test])

    def acc(pred: torch.Tensor) -> float | None:
        return (pred == test_labels).float().mean().item() if n_test else None

    tc = test_counts.unsqueeze(1)
    test_all = acc(all_activity(spikes=tc, assignments=assignments, n_labels=n_classes))
    test_prop = acc(
        proportion_weighting(
            spikes=tc, assignments=assignments, proportions=proportions, n_labels=n_classes
        )
    )
    test_all_labels = acc(all_activity(spikes=tc, assignments=all_assign, n_labels=n_classes))
    if n_test:
        say(
            f"tested {n_test} images in {test_seconds:.1f} s: all_activity {test_all:.4f}, "
            f"proportion_weighting {test_prop:.4f}"
        )

    result = {
        "peer": "bindsnet.models.DiehlAndCook2015 (examples/mnist/eth_mnist.py settings)",
        "images_per_second_train": n_train / train_seconds,
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu_seconds,
        "loadavg_1min_before_after_train": [load_before, load_after],
        "n_train": n_train,
        "test_accuracy": test_all,
        "test_accuracy_proportion_weighting": test_prop,
        "test_accuracy_labels_from_all_train": test_all_labels,
        "train_accuracy": train_accuracy,
        "train_interval_accuracy": [x / 100.0 for x in interval_acc],
        "labelled_from_train_images": labelled_upto,
        "labelling": (
            f"example's: assign_labels every {update_interval} training images, "
            f"rates summed over completed intervals; labels from training images "
            f"0..{labelled_upto - 1}; test_accuracy = all_activity"
        ),
        "n_test": n_test,
        "test_seconds": test_seconds,
        "images_per_second_test": (n_test / test_seconds) if n_test else None,
        "seed": a.seed,
        "n_neurons": n_neurons,
        "time_ms": time,
        "dt_ms": dt,
        "exc": a.exc,
        "inh": a.inh,
        "theta_plus": a.theta_plus,
        "intensity": a.intensity,
        "nu": [1e-4, 1e-2],
        "norm": 78.4,
        "update_interval": update_interval,
        "monitors": monitors,
        "silent_test_images": int((test_counts.sum(1) == 0).sum().item()),
        "mean_train_spikes_per_image": float(train_counts.sum(1).mean().item()),
        "bindsnet_version": bindsnet_version,
        "torch_version": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "threads": torch.get_num_threads(),
        "device": "cpu",
        "images_file": os.path.abspath(a.images),
    }
    text = json.dumps(result, indent=2)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
