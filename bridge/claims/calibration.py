"""The verdict study's own error rates: run stores simulated from known truths, fed to
the real claim analyses (:mod:`bridge.claims.analysis`), and the rate of each verdict
word counted.

Each simulation draws, for one claim, the runs of the offline scale's primary arms
(its seeds per group) with the spreads the offline study measured
(:data:`OFFLINE_SPREADS`), under one of these truths:

- ``thesis``: the thesis's effect is true.  Where the thesis published a one-seed
  number (claims 1 and 3), that number is one noisy measurement of the true effect:
  each simulated study draws its true effect around it with the number's own standard
  error, kept on the thesis's side of zero (:func:`_thesis_side`), so a rule that
  ignored that noise would refute a true thesis too often.
  Claim 2: half of the runs collapse (the least favourable case of "most runs
  collapse");
- ``none``: no effect (claim 6's thesis is itself "no difference");
- ``opposite``: the thesis's effect with the sign flipped;
- ``margin`` (claim 6 only): MixLU and Noisy ReLU differ by exactly the equivalence
  margin.

The false verdicts the study promises to keep at or below 5 % (:data:`TARGETS`):
"refuted" when the thesis is true, "supported" when there is no effect, and
"supported" (equivalent) at the margin.  ``benchmarks/verdict_calibration.py`` prints
the table.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bridge.claims.baselines import EQUIVALENCE_MARGIN, PRIMARY_MIXLU, claim6
from bridge.claims.plan import Sweep
from bridge.claims.training import THESIS_EPOCHS, THESIS_SLOPE, claim1, claim2, claim3
from bridge.claims.units import PRIMARY_SHARE, claim4

__all__ = ["OFFLINE_SPREADS", "TARGETS", "TRUTHS", "Rate", "simulate", "calibrate",
           "worst_false_rate"]

#: Spreads of the offline study (2026-12-01, 152 runs on mnist-5k and Fashion-MNIST),
#: as its report measured them: the gap's residual sd about the slope (points; from
#: +0.039 [+0.006, +0.073] pts/% over 15 runs at 0/1/5 %), the sd of claim 3's paired
#: epoch differences (epochs; +0.20 [-0.36, +0.76] over 5 pairs), ReLU's dead
#: ReLU-side units (% and sd) and the test error's sd of claim 6's arms (points).
OFFLINE_SPREADS = {"gap_resid_sd": 0.13, "epochs_sd": 0.45, "dead_relu": 0.24,
                   "dead_sd": 0.08, "test_sd": 0.115}
#: Seeds per group at the offline scale (claim 2: the step-matched Fashion-MNIST sweep).
OFFLINE_SEEDS = {1: 5, 2: 6, 3: 5, 4: 5, 6: 5}
#: Claim -> truths simulated.
TRUTHS = {1: ("thesis", "none", "opposite"), 2: ("thesis", "none"),
          3: ("thesis", "none", "opposite"), 4: ("thesis", "none", "opposite"),
          6: ("thesis", "margin")}
#: (truth, verdict word) pairs whose rate must stay at or below 5 %.
TARGETS = {("thesis", "refuted"): 0.05, ("none", "supported"): 0.05,
           ("margin", "supported"): 0.05}

#: The sweep the simulated runs belong to: the thesis's 12,000 SGD steps.
SWEEP = Sweep("calibration", "mixlu_mnist", "simulated", "mnist", epochs=20, seeds=5,
              activations="relu", claims=(1, 2, 3, 4, 6), train_subset=60_000)


def _record(spec: str, seed: int, train: float, test: float, *, status: str = "ok",
            curve: list[float] | None = None, dead: float = 0.0) -> dict[str, Any]:
    """A run record with the fields the analyses read (errors as fractions; ``dead``:
    % of ReLU-side units)."""
    from ann.specs import RunSpec, parse_activation

    run = RunSpec(parse_activation(spec), seed).fields()
    errors = curve if curve is not None else [test]
    diagnostics = {"positions": [{"units": {"relu": 100_000},
                                  "dead": {"relu": int(round(1000.0 * max(dead, 0.0)))},
                                  "large_negative_bias_share": 0.0}]}
    epochs = [{"epoch": i + 1, "test_error": e, "train_error": train} for i, e in
              enumerate(errors)]
    epochs[-1]["diagnostics"] = diagnostics
    run.update(status=status, train_error=train, test_error=test, epochs=epochs, seconds=0.0)
    return run


def _thesis_side(rng: np.random.Generator, value: float, se: float) -> float:
    """A true effect of which the published one-seed ``value`` (standard error ``se``)
    is a measurement, on the published value's side of zero."""
    while True:
        draw = value + rng.normal(0, se)
        if draw * value > 0:
            return draw


def _claim1(truth: str, rng: np.random.Generator) -> dict[str, Any]:
    own = THESIS_SLOPE
    b = {"thesis": _thesis_side(rng, own.estimate, own.se) if truth == "thesis" else 0.0,
         "none": 0.0, "opposite": -own.estimate}[truth]
    runs = []
    for p in (0, 1, 5):
        spec = "relu" if p == 0 else f"mixlu:{p}:reference:resample"
        for seed in range(OFFLINE_SEEDS[1]):
            gap = 3.0 + b * p + rng.normal(0, OFFLINE_SPREADS["gap_resid_sd"])
            train = 0.3 + abs(rng.normal(0, 0.05))
            runs.append(_record(spec, seed, train / 100, (train + gap) / 100))
    return claim1({SWEEP.name: runs}, [SWEEP])


