"""LeNet / LeNet5: shapes, reference initialisation, pluggable activations, builders."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ann.activations import MixLU
from ann.models import (
    LeNet,
    LeNet5,
    _pool_pad_right_bottom,
    build_model,
    mask_seed,
    neglu_counts,
)
from ann.specs import ActivationSpec, RunSpec

pytestmark = pytest.mark.usefixtures("one_thread")


def spec(p=1.0, backward="reference", seed=0, mask="fixed", model="lenet"):
    return RunSpec.mixlu(p, backward, seed, mask, model)


def test_lenet_shapes_and_layers():
    m = LeNet()
    assert m(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert [c.weight.shape for c in (m.conv1, m.conv2, m.conv3, m.conv4)] == [
        (20, 1, 5, 5), (50, 20, 5, 5), (500, 50, 4, 4), (10, 500, 1, 1)]
    assert m.last_layer is m.conv4 and isinstance(m.act, nn.ReLU)


def test_lenet5_shapes_and_layers():
    m = LeNet5()
    assert m(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert [c.weight.shape for c in (m.conv1, m.conv2, m.conv3, m.conv4, m.conv5)] == [
        (32, 3, 5, 5), (32, 32, 5, 5), (64, 32, 5, 5), (64, 64, 4, 4), (10, 64, 1, 1)]
    assert m.last_layer is m.conv5


def test_reference_initialisation_statistics():
    torch.manual_seed(0)
    lenet, lenet5 = LeNet(), LeNet5()
    # conv3 of LeNet has 400k weights: the sample std is within 1 % of 0.01.
    assert abs(lenet.conv3.weight.std().item() - 0.01) < 1e-4
    assert abs(lenet5.conv1.weight.std().item() - 0.01) < 1e-3
    for conv in (lenet5.conv2, lenet5.conv3, lenet5.conv4):
        assert abs(conv.weight.std().item() - 0.05) < 2.5e-3
    for m in (lenet, lenet5):
        assert all(torch.count_nonzero(mod.bias) == 0 for mod in m.modules()
                   if isinstance(mod, nn.Conv2d))


def test_reset_parameters_with_generator_is_deterministic():
    a, b = LeNet(), LeNet()
    a.reset_parameters(generator=torch.Generator().manual_seed(5))
    b.reset_parameters(generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    b.reset_parameters(generator=torch.Generator().manual_seed(6))
    assert not torch.equal(a.conv1.weight, b.conv1.weight)


def test_activation_argument_forms():
    relu = nn.Tanh()
    assert LeNet(activation=relu).act is relu
    m = LeNet(activation=lambda n: MixLU(n, 0.02, seed=0))
    assert isinstance(m.act, MixLU) and m.act.num_units == 500 and m.act.num_neg == 10
    m5 = LeNet5(activation=nn.ELU())
    assert len({id(m5.act1), id(m5.act2), id(m5.act3), id(m5.act4)}) == 4  # copies
    m5 = LeNet5(activation=lambda n: MixLU(n, 0.5, seed=0))
    assert [a.num_units for a in (m5.act1, m5.act2, m5.act3, m5.act4)] == [32, 32, 64, 64]
    with pytest.raises(ValueError, match="nn.Module"):
        LeNet(activation=lambda n: 3)
    with pytest.raises(ValueError, match="activation must be"):
        LeNet(activation=42)


def test_avg_pool_ignores_padding_like_matconvnet():
    x = torch.ones(1, 1, 16, 16)
    # Counting the zero padding would give 6/9 on the last row/column and 4/9 in the corner.
    torch.testing.assert_close(_pool_pad_right_bottom(x, "avg"), torch.ones(1, 1, 8, 8))
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = _pool_pad_right_bottom(x, "avg")
    assert y.shape == (1, 1, 2, 2)
    assert y[0, 0, 0, 0].item() == pytest.approx(x[0, 0, :3, :3].mean().item())
    assert y[0, 0, 1, 1].item() == pytest.approx(x[0, 0, 2:, 2:].mean().item())  # 4 inputs


def test_max_pool_ignores_padding():
    x = -torch.ones(1, 1, 16, 16)
    torch.testing.assert_close(_pool_pad_right_bottom(x, "max"), -torch.ones(1, 1, 8, 8))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_ceil_mode_pooling_is_the_explicit_right_bottom_padding_ties_included(layout):
    """``ceil_mode`` clips the overhanging window exactly as padding with -inf (max) or
    dividing sums by the counts inside (average) does, values and gradients alike; the
    plateau makes ties, whose gradient goes to the same element."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 17, 16, generator=g)
    x[:, :, 4:11, 3:9] = 1.5  # a plateau: tied maxima
    weights = torch.randn(3, 4, 8, 8, generator=g)
    ones = torch.ones(1, 1, 17, 16)
    counts = F.avg_pool2d(F.pad(ones, (0, 1, 0, 1)), 3, 2, divisor_override=1)
    explicit = {
        "max": lambda t: F.max_pool2d(F.pad(t.contiguous(memory_format=torch.channels_last),
                                            (0, 1, 0, 1), value=float("-inf")), 3, 2),
        "avg": lambda t: F.avg_pool2d(F.pad(t, (0, 1, 0, 1)), 3, 2, divisor_override=1)
        / counts,
    }
    for method, reference in explicit.items():
        grads = []
        for pool in (lambda t, m=method: _pool_pad_right_bottom(t, m), reference):
            t = x.clone().contiguous(memory_format=layout).requires_grad_()
            out = pool(t)
            (out * weights).sum().backward()
            grads.append((out.detach(), t.grad))
        assert torch.equal(grads[0][0], grads[1][0]), method
        assert torch.equal(grads[0][1], grads[1][1]), method


