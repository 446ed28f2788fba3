"""Claims 4 and 5, read from the units: no dying units or large negative biases in
MixLU nets, and the total NegLU count (not the share per layer) deciding breakdown.
"""

from __future__ import annotations

import math
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
    headline,
    judged_test,
    make_claim,
    md_table,
    no_data,
    plain_test,
    stat_cell,
    sweeps_for,
    verdict_counts,
)
from common.stats import (
    Verdict,
    welch,
)


def _compare_to_relu(measure: Callable[[dict[str, Any]], float | None], label: str,
                     runs: list[dict[str, Any]]
                     ) -> tuple[list[list[Any]], list[dict[str, Any]], dict[str, dict]]:
    """Rows, tests and ``{configuration: judged test}`` of ``measure`` in each MixLU
    configuration against ReLU (Welch); the thesis's effect: none in MixLU nets."""
    relu = [m for r in finished(runs) if is_relu(r) and (m := measure(r)) is not None]
    rows, tests, judged = [], [], {}
    if not relu:
        return rows, tests, judged
    rows.append(["relu", "0", stat_cell(relu), "", ""])
    thesis = -sum(relu) / len(relu)
    for mode in modes(runs):
        for p, rs in by_share(runs, mode).items():
            vals = [m for r in finished(rs) if (m := measure(r)) is not None]
            if p == 0 or not vals:
                continue
            eff = welch(vals, relu)
            name = f"{mode_name(mode)} {p:g} %"
            if thesis == 0:
                test = plain_test(f"{label}, {name} − ReLU", eff, kind="welch",
                             verdict="untestable: ReLU nets show none")
            else:
                test = judged_test(f"{label}, {name} − ReLU", eff, thesis, kind="welch")
                judged[name] = test
            tests.append(test)
            rows.append([mode_name(mode), f"{p:g}", stat_cell(vals), eff.format(),
                         Later(test)])
    return rows, tests, judged


