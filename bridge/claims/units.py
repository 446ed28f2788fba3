"""Claims 4 and 5, read from the units: no dying units or large negative biases in
MixLU nets, and the total NegLU count (not the share per layer) deciding breakdown.
Each follows its pre-registered plan (:data:`bridge.claims.analysis_plan.PLAN`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bridge.claims.plan import PUBLISHED_MODE, Sweep
from bridge.claims.records import (
    by_share,
    collapsed,
    dead_share,
    finished,
    is_relu,
    large_bias_share,
    mode_name,
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
    Verdict,
    fisher,
    holm,
    seed_stat,
    untestable,
    welch,
)

#: Claim 4's primary MixLU share (%), in the published mode.
PRIMARY_SHARE = 5.0


def _compare_to_relu(measure: Callable[[dict[str, Any]], float | None], label: str,
                     runs: list[dict[str, Any]]
                     ) -> tuple[list[tuple[str, list[Any]]], list[dict[str, Any]],
                                dict[str, dict]]:
    """Rows, tests and ``{configuration: test}`` of ``measure`` in each MixLU
    configuration against ReLU (Welch); the thesis's effect: none in MixLU nets, i.e.
    ReLU's level less.  Untestable when ReLU's own 95 % interval holds 0."""
    relu = [m for r in finished(runs) if is_relu(r) and (m := measure(r)) is not None]
    rows, tests, judged = [], [], {}
    if not relu:
        return rows, tests, judged
    base = seed_stat(relu)
    rows.append(("primary", ["relu", "0", stat_cell(relu), "", ""]))
    thesis = -base.mean
    holds_zero = base.n < 2 or base.lo <= 0.0
    for mode in modes(runs):
        for p, rs in by_share(runs, mode).items():
            vals = [m for r in finished(rs) if (m := measure(r)) is not None]
            if p == 0 or not vals:
                continue
            eff = welch(vals, relu)
            name = f"{mode_name(mode)} {p:g} %"
            family = "primary" if (mode == PUBLISHED_MODE and p == PRIMARY_SHARE) \
                else "secondary"
            if holds_zero:
                test = set_verdict(
                    plain_test(f"{label}, {name} − ReLU", eff, kind="welch", family=family),
                    untestable(f"{label}: ReLU nets' 95 % interval holds 0 "
                               f"({base.format()})", len(vals)))
            else:
                test = judged_test(f"{label}, {name} − ReLU", eff, thesis, family=family,
                                   kind="welch")
            judged[name] = test
            tests.append(test)
            rows.append((family, [mode_name(mode), f"{p:g}", stat_cell(vals), eff.format(),
                                  Later(test)]))
    return rows, tests, judged


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """Claim 4's rule over its measures: untestable ones are left out; of the others,
    supported when all are, refuted when any is; otherwise not distinguishable (the
    largest n needed); untestable when every measure is."""
    n = min(v.n for v in verdicts)
    testable = [v for v in verdicts if v.word != "untestable"]
    if not testable:
        return untestable("; ".join(v.reason for v in verdicts), n)
    if any(v.word == "refuted" for v in testable):
        return next(v for v in testable if v.word == "refuted")
    if all(v.word == "supported" for v in testable):
        return Verdict("supported", n, smaller=any(v.smaller for v in testable))
    need = [v.n_needed for v in testable if v.word == "not distinguishable"]
    return Verdict("not distinguishable", n, None if None in need or not need else max(need))


def claim4(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Dead ReLU-side units and large-negative-bias share vs ReLU (Welch); primary: MixLU
    5 % in the published mode on both measures (Holm over the two); every other
    configuration is secondary."""
    sw = next((s for s in sweeps_for(4, sweeps, runs) if s.model == "lenet"), None)
    if sw is None:
        return no_data(4, "no sweep of this claim has runs")
    tables, tests, primary = [], [], []
    for measure, label in ((dead_share, "dead ReLU-side units %"),
                           (large_bias_share, "large negative bias %")):
        rows, t, j = _compare_to_relu(measure, label, runs[sw.name])
        if rows:
            tables.append((label, rows))
        tests += t
        head = j.get(f"{mode_name(PUBLISHED_MODE)} {PRIMARY_SHARE:g} %")
        if head is not None:
            primary.append((label, head))
    decide(tests)
    if not primary:
        return no_data(4, f"no diagnostics recorded for ReLU and MixLU {PRIMARY_SHARE:g} % in "
                          f"the published mode")
    header = ["mode", "% NegLU", "", "− ReLU", "verdict"]
    sections = []
    for label, rows in tables:
        head_rows = family_rows(rows, "primary")
        sections.append(f"**Primary** ({sw.describe_data()}): {label} at the last epoch "
                        f"(probe: 1,000 training images), ReLU and MixLU {PRIMARY_SHARE:g} % "
                        f"in the published mode\n\n"
                        + md_table([*header[:2], label, *header[3:]], head_rows))
        other = family_rows(rows, "secondary")
        if other:
            sections.append(f"**Secondary**: {label}, every other configuration (Holm within "
                            f"this family)\n\n" + md_table([*header[:2], label, *header[3:]],
                                                              other))
    v = combine([t["_verdict"] for _, t in primary])
    others = [(f"{t['test']}", t["_verdict"]) for t in tests
              if t.get("family") == "secondary" and "_verdict" in t]
    ours = "; ".join(f"{label}: {t['_effect'].format()} pts vs ReLU ({t['_verdict'].word})"
                     for label, t in primary)
    return make_claim(
        4, thesis="stated, no numbers: MixLU nets show no dying units and no large biases",
        ours=ours + f" (MixLU {PRIMARY_SHARE:g} %, published mode)",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[sw.name], sections=sections, tests=tests,
        notes=[f"secondary: {verdict_counts(others)}"] if others else [],
        figures=["dead_units_vs_share.png"])


