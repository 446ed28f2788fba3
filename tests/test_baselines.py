"""Baseline activations and dropout: formulas, gradients, noise, models, engines.

Their text forms (parsing, keys, canonical forms, errors) are tested with every other
kind's in test_specs.py."""


import pytest
import torch

from ann.activations import MixLU
from ann.baselines import BipolarReLU, LeakyReLU, NoisyReLU, PReLU, SeededDropout, noisy_relu
from ann.batched import train_batched
from ann.models import build_model
from ann.specs import RunSpec, parse_activation
from ann.train import TrainConfig, train_one

from helpers import synthetic

pytestmark = pytest.mark.usefixtures("one_thread")


def test_leaky_relu_is_its_formula_and_torchs():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0], requires_grad=True)
    y = LeakyReLU(0.1)(x)
    assert torch.equal(y, torch.where(x > 0, x, 0.1 * x))
    assert torch.allclose(y, torch.nn.LeakyReLU(0.1)(x))
    y.sum().backward()
    assert x.grad.tolist() == pytest.approx([0.1, 0.1, 0.0, 1.0, 1.0])
    xd = torch.randn(20, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LeakyReLU(0.3), (xd,))
    with pytest.raises(ValueError, match="negative_slope"):
        LeakyReLU(1.5)


def test_prelu_learns_its_slope_per_channel():
    m = PReLU(3, init=0.25)
    x = torch.randn(8, 3, 4, 4)
    y = m(x)
    expected = torch.where(x > 0, x, 0.25 * x)
    assert torch.allclose(y, expected)
    assert torch.allclose(y, torch.nn.PReLU(3, 0.25)(x))
    (y * 2).sum().backward()
    assert torch.allclose(m.weight.grad, (2 * x * (x < 0)).sum((0, 2, 3)))
    before = m.weight.detach().clone()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    opt.step()
    assert not torch.equal(m.weight, before)  # it moves
    xd = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    md = PReLU(3).double()
    assert torch.autograd.gradcheck(md, (xd,))  # input gradient: the true derivative
    ours = torch.autograd.grad(md(xd).sum(), (xd, md.weight))
    ref_w = md.weight.detach().clone().requires_grad_()
    theirs = torch.autograd.grad(torch.nn.functional.prelu(xd, ref_w).sum(), (xd, ref_w))
    assert all(torch.allclose(a, b) for a, b in zip(ours, theirs, strict=True))
    summary = PReLU(4, init=-0.1).slope_summary()
    assert summary["negative_share"] == 1.0 and summary["mean"] == pytest.approx(-0.1)


def test_bipolar_equals_mixlu_half_exact_with_alternating_mask():
    b = BipolarReLU(7)
    assert b.neg_mask.tolist() == [False, True, False, True, False, True, False]
    m = MixLU(7, 3 / 7, backward="exact", mask="fixed", seed=0)
    m.neg_mask.copy_(torch.arange(7) % 2 == 1)
    x = torch.randn(5, 7, 3, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    yb, ym = b(x), m(x2)
    assert torch.equal(yb, ym)
    assert torch.equal(yb[:, 0::2], torch.relu(x[:, 0::2]))
    assert torch.equal(yb[:, 1::2], -torch.relu(-x[:, 1::2]))
    g = torch.randn_like(yb)
    yb.backward(g)
    ym.backward(g)
    assert torch.equal(x.grad, x2.grad)
    xd = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BipolarReLU(7).double(), (xd,))  # the true derivative


def test_noisy_relu_noise_statistics_and_eval_determinism():
    x = torch.zeros(200_000)
    g = torch.Generator().manual_seed(0)
    # relu(0 + e) for e ~ N(0, s^2): mean s / sqrt(2 pi), P(> 0) = 1/2
    y = noisy_relu(x, sigma=2.0, generator=g)
    assert float(y.mean()) == pytest.approx(2.0 / (2 * torch.pi) ** 0.5, rel=0.02)
    assert float((y > 0).float().mean()) == pytest.approx(0.5, abs=0.01)
    # Nair & Hinton: variance sigmoid(x); at x = 0 the sd is sqrt(0.5)
    y = noisy_relu(x, sigma=1.0, variance="nair-hinton", generator=g)
    assert float(y.mean()) == pytest.approx(0.5 ** 0.5 / (2 * torch.pi) ** 0.5, rel=0.02)
    m = NoisyReLU(1.0, seed=3)
    xs = torch.randn(100)
    first = m(xs)
    assert not torch.equal(first, m(xs))  # fresh noise each training pass
    assert torch.equal(NoisyReLU(1.0, seed=3)(xs), first)  # reproducible from the seed
    m.eval()
    assert torch.equal(m(xs), torch.relu(xs)) and torch.equal(m(xs), m(xs))
    xg = torch.randn(50, requires_grad=True)
    y = NoisyReLU(0.5, seed=1)(xg)
    y.sum().backward()
    assert torch.equal(xg.grad, (y > 0).float())  # 1[x + e > 0]


def test_seeded_dropout_rate_scale_and_seed():
    d = SeededDropout(0.5, seed=4)
    x = torch.ones(100_000)
    y = d(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert float((y == 0).float().mean()) == pytest.approx(0.5, abs=0.01)
    assert torch.equal(SeededDropout(0.5, seed=4)(x), y)
    d.eval()
    assert torch.equal(d(x), x)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        SeededDropout(1.0)


def test_dropout_sits_after_the_hidden_activation():
    lenet = build_model(RunSpec(parse_activation("bipolar:dropout=0.3"), 2))
    assert isinstance(lenet.dropout, SeededDropout) and lenet.dropout.p == 0.3
    assert isinstance(lenet.act, BipolarReLU)
    lenet5 = build_model(RunSpec(parse_activation("leaky:0.1:dropout=0.2"), 0, "lenet5"))
    assert isinstance(lenet5.dropout, SeededDropout)
    names = [n for n, _ in lenet5.named_children()]
    assert names.index("dropout") == names.index("act4") + 1
    assert isinstance(build_model(RunSpec(parse_activation("relu"), 0)).dropout,
                      torch.nn.Identity)


def test_lenet5_positions_choose_where_the_activation_goes():
    spec = RunSpec.mixlu(10, "exact", 0, "fixed", "lenet5")
    only_first = build_model(spec, positions={0})
    kinds = [type(getattr(only_first, f"act{i}")).__name__ for i in range(1, 5)]
    assert kinds == ["MixLU", "ReLU", "ReLU", "ReLU"]
    full = build_model(spec)
    assert torch.equal(only_first.act1.neg_mask, full.act1.neg_mask)  # same mask seed
    with pytest.raises(ValueError, match="positions must be activation positions"):
        build_model(spec, positions={4})


@pytest.mark.parametrize("text", ["leaky:0.05", "bipolar"])
def test_stackable_baselines_train_alike_in_both_engines(text):
    data = synthetic(n_train=120, n_test=40)
    config = TrainConfig(lr=0.01, momentum=0.9, epochs=2, batch_size=40)
    specs = [RunSpec(parse_activation(text), s) for s in (0, 1)]
    assert all(s.activation.stackable for s in specs)
    batched = dict(train_batched(specs, data, config, progress=False))
    for spec in specs:
        loop = train_one(spec, data, config)
        assert batched[spec]["engine"] == "batched"
        for a, b in zip(loop["epochs"], batched[spec]["epochs"], strict=True):
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
            assert a["test_error"] == pytest.approx(b["test_error"], abs=1 / 40 + 1e-9)


