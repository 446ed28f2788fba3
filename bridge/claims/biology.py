"""Claims 7 and 8, the biological side: NegLUs' temporally-inverted updates (from the
bridge monitor) and Table 3's sign convention (the Brian2 rate experiment).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ann.report import markdown_table
from bridge.claims.plan import PUBLISHED_MODE, Sweep
from bridge.claims.records import (
    by_share,
    finished,
    mode_name,
    modes,
)
from bridge.claims.sections import (
    Claim,
    Runs,
    decide,
    judged_test,
    make_claim,
    md_table,
    no_data,
    plain_test,
    set_verdict,
    stat_cell,
    sweeps_for,
    verdict_counts,
)
from common.stats import (
    Verdict,
    paired,
)

# ----------------------------------------------------------------------------- claim 7
#: The backwards whose local NegLU derivative is 0 or 1 (docs/reference.md#neglu-backward-passes:
#: the exact derivative of min(0, x), and the published layer's mask x > 0): never negative.
NON_NEGATIVE_BACKWARDS = {
    "exact": "the derivative of min(0, x) is 1 for x < 0 and 0 for x > 0, never negative",
    "reference": "the published layer passes the gradient where x > 0 and blocks it "
                 "elsewhere: its derivative is 0 or 1, never negative",
}
#: The smallest inverted share (%) the inverted backward's power figure is sized for.
INVERTED_EFFECT = 1.0


def claim7(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Inverted local derivatives (% of unit-samples with a descent signal) per unit
    type x mode x share, from the bridge monitor.  False by construction under the
    exact and reference backwards (the published mode heads the summary); under the
    inverted backward, a one-sample t-test of the NegLU share against 0 (secondary)."""
    chosen = [s for s in sweeps_for(7, sweeps, runs)
              if any("signs" in r for r in runs[s.name])]
    if not chosen:
        return no_data(7, "no sweep of this claim recorded update signs")
    sw = chosen[0]

    def inverted(rs: Iterable[dict[str, Any]], unit: str) -> list[float]:
        return [100.0 * row["inverted_fraction"] for r in rs if "signs" in r
                and (row := r["signs"]["by_unit_type"].get(unit))
                and row.get("inverted_fraction") is not None]

    rows, tests, heads, notes = [], [], {}, []
    for mode in modes(runs[sw.name]):
        pooled = []
        for p, rs in by_share(runs[sw.name], mode).items():
            for unit in ("neglu", "relu") if p > 0 else ("relu",):
                vals = inverted(rs, unit)
                if vals:
                    rows.append([mode_name(mode), f"{p:g}", unit, stat_cell(vals),
                                 stat_cell(inverted(finished(rs), unit))])
            if p > 0:
                pooled += inverted(finished(rs), "neglu")
        if not pooled:
            continue
        eff = paired(pooled, [0.0] * len(pooled))  # one-sample t against 0
        name = f"NegLU inverted %, {mode_name(mode)}"
        backward = mode[0]
        if backward in NON_NEGATIVE_BACKWARDS:
            test = set_verdict(plain_test(name, eff, kind="one-sample", family="construction"),
                               Verdict("false by construction", len(pooled),
                                       reason=NON_NEGATIVE_BACKWARDS[backward]))
            if max(pooled) > 0:
                notes.append(f"{mode_name(mode)}: {max(pooled):.3g} % measured where the "
                             f"definition allows none: the code disagrees with its backward")
        else:
            test = judged_test(name, eff, INVERTED_EFFECT, family="secondary",
                               paired_design=True, kind="one-sample")
        tests.append(test)
        heads[mode] = test
    decide(tests)
    if not heads:
        return no_data(7, "no NegLU units were watched")
    head = heads.get(PUBLISHED_MODE)
    if head is None:
        return no_data(7, "the published mode's NegLU units were not watched")
    v = head["_verdict"]
    others = [(mode_name(m), t["_verdict"]) for m, t in heads.items() if m != PUBLISHED_MODE]
    section = (f"{sw.describe_data()}: inverted local derivatives (% of unit-samples with a "
               f"descent signal whose applied derivative was < 0), over all runs of a share "
               f"(collapsed ones up to their collapse) and over those that did not collapse; "
               f"the exact and reference backwards cannot invert (false by construction, the "
               f"measured share confirms the code); the inverted backward's NegLU share is "
               f"tested against 0 over its runs that did not collapse\n\n"
               + md_table(["mode", "% NegLU", "unit", "inverted % (all runs)",
                           "inverted % (not collapsed)"], rows))
    return make_claim(
        7, thesis="stated: NegLU units receive updates opposite to steepest descent "
                  "(temporally-inverted STDP); its published layer never applies a "
                  "negative derivative",
        ours=f"NegLU inverted {head['_effect'].format()} % measured "
             f"({mode_name(PUBLISHED_MODE)}, n = {head['n'][0]} runs)"
             + "".join(f"; {n}: {o.text()}" for n, o in others if n.startswith("inverted")),
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[sw.name], sections=[section], tests=tests,
        notes=[*notes, *([f"other modes: {verdict_counts(others)}"] if others else [])])


