"""Seed statistics for the toolkit's reports (torch-free: numbers in, numbers out).

- :func:`seed_stat`: mean, sample sd and Student-t interval of one group of runs.
- :func:`welch`: difference of two group means with Welch's t interval and p-value.
- :func:`paired`: mean of paired differences (runs matched by seed), t interval.
- :func:`slope`: least-squares slope of ``y`` on ``x`` with its t interval.
- :func:`holm`: Holm's step-down adjustment of a family of p-values.
- :func:`against`: our effect minus a published one-seed value, counting that value's
  own noise (a two-sample test in which the published value is a group of one).
- :func:`wilson`: Wilson score interval of a proportion ``k / n``.
- :func:`exact_binomial`: Clopper-Pearson interval and exact binomial test of ``k / n``.
- :func:`fisher`: Fisher's exact test of two proportions.
- :func:`n_for_power`: seeds per group a two-sided t-test needs to detect an effect.
- :func:`verdict`: the report's verdict words, symmetric between "supported" and
  "refuted" (both need a family-adjusted test).

Every interval is a two-sided ``level`` (default 95 %) t-interval: ``t`` quantiles
with the Welch-Satterthwaite degrees of freedom for :func:`welch`, ``n - 1`` for
:func:`seed_stat` and :func:`paired`, ``n - 2`` for :func:`slope`.  No bootstrap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats as _sp

__all__ = [
    "Stat",
    "seed_stat",
    "Effect",
    "welch",
    "paired",
    "slope",
    "holm",
    "against",
    "wilson",
    "Binomial",
    "exact_binomial",
    "fisher",
    "MAX_N",
    "n_for_power",
    "n_for_power_slope",
    "VERDICTS",
    "Verdict",
    "untestable",
    "verdict",
]


def _floats(values: Sequence[float], name: str) -> list[float]:
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite numbers, got {list(values)!r}")
    return out


def _t_half(level: float, df: float, se: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(_sp.t.ppf(0.5 + level / 2.0, df)) * se


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation and ``level`` t-interval of ``n`` values (sd and
    interval are NaN for ``n < 2``)."""

    n: int
    mean: float
    sd: float
    lo: float
    hi: float

    def format(self, digits: int = 2) -> str:
        """``mean`` alone for one value, else ``mean ± sd [lo, hi]``."""
        if self.n < 2:
            return f"{self.mean:.{digits}f}"
        return (f"{self.mean:.{digits}f} ± {self.sd:.{digits}f} "
                f"[{self.lo:.{digits}f}, {self.hi:.{digits}f}]")


def seed_stat(values: Sequence[float], level: float = 0.95) -> Stat:
    """:class:`Stat` of ``values`` (interval from Student's t with ``n - 1`` dof).

    Raises:
        ValueError: no values, or a value that is not a finite number.
    """
    values = _floats(values, "values")
    n = len(values)
    if n == 0:
        raise ValueError("values must not be empty")
    mean = sum(values) / n
    if n < 2:
        return Stat(n, mean, math.nan, math.nan, math.nan)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = _t_half(level, n - 1, sd / math.sqrt(n))
    return Stat(n, mean, sd, mean - half, mean + half)