# ----------------------------------------------------------------------------- claim 5
def claim5(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """LeNet5 with MixLU at all four positions vs position 1 only, on breakdown
    (collapse): at matched shares four positions should collapse more if the count
    decides; at matched totals position 1 (the larger share) should collapse more if
    the share decides (Fisher's exact test, one-sided, Holm over the planned pairs).
    Training error of the runs that did not collapse is descriptive."""
    from bridge.claims.plan import single_position_share

    every = next((s for s in sweeps if 5 in s.claims and s.positions is None), None)
    first = next((s for s in sweeps if 5 in s.claims and s.positions == "1"), None)
    if every is None or first is None or not runs.get(every.name) or not runs.get(first.name):
        return no_data(5, "the two LeNet5 sweeps of this claim have no runs")
    share_a = by_share(runs[every.name], PUBLISHED_MODE)
    share_b = by_share(runs[first.name], PUBLISHED_MODE)
    rows, tests, pairs = [], [], []

    def cell(rs: list[dict[str, Any]]) -> str:
        train = stat_cell([points(r["train_error"]) for r in finished(rs)])
        return f"{train}, {sum(collapsed(r) for r in rs)}/{len(rs)} collapsed"

    for p, rs in share_a.items():
        if p == 0:
            continue
        for label, q in (("matched share", p), ("matched total", single_position_share(p))):
            other = share_b.get(q)
            if not other:
                continue
            ka, kb = sum(collapsed(r) for r in rs), sum(collapsed(r) for r in other)
            if label == "matched share":  # the count predicts more with four positions
                p_value = fisher(ka, len(rs), kb, len(other), "greater")
            else:  # the share predicts more with position 1 alone
                p_value = fisher(kb, len(other), ka, len(rs), "greater")
            name = f"{label}: 4 positions at {p:g} % vs position 1 at {q:g} %"
            test = {"test": name, "kind": "fisher (one-sided)", "family": "primary",
                    "k": [ka, kb], "n": [len(rs), len(other)], "p": p_value}
            a = [points(r["train_error"]) for r in finished(rs)]
            b = [points(r["train_error"]) for r in finished(other)]
            if a and b:
                tests.append(plain_test(f"training error, {name}", welch(a, b), kind="welch"))
            tests.append(test)
            pairs.append((label, test))
            rows.append([label, f"{p:g}", cell(rs), f"{q:g}", cell(other), Later(test)])
    if not pairs:
        return no_data(5, "no matched configurations ran")
    decide(tests)
    adjusted = holm([t["p"] for _, t in pairs])
    n = min(min(t["n"]) for _, t in pairs)
    broke = any(sum(t["k"]) for _, t in pairs)
    for (label, t), a in zip(pairs, adjusted, strict=True):
        t["p_holm"] = a
        if not broke:
            v = untestable("no run of any arm broke down", n)
        elif a < 0.05:
            v = (Verdict("supported", n) if label == "matched share"
                 else Verdict("refuted", n, reason="the larger share collapses more at a "
                                                   "matched total"))
        else:
            v = Verdict("not distinguishable", n)
        set_verdict(t, v)
    words = {t["_verdict"].word for _, t in pairs}
    if not broke:
        v = untestable("no run of any arm broke down (collapsed)", n)
    elif "refuted" in words:
        v = next(t["_verdict"] for _, t in pairs if t["_verdict"].word == "refuted")
    elif "supported" in words:
        v = Verdict("supported", n)
    else:
        v = Verdict("not distinguishable", n)
    section = (f"{every.describe_data()} (the study's reduced protocol; resampled masks): "
               f"collapses and the training error (%) of the runs that did not collapse; "
               f"matched total: the position-1 share holding as many NegLUs per image; "
               f"Fisher's exact test, one-sided in the direction each hypothesis predicts, "
               f"Holm over the pairs\n\n"
               + md_table(["comparison", "% at 4 positions", "4 positions", "% at position 1",
                           "position 1", "verdict"], rows))
    collapses = ", ".join(f"{t['test']}: {t['k'][0]}/{t['n'][0]} vs {t['k'][1]}/{t['n'][1]} "
                          f"(p_Holm {p_cell(t['p_holm'])})" for _, t in pairs)
    return make_claim(
        5, thesis="stated: the four-MixLU-layer CIFAR net broke down at a lower share "
                  "(3 %) than the one-layer MNIST net (10 %)",
        ours=f"collapses {collapses}",
        verdict_text=v.text(), verdict_word=v.word, data=every.describe_data(),
        sweeps=[every.name, first.name], sections=[section], tests=tests,
        notes=[f"per pair: {verdict_counts([(t['test'], t['_verdict']) for _, t in pairs])}"])