# ----------------------------------------------------------------------------- claim 8
def claim8(rate: dict[str, Any] | None) -> Claim:
    """Table 3 read literally (a positive cost derivative ⇔ the presynaptic unit fired
    first) against the Brian2 rate experiment (:func:`bridge.biology.rate_verdicts`):
    per preset, the effect of a rising postsynaptic rate with its 95 % interval and
    the convention it supports."""
    if not rate:
        return no_data(8, "the rate experiment was not run")
    rows, tests, decided = [], [], []
    for v in rate["verdicts"]:
        lo = v["effect_up"] - 1.96 * v["effect_up_sem"]
        hi = v["effect_up"] + 1.96 * v["effect_up_sem"]
        z = v["effect_up"] / v["effect_up_sem"] if v["effect_up_sem"] else None
        rows.append([v["preset"], f"{v['effect_up']:+.3g}", f"[{lo:+.3g}, {hi:+.3g}]",
                     "—" if z is None else f"{z:+.1f}", v["supports"]])
        tests.append({"test": f"rising-rate effect, {v['preset']}", "kind": "z",
                      "estimate": v["effect_up"], "lo": lo, "hi": hi, "z": z,
                      "supports": v["supports"]})
        if v["supports"] in ("rate", "literal"):
            decided.append(v["supports"])
    windows = independent_windows([v["preset"] for v in rate["verdicts"]
                                   if v["supports"] in ("rate", "literal")])
    p = rate["params"]
    if decided and len(set(decided)) == 1:
        word = "finding"
        agrees = ("inconsistent with the rate correspondence" if decided[0] == "rate"
                  else "consistent with the rate correspondence")
        text = (f"finding: the literal reading is {agrees} ({len(decided)} deciding "
                f"preset(s), {windows} independent window(s))")
    else:
        word = "not distinguishable"
        # |z| grows as the square root of the synapse count; a preset decides at |z| > 3
        # presets whose ramps are both significant but agree in sign stay undecided at
        # any size: they do not count
        z = [zz for v in rate["verdicts"] if v["supports"] == "undecided"
             and v["effect_up_sem"] and v["effect_down_sem"]
             and (zz := min(abs(v["effect_up"]) / v["effect_up_sem"],
                            abs(v["effect_down"]) / v["effect_down_sem"])) <= 3.0]
        need = (f"n ≈ {math.ceil(p['n_synapses'] * (3.0 / max(z)) ** 2):,} synapses needed"
                if z and max(z) > 0 else "needed n unknown")
        text = f"not distinguishable at n = {p['n_synapses']} synapses ({need})"
        if len(set(decided)) > 1:
            text = "not distinguishable: the deciding presets disagree"
    section = (f"Brian2 rate experiment: {p['n_synapses']} independent synapses per preset "
               f"and ramp, presynaptic 40 Hz for {p['duration_s']:g} s, postsynaptic 5 → 45 Hz "
               f"(seed {p['seed']}); effect = Δw(rising) − Δw(flat) with a 95 % normal "
               f"interval (±1.96 sem); a preset decides when |z| > 3 for both ramps and "
               f"its two windows differ in sign\n\n"
               + markdown_table(["preset", "effect", "95 % CI", "z", "supports"], rows))
    return make_claim(
        8, thesis="Table 3: ∂C/∂a > 0 means 'A fired first'",
        ours=f"{len(decided)} deciding preset(s), {windows} independent window(s): "
             + (", ".join(f"{v['preset']} → {v['supports']}" for v in rate["verdicts"]
                          if v["supports"] in ("rate", "literal")) or "none"),
        verdict_text=text, verdict_word=word,
        data=f"Brian2 simulation ({p['n_synapses']} synapses per preset and ramp)",
        sweeps=[], sections=[section], tests=tests,
        notes=["'rate': a rising postsynaptic rate (descent signal −∂C/∂a > 0) acts as "
               "pre-before-post timing, against the literal reading of Table 3",
               "a sign convention is a reading, not a hypothesis about data: it is not "
               "'refuted', only found consistent or inconsistent with the simulation",
               "independent windows: presets with the same window up to an overall sign (a "
               "rule and its mirror) or a different weight dependence count once"])


def independent_windows(presets: Sequence[str]) -> int:
    """How many distinct STDP timing windows ``presets`` hold: amplitudes and time
    constants up to an overall sign (a rule and its mirror are one window; the weight
    dependence is not part of the window)."""
    from stdp_sim import preset

    keys = set()
    for name in presets:
        r = preset(name)
        sign = 1.0 if r.a_pre_post >= 0 else -1.0
        keys.add((round(sign * r.a_pre_post, 12), round(sign * r.a_post_pre, 12),
                  float(r.tau_pre_post), float(r.tau_post_pre)))
    return len(keys)