@dataclass(frozen=True)
class Effect:
    """An estimated effect with its interval: ``estimate`` in ``[lo, hi]`` at ``level``,
    two-sided ``p`` against 0, ``df`` degrees of freedom, ``sd`` the spread the power
    estimate uses (pooled group sd, sd of the paired differences, or residual sd),
    ``n`` the group sizes (one for paired data and slopes) and ``se`` the standard
    error of the estimate.  NaN where undefined (too few values)."""

    estimate: float
    lo: float
    hi: float
    p: float
    df: float
    sd: float
    n: tuple[int, ...]
    level: float = 0.95
    se: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (NaN as ``None``)."""
        d = asdict(self)
        d["n"] = list(self.n)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in d.items()}

    def format(self, digits: int = 2) -> str:
        """``estimate [lo, hi]`` (the estimate alone when the interval is undefined)."""
        if math.isnan(self.lo):
            return f"{self.estimate:+.{digits}f}"
        return f"{self.estimate:+.{digits}f} [{self.lo:+.{digits}f}, {self.hi:+.{digits}f}]"


def _from_t(estimate: float, se: float, df: float, sd: float, n: tuple[int, ...],
            level: float) -> Effect:
    if se == 0.0:  # no spread: the estimate is exact
        p = 1.0 if estimate == 0.0 else 0.0
        return Effect(estimate, estimate, estimate, p, df, sd, n, level, 0.0)
    half = _t_half(level, df, se)
    p = float(2.0 * _sp.t.sf(abs(estimate) / se, df))
    return Effect(estimate, estimate - half, estimate + half, p, df, sd, n, level, se)


def _undefined(estimate: float, n: tuple[int, ...], level: float) -> Effect:
    nan = math.nan
    return Effect(estimate, nan, nan, nan, nan, nan, n, level)


def welch(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Effect:
    """``mean(a) - mean(b)`` with Welch's t interval and p-value (unequal variances,
    Welch-Satterthwaite dof); ``sd`` is the pooled sd ``sqrt((var_a + var_b) / 2)``.
    Undefined (NaN interval) unless both groups have at least 2 values."""
    a, b = _floats(a, "a"), _floats(b, "b")
    if not a or not b:
        raise ValueError("welch needs values in both groups")
    na, nb = len(a), len(b)
    ma, mb = sum(a) / na, sum(b) / nb
    if na < 2 or nb < 2:
        return _undefined(ma - mb, (na, nb), level)
    va = sum((x - ma) ** 2 for x in a) / (na - 1)
    vb = sum((x - mb) ** 2 for x in b) / (nb - 1)
    se2 = va / na + vb / nb
    if se2 == 0.0:
        df = float(na + nb - 2)
    else:
        df = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    return _from_t(ma - mb, math.sqrt(se2), df, math.sqrt((va + vb) / 2.0), (na, nb), level)


def paired(a: Sequence[float], b: Sequence[float], level: float = 0.95,
           min_sd: float = 0.0) -> Effect:
    """Mean of ``a[i] - b[i]`` (runs matched by seed) with a t interval on ``n - 1``
    dof; ``sd`` is the sd of the differences, at least ``min_sd`` (for a measure in whole
    units, whose rounding alone has that spread: without the floor, equal differences
    give a zero-width interval and a degenerate test)."""
    a, b = _floats(a, "a"), _floats(b, "b")
    if len(a) != len(b) or not a:
        raise ValueError(f"paired needs two equally long non-empty lists, got {len(a)} "
                         f"and {len(b)} values")
    d = [x - y for x, y in zip(a, b, strict=True)]
    s = seed_stat(d, level)
    if s.n < 2:
        return _undefined(s.mean, (s.n,), level)
    sd = max(s.sd, min_sd)
    return _from_t(s.mean, sd / math.sqrt(s.n), s.n - 1, sd, (s.n,), level)


def slope(x: Sequence[float], y: Sequence[float], level: float = 0.95) -> Effect:
    """Least-squares slope of ``y`` on ``x`` with its t interval (``n - 2`` dof);
    ``sd`` is the residual sd.  Undefined with fewer than 3 points."""
    x, y = _floats(x, "x"), _floats(y, "y")
    if len(x) != len(y) or len(set(x)) < 2:
        raise ValueError("slope needs equally long x and y with at least two distinct x")
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((u - mx) ** 2 for u in x)
    b = sum((u - mx) * (v - my) for u, v in zip(x, y, strict=True)) / sxx
    if n < 3:
        return _undefined(b, (n,), level)
    rss = sum((v - my - b * (u - mx)) ** 2 for u, v in zip(x, y, strict=True))
    resid_sd = math.sqrt(rss / (n - 2))
    return _from_t(b, resid_sd / math.sqrt(sxx), n - 2, resid_sd, (n,), level)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (NaN stays NaN and is
    not counted in the family).  Reject hypothesis ``i`` at level ``alpha`` when
    ``holm(p)[i] < alpha``: that controls the family-wise error rate."""
    indexed = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(indexed)
    out = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def against(effect: Effect, value: float, value_se: float) -> Effect:
    """``effect.estimate - value`` with a t interval and p that count the noise of
    ``value`` as well as ours: ``se = sqrt(effect.se² + value_se²)`` on ``effect.df``
    degrees of freedom.  For a published one-seed number, ``value_se`` is the standard
    error that number has with our seed spread (a group of one: ``sd · sqrt(2)`` for a
    difference of two one-seed runs, ``sd`` for one pair, the residual sd over
    ``sqrt(Σ(x − x̄)²)`` of the published points for a slope): the two-sample test
    in which the published value is the group with n = 1.  Undefined (NaN) where
    ``effect`` is.

    Raises:
        ValueError: ``value`` or ``value_se`` is not a finite number, or ``value_se < 0``.
    """
    if not (math.isfinite(value) and math.isfinite(value_se)) or value_se < 0:
        raise ValueError(f"against needs a finite value and value_se >= 0, got {value!r}, "
                         f"{value_se!r}")
    n = (*effect.n, 1)
    if math.isnan(effect.se):
        return _undefined(effect.estimate - value, n, effect.level)
    se = math.sqrt(effect.se ** 2 + value_se ** 2)
    return _from_t(effect.estimate - value, se, effect.df, effect.sd, n, effect.level)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (``(0, 1)`` for ``n = 0``)."""
    _counts(k, n)
    if n == 0:
        return (0.0, 1.0)
    z = float(_sp.norm.ppf(0.5 + level / 2.0))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the ends, not rounded
    hi = 1.0 if k == n else min(1.0, centre + half)
    return (lo, hi)


def _counts(k: int, n: int, name: str = "k") -> None:
    if isinstance(k, bool) or isinstance(n, bool) or not (0 <= k <= n):
        raise ValueError(f"{name} needs integers 0 <= {name} <= n, got {name}={k!r}, n={n!r}")


@dataclass(frozen=True)
class Binomial:
    """``k`` of ``n`` with its exact (Clopper-Pearson) ``level`` interval ``[lo, hi]``
    and the exact two-sided binomial test's ``p`` against the proportion ``p0``."""

    k: int
    n: int
    lo: float
    hi: float
    p: float
    p0: float
    level: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def exact_binomial(k: int, n: int, p0: float = 0.5, level: float = 0.95) -> Binomial:
    """Clopper-Pearson interval and exact two-sided test (``scipy.stats.binomtest``) of
    ``k`` successes in ``n`` trials against the proportion ``p0``; ``n = 0`` gives the
    interval ``[0, 1]`` and ``p = 1``.

    Raises:
        ValueError: not ``0 <= k <= n``, or ``p0`` outside ``(0, 1)``.
    """
    _counts(k, n)
    if not 0.0 < p0 < 1.0:
        raise ValueError(f"p0 must be in (0, 1), got {p0!r}")
    if n == 0:
        return Binomial(k, n, 0.0, 1.0, 1.0, p0, level)
    test = _sp.binomtest(k, n, p0)
    ci = test.proportion_ci(confidence_level=level, method="exact")
    return Binomial(k, n, float(ci.low), float(ci.high), float(test.pvalue), p0, level)


