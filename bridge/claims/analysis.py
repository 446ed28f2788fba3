"""One analysis per thesis claim: stored runs in, tables, tests and a verdict out.

Every ``claimN`` function takes ``{sweep name: [run record, ...]}`` (the records of
:func:`ann.train.train_one`, as the sweep scripts store them) and the
:class:`~bridge.claims.plan.Sweep` list, and returns a JSON-ready :class:`Claim`
dict: the summary cells (thesis's evidence, ours, verdict, data), the section's
tables (Markdown), its tests (:class:`common.stats.Effect` dicts) and notes.
:func:`claim8` takes the Brian2 rate experiment's verdict rows instead.

Conventions (stated in the report):

- Errors are percentage points of the dataset the sweep names.
- A run *collapsed* if it diverged (non-finite loss or weights) or finished with a
  training error of at least :data:`COLLAPSE_ERROR`; collapsed runs enter as a rate
  (k/n, Wilson interval), and every error statistic is over the runs that did not
  collapse (n shown).
- Within a claim, p-values are Holm-adjusted over the claim's family of tests.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ann.report import THESIS_MNIST, THESIS_MNIST_EPOCHS, markdown_table
from bridge.claims.plan import PUBLISHED_MODE, Sweep
from common.stats import (
    Effect,
    Verdict,
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

__all__ = [
    "COLLAPSE_ERROR",
    "CLAIMS",
    "collapsed",
    "mode_of",
    "is_relu",
    "modes",
    "mode_name",
    "points",
    "gap_of",
    "by_share",
    "finished",
    "config_name",
    "dead_share",
    "large_bias_share",
    "prelu_slopes",
    "claim1",
    "claim2",
    "claim3",
    "claim4",
    "claim5",
    "claim6",
    "claim7",
    "claim8",
    "analyse",
]

#: A finished run whose final training error is at least this is a collapse (chance
#: is 0.9 for ten classes).
COLLAPSE_ERROR = 0.8

Runs = dict[str, list[dict[str, Any]]]
Claim = dict[str, Any]

#: Claim number -> title.
CLAIMS = {
    1: "Less overfitting: the test − train gap shrinks as the NegLU share grows",
    2: "Collapse: training breaks down at 10 % NegLUs (MNIST; 3 % on CIFAR-10)",
    3: "Table 8 dynamics: the 1 % net reaches low error earlier than ReLU, then leaves it",
    4: "No dying units and no large biases in MixLU nets, unlike ReLU nets",
    5: "The total NegLU count, not the share per layer, decides breakdown",
    6: "NegLU ≈ Noisy ReLU; useful Leaky/PReLU slopes ≈ the useful NegLU share",
    7: "NegLUs perform temporally-inverted updates",
    8: "Table 3's sign convention (∂C/∂a > 0 ⇔ the presynaptic unit fired first)",
}


# ----------------------------------------------------------------------------- helpers
def collapsed(run: dict[str, Any]) -> bool:
    """Diverged, or finished at or above :data:`COLLAPSE_ERROR` training error."""
    return run["status"] == "diverged" or run["train_error"] >= COLLAPSE_ERROR


def _spec(run: dict[str, Any]) -> dict[str, Any]:
    return run.get("activation_spec", {"kind": "mixlu"})


def mode_of(run: dict[str, Any]) -> tuple[str, str] | None:
    """``(backward, mask)`` of a MixLU run without dropout, else ``None``."""
    s = _spec(run)
    if s["kind"] != "mixlu" or s.get("dropout"):
        return None
    return (s.get("backward", run.get("backward")), s.get("mask", "fixed"))


def is_relu(run: dict[str, Any]) -> bool:
    """A plain ReLU run (no dropout): the 0 % reference of every MixLU mode."""
    s = _spec(run)
    return s["kind"] == "relu" and not s.get("dropout")


def modes(runs: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """The MixLU modes present, the published one first."""
    order = {PUBLISHED_MODE: -1}
    found = {m for r in runs if (m := mode_of(r)) is not None}
    return sorted(found, key=lambda m: (order.get(m, 0), m))


def mode_name(mode: tuple[str, str]) -> str:
    """``reference/resample``."""
    return f"{mode[0]}/{mode[1]}"


def points(fraction: float) -> float:
    """A fraction in percentage points."""
    return 100.0 * fraction


def gap_of(run: dict[str, Any]) -> float:
    """Test − training error of a run, in points."""
    return points(run["test_error"] - run["train_error"])


def by_share(runs: Iterable[dict[str, Any]], mode: tuple[str, str] | None
              ) -> dict[float, list[dict[str, Any]]]:
    """Runs of ``mode`` (MixLU) by share, with the ReLU runs as share 0."""
    out: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        if is_relu(r) or (mode is not None and mode_of(r) == mode):
            out[float(r["neg_percent"])].append(r)
    return dict(sorted(out.items()))


def finished(runs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs that did not collapse."""
    return [r for r in runs if not collapsed(r)]


