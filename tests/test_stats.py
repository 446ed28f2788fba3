"""common/stats.py on known inputs: intervals, Welch, slopes, Holm, Wilson, power, verdicts."""

import math

import pytest
from scipy import stats as sp

from common.stats import (
    Effect,
    against,
    exact_binomial,
    fisher,
    holm,
    n_for_power,
    n_for_power_slope,
    paired,
    seed_stat,
    slope,
    verdict,
    welch,
    wilson,
)


def test_seed_stat_t_interval_by_hand():
    s = seed_stat([1.0, 2.0, 3.0])
    assert (s.n, s.mean, s.sd) == (3, 2.0, 1.0)
    half = 4.302652729911275 / math.sqrt(3)  # t_{0.975, 2}
    assert s.lo == pytest.approx(2.0 - half) and s.hi == pytest.approx(2.0 + half)
    assert s.format() == f"2.00 ± 1.00 [{2.0 - half:.2f}, {2.0 + half:.2f}]"
    assert s.format(digits=1) == "2.0 ± 1.0 [-0.5, 4.5]"
    one = seed_stat([0.5])
    assert one.n == 1 and math.isnan(one.sd) and math.isnan(one.lo)
    assert one.format() == "0.50"  # the mean alone: no spread from one value
    with pytest.raises(ValueError, match="empty"):
        seed_stat([])
    with pytest.raises(ValueError, match="finite"):
        seed_stat([1.0, math.nan])


def test_welch_matches_the_formula_and_scipy():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0, 10.0]
    e = welch(a, b)
    va, vb = 5 / 3, 10.0
    se2 = va / 4 + vb / 5
    df = se2 ** 2 / ((va / 4) ** 2 / 3 + (vb / 5) ** 2 / 4)
    assert e.estimate == pytest.approx(-3.5)
    assert e.df == pytest.approx(df)
    half = sp.t.ppf(0.975, df) * math.sqrt(se2)
    assert (e.lo, e.hi) == pytest.approx((-3.5 - half, -3.5 + half))
    assert e.p == pytest.approx(sp.ttest_ind(a, b, equal_var=False).pvalue)
    assert e.n == (4, 5)
    # no spread: the difference is exact
    flat = welch([1.0, 1.0], [0.0, 0.0])
    assert (flat.lo, flat.hi, flat.p) == (1.0, 1.0, 0.0)
    assert welch([1.0, 1.0], [1.0, 1.0]).p == 1.0
    # one value in a group: no interval
    assert math.isnan(welch([1.0], [0.0, 1.0]).lo)


def test_paired_is_the_t_interval_of_the_differences():
    e = paired([2.0, 3.0, 5.0], [1.0, 1.0, 2.0])
    s = seed_stat([1.0, 2.0, 3.0])
    assert (e.estimate, e.lo, e.hi) == pytest.approx((s.mean, s.lo, s.hi))
    assert e.p == pytest.approx(sp.ttest_rel([2.0, 3.0, 5.0], [1.0, 1.0, 2.0]).pvalue)
    with pytest.raises(ValueError, match="equally long"):
        paired([1.0], [1.0, 2.0])
    # whole-unit measures: equal differences get the floor's spread, not a zero width
    floored = paired([3.0, 3.0, 3.0, 3.0], [4.0, 4.0, 4.0, 4.0], min_sd=0.5)
    assert floored.sd == 0.5 and floored.se == pytest.approx(0.25)
    assert floored.p == pytest.approx(2 * sp.t.sf(4.0, 3))