def fisher(k_a: int, n_a: int, k_b: int, n_b: int, alternative: str = "two-sided") -> float:
    """Fisher's exact test p of ``k_a / n_a`` against ``k_b / n_b`` (``alternative``
    ``"greater"``: the first proportion is larger).

    Raises:
        ValueError: counts out of range.
    """
    _counts(k_a, n_a, "k_a")
    _counts(k_b, n_b, "k_b")
    table = [[k_a, n_a - k_a], [k_b, n_b - k_b]]
    return float(_sp.fisher_exact(table, alternative=alternative).pvalue)


#: The largest sample size :func:`n_for_power` searches.
MAX_N = 10_000


def n_for_power(effect: float, sd: float, alpha: float = 0.05, power: float = 0.8,
                paired_design: bool = False, max_n: int = MAX_N) -> int | None:
    """Smallest n per group (pairs, for ``paired_design``) at which a two-sided t-test
    at ``alpha`` detects a true difference ``effect`` with spread ``sd`` with probability
    ``power`` (noncentral t, equal groups).  ``None`` if ``effect`` is 0 or undefined;
    2 if ``sd`` is 0; ``max_n + 1`` if more than ``max_n`` would be needed."""
    import numpy as np

    if not (math.isfinite(effect) and math.isfinite(sd)) or effect == 0.0:
        return None
    if sd == 0.0:
        return 2
    d = abs(effect) / sd
    z = float(_sp.norm.ppf(1 - alpha / 2) + _sp.norm.ppf(power))
    guess = (z / d) ** 2 * (1 if paired_design else 2)  # the normal approximation
    if guess > max_n:
        return max_n + 1
    n = np.arange(max(2, math.floor(guess) - 2), min(max_n, math.ceil(guess) + 60) + 1)
    df = n - 1 if paired_design else 2 * n - 2
    nc = d * np.sqrt(n if paired_design else n / 2.0)
    crit = _sp.t.ppf(1 - alpha / 2, df)
    achieved = _sp.nct.sf(crit, df, nc) + _sp.nct.cdf(-crit, df, nc)
    hit = np.nonzero(achieved >= power)[0]
    return int(n[hit[0]]) if hit.size else max_n + 1


