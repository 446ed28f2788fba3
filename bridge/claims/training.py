"""Claims 1-3, read from the training curves: less overfitting (the gap vs the
share), collapse at 10 % (3 % on CIFAR-10), and Table 8's dynamics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ann.report import THESIS_MNIST, THESIS_MNIST_EPOCHS, markdown_table
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
    headline,
    judged_test,
    make_claim,
    md_table,
    no_data,
    plain_test,
    stat_cell,
    sweeps_for,
    thesis_slope,
    verdict_counts,
)
from common.stats import (
    Verdict,
    n_for_power_slope,
    paired,
    slope,
    welch,
    wilson,
)

# ----------------------------------------------------------------------------- claim 1
#: The thesis's gap (test − train, points) per share 0..9 % (Table 7, MNIST).
THESIS_GAP = [(p, t - tr) for p, (t, tr) in THESIS_MNIST.items() if p < 10]


def claim1(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Slope of the gap vs share (shares below the collapse share), its CI and
    verdict against the thesis's slope, per sweep x mode; the gap at each share
    against 0 % (Welch) and the test-error change beside it; Holm over all of them."""
    chosen = sweeps_for(1, sweeps, runs)
    if not chosen:
        return no_data(1, "no sweep of this claim has runs")
    thesis = thesis_slope(THESIS_GAP)
    tests, sections, heads = [], [], []
    for sw in chosen:
        rows = []
        for mode in modes(runs[sw.name]):
            groups = {p: finished(rs) for p, rs in by_share(runs[sw.name], mode).items()
                      if p < _collapse_share(sw)}
            xs = [p for p, rs in groups.items() for _ in rs]
            gaps = [gap_of(r) for rs in groups.values() for r in rs]
            if len(set(xs)) < 2:
                continue
            eff = slope(xs, gaps)
            name = f"{sw.dataset} {mode_name(mode)}"
            per_share = max(1, round(len(xs) / len(set(xs))))
            need = n_for_power_slope(thesis, eff.sd, xs)
            judged = judged_test(f"gap slope, {name}", eff, thesis, kind="slope",
                             n_needed=need,
                             runs_per_share=per_share)
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
                rows.append([mode_name(mode), f"{p:g}", stat_cell(gap),
                             d.format(), "", dtest.format()])
            rows.append([mode_name(mode), "slope", f"{eff.format(3)} pts/%", "",
                         Later(judged), ""])
            heads.append((mode, name, judged, sw))
        if rows:
            sections.append((sw, rows))
    decide(tests)
    if not heads:
        return no_data(1, "fewer than two shares with finished runs")
    tables = [f"{sw.describe_data()}: gap = test − train error (points) over the runs that did "
              f"not collapse; thesis slope (Table 7, MNIST, 0–9 %): {thesis:+.3f} pts/%; the "
              f"n needed is runs per share\n\n" + md_table(
                  ["mode", "% NegLU", "gap (mean ± sd [95 % CI])", "gap − gap at 0 %",
                   "verdict", "test error − at 0 %"], rows) for sw, rows in sections]
    verdicts = [(name, t["_verdict"]) for _, name, t, _ in heads]
    mode, _, head, sw = next((h for h in heads if h[0] == PUBLISHED_MODE), heads[0])
    v = head["_verdict"]
    return make_claim(
        1, thesis=f"gap {THESIS_GAP[0][1]:.2f} → {THESIS_GAP[-1][1]:.2f} pts from 0 to 9 %; "
                  f"slope {thesis:+.3f} pts/% (MNIST)",
        ours=f"slope {head['_effect'].format(3)} pts/%, n = {head['n'][0]} runs "
             f"({sw.dataset}, {mode_name(mode)})",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[s.name for s in chosen], sections=tables, tests=tests,
        notes=[f"per mode: {verdict_counts(verdicts)}"], figures=["gap_vs_share.png"])


# ----------------------------------------------------------------------------- claim 2
def _collapse_share(sw: Sweep) -> float:
    return 3.0 if sw.model == "lenet5" else 10.0


def _n_to_decide(rate: float, level: float = 0.95, max_n: int = 1000) -> int | None:
    """Smallest n at which the observed ``rate`` would give a Wilson interval excluding
    50 % (a plug-in estimate, not a power calculation)."""
    if rate == 0.5:
        return None
    for n in range(1, max_n + 1):
        lo, hi = wilson(round(rate * n), n, level)
        if hi < 0.5 or lo > 0.5:
            return n
    return None