def test_slope_matches_linregress():
    x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    y = [1.0, 2.9, 5.2, 6.8, 9.1, 11.0]
    e = slope(x, y)
    ref = sp.linregress(x, y)
    assert e.estimate == pytest.approx(ref.slope)
    half = sp.t.ppf(0.975, 4) * ref.stderr
    assert (e.lo, e.hi) == pytest.approx((ref.slope - half, ref.slope + half))
    assert e.p == pytest.approx(ref.pvalue)
    exact = slope([0.0, 1.0, 2.0], [1.0, 3.0, 5.0])
    assert (exact.estimate, exact.lo, exact.hi) == pytest.approx((2.0, 2.0, 2.0))
    with pytest.raises(ValueError, match="distinct"):
        slope([1.0, 1.0], [0.0, 1.0])


def test_holm_step_down_order_and_monotonicity():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    out = holm([0.02, math.nan, 0.9])
    assert out[0] == pytest.approx(0.04) and math.isnan(out[1]) and out[2] == pytest.approx(0.9)
    assert holm([0.6, 0.7, 0.8]) == pytest.approx([1.0, 1.0, 1.0])


def test_wilson_bounds():
    z2 = sp.norm.ppf(0.975) ** 2
    lo, hi = wilson(0, 5)
    assert lo == 0.0 and hi == pytest.approx(z2 / (5 + z2))  # 0.4345
    lo, hi = wilson(5, 5)
    assert hi == 1.0 and lo == pytest.approx(5 / (5 + z2))  # 0.5655
    lo, hi = wilson(3, 10)
    assert (lo, hi) == pytest.approx((0.1078, 0.6032), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    assert all(wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0 for n in range(1, 50))
    with pytest.raises(ValueError):
        wilson(4, 3)


def test_power_gives_the_textbook_sample_sizes():
    assert n_for_power(1.0, 1.0) == 17   # Cohen's d = 1, two-sided 5 %, 80 %
    assert n_for_power(0.5, 1.0) == 64   # d = 0.5
    assert n_for_power(0.5, 1.0, paired_design=True) == 34
    assert n_for_power(0.0, 1.0) is None
    assert n_for_power(1.0, 0.0) == 2


def t_effect(estimate, se, df=8.0, sd=1.0, n=5):
    """An Effect with a real t interval and p from its standard error."""
    half = sp.t.ppf(0.975, df) * se
    p = 2 * sp.t.sf(abs(estimate) / se, df)
    return Effect(estimate, estimate - half, estimate + half, p, df, sd, (n, n), 0.95, se)


def test_verdict_words_are_symmetric():
    assert verdict(t_effect(-0.5, 0.1), -0.3).word == "supported"
    opposite = verdict(t_effect(0.5, 0.1), -0.3)
    assert opposite.word == "refuted" and opposite.text() == "refuted: significantly opposite"
    # holds zero, the thesis's value has no stated noise: nothing decides
    v = verdict(t_effect(-0.1, 0.2, sd=1.0), -0.5)
    assert v.word == "not distinguishable" and v.n_needed == 64
    assert v.text() == "not distinguishable at n = 5 (n ≈ 64 needed)"
    precise = t_effect(0.0, 0.1, sd=0.3)
    powered = verdict(precise, -1.0, versus_thesis=against(precise, -1.0, 0.6))
    assert powered.n_needed <= 5 and "less than that value's own noise" in powered.text()
    # the n needed is at the family-adjusted level: more seeds for a family of three
    assert verdict(t_effect(-0.1, 0.2), -0.5, family_size=3).n_needed > 64
    assert verdict(Effect(1.0, math.nan, math.nan, math.nan, math.nan, math.nan, (1,)),
                   1.0).word == "not distinguishable"
    with pytest.raises(ValueError, match="non-zero"):
        verdict(t_effect(0.0, 1.0), 0.0)


def test_review_counterexamples_are_not_refuted():
    # 1: [-0.005, +0.065] against the thesis's one-seed slope -0.010 (its own se 0.021):
    # the interval holds zero and, the thesis's noise counted, the thesis's value too
    e = t_effect(0.03, 0.035 / sp.t.ppf(0.975, 13), df=13, sd=0.13, n=15)
    assert (e.lo, e.hi) == pytest.approx((-0.005, 0.065))
    versus = against(e, -0.010, 0.021)
    assert versus.p > 0.05
    v = verdict(e, -0.010, versus_thesis=versus)
    assert v.word == "not distinguishable"
    # 2: the thesis's direction, significant alone (p < 0.05) but p_Holm 0.12
    e2 = t_effect(-0.4, 0.15)
    assert e2.p < 0.05 and e2.hi < 0
    v2 = verdict(e2, -0.3, p_adjusted=0.12, versus_thesis=against(e2, -0.3, 0.2))
    assert v2.word == "not distinguishable"


def test_refuted_against_the_thesis_value_counts_its_noise():
    e = t_effect(0.0, 0.05, df=20)  # a precise zero
    strong = verdict(e, -1.0, versus_thesis=against(e, -1.0, 0.1))
    assert strong.word == "refuted" and "its own noise counted" in strong.text()
    # the same estimate against a noisy one-seed value: not refuted
    noisy = verdict(e, -1.0, versus_thesis=against(e, -1.0, 0.6))
    assert noisy.word == "not distinguishable"
    # and the adjustment applies to this test too
    held = verdict(e, -1.0, versus_thesis=against(e, -1.0, 0.1), p_thesis_adjusted=0.2)
    assert held.word == "not distinguishable"


def test_against_adds_the_variances():
    e = t_effect(1.0, 0.3, df=10)
    d = against(e, 0.2, 0.4)
    assert d.estimate == pytest.approx(0.8) and d.se == pytest.approx(0.5)
    assert d.p == pytest.approx(2 * sp.t.sf(0.8 / 0.5, 10))
    assert d.n == (5, 5, 1)
    with pytest.raises(ValueError, match="value_se"):
        against(e, 0.0, -1.0)


def test_exact_binomial_and_fisher_on_known_values():
    b = exact_binomial(0, 5)
    assert b.lo == 0.0 and b.hi == pytest.approx(1 - 0.025 ** (1 / 5))  # 0.522: not < 0.5
    assert b.p == pytest.approx(2 * 0.5 ** 5)
    six = exact_binomial(0, 6)
    assert six.hi < 0.5 and six.p == pytest.approx(2 * 0.5 ** 6)
    assert exact_binomial(3, 10).lo == pytest.approx(0.0667, abs=1e-4)
    assert exact_binomial(0, 0).hi == 1.0
    with pytest.raises(ValueError, match="k"):
        exact_binomial(4, 3)
    # Fisher: 5/5 vs 0/5, one-sided: 1 / C(10, 5)
    assert fisher(5, 5, 0, 5, "greater") == pytest.approx(1 / 252)
    assert fisher(0, 3, 0, 3) == 1.0


def test_slope_power_reduces_to_the_two_sample_case():
    # two x values one unit apart: the slope is the difference of two group means
    assert n_for_power_slope(0.5, 1.0, [0.0, 1.0]) == n_for_power(0.5, 1.0) == 64
    # more spread in x needs fewer runs per value
    assert n_for_power_slope(0.5, 1.0, [0.0, 5.0, 10.0]) < n_for_power_slope(0.5, 1.0, [0.0, 1.0])
    assert n_for_power_slope(0.0, 1.0, [0.0, 1.0]) is None


def test_verdict_respects_the_family_adjustment_and_flags_smaller_effects():
    e = t_effect(-0.5, 0.1)
    assert verdict(e, -0.3, p_adjusted=0.01).word == "supported"
    held = verdict(e, -0.3, p_adjusted=0.2)  # significant alone, not after Holm
    assert held.word == "not distinguishable"
    tiny = t_effect(0.1, 0.02, df=20)
    small = verdict(tiny, 1.0, versus_thesis=against(tiny, 1.0, 0.05))
    assert small.word == "supported" and small.smaller
    assert small.text() == "supported (smaller than the thesis's effect)"