#: The verdict words of the reports and what each means.  "supported" and "refuted"
#: are symmetric: each needs a test adjusted within the claim's declared family.
VERDICTS = {
    "supported": "the effect goes in the thesis's direction and its family-adjusted test "
                 "against zero is significant at 5 % (flagged when it is also significantly "
                 "smaller than the thesis's effect)",
    "refuted": "after the same adjustment, the effect is significantly opposite to the "
               "thesis's, or significantly smaller than the thesis's published value once "
               "that value's own one-seed noise is counted (a two-sample test in which the "
               "thesis is a group of one)",
    "not distinguishable": "neither; we give the n per group at which the thesis's effect "
                           "would be detected with 80 % power at the family-adjusted level "
                           "and our measured spread",
    "untestable": "the data cannot express the effect (the reason is given), so no test "
                  "is made",
    "true by construction": "the claim follows from the definitions, whatever the data",
    "false by construction": "the definitions rule the claim out, whatever the data",
    "finding": "a convention or reading, which data cannot refute: we report whether it "
               "agrees with what was measured",
}


@dataclass(frozen=True)
class Verdict:
    """A verdict word (a key of :data:`VERDICTS`), ``n`` (seeds per group behind it),
    ``n_needed`` when not distinguishable (``None`` when it cannot be estimated),
    ``smaller`` when a supported effect is significantly smaller than the thesis's, and
    ``reason`` (why refuted, untestable or decided by construction)."""

    word: str
    n: int
    n_needed: int | None = None
    smaller: bool = False
    reason: str | None = None

    def text(self) -> str:
        """``supported`` / ``refuted (significantly opposite)`` /
        ``not distinguishable at n = 5 (n ≈ 23 needed)`` / ``untestable on this data:
        REASON`` / ``false by construction: REASON``."""
        if self.word == "supported":
            return "supported (smaller than the thesis's effect)" if self.smaller else self.word
        if self.word == "untestable":
            return f"untestable on this data: {self.reason}"
        if self.word != "not distinguishable":
            return f"{self.word}: {self.reason}" if self.reason else self.word
        if self.n_needed is None:
            need = "needed n unknown"
        elif self.n_needed <= self.n:  # powered, but the thesis's own noise is too large
            return (f"not distinguishable at n = {self.n} (enough to detect the thesis's "
                    f"effect; ours differs from its one-seed value by less than that value's "
                    f"own noise)")
        elif self.n_needed > MAX_N:
            need = f"n > {MAX_N:,} needed"
        else:
            need = f"n ≈ {self.n_needed} needed"
        return f"not distinguishable at n = {self.n} ({need})"


def untestable(reason: str, n: int = 0) -> Verdict:
    """The verdict when the data cannot express the effect."""
    return Verdict("untestable", n, reason=reason)