def _stat_cell(values: Sequence[float], digits: int = 2) -> str:
    if not values:
        return "— (n = 0)"
    s = seed_stat(values)
    if s.n < 2:
        return f"{s.mean:.{digits}f} (n = 1)"
    return (f"{s.mean:.{digits}f} ± {s.sd:.{digits}f} [{s.lo:.{digits}f}, {s.hi:.{digits}f}] "
            f"(n = {s.n})")


def _p(p: float | None) -> str:
    return "—" if p is None or math.isnan(p) else f"{p:.2g}"


def _claim(number: int, *, thesis: str, ours: str, verdict_text: str, data: str,
           sweeps: Sequence[str], sections: Sequence[str], tests: Sequence[dict[str, Any]],
           notes: Sequence[str] = (), verdict_word: str | None = None,
           figures: Sequence[str] = ()) -> Claim:
    public = [{k: v for k, v in t.items() if not k.startswith("_")} for t in tests]
    return {"claim": number, "title": CLAIMS[number], "thesis": thesis, "ours": ours,
            "verdict": verdict_word or verdict_text.split(" ")[0], "verdict_text": verdict_text,
            "data": data, "sweeps": list(sweeps), "tables": list(sections),
            "tests": public, "notes": list(notes), "figures": list(figures)}


class _Later:
    """A table cell holding a test's verdict text, known once :func:`_decide` ran."""

    def __init__(self, test: dict[str, Any]):
        self.test = test

    def __str__(self) -> str:
        return self.test["verdict"]


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return markdown_table(header, [[str(c) for c in r] for r in rows])


def _judged(name: str, effect: Effect, thesis_effect: float, *, paired_design: bool = False,
            n_needed: int | None = None, **extra: Any) -> dict[str, Any]:
    """A test whose verdict against ``thesis_effect`` :func:`_decide` fills in."""
    return {**_test(name, effect, **extra), "thesis_effect": thesis_effect,
            "_effect": effect, "_paired": paired_design, "_n_needed": n_needed}


