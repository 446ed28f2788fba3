"""The batched sweep engine: members trained in a stack equal the same runs trained alone."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from ann.activations import MixLU, NegLU
from ann.batched import (
    StackedActivation,
    StackedRun,
    UnsupportedModel,
    plan_chunks,
    stack_models,
    train_batched,
)
from ann.config import MNIST_LENET
from ann.epoch import CHANCE_ERROR
from ann.models import LeNet, build_model
from ann.specs import RunSpec
from ann.train import TrainConfig, train_one

from helpers import load_script, synthetic

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")


def assert_same_run(batched, alone, n_train, n_test, loss_rtol=1e-3, max_flips=2):
    """Same status and epochs; errors within ``max_flips`` images, losses to ``loss_rtol``."""
    assert batched["status"] == alone["status"]
    assert (batched["neg_percent"], batched["backward"], batched["seed"]) == (
        alone["neg_percent"], alone["backward"], alone["seed"])
    assert len(batched["epochs"]) == len(alone["epochs"])
    for b, a in zip(batched["epochs"], alone["epochs"], strict=True):
        assert b["epoch"] == a["epoch"]
        assert abs(b["train_error"] - a["train_error"]) * n_train <= max_flips
        assert abs(b["test_error"] - a["test_error"]) * n_test <= max_flips
        assert b["loss"] == pytest.approx(a["loss"], rel=loss_rtol)
    assert set(batched) == set(alone)


def run_both(specs, data, config, build, **kwargs):
    batched = dict(train_batched(specs, data, config, build, "cpu", progress=False, **kwargs))
    assert set(batched) == set(specs)
    alone = {s: train_one(s, data, config, build, "cpu") for s in specs}
    return batched, alone


def test_stacked_activation_matches_members_forward_and_every_backward():
    members = [
        MixLU(6, 0.5, backward="exact", seed=1),
        MixLU(6, 0.5, backward="reference", seed=2),
        MixLU(6, 0.5, backward="inverted", seed=3),
        nn.ReLU(),
        NegLU(backward="inverted"),
        MixLU(6, 0.0, backward="reference", seed=4),
    ]
    stacked = StackedActivation(members)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, len(members) * 6, 3, 3, generator=g)
    x[0, :, 0, 0] = 0.0  # every mode has derivative 0 at 0
    x.requires_grad_(True)
    w = torch.randn(x.shape, generator=g)
    (stacked(x) * w).sum().backward()
    for k, m in enumerate(members):
        xk = x.detach()[:, 6 * k : 6 * k + 6].clone().requires_grad_(True)
        yk = m(xk)
        (yk * w[:, 6 * k : 6 * k + 6]).sum().backward()
        torch.testing.assert_close(stacked(x.detach())[:, 6 * k : 6 * k + 6], yk.detach(),
                                   rtol=0, atol=0)
        torch.testing.assert_close(x.grad[:, 6 * k : 6 * k + 6], xk.grad, rtol=0, atol=0)
    # not vacuous: the three NegLU backwards give three different gradients
    grads = [x.grad[:, 6 * k : 6 * k + 6] for k in range(3)]
    assert not torch.equal(grads[0], grads[1]) and not torch.equal(grads[1], grads[2])


@pytest.mark.slow
def test_lenet_members_match_their_solo_runs():
    # 2 epochs x 50 steps of batch 10 = 100 SGD steps per member, 4 members that differ
    # in NegLU share, backward mode and seed.
    data = synthetic(500, 200)
    config = MNIST_LENET.replace(epochs=2, batch_size=10)
    specs = [RunSpec.mixlu(0, "reference", 0), RunSpec.mixlu(10, "reference", 1),
             RunSpec.mixlu(40, "exact", 2), RunSpec.mixlu(40, "inverted", 3)]
    batched, alone = run_both(specs, data, config, build_model)
    for s in specs:
        assert_same_run(batched[s], alone[s], 500, 200)
    # not vacuous: training learned, and the members differ from each other
    assert alone[specs[0]]["epochs"][-1]["train_error"] < 0.5
    losses = {round(alone[s]["epochs"][-1]["loss"], 6) for s in specs}
    assert len(losses) == len(specs)


class Scaled:
    """Wraps a LeNet builder: spec seeds in ``scale`` get their weights multiplied."""

    def __init__(self, scale):
        self.scale = scale

    def __call__(self, spec):
        model = build_model(spec)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(self.scale.get(spec.seed, 1.0))
        return model


def test_diverging_member_is_recorded_and_others_are_undisturbed():
    data = synthetic(200, 100)
    config = MNIST_LENET.replace(epochs=3, batch_size=20, lr=1e-3)
    # weights x 6 (seed 7): the first epoch's losses are finite, then the run blows up
    build = Scaled({7: 6.0})
    specs = [RunSpec.mixlu(0, "reference", 0), RunSpec.mixlu(5, "reference", 7),
             RunSpec.mixlu(5, "exact", 1)]
    batched, alone = run_both(specs, data, config, build)
    bad = alone[specs[1]]
    assert bad["status"] == "diverged"
    assert bad["train_error"] == bad["test_error"] == CHANCE_ERROR
    assert batched[specs[1]]["status"] == "diverged"
    assert batched[specs[1]]["train_error"] == CHANCE_ERROR
    assert len(batched[specs[1]]["epochs"]) == len(bad["epochs"]) == 1
    # its one kept epoch is already unstable (loss ~ 250), so rounding shows at the % level
    assert batched[specs[1]]["epochs"][0]["loss"] == pytest.approx(bad["epochs"][0]["loss"],
                                                                   rel=0.05)
    for s in (specs[0], specs[2]):
        assert_same_run(batched[s], alone[s], 200, 100)
    assert alone[specs[0]]["status"] == "ok" and len(alone[specs[0]]["epochs"]) == 3


def test_member_that_diverges_on_its_first_step_keeps_no_epochs():
    data = synthetic(100, 50)
    config = MNIST_LENET.replace(epochs=2, batch_size=50)
    build = Scaled({3: 1e30})
    specs = [RunSpec.mixlu(1, "reference", 3), RunSpec.mixlu(1, "reference", 4)]
    batched, alone = run_both(specs, data, config, build)
    assert alone[specs[0]]["status"] == "diverged" and alone[specs[0]]["epochs"] == []
    for s in specs:
        assert_same_run(batched[s], alone[s], 100, 50)
    assert batched[specs[1]]["status"] == "ok"


def test_chunks_give_the_results_of_one_stack():
    data = synthetic(200, 100)
    config = MNIST_LENET.replace(epochs=2, batch_size=25)
    specs = [RunSpec.mixlu(p, "reference", s) for p, s in ((0, 0), (5, 1), (10, 2))]
    one = dict(train_batched(specs, data, config, build_model, "cpu", progress=False))
    chunked = dict(train_batched(specs, data, config, build_model, "cpu",
                                 progress=False, max_members=2))
    for s in specs:
        assert_same_run(chunked[s], one[s], 200, 100)
    # a memory budget of one member forces one member per chunk
    tiny = dict(train_batched(specs, data, config, build_model, "cpu", progress=False,
                              memory_budget=1))
    for s in specs:
        assert_same_run(tiny[s], one[s], 200, 100)


def test_plan_chunks():
    assert plan_chunks(11, 10, 1000, None) == [11]
    assert plan_chunks(11, 10, 1000, 4) == [4, 4, 3]
    assert plan_chunks(11, 100, 500, None) == [4, 4, 3]  # 5 fit: 3 chunks, balanced
    assert plan_chunks(3, 100, 1, None) == [1, 1, 1]
    with pytest.raises(ValueError, match="max_members"):
        plan_chunks(3, 1, 1, 0)


def test_lenet5_with_flip_schedule_and_lr_multipliers_matches_solo_runs():
    data = synthetic(60, 40, size=32, channels=3)
    config = MNIST_LENET.replace(epochs=2, batch_size=20, lr_schedule=[0.05, 0.005], flip=True,
                         weight_decay=1e-4, weight_lr_mult=0.1, bias_lr_mult=2.0,
                         last_weight_lr_mult=0.01, last_bias_lr_mult=0.2)
    specs = [RunSpec.mixlu(0, "reference", 0, model="lenet5"),
             RunSpec.mixlu(10, "reference", 1, model="lenet5"),
             RunSpec.mixlu(10, "inverted", 2, model="lenet5")]
    batched, alone = run_both(specs, data, config, build_model)
    for s in specs:
        assert_same_run(batched[s], alone[s], 60, 40)


@pytest.mark.slow
def test_resampled_masks_are_stacked_and_draw_the_loops_masks():
    # LeNet5 as mixlu_cifar.py runs it by default (mask="resample", flips), one member
    # with fixed masks beside them; 1005 test images: two test chunks (1000 + 5) per
    # epoch, so the second epoch's masks follow draws made by the first epoch's test
    data = synthetic(40, 1005, size=32, channels=3)
    config = MNIST_LENET.replace(epochs=2, batch_size=20, lr_schedule=[0.05, 0.005], flip=True,
                         weight_decay=1e-4, weight_lr_mult=0.1, bias_lr_mult=2.0,
                         last_weight_lr_mult=0.01, last_bias_lr_mult=0.2)
    specs = [RunSpec.mixlu(3, "reference", 1, "resample", "lenet5"),
             RunSpec.mixlu(3, "inverted", 2, "resample", "lenet5"),
             RunSpec.mixlu(10, "exact", 3, "fixed", "lenet5")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to the loop
        batched, alone = run_both(specs, data, config, build_model)
    for s in specs:
        assert_same_run(batched[s], alone[s], 40, 1005)


def test_unseeded_resample_masks_and_unstackable_models_fall_back_to_the_loop():
    data = synthetic(40, 20)
    config = MNIST_LENET.replace(epochs=1, batch_size=20)
    specs = [RunSpec.mixlu(5, "reference", 0), RunSpec.mixlu(5, "reference", 1)]

    def build(spec):
        if spec.seed == 0:
            torch.manual_seed(0)  # the unseeded mask draws from the global generator
            return LeNet(lambda n: MixLU(n, 0.05, mask="resample"))
        return build_model(spec)

    with pytest.warns(UserWarning, match="seed=None"):
        batched = dict(train_batched(specs, data, config, build, "cpu", progress=False))
    for s in specs:
        if s.seed == 0:
            torch.manual_seed(0)
        alone = train_one(s, data, config, build, "cpu")
        assert_same_run(batched[s], alone, 40, 20)

    class WithNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 10, 28)
            self.norm = nn.BatchNorm2d(10)

        def forward(self, x):
            return self.norm(self.conv(x)).flatten(1)

    with pytest.raises(UnsupportedModel, match="BatchNorm2d"):
        stack_models([WithNorm(), WithNorm()])
    with pytest.warns(UserWarning, match="BatchNorm2d"):
        results = list(train_batched(specs[:1], data, config, lambda s: WithNorm(), "cpu",
                                     progress=False))
    assert results[0][1]["status"] == "ok"


def test_bad_arguments_raise_value_errors():
    data = synthetic(20, 10)
    specs = [RunSpec.mixlu(0, "reference", 0)]
    with pytest.raises(ValueError, match="max_members"):
        train_batched(specs, data, MNIST_LENET.replace(), build_model, max_members=0)
    with pytest.raises(ValueError, match="memory_budget"):
        train_batched(specs, data, MNIST_LENET.replace(), build_model, memory_budget=-5)
    with pytest.raises(ValueError, match="device"):
        train_batched(specs, data, MNIST_LENET.replace(), build_model, device="nonsense")


@pytest.mark.slow
def test_bench_sweep_runs_both_engines_and_reports_the_ratio(capsys):
    bench_sweep = load_script(ROOT / "benchmarks" / "bench_sweep.py")
    out = bench_sweep.run(bench_sweep.parse_args([
        "--device", "cpu", "--steps", "2", "--test-size", "50", "--percents", "0,5,10",
        "--max-members", "2", "--rounding-floor"]))
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == f"ratio: {out['ratio']:.2f}"
    assert out["loop_seconds"] > 0 and out["batched_seconds"] > 0
    assert out["max_error_difference"] <= 2 / 50  # at most 2 of the 50 test images
    assert 0 <= out["loop_thread_difference"] <= 2 / 50
    assert any(line.startswith("rounding floor: the loop alone") for line in printed)
    # arithmetic: LeNet's 4.59 MFLOP forward per image, counted from its layer shapes
    assert out["flops_forward_per_image"] == 4_586_000
    sweep = 3 * (200 * 3 * 4_586_000 + 50 * 4_586_000) / 1e12  # 3 runs, 200 images, 1 epoch
    assert out["sweep_tflop"] == pytest.approx(sweep)
    for engine in ("loop", "batched"):
        assert out[f"{engine}_gflops"] == pytest.approx(
            sweep * 1e3 / out[f"{engine}_seconds"])
        assert out[f"{engine}_peak_fraction"] == pytest.approx(
            out[f"{engine}_gflops"] / out["sgemm_gflops"])
    assert any(line.startswith("sgemm (fp32 2048 x 2048") for line in printed)


def test_bench_sweep_times_auto_and_the_torch_func_peer_beside_the_engines(capsys):
    bench_sweep = load_script(ROOT / "benchmarks" / "bench_sweep.py")
    out = bench_sweep.run(bench_sweep.parse_args([
        "--device", "cpu", "--steps", "2", "--test-size", "50", "--percents", "0,5,10",
        "--engines", "loop,batched,auto", "--peer", "vmap"]))
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == f"ratio: {out['ratio']:.2f}"
    assert printed[-2] == f"vmap ratio: {out['vmap_ratio']:.2f}"
    assert out["vmap_ratio"] == pytest.approx(out["vmap_seconds"] / out["batched_seconds"])
    assert out["vmap_max_error_difference"] <= 2 / 50  # the same runs, float rounding apart
    # 3 runs x 2 steps: no probe as a sweep command decides it; a forced one probes
    assert out["auto_engine"] == "batched" and out["auto_probe_seconds"] < 1
    assert out["auto_forced_engine"] in ("batched", "loop")
    assert sum(line.startswith("auto") for line in printed) == 2


def test_bench_sweep_takes_any_activation_kind(capsys):
    bench_sweep = load_script(ROOT / "benchmarks" / "bench_sweep.py")
    out = bench_sweep.run(bench_sweep.parse_args([
        "--device", "cpu", "--steps", "2", "--test-size", "50",
        "--activations", "prelu, noisy:1, relu:dropout=0.5", "--seeds", "2"]))
    assert out["runs"] == 6 and out["max_error_difference"] <= 2 / 50
    assert "activations prelu, noisy:1, relu:dropout=0.5" in capsys.readouterr().out


def test_profile_sweep_names_the_top_operators_of_both_engines(capsys):
    profile_sweep = load_script(ROOT / "benchmarks" / "profile_sweep.py")
    assert profile_sweep.main(["--steps", "1", "--percents", "0,5", "--top", "3"]) == 0
    printed = capsys.readouterr().out
    for engine in ("loop", "batched"):
        assert f"\n{engine}: " in printed
    # convolutions dominate LeNet in both engines: named, with their share
    assert printed.count("aten::") >= 6 and "convolution" in printed
    assert profile_sweep.main(["--steps", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --steps and --top must be positive"


@pytest.mark.parametrize(("argv", "message"), [
    (["--percents", "150"], "error: --percents: 150 is outside 0..100"),
    (["--percents", "abc"], "error: --percents: 'abc' is not a number"),
    (["--percents", ""], "error: --percents must be a comma-separated list"),
    (["--backward", "foo"], "error: --backward must list distinct modes"),
    (["--threads", "-1"], "error: --threads must be a positive integer, got -1"),
    (["--threads", "0"], "error: --threads must be a positive integer, got 0"),
    (["--loop-sample", "0"], "error: --loop-sample must be a positive integer, got 0"),
    (["--max-members", "0"], "error: --max-members must be a positive integer, got 0"),
    (["--batch-size", "1000000000000"], "error: --batch-size must be at most 100,000"),
    (["--steps", "1000000000000"], "error: --steps must be at most 1,000,000"),
    (["--test-size", "1000000000000"], "error: --test-size must be at most 100,000"),
    (["--threads", "1000000"], "error: --threads must be at most"),
    (["--steps", "100000", "--batch-size", "100"], "error: --steps x --batch-size (or "),
    (["--json", "/proc/x/out.json"], "error: --json's folder '/proc/x' is not a writable"),
    (["--device", "mps"], "error: --device: device must be"),
    (["--model", "lenet5", "--cuda-graph", "on"], "error: --cuda-graph on needs fixed masks"),
    (["--engines", "auto"], "error: --engines must list loop and/or batched (and auto only"),
    (["--activations", "bogus"], "error: --activations: 'bogus': unknown activation kind"),
    (["--model", "lenet5", "--peer", "vmap"], "error: --peer vmap needs fixed masks"),
    (["--peer", "vmap", "--backward", "exact,inverted"], "error: --peer vmap runs one backward"),
    (["--peer", "vmap", "--engines", "loop"], "error: --peer vmap is compared with the batched"),
])
def test_bench_sweep_bad_options_are_one_line_exit_2(argv, message, capsys, monkeypatch):
    bench_sweep = load_script(ROOT / "benchmarks" / "bench_sweep.py")
    monkeypatch.setattr(bench_sweep, "run", lambda args: pytest.fail("ran with bad options"))
    code = bench_sweep.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message), err
    assert len(err.strip().splitlines()) == 1


def test_bench_sweep_without_cuda_is_a_user_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    bench_sweep = load_script(ROOT / "benchmarks" / "bench_sweep.py")
    assert bench_sweep.main(["--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


@pytest.mark.slow
def test_gpu_check_dry_run_on_cpu():
    env = {**os.environ, "PYTHON": sys.executable}  # the interpreter that has torch
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--dry-run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "correctness: PASS" in proc.stdout
    assert proc.stdout.count("ratio: ") == 2  # Table 6 and LeNet5 steps
    assert proc.stdout.count("(exit status 0)") == 5  # every step ended normally
    assert "(CUDA graph: on)" in proc.stdout and "(CUDA graph: off)" in proc.stdout


def test_a_diverged_member_leaves_the_stack_at_once_on_cpu():
    data = synthetic(100, 20)
    config = MNIST_LENET.replace(epochs=1, batch_size=20)
    specs = [RunSpec.mixlu(1, "reference", 3), RunSpec.mixlu(1, "reference", 4)]
    build = Scaled({3: 1e30})  # its first loss is not finite
    run = StackedRun(specs, [build(s) for s in specs], data, config, torch.device("cpu"),
                     verify=False)
    steps = []
    wrong, loss_sum, bad = run.run_epoch(*run.draw_epoch(), on_step=lambda: steps.append(
        run.members))
    assert steps == [2, 1, 1, 1, 1]  # dropped after its first step, not at the epoch's end
    assert [s for s, _ in run.diverged] == [specs[0]] and run.specs == [specs[1]]
    assert wrong.shape == loss_sum.shape == bad.shape == (1,) and not bool(bad[0])


def test_non_finite_weights_after_the_last_step_diverge_in_both_engines():
    # the update of the only step overflows: its loss is finite, its weights are not
    data = synthetic(50, 20)
    config = TrainConfig(lr=3e38, epochs=1, batch_size=50)
    specs = [RunSpec.mixlu(0, "exact", 0), RunSpec.mixlu(5, "exact", 1)]
    batched, alone = run_both(specs, data, config, Scaled({0: 30.0, 1: 30.0}))
    for s in specs:
        assert alone[s]["status"] == batched[s]["status"] == "diverged"
        assert alone[s]["epochs"] == batched[s]["epochs"] == []


def _epochs(results):
    return {s.key: (r["status"], [(e["train_error"], e["test_error"], e["loss"])
                                  for e in r["epochs"]]) for s, r in results.items()}


def test_cuda_graph_path_on_cpu_gives_the_eager_numbers():
    # the StepGraph path without capture: static buffers, a partial last batch (210 =
    # 10 x 20 + 10), a schedule that changes the rates (a new graph): bit for bit
    data = synthetic(210, 60)
    config = MNIST_LENET.replace(epochs=3, batch_size=20, lr_schedule=[1e-3, 1e-3, 1e-4])
    specs = [RunSpec.mixlu(0, "reference", 0), RunSpec.mixlu(5, "exact", 1)]

    def both(specs, build):
        return [dict(train_batched(specs, data, config, build, "cpu", progress=False,
                                   cuda_graph=graph)) for graph in (False, True)]

    eager, graph = both(specs, build_model)
    assert _epochs(graph) == _epochs(eager)
    # a member that diverges in the first epoch leaves at the epoch's end (a new
    # StepGraph for the others), not at once: the others' rounding may differ
    diverging = [*specs, RunSpec.mixlu(5, "reference", 7)]
    eager, graph = both(diverging, Scaled({7: 1e30}))
    assert graph[diverging[2]]["status"] == "diverged" and graph[diverging[2]]["epochs"] == []
    for s in specs:
        assert_same_run(graph[s], eager[s], 210, 60)


def test_step_graph_copies_full_batches_into_its_buffers_and_runs_partial_ones_as_given():
    from ann.batched.graph import StepGraph

    seen = []

    def step(idx, flip, wrong, loss_sum, bad):
        seen.append((idx.data_ptr(), tuple(idx.shape), flip.tolist()))
        wrong += idx[:, 0]

    graph = StepGraph(step, 2, 3, True, torch.device("cpu"))
    graph.start_epoch((0.1,))
    perm = torch.arange(8).view(2, 4)
    graph(perm[:, :3], torch.tensor([True, False]))
    graph(perm[:, 3:], torch.tensor([False, True]))
    assert seen[0] == (graph.idx.data_ptr(), (2, 3), [True, False])  # the static buffer
    assert seen[1][1:] == ((2, 1), [False, True])  # the partial batch, as given
    assert graph.wrong.tolist() == [0 + 3, 4 + 7]
    graph.start_epoch((0.1,))
    assert graph.wrong.tolist() == [0, 0] and graph.captures == 0  # no graphs on CPU


def test_cuda_graph_refuses_observers_and_resampled_masks():
    data = synthetic(40, 20)
    config = MNIST_LENET.replace(epochs=1, batch_size=20)
    from ann.step_observer import Observer

    fixed = [RunSpec.mixlu(5, "reference", 0)]
    with pytest.raises(ValueError, match="cuda_graph=True needs"):
        StackedRun(fixed, [build_model(s) for s in fixed], data, config,
                   torch.device("cpu"), cuda_graph=True, observer=Observer())
    resampled = [RunSpec.mixlu(5, "reference", 0, "resample")]
    with pytest.raises(ValueError, match="without resampled masks"):
        StackedRun(resampled, [build_model(s) for s in resampled], data, config,
                   torch.device("cpu"), cuda_graph=True)
    run = StackedRun(fixed, [build_model(s) for s in fixed], data, config, torch.device("cpu"))
    assert not run.cuda_graph and run.drop_at_once  # the CPU default: eager
