"""Units with learned parameters or draws, stacked (PReLU, Noisy ReLU, dropout,
Min-Maxout, ConvAct): each member trains as its solo loop run does, with its
diagnostics, its update signs, its divergence and its checkpoint."""

import dataclasses
import warnings

import pytest
import torch

from ann.baselines import NoisyReLU, PReLU, SeededDropout
from ann.batched import train_batched
from ann.batched.engine import StackedRun
from ann.batched.stacking import stack_models
from ann.batched.units import StackedUnits
from ann.checkpoint import Checkpoints
from ann.convact import ConvAct
from ann.minmaxout import MinMaxout
from ann.models import build_model
from ann.specs import KINDS, RunSpec, parse_activation
from ann.sweep_plan import plan_units
from ann.train import TrainConfig, train_one
from bridge.sign_observer import SignObserver

from helpers import synthetic

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = TrainConfig(lr=0.01, momentum=0.9, epochs=2, batch_size=40)

#: every kind that used to fall back to the loop, in each of its forms
KINDS_THAT_STACK = ["prelu", "noisy:1", "noisy:0.5:nair-hinton", "relu:dropout=0.5",
                    "mixlu:5:reference:resample:dropout=0.3", "minmaxout:50:2",
                    "convact", "convact:3", "convact:1:1:-0.5"]


def _flat(record, path=""):
    if isinstance(record, dict):
        for key, value in record.items():
            yield from _flat(value, f"{path}/{key}")
    elif isinstance(record, list):
        for i, value in enumerate(record):
            yield from _flat(value, f"{path}/{i}")
    else:
        yield path, record


def assert_same_diagnostics(loop, batched):
    a, b = dict(_flat(loop)), dict(_flat(batched))
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, float):
            assert b[key] == pytest.approx(value, rel=1e-3, abs=1e-4), key
        else:
            assert b[key] == value, key


