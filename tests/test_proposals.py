"""Min-Maxout and ConvAct units (the thesis's proposals): maths, gradients, specs, models.

That the batched engine stacks them, equal to the loop, is in test_stacked_units.py.
"""

import itertools

import pytest
import torch
import torch.nn.functional as F

from ann.activations import piecewise_linear
from ann.convact import ConvAct
from ann.minmaxout import MinMaxout, min_maxout
from ann.models import build_model
from ann.specs import RunSpec, parse_activation


def _brute_force(x, pieces, min_mask):
    n, c = x.shape[0], x.shape[1] // pieces
    out = torch.empty(n, c)
    for i, j in itertools.product(range(n), range(c)):
        group = [float(x[i, j * pieces + p]) for p in range(pieces)]
        out[i, j] = min(group) if min_mask[j] else max(group)
    return out


@pytest.mark.parametrize("pieces", [1, 2, 3])
def test_minmaxout_forward_matches_brute_force(pieces):
    m = MinMaxout(7, pieces, min_fraction=0.43, seed=3)
    assert m.num_min == 3
    x = torch.randn(5, 7 * pieces, generator=torch.Generator().manual_seed(0))
    assert torch.equal(m(x), _brute_force(x, pieces, m.min_mask))


def test_minmaxout_special_cases():
    x = torch.randn(4, 12, 3, 3)
    maxout = MinMaxout(6, 2, 0.0)
    assert torch.equal(maxout(x), x.unflatten(1, (6, 2)).amax(2))  # exactly Maxout
    assert torch.equal(MinMaxout(12, 1, 0.5, seed=0)(x), x)  # k = 1: the identity
    assert torch.equal(MinMaxout(6, 2, 1.0)(x), x.unflatten(1, (6, 2)).amin(2))


def test_minmaxout_gradient_reaches_only_the_selected_piece_first_on_ties():
    m = MinMaxout(2, 3, min_fraction=0.5, seed=0)
    mins = m.min_mask.tolist()
    x = torch.tensor([[1.0, 5.0, 5.0, -2.0, 4.0, -2.0]], requires_grad=True)
    m(x).sum().backward()
    expect = []
    for unit, group in enumerate(([1.0, 5.0, 5.0], [-2.0, 4.0, -2.0])):
        target = min(group) if mins[unit] else max(group)
        first = group.index(target)  # ties: the lowest-index piece
        expect += [1.0 if p == first else 0.0 for p in range(3)]
    assert x.grad.tolist() == [expect]


def test_minmaxout_mask_in_state_dict_and_checks():
    m = MinMaxout(10, 2, 0.3, seed=1)
    other = MinMaxout(10, 2, 0.3, seed=2)
    assert not torch.equal(m.min_mask, other.min_mask)
    other.load_state_dict(m.state_dict())
    assert torch.equal(m.min_mask, other.min_mask)
    with pytest.raises(ValueError, match="MinMaxout expects input"):
        m(torch.randn(2, 10))
    with pytest.raises(ValueError, match="pieces"):
        MinMaxout(10, 0)
    with pytest.raises(ValueError, match="min_fraction"):
        MinMaxout(10, 2, 1.5)
    with pytest.raises(ValueError, match="needs input"):
        min_maxout(torch.randn(2, 5), 2)


@pytest.mark.parametrize("slopes, reference", [
    ((1.0, 0.0), torch.relu),
    ((0.0, 1.0), lambda x: torch.clamp(x, max=0.0)),
    ((1.0, 0.2), lambda x: F.leaky_relu(x, 0.2)),
    ((1.0, 1.0), lambda x: x),
    ((1.0, -1.0), torch.abs),
])
@pytest.mark.parametrize("kernel", [0, 1, 3])
def test_convact_spans_relu_neglu_leaky_identity_abs(slopes, reference, kernel):
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    act = ConvAct(4, kernel, init=slopes).double()
    y = act(x)
    assert torch.allclose(y, reference(x))
    (g,) = torch.autograd.grad(y.sum(), x)
    (g_ref,) = torch.autograd.grad(reference(x).sum(), x)
    assert torch.allclose(g, g_ref)  # the true derivative: -1 for |x| at x < 0