def test_build_model_is_deterministic_given_spec():
    a, b = build_model(spec(1.0, seed=3)), build_model(spec(1.0, seed=3))
    assert a.act.num_neg == 5 and a.act.backward == "reference"
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    c = build_model(spec(1.0, seed=4))
    assert not torch.equal(a.act.neg_mask, c.act.neg_mask)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    # Initial weights depend on the seed only, not on the activation.
    d = build_model(spec(7.0, backward="inverted", seed=3))
    assert torch.equal(a.conv3.weight, d.conv3.weight) and d.act.num_neg == 35
    relu = build_model(RunSpec(ActivationSpec.make("relu"), 3))
    assert isinstance(relu.act, nn.ReLU) and torch.equal(relu.conv3.weight, a.conv3.weight)


def test_resample_masks_are_random_at_evaluation_fixed_masks_are_not():
    # the published layer drew its masks at test time too (MixLU docstring)
    x = torch.randn(64, 1, 28, 28)
    for mask, random in (("resample", True), ("fixed", False)):
        m = build_model(spec(10.0, mask=mask)).eval()
        assert m.act.mask == mask
        with torch.no_grad():
            first, second = m(x), m(x)
        assert (not torch.equal(first, second)) == random
        again = build_model(spec(10.0, mask=mask)).eval()
        with torch.no_grad():
            assert torch.equal(again(x), first)  # reproducible from the seed either way


def test_mask_seeds_differ_per_position_and_from_init_seed():
    seeds = {mask_seed(s, p) for s in range(50) for p in range(4)}
    assert len(seeds) == 200
    assert mask_seed(3, 2) == 16 * 3 + 2 + 1  # the documented formula
    assert all(mask_seed(s, p) != s for s in range(100) for p in range(4))
    with pytest.raises(ValueError, match="position"):
        mask_seed(0, 16)


def test_build_model_lenet5_positions_have_own_masks():
    m = build_model(spec(50.0, backward="exact", seed=2, model="lenet5"))
    acts = (m.act1, m.act2, m.act3, m.act4)
    assert [a.num_neg for a in acts] == [16, 16, 32, 32]
    assert not torch.equal(m.act1.neg_mask, m.act2.neg_mask)
    assert not torch.equal(m.act3.neg_mask, m.act4.neg_mask)
    again = build_model(spec(50.0, backward="exact", seed=2, model="lenet5"))
    assert all(torch.equal(x.neg_mask, y.neg_mask) for x, y in
               zip(acts, (again.act1, again.act2, again.act3, again.act4), strict=True))
    assert torch.equal(m.conv2.weight, again.conv2.weight)


def test_neglu_counts_come_from_the_model():
    lenet = build_model(spec(5.0))
    assert neglu_counts(lenet, (1, 28, 28)) == [25.0]  # 25 of 500 hidden units, 1x1 each
    fixed = build_model(spec(50.0, model="lenet5"))
    # 16, 16, 32, 32 NegLU channels at 16x16, 16x16, 8x8 (after the first avg pool: the
    # third activation sees 8x8), 1x1
    assert neglu_counts(fixed, (3, 32, 32)) == [16 * 256.0, 16 * 256.0, 32 * 64.0, 32 * 1.0]
    resampled = build_model(spec(3.0, mask="resample", model="lenet5"))
    elements = [32 * 256, 32 * 256, 64 * 64, 64]
    assert neglu_counts(resampled, (3, 32, 32)) == pytest.approx([0.03 * e for e in elements])


def test_build_model_rejects_other_objects():
    with pytest.raises(ValueError, match="RunSpec"):
        build_model(object())
