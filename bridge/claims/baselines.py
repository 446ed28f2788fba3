"""Claim 6: NegLU against the baselines the thesis names (Noisy ReLU, Leaky ReLU,
PReLU, bipolar units, dropout), on test error and on the gap.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ann.report import THESIS_MNIST, markdown_table
from bridge.claims.plan import Sweep
from bridge.claims.records import (
    activation_of,
    config_name,
    finished,
    gap_of,
    mode_of,
    points,
    prelu_slopes,
)
from bridge.claims.sections import (
    Claim,
    Runs,
    make_claim,
    no_data,
    p_cell,
    plain_test,
    stat_cell,
    sweeps_for,
    with_holm,
)
from common.stats import (
    Effect,
    Verdict,
    n_for_power,
    welch,
)

# ----------------------------------------------------------------------------- claim 6
#: The thesis's own bound of "nearly unchanged" test error: 0 → 5 % NegLUs moved it
#: by 0.34 points (Table 6), the margin of the equivalence tests.
EQUIVALENCE_MARGIN = THESIS_MNIST[5][0] - THESIS_MNIST[0][0]


def _equivalence(eff: Effect, margin: float) -> Verdict:
    """Two one-sided tests at 5 % (``eff`` with a 90 % interval): supported if the
    interval lies inside ±margin, refuted if it lies outside; else the n per group at
    which a true difference of ``eff.estimate`` would be shown equivalent with 80 %
    power (approximately: a two-sided test at 10 % of the distance to the margin)."""
    n = min(eff.n)
    if math.isnan(eff.lo):
        return Verdict("not distinguishable", n, None)
    if -margin < eff.lo and eff.hi < margin:
        return Verdict("supported", n)
    if eff.lo > margin or eff.hi < -margin:
        return Verdict("refuted", n)
    gap = margin - abs(eff.estimate)
    return Verdict("not distinguishable", n,
                   n_for_power(gap, eff.sd, alpha=0.10) if gap > 0 else None)


def claim6(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Every baseline and MixLU configuration vs ReLU on test error and gap (Welch,
    Holm); the best MixLU vs the best Noisy ReLU (equivalence within the thesis's
    "nearly unchanged" margin); learned PReLU slopes beside the best NegLU share."""
    chosen = sweeps_for(6, sweeps, runs)
    if not chosen:
        return no_data(6, "no sweep of this claim has runs")
    sw = chosen[0]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for r in runs[sw.name]:
        if float(r["neg_percent"]) == 0 and mode_of(r) is not None:
            continue  # 0 % MixLU is the ReLU net
        groups[config_name(r)].append(r)
        kinds[config_name(r)] = activation_of(r)["kind"]
    relu = finished(groups.get("relu", []))
    if len(relu) < 1:
        return no_data(6, "no finished ReLU run")
    test0 = [points(r["test_error"]) for r in relu]
    gap0 = [gap_of(r) for r in relu]
    rows, tests, means = [], [], {}
    for name, rs in sorted(groups.items(), key=lambda item: item[0] != "relu"):
        fin = finished(rs)
        if not fin:
            rows.append([name, f"0/{len(rs)}", "—", "—", "—", "—"])
            continue
        test = [points(r["test_error"]) for r in fin]
        gap = [gap_of(r) for r in fin]
        means[name] = sum(test) / len(test)
        dt, dg = welch(test, test0), welch(gap, gap0)
        if name != "relu":
            tests.append(plain_test(f"test error, {name} − ReLU", dt, kind="welch"))
            tests.append(plain_test(f"gap, {name} − ReLU", dg, kind="welch"))
        rows.append([name, f"{len(fin)}/{len(rs)}", stat_cell(test),
                     "" if name == "relu" else dt.format(), stat_cell(gap),
                     "" if name == "relu" else dg.format()])
    with_holm(tests)
    for row in rows:  # Holm-adjusted p beside each difference
        for t in tests:
            if t["test"] == f"test error, {row[0]} − ReLU":
                row[3] += f" (p_Holm {p_cell(t['p_holm'])})"
            if t["test"] == f"gap, {row[0]} − ReLU":
                row[5] += f" (p_Holm {p_cell(t['p_holm'])})"
    section = (f"{sw.describe_data()}: test error and gap (points) over the runs that did "
               f"not collapse; differences from ReLU with Welch 95 % intervals, "
               f"Holm-adjusted over this table\n\n" + markdown_table(
                   ["configuration", "finished", "test error %", "− ReLU", "gap",
                    "− ReLU"], rows))
    mix = [n for n in means if kinds[n] == "mixlu" and n != "relu"]
    noisy = [n for n in means if kinds[n] == "noisy"]
    notes, verdict_text, word, ours = [], "not tested", "not tested", "—"
    if mix and noisy:
        best_mix = min(mix, key=means.get)
        best_noisy = min(noisy, key=means.get)
        f = lambda n: [points(r["test_error"]) for r in finished(groups[n])]  # noqa: E731
        eff = welch(f(best_mix), f(best_noisy), level=0.90)
        v = _equivalence(eff, EQUIVALENCE_MARGIN)
        verdict_text, word = v.text(), v.word
        ours = (f"best MixLU ({best_mix}) − best Noisy ReLU ({best_noisy}): {eff.format()} "
                f"pts (90 % interval)")
        tests.append({**plain_test(f"test error, {best_mix} − {best_noisy} (equivalence)", eff,
                              kind="equivalence", margin=EQUIVALENCE_MARGIN,
                              verdict=v.text()), "p": None, "p_holm": None})
        notes.append(f"best settings chosen by mean test error on the same runs (a selection "
                     f"that favours finding a difference of the best over ReLU); equivalence by "
                     f"two one-sided tests at 5 % (the 90 % interval inside ±"
                     f"{EQUIVALENCE_MARGIN:.2f} pts, the thesis's 'nearly unchanged' 0 → 5 % "
                     f"change)")
        share = float(best_mix.split()[1])
        slopes = [s for n in means if kinds[n] == "prelu" for r in finished(groups[n])
                  if (s := prelu_slopes(r)) is not None]
        leaky = [n for n in means if kinds[n] == "leaky"]
        parts = [f"best NegLU share {share / 100:.3f} ({share:g} %)"]
        if leaky:
            parts.append(f"best Leaky ReLU: {min(leaky, key=means.get)}")
        if slopes:
            parts.append(f"learned PReLU slopes (hidden layer, mean over units): "
                         f"{stat_cell(slopes, 3)}")
        notes.append("; ".join(parts))
    else:
        notes.append("no finished " + " and no ".join(
            name for name, found in (("MixLU", mix), ("Noisy ReLU", noisy)) if not found)
            + " run: the equivalence is not tested")
    return make_claim(
        6, thesis="stated, no numbers: NegLUs act like Noisy ReLUs on normalised data; "
                  "useful Leaky/PReLU slopes are close to the useful NegLU share",
        ours=ours, verdict_text=verdict_text, verdict_word=word, data=sw.describe_data(),
        sweeps=[sw.name], sections=[section], tests=tests, notes=notes,
        figures=["prelu_slopes.png"])


