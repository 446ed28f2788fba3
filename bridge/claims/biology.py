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
    headline,
    judged_test,
    make_claim,
    md_table,
    no_data,
    stat_cell,
    sweeps_for,
    verdict_counts,
)
from common.stats import (
    paired,
)

# ----------------------------------------------------------------------------- claim 7
#: The thesis's effect for claim 7: at least 1 % of NegLU updates inverted.
INVERTED_EFFECT = 1.0


def claim7(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Inverted local derivatives (% of unit-samples with a descent signal) per unit
    type x mode x share, from the bridge monitor; verdict per mode on the NegLU units
    of its runs that did not collapse (one-sample t, Holm over the modes) against at
    least :data:`INVERTED_EFFECT` %."""
    chosen = [s for s in sweeps_for(7, sweeps, runs)
              if any("signs" in r for r in runs[s.name])]
    if not chosen:
        return no_data(7, "no sweep of this claim recorded update signs")
    sw = chosen[0]

    def inverted(rs: Iterable[dict[str, Any]], unit: str) -> list[float]:
        return [100.0 * row["inverted_fraction"] for r in rs if "signs" in r
                and (row := r["signs"]["by_unit_type"].get(unit))
                and row.get("inverted_fraction") is not None]

    rows, tests, judged = [], [], {}
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
        test = judged_test(f"NegLU inverted %, {mode_name(mode)}", eff, INVERTED_EFFECT,
                       paired_design=True, kind="one-sample")
        tests.append(test)
        judged[mode_name(mode)] = test
    decide(tests)
    if not judged:
        return no_data(7, "no NegLU units were watched")
    verdicts = [(n, t["_verdict"]) for n, t in judged.items()]
    name, v = headline(verdicts, mode_name(PUBLISHED_MODE))
    head = judged[name]
    section = (f"{sw.describe_data()}: inverted local derivatives (% of unit-samples with a "
               f"descent signal whose applied derivative was < 0), over all runs of a share "
               f"(collapsed ones up to their collapse) and over those that did not collapse; "
               f"the verdict per mode pools its shares' runs that did not collapse, against "
               f"≥ {INVERTED_EFFECT:g} %\n\n"
               + md_table(["mode", "% NegLU", "unit", "inverted % (all runs)",
                         "inverted % (not collapsed)"], rows))
    return make_claim(
        7, thesis="stated: NegLU units receive updates opposite to steepest descent "
                  "(temporally-inverted STDP); its published layer never applies a "
                  "negative derivative",
        ours=f"NegLU inverted {head['_effect'].format()} % ({name}, n = {head['n'][0]} runs)",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[sw.name], sections=[section], tests=tests,
        notes=[f"per mode: {verdict_counts(verdicts)}"])


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
    if decided and all(d == "literal" for d in decided):
        word = "supported"
    elif decided and all(d == "rate" for d in decided):
        word = "refuted"
    else:
        word = "not distinguishable"  # none decided, or presets disagree
    p = rate["params"]
    text = word
    if word == "not distinguishable":
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
        ours=f"{len(decided)} deciding preset(s): " + (", ".join(decided) or "none"),
        verdict_text=text, verdict_word=word,
        data=f"Brian2 simulation ({p['n_synapses']} synapses per preset and ramp)",
        sweeps=[], sections=[section], tests=tests,
        notes=["'rate': a rising postsynaptic rate (descent signal −∂C/∂a > 0) acts as "
               "pre-before-post timing, against the literal reading of Table 3"])


