"""Claims 1-3, read from the training curves: less overfitting (the gap vs the
share), collapse at 10 % (3 % on CIFAR-10), and Table 8's dynamics.  Each follows its
pre-registered plan (:data:`bridge.claims.analysis_plan.PLAN`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ann.report import THESIS_MNIST, THESIS_MNIST_EPOCHS, dynamics, markdown_table
from bridge.claims.analysis_plan import COLLAPSE_RATE, THESIS_STEPS
from bridge.claims.plan import PUBLISHED_MODE, Sweep
from bridge.claims.records import (
    COLLAPSE_ERROR,
    by_share,
    collapsed,
    finished,
    gap_of,
    is_relu,
    mode_name,
    mode_of,
    modes,
    points,
)
from bridge.claims.sections import (
    Claim,
    Later,
    Runs,
    decide,
    family_rows,
    judged_test,
    make_claim,
    md_table,
    no_data,
    p_cell,
    plain_test,
    set_verdict,
    stat_cell,
    sweeps_for,
    verdict_counts,
)
from common.stats import (
    Binomial,
    Verdict,
    exact_binomial,
    n_for_power_slope,
    paired,
    slope,
    untestable,
    welch,
)

# ----------------------------------------------------------------------------- claim 1
#: The thesis's gap (test − train, points) per share 0..9 % (Table 7, MNIST).
THESIS_GAP = [(p, t - tr) for p, (t, tr) in THESIS_MNIST.items() if p < 10]
#: Σ(x − x̄)² of the thesis's shares 0..9: a slope fitted on one seed per share has
#: standard error sd / sqrt(THESIS_SXX).
THESIS_SXX = sum((p - 4.5) ** 2 for p, _ in THESIS_GAP)
#: The thesis's gap slope over 0..9 % with its own interval and standard error.
THESIS_SLOPE = slope([p for p, _ in THESIS_GAP], [v for _, v in THESIS_GAP])


def _primary_sweep(claim: int, sweeps: Sequence[Sweep], runs: Runs) -> Sweep | None:
    """The LeNet MNIST sweep of the claim (the first LeNet sweep that reads it)."""
    return next((s for s in sweeps_for(claim, sweeps, runs) if s.model == "lenet"), None)


def claim1(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Slope of the gap vs share (shares below the collapse share) per sweep x mode,
    against zero and against the thesis's slope with its own noise; primary: the
    published mode of the LeNet MNIST sweep; the other modes are a secondary family;
    the gap at each share against 0 % is descriptive."""
    chosen = sweeps_for(1, sweeps, runs)
    primary_sweep = _primary_sweep(1, sweeps, runs)
    if not chosen or primary_sweep is None:
        return no_data(1, "no sweep of this claim has runs")
    own = THESIS_SLOPE
    thesis = own.estimate
    tests, rows, heads = [], [], []
    for sw in chosen:
        for mode in modes(runs[sw.name]):
            groups = {p: finished(rs) for p, rs in by_share(runs[sw.name], mode).items()
                      if p < _collapse_share(sw)}
            xs = [p for p, rs in groups.items() for _ in rs]
            gaps = [gap_of(r) for rs in groups.values() for r in rs]
            if len(set(xs)) < 2:
                continue
            family = "primary" if (sw is primary_sweep and mode == PUBLISHED_MODE) \
                else "secondary"
            eff = slope(xs, gaps)
            name = f"{sw.dataset} {mode_name(mode)}"
            per_share = max(1, round(len(xs) / len(set(xs))))
            if all(r["train_error"] == 0 for rs in groups.values() for r in rs):
                judged = set_verdict(plain_test(f"gap slope, {name}", eff, kind="slope",
                                                family=family, runs_per_share=per_share),
                                     untestable("training error 0.00 % in every run, so the "
                                                "gap is the test error", min(eff.n)))
            else:
                thesis_se = max(own.se, eff.sd / math.sqrt(THESIS_SXX)) \
                    if not math.isnan(eff.sd) else own.se
                judged = judged_test(
                    f"gap slope, {name}", eff, thesis, family=family, thesis_se=thesis_se,
                    kind="slope", runs_per_share=per_share,
                    power=lambda level, sd=eff.sd, xs=xs: n_for_power_slope(
                        thesis, sd, xs, alpha=level))
            tests.append(judged)
            base = groups.get(0.0, [])
            base_gap = [gap_of(r) for r in base]
            for p, rs in groups.items():
                if p == 0 or not rs or not base:
                    continue
                gap = [gap_of(r) for r in rs]
                d = welch(gap, base_gap)
                dtest = welch([points(r["test_error"]) for r in rs],
                              [points(r["test_error"]) for r in base])
                tests.append(plain_test(f"gap {p:g} % − 0 %, {name}", d, kind="welch",
                                        test_change=dtest.to_dict()))
                rows.append((family, [sw.dataset, mode_name(mode), f"{p:g}", stat_cell(gap),
                                      d.format(), "", dtest.format()]))
            rows.append((family, [sw.dataset, mode_name(mode), "slope",
                                  f"{eff.format(3)} pts/%", "", Later(judged), ""]))
            heads.append((family, name, judged, sw))
    decide(tests)
    primary = next((h for h in heads if h[0] == "primary"), None)
    if primary is None:
        return no_data(1, "the published mode has fewer than two shares with finished runs "
                          "in the LeNet MNIST sweep")
    header = ["data", "mode", "% NegLU", "gap (mean ± sd [95 % CI])",
              "gap − gap at 0 % (descriptive)", "verdict", "test error − at 0 %"]
    intro = (f"gap = test − training error (points) over the runs that did not collapse; "
             f"thesis slope (Table 7, MNIST, 0–9 %, one seed per share): {thesis:+.3f} "
             f"[{own.lo:+.3f}, {own.hi:+.3f}] pts/% (its own 95 % interval); the n needed is "
             f"runs per share at the family-adjusted level")
    sections = [f"**Primary** ({primary_sweep.describe_data()}, published mode): {intro}"
                f"\n\n" + md_table(header, family_rows(rows, "primary"))]
    secondary = family_rows(rows, "secondary")
    if secondary:
        sections.append("**Secondary** (the other modes and sweeps, Holm within this "
                        "family; they do not decide the verdict)\n\n"
                        + md_table(header, secondary))
    _, name, head, sw = primary
    v = head["_verdict"]
    others = [(n, t["_verdict"]) for f, n, t, _ in heads if f == "secondary"]
    versus = head.get("versus_thesis")
    ours = f"slope {head['_effect'].format(3)} pts/%, n = {head['n'][0]} runs ({name})"
    if versus:
        ours += (f"; − thesis {versus['estimate']:+.3f} (p_Holm "
                 f"{p_cell(head.get('p_thesis_holm'))}, its noise counted)")
    return make_claim(
        1, thesis=f"gap {THESIS_GAP[0][1]:.2f} → {THESIS_GAP[-1][1]:.2f} pts from 0 to 9 %; "
                  f"slope {thesis:+.3f} [{own.lo:+.3f}, {own.hi:+.3f}] pts/% (MNIST, 1 seed "
                  f"per share)",
        ours=ours, verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[s.name for s in chosen], sections=sections, tests=tests,
        notes=[f"secondary modes: {verdict_counts(others)}"] if others else [],
        figures=["gap_vs_share.png"])