def _decide(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Holm over the claim's family, then the verdict of every judged test with its
    adjusted p (:func:`common.stats.verdict`)."""
    _with_holm(tests)
    for t in tests:
        if "_effect" in t:
            v = verdict(t["_effect"], t["thesis_effect"], paired_design=t["_paired"],
                        p_adjusted=t["p_holm"], n_needed=t["_n_needed"])
            t["_verdict"], t["verdict"] = v, v.text()
    return tests


def _no_data(number: int, reason: str) -> Claim:
    return _claim(number, thesis="—", ours="—", verdict_text="not tested", data="—",
                  sweeps=[], sections=[], tests=[], notes=[reason], verdict_word="not tested")


def _sweeps_for(number: int, sweeps: Sequence[Sweep], runs: Runs) -> list[Sweep]:
    return [s for s in sweeps if number in s.claims and runs.get(s.name)]


def _thesis_slope(pairs: Sequence[tuple[float, float]]) -> float:
    return slope([p for p, _ in pairs], [v for _, v in pairs]).estimate


def _with_holm(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    adjusted = holm([t["p"] if t.get("p") is not None else math.nan for t in tests])
    for t, a in zip(tests, adjusted, strict=True):
        t["p_holm"] = None if math.isnan(a) else a
    return tests


def _test(name: str, effect: Effect, **extra: Any) -> dict[str, Any]:
    return {"test": name, **effect.to_dict(), **extra}


def _verdict_counts(verdicts: Sequence[tuple[str, Verdict]]) -> str:
    words = defaultdict(list)
    for name, v in verdicts:
        words[v.word].append(name)
    return "; ".join(f"{w} in {len(names)}/{len(verdicts)} ({', '.join(names)})"
                     for w, names in words.items())


def _headline(verdicts: Sequence[tuple[str, Verdict]], prefer: str) -> tuple[str, Verdict]:
    for name, v in verdicts:
        if name.endswith(prefer):
            return name, v
    return verdicts[0]


# ----------------------------------------------------------------------------- claim 1
#: The thesis's gap (test − train, points) per share 0..9 % (Table 7, MNIST).
THESIS_GAP = [(p, t - tr) for p, (t, tr) in THESIS_MNIST.items() if p < 10]


def claim1(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Slope of the gap vs share (shares below the collapse share), its CI and
    verdict against the thesis's slope, per sweep x mode; the gap at each share
    against 0 % (Welch) and the test-error change beside it; Holm over all of them."""
    chosen = _sweeps_for(1, sweeps, runs)
    if not chosen:
        return _no_data(1, "no sweep of this claim has runs")
    thesis = _thesis_slope(THESIS_GAP)
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
            judged = _judged(f"gap slope, {name}", eff, thesis, kind="slope",
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
                tests.append(_test(f"gap {p:g} % − 0 %, {name}", d, kind="welch",
                                   test_change=dtest.to_dict()))
                rows.append([mode_name(mode), f"{p:g}", _stat_cell(gap),
                             d.format(), "", dtest.format()])
            rows.append([mode_name(mode), "slope", f"{eff.format(3)} pts/%", "",
                         _Later(judged), ""])
            heads.append((mode, name, judged, sw))
        if rows:
            sections.append((sw, rows))
    _decide(tests)
    if not heads:
        return _no_data(1, "fewer than two shares with finished runs")
    tables = [f"{sw.describe_data()}: gap = test − train error (points) over the runs that did "
              f"not collapse; thesis slope (Table 7, MNIST, 0–9 %): {thesis:+.3f} pts/%; the "
              f"n needed is runs per share\n\n" + _table(
                  ["mode", "% NegLU", "gap (mean ± sd [95 % CI])", "gap − gap at 0 %",
                   "verdict", "test error − at 0 %"], rows) for sw, rows in sections]
    verdicts = [(name, t["_verdict"]) for _, name, t, _ in heads]
    mode, _, head, sw = next((h for h in heads if h[0] == PUBLISHED_MODE), heads[0])
    v = head["_verdict"]
    return _claim(
        1, thesis=f"gap {THESIS_GAP[0][1]:.2f} → {THESIS_GAP[-1][1]:.2f} pts from 0 to 9 %; "
                  f"slope {thesis:+.3f} pts/% (MNIST)",
        ours=f"slope {head['_effect'].format(3)} pts/%, n = {head['n'][0]} runs "
             f"({sw.dataset}, {mode_name(mode)})",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[s.name for s in chosen], sections=tables, tests=tests,
        notes=[f"per mode: {_verdict_counts(verdicts)}"], figures=["gap_vs_share.png"])


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
    chosen = _sweeps_for(2, sweeps, runs)
    if not chosen:
        return _no_data(2, "no sweep of this claim has runs")
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
                             _stat_cell(fin)])
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
        return _no_data(2, "no sweep reached the collapse share")
    _, name, v, k, n, lo, hi, sw = next((h for h in heads if h[0] == PUBLISHED_MODE), heads[0])
    return _claim(
        2, thesis="90.13 % training error at 10 % NegLUs, ≤ 2.09 % up to 9 % (MNIST, 1 seed); "
                  "10 % accuracy at 3 % (CIFAR-10)",
        ours=f"{k}/{n} collapsed at {_collapse_share(sw):g} % [{lo:.2f}, {hi:.2f}] ({name})",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[s.name for s in chosen], sections=sections, tests=tests,
        notes=[f"per mode: {_verdict_counts(verdicts)}", *patterns],
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

    chosen = _sweeps_for(3, sweeps, runs)
    if not chosen:
        return _no_data(3, "no sweep of this claim has runs")
    sw = chosen[0]
    thesis = _thesis_dynamics()
    relu = {r["seed"]: r for r in finished(x for x in runs[sw.name] if is_relu(x))}
    if not relu:
        return _no_data(3, "no finished ReLU run")
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
        rough = _judged(f"roughness (epochs 1-9), 1 % − 0 %, {name}", e_rough,
                        thesis["roughness"], paired_design=True, kind="paired")
        tests.append(rough)
        if not reached:
            rows.append([name, f"0/{len(seeds)}", "— (no run reached the level)", "",
                         e_rough.format(3), _Later(rough)])
            continue
        e_epochs = paired([censored(m1[s], one[s]) for s in reached],
                          [censored(m0[s], relu[s]) for s in reached])
        judged = _judged(f"epochs to ≤ {100 * levels[0]:.2f} %, 1 % − 0 %, {name}",
                         e_epochs, thesis["epochs"], paired_design=True, kind="paired")
        tests.append(judged)
        rows.append([name, f"{len(reached)}/{len(seeds)}", e_epochs.format(2),
                     _Later(judged), e_rough.format(3), _Later(rough)])
        heads[name] = judged
    _decide(tests)
    if not heads:
        return _no_data(3, "no 1 % run paired with a ReLU run of the same seed reached "
                           "the level")
    verdicts = [(name, t["_verdict"]) for name, t in heads.items()]
    head_name, v = _headline(verdicts, mode_name(PUBLISHED_MODE))
    head = heads[head_name]["_effect"]
    section = (
        f"{sw.describe_data()}: levels {100 * levels[0]:.2f} % and {100 * levels[1]:.2f} % "
        f"(the thesis's 1.5 % and 1.2 % relative to its ReLU's 0.92 %, scaled to our ReLU's "
        f"{100 * final:.2f} %); 1 % − ReLU paired by seed, over the pairs in which a run "
        f"reached the first level (one that never did counts as epochs + 1); thesis: "
        f"{thesis['epochs']:+.0f} epoch(s) to the first level, roughness "
        f"{thesis['roughness']:+.2f} pts\n\n"
        + _table(["mode", "pairs reaching", "epochs to first level, 1 % − 0 %", "verdict",
                  "roughness (pts), 1 % − 0 %", "verdict"], rows))
    return _claim(
        3, thesis=f"1 % reaches 1.5 % test error {abs(thesis['epochs']):.0f} epoch earlier "
                  f"(epoch 2 vs 3); roughness {thesis['roughness']:+.2f} pts (Table 8, MNIST)",
        ours=f"{head.format()} epochs, {head.n[0]} pairs ({head_name})",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[sw.name], sections=[section], tests=tests,
        notes=[f"per mode: {_verdict_counts(verdicts)}"], figures=["errors_over_epochs.png"])


# ----------------------------------------------------------------------------- claim 4
def _final_diag(r: dict[str, Any]) -> dict[str, Any] | None:
    epochs = r.get("epochs") or []
    return epochs[-1].get("diagnostics") if epochs else None


def dead_share(r: dict[str, Any]) -> float | None:
    """Dead ReLU-side units (% of them) at the last epoch, ``None`` without diagnostics."""
    d = _final_diag(r)
    if not d:
        return None
    units = sum(p["units"].get(t, 0) for p in d["positions"] for t in ("relu", "resampled"))
    dead = sum(p["dead"].get(t, 0) for p in d["positions"] for t in ("relu", "resampled"))
    return 100.0 * dead / units if units else None


def large_bias_share(r: dict[str, Any]) -> float | None:
    """Hidden units with a large negative bias (%) at the last epoch, or ``None``."""
    d = _final_diag(r)
    if not d:
        return None
    value = d["positions"][-1].get("large_negative_bias_share")
    return None if value is None else 100.0 * value


def _compare_to_relu(measure: Callable[[dict[str, Any]], float | None], label: str,
                     runs: list[dict[str, Any]]
                     ) -> tuple[list[list[Any]], list[dict[str, Any]], dict[str, dict]]:
    """Rows, tests and ``{configuration: judged test}`` of ``measure`` in each MixLU
    configuration against ReLU (Welch); the thesis's effect: none in MixLU nets."""
    relu = [m for r in finished(runs) if is_relu(r) and (m := measure(r)) is not None]
    rows, tests, judged = [], [], {}
    if not relu:
        return rows, tests, judged
    rows.append(["relu", "0", _stat_cell(relu), "", ""])
    thesis = -sum(relu) / len(relu)
    for mode in modes(runs):
        for p, rs in by_share(runs, mode).items():
            vals = [m for r in finished(rs) if (m := measure(r)) is not None]
            if p == 0 or not vals:
                continue
            eff = welch(vals, relu)
            name = f"{mode_name(mode)} {p:g} %"
            if thesis == 0:
                test = _test(f"{label}, {name} − ReLU", eff, kind="welch",
                             verdict="untestable: ReLU nets show none")
            else:
                test = _judged(f"{label}, {name} − ReLU", eff, thesis, kind="welch")
                judged[name] = test
            tests.append(test)
            rows.append([mode_name(mode), f"{p:g}", _stat_cell(vals), eff.format(),
                         _Later(test)])
    return rows, tests, judged


def claim4(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Dead ReLU-side units and large-negative-bias share, each MixLU configuration
    vs ReLU (Welch, Holm over both measures); the thesis's effect: MixLU nets have
    none, i.e. ReLU's level less."""
    chosen = _sweeps_for(4, sweeps, runs)
    if not chosen:
        return _no_data(4, "no sweep of this claim has runs")
    sw = chosen[0]
    tables, tests, judged = [], [], {}
    for measure, label in ((dead_share, "dead ReLU-side units %"),
                           (large_bias_share, "large negative bias %")):
        rows, t, j = _compare_to_relu(measure, label, runs[sw.name])
        if rows:
            tables.append((label, rows))
        tests += t
        judged.update({f"{label}: {n}": x for n, x in j.items()})
    _decide(tests)
    sections = [f"{sw.describe_data()}: {label} at the last epoch (probe: 1,000 training "
                f"images)\n\n" + _table(["mode", "% NegLU", label, "− ReLU", "verdict"], rows)
                for label, rows in tables]
    if not judged:
        return _no_data(4, "no diagnostics recorded, or ReLU nets show neither")
    all_verdicts = [(n, t["_verdict"]) for n, t in judged.items()]
    dead = [(n, v) for n, v in all_verdicts if n.startswith("dead")]
    name, v = _headline(dead or all_verdicts, f"{mode_name(PUBLISHED_MODE)} 5 %")
    label, config = name.split(": ")
    head = judged[name]
    return _claim(
        4, thesis="stated, no numbers: MixLU nets show no dying units and no large biases",
        ours=f"{label} {head['estimate']:+.2f} pts vs ReLU's {-head['thesis_effect']:.2f} % "
             f"({config})",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[sw.name], sections=sections, tests=tests,
        notes=[f"per configuration: {_verdict_counts(all_verdicts)}"],
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
        return _no_data(5, "the two LeNet5 sweeps of this claim have no runs")
    a_runs, b_runs = runs[every.name], runs[first.name]
    relu = [points(r["train_error"]) for r in finished(a_runs) if is_relu(r)]
    if not relu:
        return _no_data(5, "no finished ReLU-LeNet5 run to measure the damage against")
    share_a = by_share(a_runs, PUBLISHED_MODE)
    share_b = by_share(b_runs, PUBLISHED_MODE)
    rows, tests, shares_t, totals = [], [], [], []

    def cell(rs: list[dict[str, Any]]) -> str:
        train = _stat_cell([points(r["train_error"]) for r in finished(rs)])
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
                    test = _judged(name, eff, expected, kind="welch")
                    shares_t.append(test)
                else:
                    test = _test(name, eff, kind="welch",
                                 verdict="untestable: no damage at four positions")
            else:
                if math.isnan(eff.lo):
                    text = "not distinguishable (fewer than 2 runs)"
                elif eff.lo <= 0 <= eff.hi:
                    text = "consistent (no difference detected)"
                else:
                    text = "inconsistent (the interval excludes 0)"
                test = _test(name, eff, kind="welch", verdict=text)
                totals.append(text)
            tests.append(test)
            rows.append([label, f"{p:g}", cell(rs), f"{q:g}", cell(other), eff.format(),
                         _Later(test)])
    _decide(tests)
    if not rows:
        return _no_data(5, "no matched configurations finished")
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
               + _table(["comparison", "% at 4 positions", "4 positions", "% at position 1",
                         "position 1", "4 − 1 (pts)", "verdict"], rows))
    t0 = tests[0]
    return _claim(
        5, thesis="stated: the four-MixLU-layer CIFAR net broke down at a lower share "
                  "(3 %) than the one-layer MNIST net (10 %)",
        ours=f"{t0['test']}: {t0['estimate']:+.2f} pts",
        verdict_text=text, verdict_word=word, data=every.describe_data(),
        sweeps=[every.name, first.name], sections=[section], tests=tests)


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


def config_name(r: dict[str, Any]) -> str:
    """``mixlu 5 % reference/fixed`` for a MixLU run, else the activation key."""
    mode = mode_of(r)
    if mode is not None:
        return f"mixlu {r['neg_percent']:g} % {mode_name(mode)}"
    return str(r.get("activation", _spec(r)["kind"]))


def prelu_slopes(r: dict[str, Any]) -> float | None:
    """The mean learned PReLU slope of the hidden position at the last epoch."""
    d = _final_diag(r)
    if not d:
        return None
    found = [p["prelu"]["mean"] for p in d["positions"] if "prelu" in p]
    return found[-1] if found else None


def claim6(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Every baseline and MixLU configuration vs ReLU on test error and gap (Welch,
    Holm); the best MixLU vs the best Noisy ReLU (equivalence within the thesis's
    "nearly unchanged" margin); learned PReLU slopes beside the best NegLU share."""
    chosen = _sweeps_for(6, sweeps, runs)
    if not chosen:
        return _no_data(6, "no sweep of this claim has runs")
    sw = chosen[0]
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for r in runs[sw.name]:
        if float(r["neg_percent"]) == 0 and mode_of(r) is not None:
            continue  # 0 % MixLU is the ReLU net
        groups[config_name(r)].append(r)
        kinds[config_name(r)] = _spec(r)["kind"]
    relu = finished(groups.get("relu", []))
    if len(relu) < 1:
        return _no_data(6, "no finished ReLU run")
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
            tests.append(_test(f"test error, {name} − ReLU", dt, kind="welch"))
            tests.append(_test(f"gap, {name} − ReLU", dg, kind="welch"))
        rows.append([name, f"{len(fin)}/{len(rs)}", _stat_cell(test),
                     "" if name == "relu" else dt.format(), _stat_cell(gap),
                     "" if name == "relu" else dg.format()])
    _with_holm(tests)
    for row in rows:  # Holm-adjusted p beside each difference
        for t in tests:
            if t["test"] == f"test error, {row[0]} − ReLU":
                row[3] += f" (p_Holm {_p(t['p_holm'])})"
            if t["test"] == f"gap, {row[0]} − ReLU":
                row[5] += f" (p_Holm {_p(t['p_holm'])})"
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
        tests.append({**_test(f"test error, {best_mix} − {best_noisy} (equivalence)", eff,
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
                         f"{_stat_cell(slopes, 3)}")
        notes.append("; ".join(parts))
    else:
        notes.append("no finished " + " and no ".join(
            name for name, found in (("MixLU", mix), ("Noisy ReLU", noisy)) if not found)
            + " run: the equivalence is not tested")
    return _claim(
        6, thesis="stated, no numbers: NegLUs act like Noisy ReLUs on normalised data; "
                  "useful Leaky/PReLU slopes are close to the useful NegLU share",
        ours=ours, verdict_text=verdict_text, verdict_word=word, data=sw.describe_data(),
        sweeps=[sw.name], sections=[section], tests=tests, notes=notes,
        figures=["prelu_slopes.png"])


# ----------------------------------------------------------------------------- claim 7
#: The thesis's effect for claim 7: at least 1 % of NegLU updates inverted.
INVERTED_EFFECT = 1.0


def claim7(runs: Runs, sweeps: Sequence[Sweep]) -> Claim:
    """Inverted local derivatives (% of unit-samples with a descent signal) per unit
    type x mode x share, from the bridge monitor; verdict per mode on the NegLU units
    of its runs that did not collapse (one-sample t, Holm over the modes) against at
    least :data:`INVERTED_EFFECT` %."""
    chosen = [s for s in _sweeps_for(7, sweeps, runs)
              if any("signs" in r for r in runs[s.name])]
    if not chosen:
        return _no_data(7, "no sweep of this claim recorded update signs")
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
                    rows.append([mode_name(mode), f"{p:g}", unit, _stat_cell(vals),
                                 _stat_cell(inverted(finished(rs), unit))])
            if p > 0:
                pooled += inverted(finished(rs), "neglu")
        if not pooled:
            continue
        eff = paired(pooled, [0.0] * len(pooled))  # one-sample t against 0
        test = _judged(f"NegLU inverted %, {mode_name(mode)}", eff, INVERTED_EFFECT,
                       paired_design=True, kind="one-sample")
        tests.append(test)
        judged[mode_name(mode)] = test
    _decide(tests)
    if not judged:
        return _no_data(7, "no NegLU units were watched")
    verdicts = [(n, t["_verdict"]) for n, t in judged.items()]
    name, v = _headline(verdicts, mode_name(PUBLISHED_MODE))
    head = judged[name]
    section = (f"{sw.describe_data()}: inverted local derivatives (% of unit-samples with a "
               f"descent signal whose applied derivative was < 0), over all runs of a share "
               f"(collapsed ones up to their collapse) and over those that did not collapse; "
               f"the verdict per mode pools its shares' runs that did not collapse, against "
               f"≥ {INVERTED_EFFECT:g} %\n\n"
               + _table(["mode", "% NegLU", "unit", "inverted % (all runs)",
                         "inverted % (not collapsed)"], rows))
    return _claim(
        7, thesis="stated: NegLU units receive updates opposite to steepest descent "
                  "(temporally-inverted STDP); its published layer never applies a "
                  "negative derivative",
        ours=f"NegLU inverted {head['_effect'].format()} % ({name}, n = {head['n'][0]} runs)",
        verdict_text=v.text(), verdict_word=v.word, data=sw.describe_data(),
        sweeps=[sw.name], sections=[section], tests=tests,
        notes=[f"per mode: {_verdict_counts(verdicts)}"])


# ----------------------------------------------------------------------------- claim 8
def claim8(rate: dict[str, Any] | None) -> Claim:
    """Table 3 read literally (a positive cost derivative ⇔ the presynaptic unit fired
    first) against the Brian2 rate experiment (:func:`bridge.biology.rate_verdicts`):
    per preset, the effect of a rising postsynaptic rate with its 95 % interval and
    the convention it supports."""
    if not rate:
        return _no_data(8, "the rate experiment was not run")
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
    return _claim(
        8, thesis="Table 3: ∂C/∂a > 0 means 'A fired first'",
        ours=f"{len(decided)} deciding preset(s): " + (", ".join(decided) or "none"),
        verdict_text=text, verdict_word=word,
        data=f"Brian2 simulation ({p['n_synapses']} synapses per preset and ramp)",
        sweeps=[], sections=[section], tests=tests,
        notes=["'rate': a rising postsynaptic rate (descent signal −∂C/∂a > 0) acts as "
               "pre-before-post timing, against the literal reading of Table 3"])


def analyse(runs: Runs, sweeps: Sequence[Sweep], rate: dict[str, Any] | None
            ) -> list[Claim]:
    """Every claim, in order."""
    return [claim1(runs, sweeps), claim2(runs, sweeps), claim3(runs, sweeps),
            claim4(runs, sweeps), claim5(runs, sweeps), claim6(runs, sweeps),
            claim7(runs, sweeps), claim8(rate)]