def _claim2(truth: str, rng: np.random.Generator) -> dict[str, Any]:
    rate = {"thesis": 0.5, "none": 0.0}[truth]
    runs = []
    for seed in range(OFFLINE_SEEDS[2]):
        runs.append(_record("relu", seed, 0.02, 0.1))
        if rng.random() < rate:
            runs.append(_record("mixlu:10:reference:resample", seed, 0.9, 0.9,
                                status="diverged"))
        else:
            runs.append(_record("mixlu:10:reference:resample", seed, 0.1, 0.15))
    return claim2({SWEEP.name: runs}, [SWEEP])


def _claim3(truth: str, rng: np.random.Generator) -> dict[str, Any]:
    sd = OFFLINE_SPREADS["epochs_sd"]  # one pair's difference: the thesis's own noise
    shift = {"thesis": _thesis_side(rng, THESIS_EPOCHS, sd) if truth == "thesis" else 0.0,
             "none": 0.0, "opposite": -THESIS_EPOCHS}[truth]

    def curve(first: int) -> list[float]:  # 2 % until epoch `first`, 1 % from it
        return [0.02 if e < first else 0.01 for e in range(1, 10)]

    runs = []
    for seed in range(OFFLINE_SEEDS[3]):
        base = 3.0 + rng.normal(0, sd / math.sqrt(2))
        relu = int(np.clip(round(base + rng.normal(0, sd / 2)), 2, 10))
        one = int(np.clip(round(base + shift + rng.normal(0, sd / 2)), 1, 10))
        runs.append(_record("relu", seed, 0.0, 0.01, curve=curve(relu)))
        runs.append(_record("mixlu:1:reference:resample", seed, 0.0, 0.01, curve=curve(one)))
    return claim3({SWEEP.name: runs}, [SWEEP])


def _claim4(truth: str, rng: np.random.Generator) -> dict[str, Any]:
    relu = OFFLINE_SPREADS["dead_relu"]
    level = {"thesis": 0.0, "none": relu, "opposite": 2 * relu}[truth]
    sd = OFFLINE_SPREADS["dead_sd"]
    runs = []
    for seed in range(OFFLINE_SEEDS[4]):
        runs.append(_record("relu", seed, 0.0, 0.03, dead=relu + rng.normal(0, sd)))
        runs.append(_record(f"mixlu:{PRIMARY_SHARE:g}:reference:resample", seed, 0.0, 0.03,
                            dead=level + (rng.normal(0, sd) if level else 0.0)))
    return claim4({SWEEP.name: runs}, [SWEEP])


def _claim6(truth: str, rng: np.random.Generator) -> dict[str, Any]:
    diff = {"margin": EQUIVALENCE_MARGIN, "thesis": 0.0}[truth]
    sd = OFFLINE_SPREADS["test_sd"]
    share = PRIMARY_MIXLU.split()[1]
    runs = []
    for seed in range(OFFLINE_SEEDS[6]):
        for spec, shift in (("relu", 0.0), ("noisy:1", 0.0),
                            (f"mixlu:{share}:reference:resample", diff)):
            runs.append(_record(spec, seed, 0.0, (3.0 + shift + rng.normal(0, sd)) / 100))
    return claim6({SWEEP.name: runs}, [SWEEP])


SIMULATIONS: dict[int, Callable[[str, np.random.Generator], dict[str, Any]]] = {
    1: _claim1, 2: _claim2, 3: _claim3, 4: _claim4, 6: _claim6}


def simulate(claim: int, truth: str, seed: int) -> dict[str, Any]:
    """One simulated study of ``claim`` under ``truth``, analysed: the claim dict."""
    if claim not in SIMULATIONS or truth not in TRUTHS[claim]:
        raise ValueError(f"no simulation of claim {claim!r} under truth {truth!r}; "
                         f"choose from {TRUTHS}")
    return SIMULATIONS[claim](truth, np.random.default_rng([claim, seed]))


@dataclass(frozen=True)
class Rate:
    """How often ``word`` came out of ``reps`` studies of ``claim`` under ``truth``,
    with its Monte-Carlo standard error."""

    claim: int
    truth: str
    word: str
    count: int
    reps: int

    @property
    def rate(self) -> float:
        return self.count / self.reps

    @property
    def mc_se(self) -> float:
        """Monte-Carlo standard error (at least that of one count in ``reps``)."""
        r = max(self.rate, 1.0 / self.reps)
        return math.sqrt(r * (1.0 - r) / self.reps)

    @property
    def target(self) -> float | None:
        """The bound this rate must keep, or ``None``."""
        return TARGETS.get((self.truth, self.word))


def calibrate(reps: int, claims: tuple[int, ...] = tuple(SIMULATIONS),
              progress: Callable[[int, str], None] | None = None) -> list[Rate]:
    """Every verdict word's rate per claim and truth over ``reps`` simulated studies
    (the target words listed even when they never came out)."""
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps!r}")
    out = []
    for claim in claims:
        for truth in TRUTHS[claim]:
            if progress is not None:
                progress(claim, truth)
            words = Counter(simulate(claim, truth, i)["verdict"] for i in range(reps))
            for word, target_truth in (("refuted", "thesis"), ("supported", "none"),
                                       ("supported", "margin")):
                if truth == target_truth:
                    words.setdefault(word, 0)
            out += [Rate(claim, truth, w, c, reps) for w, c in sorted(words.items())]
    return out


def worst_false_rate(rates: list[Rate]) -> Rate | None:
    """The largest rate among those with a target."""
    bounded = [r for r in rates if r.target is not None]
    return max(bounded, key=lambda r: r.rate) if bounded else None