def claim2(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Collapse rate k/n with Wilson intervals per share x mode; the first share above
    50 %; which modes reproduce the thesis's pattern (training error rising up to the
    collapse share, then collapse there)."""
    chosen = sweeps_for(2, sweeps, runs)
    if not chosen:
        return no_data(2, "no sweep of this claim has runs")
    sections, tests, verdicts, patterns, heads = [], [], [], [], []
    for sw in chosen:
        at = _collapse_share(sw)
        rows = []
        for mode in modes(runs[sw.name]):
            groups = by_share(runs[sw.name], mode)
            first = None
            earlier_lo, at_interval, below_ok = 0.0, None, True
            xs, train = [], []
            undecided_rates = []
            for p, rs in groups.items():
                k, n = sum(collapsed(r) for r in rs), len(rs)
                lo, hi = wilson(k, n)
                if first is None and lo > 0.5:
                    first = p
                if p < at:
                    earlier_lo = max(earlier_lo, lo)
                    below_ok = below_ok and hi < 0.5
                    if hi >= 0.5:
                        undecided_rates.append(k / n)
                    for r in finished(rs):
                        xs.append(p)
                        train.append(points(r["train_error"]))
                if p == at:
                    at_interval = (k, n, lo, hi)
                fin = [points(r["train_error"]) for r in finished(rs)]
                rows.append([mode_name(mode), f"{p:g}", f"{k}/{n}", f"[{lo:.2f}, {hi:.2f}]",
                             stat_cell(fin)])
            name = f"{sw.dataset} {mode_name(mode)}"
            if at_interval is None:
                continue
            k, n, lo, hi = at_interval
            if lo > 0.5 and below_ok:
                v = Verdict("supported", n)
            elif hi < 0.5 or earlier_lo > 0.5:
                v = Verdict("refuted", n)
            else:  # the runs each undecided share needs, at its observed rate
                if not lo > 0.5 and not hi < 0.5:
                    undecided_rates.append(k / n)
                needs = [_n_to_decide(rate) for rate in undecided_rates]
                v = Verdict("not distinguishable", n,
                            None if None in needs or not needs else max(needs))
            rise = slope(xs, train) if len(set(xs)) >= 2 else None
            rising = rise is not None and not math.isnan(rise.lo) and rise.lo > 0
            reproduces = v.word == "supported" and rising
            patterns.append(f"{name}: " + ("reproduces" if reproduces else "does not reproduce")
                            + f" (collapse at {at:g} %: {k}/{n}; training-error slope below "
                            + (f"it {rise.format(3)} pts/%" if rise else "it: —") + ")")
            verdicts.append((name, v))
            tests.append({"test": f"collapse at {at:g} %, {name}", "kind": "wilson", "k": k,
                          "n": n, "lo": lo, "hi": hi, "first_share_over_half": first,
                          "verdict": v.text(), "reproduces_pattern": reproduces,
                          "train_slope_below": rise.to_dict() if rise else None})
            rows.append([mode_name(mode), "first > 50 %", "—" if first is None else f"{first:g}",
                         v.text(), "pattern " + ("reproduced" if reproduces else "not reproduced")])
            heads.append((mode, name, v, k, n, lo, hi, sw))
        if rows:
            sections.append(
                f"{sw.describe_data()}: collapsed runs k/n (diverged, or training error ≥ "
                f"{100 * COLLAPSE_ERROR:g} %) with Wilson 95 % intervals; training error over "
                f"the runs that did not collapse; thesis: collapse at {at:g} %\n\n"
                + markdown_table(["mode", "% NegLU", "collapsed", "Wilson 95 %",
                                  "training error % of the others"], rows))
    if not verdicts:
        return no_data(2, "no sweep reached the collapse share")
    _, name, v, k, n, lo, hi, sw = next((h for h in heads if h[0] == PUBLISHED_MODE), heads[0])
    return make_claim(
        2, thesis="90.13 % training error at 10 % NegLUs, ≤ 2.09 % up to 9 % (MNIST, 1 seed); "
                  "10 % accuracy at 3 % (CIFAR-10)",
        ours=f"{k}/{n} collapsed at {_collapse_share(sw):g} % [{lo:.2f}, {hi:.2f}] ({name})",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[s.name for s in chosen], sections=sections, tests=tests,
        notes=[f"per mode: {verdict_counts(verdicts)}", *patterns],
        figures=["divergence_vs_share.png"])


# ----------------------------------------------------------------------------- claim 3
def _thesis_dynamics() -> dict[str, float]:
    """The thesis's Table 8 effects: 1 % − ReLU in epochs to the first level and in
    roughness (points, epochs 1-9)."""
    from ann.report import dynamics

    final0 = THESIS_MNIST[0][0] / 100.0
    levels = _levels(final0)
    d = {p: dynamics({"epochs": [{"test_error": e} for e in errs]}, levels)
         for p, errs in THESIS_MNIST_EPOCHS.items()}
    key = f"{levels[0]:g}"
    return {"epochs": float(d[1]["first_epoch"][key] - d[0]["first_epoch"][key]),
            "roughness": 100.0 * (d[1]["roughness"] - d[0]["roughness"])}


#: Levels of claim 3 relative to the ReLU net's final test error: the thesis's 1.5 %
#: and 1.2 % over its 0.92 %.
LEVEL_RATIOS = (1.5 / 0.92, 1.2 / 0.92)


def _levels(final_relu: float) -> tuple[float, float]:
    return tuple(round(final_relu * r, 6) for r in LEVEL_RATIOS)


def claim3(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Epochs to each level (relative to ReLU's final test error; never reached counts
    as epochs + 1) and roughness over epochs 1-9, 1 % − 0 %, paired by seed."""
    from ann.report import dynamics

    chosen = sweeps_for(3, sweeps, runs)
    if not chosen:
        return no_data(3, "no sweep of this claim has runs")
    sw = chosen[0]
    thesis = _thesis_dynamics()
    relu = {r["seed"]: r for r in finished(x for x in runs[sw.name] if is_relu(x))}
    if not relu:
        return no_data(3, "no finished ReLU run")
    final = sum(r["test_error"] for r in relu.values()) / len(relu)
    levels = _levels(final)
    tests, rows, heads = [], [], {}

    def measures(r: dict[str, Any]) -> tuple[float | None, float]:
        d = dynamics({"epochs": r["epochs"][:9]}, levels)
        first = d["first_epoch"][f"{levels[0]:g}"]
        return (None if first is None else float(first), 100.0 * d["roughness"])

    def censored(m: tuple[float | None, float], r: dict[str, Any]) -> float:
        return m[0] if m[0] is not None else float(min(9, len(r["epochs"])) + 1)

    for mode in modes(runs[sw.name]):
        one = {r["seed"]: r for r in finished(runs[sw.name]) if mode_of(r) == mode
               and float(r["neg_percent"]) == 1.0}
        seeds = sorted(set(one) & set(relu))
        if len(seeds) < 1:
            continue
        m1 = {s: measures(one[s]) for s in seeds}
        m0 = {s: measures(relu[s]) for s in seeds}
        # a pair in which neither run reached the level says nothing about which is faster
        reached = [s for s in seeds if m1[s][0] is not None or m0[s][0] is not None]
        e_rough = paired([m1[s][1] for s in seeds], [m0[s][1] for s in seeds])
        name = mode_name(mode)
        rough = judged_test(f"roughness (epochs 1-9), 1 % − 0 %, {name}", e_rough,
                        thesis["roughness"], paired_design=True, kind="paired")
        tests.append(rough)
        if not reached:
            rows.append([name, f"0/{len(seeds)}", "— (no run reached the level)", "",
                         e_rough.format(3), Later(rough)])
            continue
        e_epochs = paired([censored(m1[s], one[s]) for s in reached],
                          [censored(m0[s], relu[s]) for s in reached])
        judged = judged_test(f"epochs to ≤ {100 * levels[0]:.2f} %, 1 % − 0 %, {name}",
                         e_epochs, thesis["epochs"], paired_design=True, kind="paired")
        tests.append(judged)
        rows.append([name, f"{len(reached)}/{len(seeds)}", e_epochs.format(2),
                     Later(judged), e_rough.format(3), Later(rough)])
        heads[name] = judged
    decide(tests)
    if not heads:
        return no_data(3, "no 1 % run paired with a ReLU run of the same seed reached "
                           "the level")
    verdicts = [(name, t["_verdict"]) for name, t in heads.items()]
    head_name, v = headline(verdicts, mode_name(PUBLISHED_MODE))
    head = heads[head_name]["_effect"]
    section = (
        f"{sw.describe_data()}: levels {100 * levels[0]:.2f} % and {100 * levels[1]:.2f} % "
        f"(the thesis's 1.5 % and 1.2 % relative to its ReLU's 0.92 %, scaled to our ReLU's "
        f"{100 * final:.2f} %); 1 % − ReLU paired by seed, over the pairs in which a run "
        f"reached the first level (one that never did counts as epochs + 1); thesis: "
        f"{thesis['epochs']:+.0f} epoch(s) to the first level, roughness "
        f"{thesis['roughness']:+.2f} pts\n\n"
        + md_table(["mode", "pairs reaching", "epochs to first level, 1 % − 0 %", "verdict",
                  "roughness (pts), 1 % − 0 %", "verdict"], rows))
    return make_claim(
        3, thesis=f"1 % reaches 1.5 % test error {abs(thesis['epochs']):.0f} epoch earlier "
                  f"(epoch 2 vs 3); roughness {thesis['roughness']:+.2f} pts (Table 8, MNIST)",
        ours=f"{head.format()} epochs, {head.n[0]} pairs ({head_name})",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[sw.name], sections=[section], tests=tests,
        notes=[f"per mode: {verdict_counts(verdicts)}"], figures=["errors_over_epochs.png"])


