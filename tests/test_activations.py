"""NegLU / MixLU: forward and gradient of each backward mode, masks, limits, errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from ann.activations import (
    BACKWARDS,
    SLOPES,
    MixLU,
    NegLU,
    mixlu_masked,
    neg_unit_count,
    neglu,
    piecewise_linear,
    random_subset,
    resample_neg_count,
    smooth_neglu,
)

pytestmark = pytest.mark.usefixtures("one_thread")

X = [-2.0, -0.5, 0.0, 0.5, 3.0]
UPSTREAM = [1.0, 2.0, 3.0, 4.0, 5.0]
# d neglu / dx per mode at X (0 at x = 0 in every mode, like torch.relu).
DERIVATIVE = {
    "exact": [1.0, 1.0, 0.0, 0.0, 0.0],
    "reference": [0.0, 0.0, 0.0, 1.0, 1.0],
    "inverted": [-1.0, -1.0, 0.0, 0.0, 0.0],
}


def _grad(fn, x_values, upstream=UPSTREAM):
    x = torch.tensor(x_values, requires_grad=True)
    y = fn(x)
    y.backward(torch.tensor(upstream))
    return y.detach(), x.grad


@pytest.mark.parametrize("backward", BACKWARDS)
def test_forward_is_min_zero_x_in_every_mode(backward):
    y, _ = _grad(lambda x: neglu(x, backward), X)
    assert y.tolist() == [-2.0, -0.5, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("backward", BACKWARDS)
def test_gradient_of_each_mode_on_hand_made_tensor(backward):
    _, grad = _grad(lambda x: neglu(x, backward), X)
    expected = [d * u for d, u in zip(DERIVATIVE[backward], UPSTREAM, strict=True)]
    assert grad.tolist() == expected


def test_exact_gradient_passes_gradcheck_float64():
    x = torch.tensor([-2.0, -0.7, -0.1, 0.3, 1.5, 4.0], dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda t: neglu(t, "exact"), (x,))


@pytest.mark.parametrize("backward", ["reference", "inverted"])
def test_reference_and_inverted_are_not_the_true_gradient(backward):
    # Deliberately not the derivative of min(0, x): gradcheck must reject them.
    x = torch.tensor([-2.0, -0.7, 0.3, 1.5], dtype=torch.float64, requires_grad=True)
    assert not gradcheck(lambda t: neglu(t, backward), (x,), raise_exception=False)


def test_smooth_neglu_value_and_derivative():
    x = torch.linspace(-6, 6, 25, dtype=torch.float64, requires_grad=True)
    y = smooth_neglu(x)
    torch.testing.assert_close(y, -torch.log1p(torch.exp(-x)))
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, 1.0 / (torch.exp(x) + 1.0))
    assert gradcheck(smooth_neglu, (x.detach().requires_grad_(),))
    assert torch.all(y < 0)


def test_neglu_module_delegates_and_rejects_unknown_mode():
    m = NegLU("inverted")
    assert "inverted" in repr(m)
    torch.testing.assert_close(m(torch.tensor(X)), torch.tensor([-2.0, -0.5, 0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="'bogus'"):
        NegLU("bogus")
    with pytest.raises(ValueError, match="'sideways'"):
        neglu(torch.zeros(2), "sideways")


@pytest.mark.parametrize("backward", ["reference", "inverted"])
def test_custom_backwards_work_under_vmap(backward):
    # The batched engine vmaps models; the custom Functions must give the same grads.
    x = torch.randn(3, 7)
    up = torch.randn(3, 7)

    def grad_one(xi, ui):
        return torch.func.vjp(lambda t: neglu(t, backward), xi)[1](ui)[0]

    batched = torch.func.vmap(grad_one)(x, up)
    looped = torch.stack([_grad(lambda t: neglu(t, backward), xi.tolist(), ui.tolist())[1]
                          for xi, ui in zip(x, up, strict=True)])
    torch.testing.assert_close(batched, looped)


@pytest.mark.parametrize(("percent", "expected"), [(0, 0), (1, 5), (5, 25), (7, 35), (10, 50),
                                                   (0.1, 1), (0.3, 2), (100, 500)])
def test_mixlu_unit_count_on_500_units(percent, expected):
    m = MixLU(500, percent / 100, seed=3)
    assert m.num_neg == expected == neg_unit_count(500, percent / 100)
    assert m.neg_mask.shape == (500,) and m.neg_mask.dtype == torch.bool


def test_mixlu_units_behave_as_negs_and_relus_per_unit():
    m = MixLU(6, 0.5, backward="exact", seed=0)
    x = torch.tensor([[-1.0, 2.0, -3.0, 4.0, -5.0, 6.0], [1.0, -2.0, 3.0, -4.0, 5.0, -6.0]],
                     requires_grad=True)
    y = m(x)
    mask = m.neg_mask
    assert int(mask.sum()) == 3
    torch.testing.assert_close(y, torch.where(mask, x.clamp(max=0), x.clamp(min=0)))
    y.sum().backward()
    expected = torch.where(mask, (x < 0).float(), (x > 0).float())
    torch.testing.assert_close(x.grad, expected)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_mixlu_gradient_per_mode_relu_units_keep_true_derivative(backward):
    m = MixLU(4, 0.5, backward=backward, seed=1)
    x = torch.tensor([[-1.5, -1.5, -1.5, -1.5], [2.0, 2.0, 2.0, 2.0]], requires_grad=True)
    m(x).sum().backward()
    for unit in range(4):
        if m.neg_mask[unit]:
            want = [DERIVATIVE[backward][0], DERIVATIVE[backward][4]]
        else:
            want = [0.0, 1.0]
        assert x.grad[:, unit].tolist() == want


def test_mixlu_channel_is_the_unit_for_4d_input():
    m = MixLU(3, 1 / 3, seed=0)
    x = torch.randn(2, 3, 4, 5)
    y = m(x)
    c = int(m.neg_mask.nonzero())
    torch.testing.assert_close(y[:, c], x[:, c].clamp(max=0))
    others = [i for i in range(3) if i != c]
    torch.testing.assert_close(y[:, others], x[:, others].clamp(min=0))


def test_mixlu_zero_fraction_is_relu_bit_for_bit():
    m = MixLU(50, 0.0, backward="inverted")
    x = torch.randn(8, 50, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    y, y_ref = m(x), F.relu(x2)
    assert torch.equal(y, y_ref)
    g = torch.randn(8, 50)
    y.backward(g)
    y_ref.backward(g)
    assert torch.equal(x.grad, x2.grad)


def test_mixlu_full_fraction_is_neglu():
    m = MixLU(10, 1.0, backward="reference")
    x = torch.randn(4, 10)
    assert torch.equal(m(x), neglu(x, "reference"))


def test_mixlu_mask_persists_in_state_dict():
    a = MixLU(500, 0.05, seed=1)
    b = MixLU(500, 0.05, seed=2)
    assert not torch.equal(a.neg_mask, b.neg_mask)  # different seeds, different units
    assert "neg_mask" in a.state_dict()
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.neg_mask, b.neg_mask)
    x = torch.randn(4, 500)
    assert torch.equal(a(x), b(x))


def test_mixlu_same_seed_same_mask():
    assert torch.equal(MixLU(500, 0.03, seed=7).neg_mask, MixLU(500, 0.03, seed=7).neg_mask)


def test_mixlu_resample_draws_per_element_masks_reproducibly():
    x = torch.randn(10, 20) - 5.0  # all negative: NegLU elements output x, ReLU elements 0
    a = MixLU(20, 0.1, mask="resample", seed=4)
    first, second = a(x), a(x)
    numel = x.numel()
    expected = numel - math.floor(0.9 * numel)
    assert int((first != 0).sum()) == expected == int((second != 0).sum())
    assert not torch.equal(first, second)  # a fresh mask each pass
    b = MixLU(20, 0.1, mask="resample", seed=4)
    assert torch.equal(b(x), first)  # the same seed gives the same sequence of masks


@pytest.mark.parametrize("backward", BACKWARDS)
def test_mixlu_masked_equals_piecewise_linear_with_element_tables(backward):
    # the resampled MixLU's op: the bool mask alone must give exactly what the four
    # per-element slope tables give, values, signed zeros and gradients
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 5, 4, 4, generator=g)
    x0[0, 0, 0, :2] = 0.0
    neg = torch.rand(x0.shape, generator=g) < 0.3
    upstream = torch.randn(x0.shape, generator=g)
    relu, negs = (torch.tensor(SLOPES[k]) for k in ("relu", backward))
    tables = [torch.where(neg, negs[i], relu[i]) for i in range(4)]
    x1, x2 = x0.clone().requires_grad_(), x0.clone().requires_grad_()
    want = piecewise_linear(x1, *tables)
    gpos_gneg = (None, None) if backward == "reference" else (negs[2], negs[3])
    got = mixlu_masked(x2, neg, *gpos_gneg)
    want.backward(upstream)
    got.backward(upstream)
    assert torch.equal(got, want) and torch.equal(got.signbit(), want.signbit())
    assert torch.equal(x2.grad, x1.grad) and torch.equal(x2.grad.signbit(), x1.grad.signbit())
    assert torch.equal(got, torch.where(neg, x0.clamp(max=0), x0.clamp(min=0)))
    with pytest.raises(ValueError, match="gpos and gneg"):
        mixlu_masked(x0, neg, negs[2], None)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_resampled_mixlu_uses_its_mask_as_the_slope_tables(backward):
    # the module's fast path against its own slopes() (the same draw: equal generators)
    x1 = (torch.randn(8, 30, 3, 3, generator=torch.Generator().manual_seed(1))
          ).requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    a = MixLU(30, 0.2, backward=backward, mask="resample", seed=3)
    b = MixLU(30, 0.2, backward=backward, mask="resample", seed=3)
    want = piecewise_linear(x1, *a.slopes(x1))
    got = b(x2)
    up = torch.randn(x1.shape, generator=torch.Generator().manual_seed(2))
    want.backward(up)
    got.backward(up)
    assert torch.equal(got, want) and torch.equal(x2.grad, x1.grad)


@pytest.mark.parametrize("fraction", [0.03, 0.5, 0.9, 1.0])
def test_mixlu_resample_exact_count_for_every_share(fraction):
    # above 50 % the draw picks the ReLU elements instead; the count must not change
    x = torch.randn(7, 30, 3) - 10.0
    numel = x.numel()
    out = MixLU(30, fraction, mask="resample", seed=1)(x)
    assert int((out != 0).sum()) == numel - math.floor((1.0 - fraction) * numel)


def test_random_subset_is_distinct_sorted_and_in_range():
    g = torch.Generator().manual_seed(0)
    for n, count in [(10_000, 1_000), (10_000, 3_000), (10**6, 500_000), (10**6, 10**6)]:
        # 1,000 of 10,000 is the repeated-draw path, the others the permutation path
        chosen = random_subset(n, count, g)
        assert chosen.numel() == count == chosen.unique().numel()
        assert torch.equal(chosen, chosen.sort().values)
        assert 0 <= int(chosen.min()) and int(chosen.max()) < n
    assert random_subset(5, 0, g).numel() == 0
    assert torch.equal(random_subset(5, 5, g), torch.arange(5))
    with pytest.raises(ValueError, match="count"):
        random_subset(5, 6)


@pytest.mark.parametrize("n, count, draws", [
    (16, 2, 12_000),  # count <= n // 8: repeated draws; 120 subsets x 100 expected, sd ~10
    (6, 2, 6_000),  # count > n // 8: one permutation; 15 subsets x 400 expected, sd ~19
])
def test_random_subset_draws_every_subset_equally_often(n, count, draws):
    g = torch.Generator().manual_seed(0)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(draws):
        key = tuple(random_subset(n, count, g).tolist())
        counts[key] = counts.get(key, 0) + 1
    expected = draws / math.comb(n, count)
    assert len(counts) == math.comb(n, count)
    assert all(abs(c - expected) < 5 * expected**0.5 for c in counts.values()), counts


@pytest.mark.parametrize("fraction", [-0.01, 1.5, float("nan")])
def test_mixlu_rejects_fraction_outside_unit_interval(fraction):
    with pytest.raises(ValueError, match="neg_fraction"):
        MixLU(10, fraction)


def test_mixlu_takes_a_percent_by_name_as_the_scripts_do():
    by_percent = MixLU(500, neg_percent=5, seed=3)
    assert by_percent.neg_fraction == 0.05
    assert torch.equal(by_percent.neg_mask, MixLU(500, 0.05, seed=3).neg_mask)
    with pytest.raises(TypeError, match="exactly one of neg_fraction"):
        MixLU(500, 0.05, neg_percent=5)
    with pytest.raises(TypeError, match="exactly one of neg_fraction"):
        MixLU(500)
    for bad in (-1, 100.5, float("nan")):
        with pytest.raises(ValueError, match="neg_percent"):
            MixLU(500, neg_percent=bad)


def test_mixlu_repr_names_a_unit_count_only_for_a_fixed_mask():
    assert "num_neg=25" in repr(MixLU(500, 0.05, seed=0))
    resampled = repr(MixLU(500, 0.05, mask="resample", seed=7))
    assert "num_neg" not in resampled and "mask='resample'" in resampled
    assert "seed=7" in resampled


def test_mixlu_rejects_bad_mode_count_and_shape():
    with pytest.raises(ValueError, match="'sometimes'"):
        MixLU(10, 0.1, mask="sometimes")
    with pytest.raises(ValueError, match="'bogus'"):
        MixLU(10, 0.1, backward="bogus")
    with pytest.raises(ValueError, match="num_units"):
        MixLU(0, 0.1)
    with pytest.raises(ValueError, match=r"\(N, 10, \*\)"):
        MixLU(10, 0.1)(torch.randn(2, 9))


@pytest.mark.parametrize("slopes", [SLOPES["relu"], SLOPES["exact"], (1.0, 0.05, 1.0, 0.05),
                                    (0.3, -1.0, 0.3, -1.0)])
def test_piecewise_linear_exact_paths_pass_gradcheck_float64(slopes):
    # ReLU, exact NegLU, Leaky ReLU and |x|-like slopes, per unit and per element
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 4, 2, generator=g, dtype=torch.float64) - 0.5).requires_grad_()
    fpos, fneg = (torch.full((1, 4, 1), v, dtype=torch.float64) for v in slopes[:2])
    assert gradcheck(lambda t: piecewise_linear(t, fpos, fneg), (x,))
    # learned slopes receive their true gradient too
    fneg = fneg.clone().requires_grad_()
    assert gradcheck(lambda t, a: piecewise_linear(t, fpos, a), (x, fneg))


def test_piecewise_linear_backward_slopes_replace_the_derivative():
    x = torch.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    y = piecewise_linear(x, 0.0, 1.0, 5.0, -7.0)
    assert y.tolist() == [-2.0, 0.0, 0.0]
    y.sum().backward()
    assert x.grad.tolist() == [-7.0, 0.0, 5.0]


def test_resample_rounding_rule_is_the_published_layers():
    # nnmixlu.m keeps floor((1 - p) * numel) ReLUs; (1 - 0.07) * 30000 rounds below 27900
    assert resample_neg_count(30_000, 0.07) == 30_000 - math.floor((1 - 0.07) * 30_000) == 2101
    x = torch.randn(100, 300) - 10.0  # every element negative: NegLU elements are non-zero
    out = MixLU(300, 0.07, mask="resample", seed=0)(x)
    assert int((out != 0).sum()) == 2101
    assert neg_unit_count(30_000, 0.07) == 2100  # fixed masks round half up instead
    assert neg_unit_count(50, 0.05) == 3  # 2.5 -> 3