def test_convact_default_is_relu_and_conv_form_reduces_to_per_unit():
    x = torch.randn(2, 6, 4, 4)
    assert torch.equal(ConvAct(6)(x), torch.relu(x))
    per_unit = ConvAct(6, 0)
    conv = ConvAct(6, 3)
    with torch.no_grad():
        per_unit.pos.copy_(torch.linspace(-1, 1, 6))
        per_unit.neg.copy_(torch.linspace(0.5, -0.5, 6))
        conv.pos_conv.bias.copy_(per_unit.pos)
        conv.neg_conv.bias.copy_(per_unit.neg)  # zero kernel weights: the per-unit form
    assert torch.allclose(conv(x), per_unit(x))
    with torch.no_grad():
        conv.pos_conv.weight.normal_()  # a neighbourhood now changes the response
    assert not torch.allclose(conv(x), per_unit(x))


def test_convact_gradcheck_float64():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    x = torch.where(x.abs() < 0.05, x + 0.1, x).requires_grad_(True)  # away from the kink
    for kernel in (0, 3):
        act = ConvAct(3, kernel, init=(0.7, -0.4)).double()
        if kernel:
            with torch.no_grad():
                act.pos_conv.weight.normal_(0, 0.1)
                act.neg_conv.weight.normal_(0, 0.1)
        params = [x, *act.parameters()]
        assert torch.autograd.gradcheck(lambda inp, *_, act=act: act(inp), params)


def _fit(act, steps=600):
    """Fit y = -|x| with one unit and a learned output layer: x -> act -> a z + c."""
    torch.manual_seed(0)
    x = torch.linspace(-2, 2, 101).view(-1, 1)
    y = -x.abs()
    lin_out = torch.nn.Linear(1, 1)
    with torch.no_grad():
        lin_out.weight.fill_(1.0), lin_out.bias.zero_()
    params = [*lin_out.parameters(), *act.parameters()]
    opt = torch.optim.Adam(params, lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(lin_out(act(x)), y)
        loss.backward()
        opt.step()
    return float(loss.detach())


def test_convact_learns_a_concave_response_relu_cannot():
    relu_loss = _fit(torch.nn.ReLU())
    act = ConvAct(1, 0)
    convact_loss = _fit(act)
    assert relu_loss > 0.2  # a ReLU unit is monotone: it cannot be -|x|
    assert convact_loss < 1e-3
    assert float(act.neg.detach()) * float(act.pos.detach()) < 0  # slopes of opposite sign
    assert act.slope_summary()["inverted_share"] == 1.0


def test_convact_slope_summary_conv_form_and_checks():
    act = ConvAct(2, 3, init=(1.0, -0.5))
    x = torch.randn(4, 2, 5, 5)
    s = act.slope_summary(x)
    assert s["pos_mean"] == pytest.approx(1.0) and s["neg_mean"] == pytest.approx(-0.5)
    assert s["negative_neg_share"] == 1.0 and s["negative_pos_share"] == 0.0
    with pytest.raises(ValueError, match="odd"):
        ConvAct(2, 2)
    with pytest.raises(ValueError, match="ConvAct expects input"):
        act(torch.randn(4, 2))


def test_specs_build_widened_models_and_count_parameters():
    relu = build_model(RunSpec(parse_activation("relu"), 0))
    maxout = build_model(RunSpec(parse_activation("minmaxout:0:2"), 0))
    assert maxout.conv3.out_channels == 1000 and maxout.conv4.in_channels == 500
    n = sum(p.numel() for p in relu.parameters())
    extra = 50 * 16 * 500 + 500  # conv3's second piece: weights and biases
    assert sum(p.numel() for p in maxout.parameters()) == n + extra
    lenet5 = build_model(RunSpec(parse_activation("minmaxout:50:3"), 1, "lenet5"))
    assert [lenet5.get_submodule(f"conv{i}").out_channels for i in range(1, 5)] == \
        [96, 96, 192, 192]
    assert lenet5(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    convact = build_model(RunSpec(parse_activation("convact:3"), 0, "lenet5"))
    assert isinstance(convact.act2, ConvAct) and convact.act2.kernel_size == 3
    assert parse_activation("convact").stackable and parse_activation("minmaxout").stackable


def test_convact_per_unit_is_the_piecewise_linear_op():
    act = ConvAct(3, 0, init=(0.5, -2.0))
    x = torch.randn(4, 3)
    assert torch.equal(act(x), piecewise_linear(x, act.pos.view(1, -1), act.neg.view(1, -1)))