# ----------------------------------------------------------------------------- claim 2
def _collapse_share(sw: Sweep) -> float:
    return 3.0 if sw.model == "lenet5" else 10.0


def sgd_steps(sw: Sweep) -> int | None:
    """SGD steps per run of a sweep as stored (batch 100), ``None`` when its training
    set size is unknown."""
    return None if sw.train_subset is None else sw.train_subset * sw.epochs // 100


def _n_to_decide(rate: float, max_n: int = 1000) -> int | None:
    """Smallest n at which the observed ``rate`` would give a Clopper-Pearson interval
    excluding :data:`COLLAPSE_RATE` (a plug-in estimate, not a power calculation)."""
    if rate == COLLAPSE_RATE:
        return None
    for n in range(1, max_n + 1):
        b = exact_binomial(round(rate * n), n, COLLAPSE_RATE)
        if b.hi < COLLAPSE_RATE or b.lo > COLLAPSE_RATE:
            return n
    return None


def collapse_verdict(b: Binomial) -> Verdict:
    """Claim 2's rule: the exact interval of the collapse count ``b`` (against
    :data:`COLLAPSE_RATE`) above or below 50 %."""
    if b.lo > COLLAPSE_RATE:
        return Verdict("supported", b.n)
    if b.hi < COLLAPSE_RATE:
        return Verdict("refuted", b.n, reason=f"collapse rate below {COLLAPSE_RATE:.0%}")
    return Verdict("not distinguishable", b.n, _n_to_decide(b.k / b.n) if b.n else None)