def claim4(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Dead ReLU-side units and large-negative-bias share, each MixLU configuration
    vs ReLU (Welch, Holm over both measures); the thesis's effect: MixLU nets have
    none, i.e. ReLU's level less."""
    chosen = sweeps_for(4, sweeps, runs)
    if not chosen:
        return no_data(4, "no sweep of this claim has runs")
    sw = chosen[0]
    tables, tests, judged = [], [], {}
    for measure, label in ((dead_share, "dead ReLU-side units %"),
                           (large_bias_share, "large negative bias %")):
        rows, t, j = _compare_to_relu(measure, label, runs[sw.name])
        if rows:
            tables.append((label, rows))
        tests += t
        judged.update({f"{label}: {n}": x for n, x in j.items()})
    decide(tests)
    sections = [f"{sw.describe_data()}: {label} at the last epoch (probe: 1,000 training "
                f"images)\n\n" + md_table(["mode", "% NegLU", label, "− ReLU", "verdict"], rows)
                for label, rows in tables]
    if not judged:
        return no_data(4, "no diagnostics recorded, or ReLU nets show neither")
    all_verdicts = [(n, t["_verdict"]) for n, t in judged.items()]
    dead = [(n, v) for n, v in all_verdicts if n.startswith("dead")]
    name, v = headline(dead or all_verdicts, f"{mode_name(PUBLISHED_MODE)} 5 %")
    label, config = name.split(": ")
    head = judged[name]
    return make_claim(
        4, thesis="stated, no numbers: MixLU nets show no dying units and no large biases",
        ours=f"{label} {head['estimate']:+.2f} pts vs ReLU's {-head['thesis_effect']:.2f} % "
             f"({config})",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[sw.name], sections=sections, tests=tests,
        notes=[f"per configuration: {verdict_counts(all_verdicts)}"],
        figures=["dead_units_vs_share.png"])


# ----------------------------------------------------------------------------- claim 5
def claim5(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """LeNet5 with MixLU at all four positions vs position 1 only: training error and
    collapse at matched shares (four positions hold more NegLUs: if the count decides,
    they do worse) and at matched totals (if the count decides: no difference)."""
    from bridge.claims.plan import single_position_share

    every = next((s for s in sweeps if 5 in s.claims and s.positions is None), None)
    first = next((s for s in sweeps if 5 in s.claims and s.positions == "1"), None)
    if every is None or first is None or not runs.get(every.name) or not runs.get(first.name):
        return no_data(5, "the two LeNet5 sweeps of this claim have no runs")
    a_runs, b_runs = runs[every.name], runs[first.name]
    relu = [points(r["train_error"]) for r in finished(a_runs) if is_relu(r)]
    if not relu:
        return no_data(5, "no finished ReLU-LeNet5 run to measure the damage against")
    share_a = by_share(a_runs, PUBLISHED_MODE)
    share_b = by_share(b_runs, PUBLISHED_MODE)
    rows, tests, shares_t, totals = [], [], [], []

    def cell(rs: list[dict[str, Any]]) -> str:
        train = stat_cell([points(r["train_error"]) for r in finished(rs)])
        return f"{train}, {sum(collapsed(r) for r in rs)}/{len(rs)} collapsed"

    for p, rs in share_a.items():
        a = [points(r["train_error"]) for r in finished(rs)]
        if p == 0 or not a:
            continue
        matched = single_position_share(p)
        for label, q in (("matched share", p), ("matched total", matched)):
            other = share_b.get(q)
            b = [points(r["train_error"]) for r in finished(other or [])]
            if not b:
                continue
            eff = welch(a, b)
            name = f"{label}: 4 positions at {p:g} % − position 1 at {q:g} %"
            if label == "matched share":
                expected = (sum(a) / len(a) - sum(relu) / len(relu)) * (1 - q / matched)
                if expected > 0:
                    test = judged_test(name, eff, expected, kind="welch")
                    shares_t.append(test)
                else:
                    test = plain_test(name, eff, kind="welch",
                                 verdict="untestable: no damage at four positions")
            else:
                if math.isnan(eff.lo):
                    text = "not distinguishable (fewer than 2 runs)"
                elif eff.lo <= 0 <= eff.hi:
                    text = "consistent (no difference detected)"
                else:
                    text = "inconsistent (the interval excludes 0)"
                test = plain_test(name, eff, kind="welch", verdict=text)
                totals.append(text)
            tests.append(test)
            rows.append([label, f"{p:g}", cell(rs), f"{q:g}", cell(other), eff.format(),
                         Later(test)])
    decide(tests)
    if not rows:
        return no_data(5, "no matched configurations finished")
    share_v = [t["_verdict"] for t in shares_t]
    if any(v.word == "refuted" for v in share_v) or any(t.startswith("inc") for t in totals):
        word = text = "refuted"
    elif share_v and all(v.word == "supported" for v in share_v) and totals \
            and all(t.startswith("consistent") for t in totals):
        word = text = "supported"
    else:
        need = [v.n_needed for v in share_v if v.n_needed]
        word = "not distinguishable"
        text = Verdict(word, min(min(t["n"]) for t in tests), max(need) if need else None
                       ).text()
    section = (f"{every.describe_data()} (the study's reduced protocol; resampled masks): "
               f"training error (%) of the runs that did not collapse, and collapses; matched "
               f"total: the position-1 share holding as many NegLUs per image; the effect "
               f"expected at a matched share if the count decides = the four-position damage "
               f"over ReLU × (1 − share / matched-total share); at matched totals an interval "
               f"holding 0 is no evidence of equality, only of no detected difference\n\n"
               + md_table(["comparison", "% at 4 positions", "4 positions", "% at position 1",
                         "position 1", "4 − 1 (pts)", "verdict"], rows))
    # the summary shows the test that decided the verdict (else the first comparison)
    deciding = [t for t in tests if str(t.get("verdict", "")).startswith(("inconsistent",
                                                                          word))]
    t0 = (deciding or tests)[0]
    return make_claim(
        5, thesis="stated: the four-MixLU-layer CIFAR net broke down at a lower share "
                  "(3 %) than the one-layer MNIST net (10 %)",
        ours=f"{t0['test']}: {t0['estimate']:+.2f}"
             + (f" [{t0['lo']:+.2f}, {t0['hi']:+.2f}]" if t0["lo"] is not None else "")
             + f" pts training error (n = {min(t0['n'])} per group)",
        verdict_text=text, verdict_word=word, data=every.describe_data(),
        sweeps=[every.name, first.name], sections=[section], tests=tests)