def verdict(effect: Effect, thesis_effect: float, *, p_adjusted: float | None = None,
            versus_thesis: Effect | None = None, p_thesis_adjusted: float | None = None,
            alpha: float = 0.05, family_size: int = 1, paired_design: bool = False,
            n_needed: int | None = None) -> Verdict:
    """The verdict on an :class:`Effect` against the thesis's effect (same units and
    sign convention; its sign is the thesis's direction).

    - supported: the estimate has the thesis's sign and the family-adjusted p against
      zero ``p_adjusted`` (``effect.p`` when not given) is below ``alpha``; flagged
      ``smaller`` when ``versus_thesis`` (:func:`against`) is also significantly on the
      small side after its adjustment ``p_thesis_adjusted``;
    - refuted: the estimate is significantly opposite (``p_adjusted < alpha``), or
      ``versus_thesis`` says it is significantly smaller than the thesis's value, its
      noise counted (``p_thesis_adjusted < alpha``);
    - otherwise not distinguishable, with ``n_needed`` or else the n per group that a
      t-test at ``alpha / family_size`` (the strictest Holm step) would need to detect
      ``thesis_effect`` with 80 % power at ``effect.sd`` (:func:`n_for_power`).

    An interval that holds zero never gives "refuted" unless the thesis's own value,
    with its noise, is significantly excluded.
    """
    if thesis_effect == 0 or not math.isfinite(thesis_effect):
        raise ValueError(f"thesis_effect must be a non-zero number, got {thesis_effect!r}")
    n = min(effect.n)
    if math.isnan(effect.lo) or math.isnan(effect.p):
        return Verdict("not distinguishable", n, None)
    s = 1.0 if thesis_effect > 0 else -1.0
    p = effect.p if p_adjusted is None else p_adjusted
    smaller = False
    if versus_thesis is not None and not math.isnan(versus_thesis.p):
        pt = versus_thesis.p if p_thesis_adjusted is None else p_thesis_adjusted
        smaller = s * versus_thesis.estimate < 0 and pt < alpha
    if p < alpha and s * effect.estimate > 0:
        return Verdict("supported", n, smaller=smaller)
    if p < alpha and s * effect.estimate < 0:
        return Verdict("refuted", n, reason="significantly opposite")
    if smaller:
        return Verdict("refuted", n, reason="significantly smaller than the thesis's value, "
                                            "its own noise counted")
    if n_needed is None:
        n_needed = n_for_power(thesis_effect, effect.sd, alpha / max(1, family_size), 0.8,
                               paired_design)
    return Verdict("not distinguishable", n, n_needed)


def n_for_power_slope(slope_effect: float, resid_sd: float, xs: Sequence[float],
                      alpha: float = 0.05, power: float = 0.8, max_n: int = MAX_N
                      ) -> int | None:
    """Runs per value of ``xs`` at which the least-squares slope's two-sided t-test at
    ``alpha`` detects a true slope ``slope_effect`` (residual sd ``resid_sd``) with
    probability ``power``: ``se = resid_sd / sqrt(n * sum((x - mean)^2))``, noncentral t
    on ``k n - 2`` dof.  ``None`` if undefined, ``max_n + 1`` if more are needed."""
    import numpy as np

    xs = sorted(set(_floats(xs, "xs")))
    if len(xs) < 2 or not (math.isfinite(slope_effect) and math.isfinite(resid_sd)) \
            or slope_effect == 0.0:
        return None
    if resid_sd == 0.0:
        return 1
    mean = sum(xs) / len(xs)
    sxx = sum((x - mean) ** 2 for x in xs)
    z = float(_sp.norm.ppf(1 - alpha / 2) + _sp.norm.ppf(power))
    guess = (z * resid_sd / abs(slope_effect)) ** 2 / sxx  # the normal approximation
    if guess > max_n:
        return max_n + 1
    n = np.arange(max(1, math.floor(guess) - 2), min(max_n, math.ceil(guess) + 60) + 1)
    df = len(xs) * n - 2
    ok = df >= 1
    n, df = n[ok], df[ok]
    nc = abs(slope_effect) / (resid_sd / np.sqrt(n * sxx))
    crit = _sp.t.ppf(1 - alpha / 2, df)
    achieved = _sp.nct.sf(crit, df, nc) + _sp.nct.cdf(-crit, df, nc)
    hit = np.nonzero(achieved >= power)[0]
    return int(n[hit[0]]) if hit.size else max_n + 1