def claim2(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Collapse rate k/n with exact intervals per sweep x share x mode; primary: the
    published mode at the collapse share in the sweep whose SGD steps match the
    thesis's; the others are descriptive, with whether each mode reproduces the
    thesis's pattern (training error rising up to the collapse share, then collapse)."""
    chosen = sweeps_for(2, sweeps, runs)
    if not chosen:
        return no_data(2, "no sweep of this claim has runs")
    matched = next((s for s in chosen if s.model == "lenet" and sgd_steps(s) == THESIS_STEPS),
                   None)
    sections, tests, patterns, primary = [], [], [], None
    for sw in chosen:
        at = _collapse_share(sw)
        rows = []
        for mode in modes(runs[sw.name]):
            groups = by_share(runs[sw.name], mode)
            xs, train, at_share = [], [], None
            for p, rs in groups.items():
                k, n = sum(collapsed(r) for r in rs), len(rs)
                b = exact_binomial(k, n, COLLAPSE_RATE)
                if p < at:
                    for r in finished(rs):
                        xs.append(p)
                        train.append(points(r["train_error"]))
                if p == at:
                    at_share = b
                fin = [points(r["train_error"]) for r in finished(rs)]
                rows.append([mode_name(mode), f"{p:g}", f"{k}/{n}",
                             f"[{b.lo:.2f}, {b.hi:.2f}]", stat_cell(fin)])
            if at_share is None:
                continue
            name = f"{sw.dataset} {mode_name(mode)}"
            is_primary = sw is matched and mode == PUBLISHED_MODE
            b = at_share
            v = collapse_verdict(b)
            rise = slope(xs, train) if len(set(xs)) >= 2 else None
            rising = rise is not None and not math.isnan(rise.lo) and rise.lo > 0
            reproduces = v.word == "supported" and rising
            patterns.append(f"{name}: " + ("reproduces" if reproduces else "does not reproduce")
                            + f" the pattern (collapse at {at:g} %: {b.k}/{b.n}; "
                            + "training-error slope below it "
                            + (f"{rise.format(3)} pts/%" if rise else "—") + ")")
            test = set_verdict({"test": f"collapse at {at:g} %, {name}", "kind": "exact binomial",
                                "family": "primary" if is_primary else "descriptive",
                                **b.to_dict(), "steps": sgd_steps(sw),
                                "reproduces_pattern": reproduces,
                                "train_slope_below": rise.to_dict() if rise else None}, v)
            tests.append(test)
            rows.append([mode_name(mode), f"rule at {at:g} %", f"p = {b.p:.2g}",
                         ("**primary**: " if is_primary else "descriptive: ") + v.text(),
                         "pattern " + ("reproduced" if reproduces else "not reproduced")])
            if is_primary:
                primary = (name, v, b, sw)
        if rows:
            steps = sgd_steps(sw)
            sections.append(
                f"{sw.describe_data()} ({'?' if steps is None else f'{steps:,}'} SGD steps per "
                f"run; the thesis's: {THESIS_STEPS:,}): collapsed runs k/n (diverged, or "
                f"training error ≥ {100 * COLLAPSE_ERROR:g} %) with exact (Clopper–Pearson) "
                f"95 % intervals; training error over the runs that did not collapse; thesis: "
                f"collapse at {at:g} %\n\n"
                + markdown_table(["mode", "% NegLU", "collapsed", "exact 95 %",
                                  "training error % of the others"], rows))
    thesis = ("90.13 % training error at 10 % NegLUs, ≤ 2.09 % up to 9 % (MNIST, 1 seed); "
              "10 % accuracy at 3 % (CIFAR-10)")
    missing = [s.name for s in sweeps if 2 in s.claims and not runs.get(s.name)]
    if primary is None and missing:
        return make_claim(2, thesis=thesis, ours="—", verdict_text="not tested",
                          verdict_word="not tested", data="—", sweeps=[s.name for s in chosen],
                          sections=sections, tests=tests,
                          notes=[f"sweep {', '.join(missing)} has no runs yet: the primary test "
                                 f"waits for it", *patterns],
                          figures=["divergence_vs_share.png"])
    if primary is None:
        v = untestable(f"no sweep's published mode matches the thesis's {THESIS_STEPS:,} SGD "
                       f"steps at the collapse share")
        return make_claim(2, thesis=thesis, ours="—", verdict_text=v.text(),
                          verdict_word=v.word,
                          data="; ".join(f"{s.describe_data()} ({sgd_steps(s) or '?'} steps)"
                                         for s in chosen),
                          sweeps=[s.name for s in chosen],
                          sections=sections, tests=tests, notes=patterns,
                          figures=["divergence_vs_share.png"])
    name, v, b, sw = primary
    return make_claim(
        2, thesis=thesis,
        ours=f"{b.k}/{b.n} collapsed at {_collapse_share(sw):g} % [{b.lo:.2f}, {b.hi:.2f}], "
             f"exact p = {b.p:.2g} against 50 % ({name}, {sgd_steps(sw):,} steps)",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[s.name for s in chosen], sections=sections, tests=tests, notes=patterns,
        figures=["divergence_vs_share.png"])


# ----------------------------------------------------------------------------- claim 3
#: Levels of claim 3 relative to the ReLU net's final test error: the thesis's 1.5 %
#: and 1.2 % over its 0.92 %.
LEVEL_RATIOS = (1.5 / 0.92, 1.2 / 0.92)
#: Epochs of Table 8.
TABLE8_EPOCHS = 9
#: The least sd of a paired difference of epochs-to-level: rounding two crossing times
#: to whole epochs alone adds sqrt(2 / 12) epochs (two uniform rounding errors).
EPOCH_SD = math.sqrt(2.0 / 12.0)


def _levels(final_relu: float) -> tuple[float, float]:
    return tuple(round(final_relu * r, 6) for r in LEVEL_RATIOS)


def _table8(result: dict[str, Any], levels: tuple[float, float]) -> tuple[float, float]:
    """Epoch at which a run's test error first reaches ``levels[0]`` within Table 8's
    epochs (one that never does counts as ``TABLE8_EPOCHS + 1``) and its roughness
    over them (points)."""
    d = dynamics({"epochs": result["epochs"][:TABLE8_EPOCHS]}, levels)
    first = d["first_epoch"][f"{levels[0]:g}"]
    return (float(TABLE8_EPOCHS + 1) if first is None else float(first),
            100.0 * d["roughness"])


_THESIS8 = {p: _table8({"epochs": [{"test_error": e} for e in errs]},
                       _levels(THESIS_MNIST[0][0] / 100.0))
            for p, errs in THESIS_MNIST_EPOCHS.items()}
#: The thesis's Table 8 effects, 1 % − ReLU: epochs to 1.5 % test error (epoch 2 vs 3)
#: and roughness over epochs 1-9 (points).
THESIS_EPOCHS = _THESIS8[1][0] - _THESIS8[0][0]
THESIS_ROUGHNESS = _THESIS8[1][1] - _THESIS8[0][1]


def claim3(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Epochs to the first level (relative to ReLU's final test error; a net that never
    reaches it within 9 epochs counts as epoch 10), 1 % − 0 %, paired by seed; primary:
    the published mode; roughness is descriptive."""
    sw = _primary_sweep(3, sweeps, runs)
    if sw is None:
        return no_data(3, "no sweep of this claim has runs")
    relu = {r["seed"]: r for r in finished(x for x in runs[sw.name] if is_relu(x))}
    if not relu:
        return no_data(3, "no finished ReLU run")
    final = sum(r["test_error"] for r in relu.values()) / len(relu)
    levels = _levels(final)
    tests, rows, heads = [], [], {}

    for mode in modes(runs[sw.name]):
        one = {r["seed"]: r for r in finished(runs[sw.name]) if mode_of(r) == mode
               and float(r["neg_percent"]) == 1.0}
        seeds = sorted(set(one) & set(relu))
        if not seeds:
            continue
        family = "primary" if mode == PUBLISHED_MODE else "secondary"
        m1 = [_table8(one[s], levels) for s in seeds]
        m0 = [_table8(relu[s], levels) for s in seeds]
        e1, e0 = [m[0] for m in m1], [m[0] for m in m0]
        e_rough = paired([m[1] for m in m1], [m[1] for m in m0])
        tests.append(plain_test(f"roughness (epochs 1-9), 1 % − 0 %, {mode_name(mode)}",
                                e_rough, kind="paired"))
        e_epochs = paired(e1, e0, min_sd=EPOCH_SD)
        name = f"epochs to ≤ {100 * levels[0]:.2f} %, 1 % − 0 %, {mode_name(mode)}"
        censored = TABLE8_EPOCHS + 1
        if all(e == 1.0 for e in e0):
            test = set_verdict(plain_test(name, e_epochs, kind="paired", family=family),
                               untestable("the ReLU net reaches the level at epoch 1 in every "
                                          "pair, so no earlier epoch exists", len(seeds)))
        elif all(a == censored and b == censored for a, b in zip(e1, e0, strict=True)):
            test = set_verdict(plain_test(name, e_epochs, kind="paired", family=family),
                               untestable("no net reaches the level within 9 epochs",
                                          len(seeds)))
        else:
            test = judged_test(name, e_epochs, THESIS_EPOCHS, family=family,
                               thesis_se=EPOCH_SD if math.isnan(e_epochs.sd) else e_epochs.sd,
                               paired_design=True, kind="paired")
        tests.append(test)
        reached = sum(a < censored or b < censored for a, b in zip(e1, e0, strict=True))
        at_one = sum(b == 1.0 for b in e0)
        rows.append((family, [mode_name(mode), f"{reached}/{len(seeds)}",
                              f"{at_one}/{len(seeds)}", e_epochs.format(2), Later(test),
                              e_rough.format(3)]))
        heads[mode] = test
    decide(tests)
    if PUBLISHED_MODE not in heads:
        return no_data(3, "no 1 % run of the published mode is paired with a ReLU run of the "
                          "same seed")
    head = heads[PUBLISHED_MODE]
    v = head["_verdict"]
    header = ["mode", "pairs reaching", "ReLU at epoch 1", "epochs to first level, 1 % − 0 %",
              "verdict", "roughness (pts), 1 % − 0 % (descriptive)"]
    intro = (f"{sw.describe_data()}: levels {100 * levels[0]:.2f} % and {100 * levels[1]:.2f} % "
             f"(the thesis's 1.5 % and 1.2 % relative to its ReLU's 0.92 %, scaled to our "
             f"ReLU's {100 * final:.2f} %); 1 % − ReLU paired by seed; a net that never "
             f"reaches the level within 9 epochs counts as epoch 10; thesis: "
             f"{THESIS_EPOCHS:+.0f} epoch to the first level (one pair), roughness "
             f"{THESIS_ROUGHNESS:+.2f} pts")
    sections = [f"**Primary** (published mode). {intro}\n\n"
                + md_table(header, family_rows(rows, "primary"))]
    secondary = family_rows(rows, "secondary")
    if secondary:
        sections.append("**Secondary** (the other modes, Holm within this family)\n\n"
                        + md_table(header, secondary))
    others = [(mode_name(m), t["_verdict"]) for m, t in heads.items() if m != PUBLISHED_MODE]
    return make_claim(
        3, thesis="1 % reaches 1.5 % test error 1 epoch earlier (epoch 2 vs 3; Table 8, "
                  "MNIST, one seed)",
        ours=f"{head['_effect'].format()} epochs, {head['n'][0]} pairs "
             f"({mode_name(PUBLISHED_MODE)})",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[sw.name], sections=sections, tests=tests,
        notes=[f"secondary modes: {verdict_counts(others)}"] if others else [],
        figures=["errors_over_epochs.png"])