@pytest.mark.parametrize("text", KINDS_THAT_STACK)
def test_every_kind_stacks_and_trains_as_its_solo_loop_run(text):
    data = synthetic(n_train=120, n_test=40)
    specs = [RunSpec(parse_activation(text), seed) for seed in (0, 1, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: every run is stacked
        batched = dict(train_batched(specs, data, CONFIG, progress=False))
    for spec in specs:
        loop = train_one(spec, data, CONFIG)
        got = batched[spec]
        assert got["engine"] == "batched" and loop["engine"] == "loop"
        assert got["status"] == loop["status"] == "ok"
        for a, b in zip(loop["epochs"], got["epochs"], strict=True):
            assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
            assert b["test_error"] == a["test_error"]
            assert_same_diagnostics(a["diagnostics"], b["diagnostics"])
        assert got["parameters"] == loop["parameters"]


def test_lenet5_stacks_noise_dropout_min_maxout_and_convolutional_convact():
    data = synthetic(n_train=120, n_test=40, size=32, channels=3)
    config = CONFIG.replace(epochs=1, lr=0.002)
    specs = [RunSpec(parse_activation(t), seed, model="lenet5")
             for seed, t in enumerate(["noisy:1", "prelu:dropout=0.5", "convact:3",
                                       "minmaxout:25:2"])]
    batched = dict(train_batched(specs, data, config, progress=False))
    for spec in specs:
        loop = train_one(spec, data, config)
        assert batched[spec]["engine"] == "batched"
        assert batched[spec]["status"] == loop["status"] == "ok", spec.key
        assert batched[spec]["epochs"][0]["loss"] == pytest.approx(loop["epochs"][0]["loss"],
                                                                   rel=1e-4)


def test_the_draws_are_each_members_own():
    """Noise and dropout masks of a stacked member are those its solo module draws."""
    for make in (lambda s: NoisyReLU(1.0, seed=s), lambda s: NoisyReLU(0.5, "nair-hinton", s),
                 lambda s: SeededDropout(0.4, seed=s)):
        units = [make(seed) for seed in (3, 5, 8)]
        stacked = StackedUnits(units)
        assert stacked.wide is None and stacked.resamples
        x = torch.randn(6, 3 * 7, 4, 4, requires_grad=True)
        weights = torch.randn(x.shape)
        out = stacked(x)
        (grad,) = torch.autograd.grad((out * weights).sum(), x)
        for i, unit in enumerate(units):
            part = x[:, 7 * i : 7 * (i + 1)].detach().requires_grad_()
            alone = unit(part)
            (grad_alone,) = torch.autograd.grad((alone * weights[:, 7 * i : 7 * (i + 1)]).sum(),
                                                part)
            assert torch.equal(out[:, 7 * i : 7 * (i + 1)], alone)  # bit for bit
            assert torch.equal(grad[:, 7 * i : 7 * (i + 1)], grad_alone)


def test_wide_units_have_the_members_names_rows_and_gradients():
    """PReLU, ConvAct (both forms) and Min-Maxout run as one module over K*C units whose
    parameters are the members' rows, member-major, under the members' names."""
    cases = [lambda s: PReLU(6, init=0.1 * s), lambda s: ConvAct(6, 0, (1.0, -0.1 * s)),
             lambda s: ConvAct(6, 3), lambda s: MinMaxout(6, 2, 0.5, seed=s)]
    for make in cases:
        units = [make(seed) for seed in (1, 2, 3)]
        if isinstance(units[0], ConvAct) and units[0].kernel_size:
            for seed, unit in enumerate(units):
                torch.nn.init.normal_(unit.pos_conv.weight, 0, 0.1,
                                      generator=torch.Generator().manual_seed(seed))
        stacked = StackedUnits(units)
        assert stacked.wide is not None
        names = [n for n, _ in units[0].named_parameters()]
        assert [n for n, _ in stacked.named_parameters()] == names
        pieces = getattr(units[0], "pieces", 1)
        x = torch.randn(4, 3 * 6 * pieces, 5, 5, requires_grad=True)
        out = stacked(x)
        params = dict(stacked.named_parameters())
        grads = torch.autograd.grad(out.square().sum(), [x, *params.values()])
        grad_x = grads[0]
        for i, unit in enumerate(units):
            part = x[:, 6 * pieces * i : 6 * pieces * (i + 1)]
            alone = unit(part)
            torch.testing.assert_close(out[:, 6 * i : 6 * (i + 1)], alone)
            (own_x,) = torch.autograd.grad(alone.square().sum(), part, retain_graph=True)
            torch.testing.assert_close(grad_x[:, 6 * pieces * i : 6 * pieces * (i + 1)], own_x)
            if not names:  # Min-Maxout: no parameters
                continue
            own = torch.autograd.grad(alone.square().sum(), [*unit.parameters()])
            for g_stacked, g_alone in zip(grads[1:], own, strict=True):
                torch.testing.assert_close(g_stacked.unflatten(0, (3, -1))[i], g_alone)


def test_member_modules_carry_the_trained_parameters_and_selection_keeps_them():
    units = [PReLU(4, init=0.25) for _ in range(3)]
    stacked = StackedUnits(units)
    with torch.no_grad():
        stacked.weight.copy_(torch.arange(12.0))
    mine = stacked.member_modules()
    assert [m.weight.tolist() for m in mine] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    stacked.select_members([2, 0])
    assert stacked.weight.tolist() == [8, 9, 10, 11, 0, 1, 2, 3]
    assert stacked.wide.num_parameters == 8
    stacked.select_members([])  # every member diverged
    assert list(stacked.parameters()) == []


def test_a_unit_without_a_seed_or_of_another_kind_is_refused_with_the_reason():
    data = synthetic(n_train=80, n_test=20)
    specs = [RunSpec(parse_activation("noisy:1"), 0), RunSpec(parse_activation("noisy:1"), 1)]

    def unseeded(spec):
        model = build_model(spec)
        model.act = NoisyReLU(1.0, seed=None)
        return model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = dict(train_batched(specs, data, CONFIG.replace(epochs=1),
                                     build_model=unseeded, progress=False))
    (note,) = [str(w.message) for w in caught]
    assert "NoisyReLU with seed=None draws from the global generator" in note
    assert {r["engine"] for r in results.values()} == {"loop"}
    with pytest.raises(ValueError, match="units of different types"):
        StackedUnits([PReLU(4), ConvAct(4)])


def test_a_kind_registered_not_stackable_still_falls_back_with_its_reason(monkeypatch):
    monkeypatch.setitem(KINDS, "prelu", dataclasses.replace(KINDS["prelu"], stackable=False))
    data = synthetic(n_train=80, n_test=20)
    specs = [RunSpec(parse_activation("prelu"), 0), RunSpec(parse_activation("relu"), 0)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        units = plan_units(specs, data, CONFIG, build_model, torch.device("cpu"))
    assert [u.kind for u in units] == ["stack", "loop"]
    (note,) = [str(w.message) for w in caught]
    assert note.endswith(": activation kind 'prelu' is not stackable")


def test_kinds_stack_only_with_their_own_kind():
    data = synthetic(n_train=80, n_test=20)
    texts = ["relu", "mixlu:5", "prelu", "noisy:1", "relu:dropout=0.5", "convact"]
    specs = [RunSpec(parse_activation(t), 0) for t in texts]
    units = plan_units(specs, data, CONFIG, build_model, torch.device("cpu"))
    assert all(u.kind == "stack" for u in units)
    assert sorted(sorted(s.activation.key for s in u.specs) for u in units) == sorted(
        [["mixlu5-reference-fixed", "relu"], ["convact0-1-0"], ["noisy1-fixed"], ["prelu0.25"],
         ["relu-dropout0.5"]])


def test_a_diverging_prelu_member_is_recorded_as_the_loop_records_it():
    data = synthetic(n_train=120, n_test=40)
    config = CONFIG.replace(lr=50.0, epochs=2)
    specs = [RunSpec(parse_activation("prelu"), seed) for seed in (0, 1)]
    batched = dict(train_batched(specs, data, config, progress=False))
    for spec in specs:
        loop = train_one(spec, data, config)
        assert batched[spec]["status"] == loop["status"] == "diverged"
        assert len(batched[spec]["epochs"]) == len(loop["epochs"])


def test_a_restored_checkpoint_continues_the_noise_dropout_and_slopes(tmp_path):
    data = synthetic(n_train=120, n_test=40)
    config = CONFIG.replace(epochs=3)
    specs = [RunSpec(parse_activation(t), seed) for seed, t in
             enumerate(["noisy:1:dropout=0.5", "noisy:0.5:nair-hinton:dropout=0.2"])]

    def stack(checkpoints=None):
        return StackedRun(specs, [build_model(s) for s in specs], data, config,
                          torch.device("cpu"), checkpoints=checkpoints)

    whole = {s.key: r for s, r in stack().train(progress=False)}
    checkpoints = Checkpoints(tmp_path, {"test": "stacked units"})
    first = stack(checkpoints)
    run = first.train(progress=False)
    original = first.run_epoch
    epochs = [0]

    def stop_after_two(*args, **kwargs):  # interrupted in epoch 3, after two checkpoints
        epochs[0] += 1
        if epochs[0] == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    first.run_epoch = stop_after_two
    with pytest.raises(KeyboardInterrupt):
        list(run)
    again = stack(checkpoints)
    again.restore(checkpoints.load(first.checkpoint_name, "batched"), first.checkpoint_name)
    assert again.completed == 2
    resumed = {s.key: r for s, r in again.train(progress=False)}
    for key, result in whole.items():
        assert [e["loss"] for e in resumed[key]["epochs"]] == [
            e["loss"] for e in result["epochs"]]  # bit for bit


@pytest.mark.slow
def test_stacked_units_count_the_update_signs_their_solo_runs_count():
    data = synthetic(120, 20)
    config = CONFIG.replace(epochs=1)
    specs = [RunSpec(parse_activation(t), seed)
             for seed, t in enumerate(["prelu", "minmaxout:50:2", "noisy:1"])]
    stacked = dict(train_batched(specs, data, config, progress=False,
                                 observer=SignObserver(every=1)))
    for spec in specs:
        alone = train_one(spec, data, config, observer=SignObserver(every=1))
        got = stacked[spec]
        assert got["engine"] == "batched"
        for unit, row in alone["signs"]["by_unit_type"].items():
            other = got["signs"]["by_unit_type"][unit]
            assert other["events"] == row["events"], (spec.key, unit)
            for key in ("inverted_fraction", "silent_fraction"):
                assert other[key] == pytest.approx(row[key], abs=1e-3), (spec.key, unit)
    assert set(stacked[specs[1]]["signs"]["by_unit_type"]) == {"max", "min"}


def test_stack_models_refuses_nothing_of_the_thesis_kinds():
    for text in ("prelu", "noisy:1:nair-hinton", "minmaxout:50:3", "convact:5",
                 "relu:dropout=0.2"):
        models = [build_model(RunSpec(parse_activation(text), seed)) for seed in (0, 1)]
        stacked = stack_models(models)
        assert stacked.stacked_members == 2
