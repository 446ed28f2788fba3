"""The pieces every claim's analysis is built from: summary and table cells, the
claim dict, and tests whose verdicts are decided after Holm within the claim.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ann.report import markdown_table
from bridge.claims.plan import Sweep
from common.stats import (
    Effect,
    Verdict,
    holm,
    seed_stat,
    slope,
    verdict,
)

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


def stat_cell(values: Sequence[float], digits: int = 2) -> str:
    if not values:
        return "— (n = 0)"
    s = seed_stat(values)
    if s.n < 2:
        return f"{s.mean:.{digits}f} (n = 1)"
    return (f"{s.mean:.{digits}f} ± {s.sd:.{digits}f} [{s.lo:.{digits}f}, {s.hi:.{digits}f}] "
            f"(n = {s.n})")


def p_cell(p: float | None) -> str:
    return "—" if p is None or math.isnan(p) else f"{p:.2g}"


def make_claim(number: int, *, thesis: str, ours: str, verdict_text: str, data: str,
           sweeps: Sequence[str], sections: Sequence[str], tests: Sequence[dict[str, Any]],
           notes: Sequence[str] = (), verdict_word: str | None = None,
           figures: Sequence[str] = ()) -> Claim:
    public = [{k: v for k, v in t.items() if not k.startswith("_")} for t in tests]
    return {"claim": number, "title": CLAIMS[number], "thesis": thesis, "ours": ours,
            "verdict": verdict_word or verdict_text.split(" ")[0], "verdict_text": verdict_text,
            "data": data, "sweeps": list(sweeps), "tables": list(sections),
            "tests": public, "notes": list(notes), "figures": list(figures)}


class Later:
    """A table cell holding a test's verdict text, known once :func:`decide` ran."""

    def __init__(self, test: dict[str, Any]):
        self.test = test

    def __str__(self) -> str:
        return self.test["verdict"]


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return markdown_table(header, [[str(c) for c in r] for r in rows])


def judged_test(name: str, effect: Effect, thesis_effect: float, *, paired_design: bool = False,
            n_needed: int | None = None, **extra: Any) -> dict[str, Any]:
    """A test whose verdict against ``thesis_effect`` :func:`decide` fills in."""
    return {**plain_test(name, effect, **extra), "thesis_effect": thesis_effect,
            "_effect": effect, "_paired": paired_design, "_n_needed": n_needed}


def decide(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Holm over the claim's family, then the verdict of every judged test with its
    adjusted p (:func:`common.stats.verdict`)."""
    with_holm(tests)
    for t in tests:
        if "_effect" in t:
            v = verdict(t["_effect"], t["thesis_effect"], paired_design=t["_paired"],
                        p_adjusted=t["p_holm"], n_needed=t["_n_needed"])
            t["_verdict"], t["verdict"] = v, v.text()
    return tests


def no_data(number: int, reason: str) -> Claim:
    return make_claim(number, thesis="—", ours="—", verdict_text="not tested", data="—",
                  sweeps=[], sections=[], tests=[], notes=[reason], verdict_word="not tested")


def sweeps_for(number: int, sweeps: Sequence[Sweep], runs: Runs) -> list[Sweep]:
    return [s for s in sweeps if number in s.claims and runs.get(s.name)]


def thesis_slope(pairs: Sequence[tuple[float, float]]) -> float:
    return slope([p for p, _ in pairs], [v for _, v in pairs]).estimate


def with_holm(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    adjusted = holm([t["p"] if t.get("p") is not None else math.nan for t in tests])
    for t, a in zip(tests, adjusted, strict=True):
        t["p_holm"] = None if math.isnan(a) else a
    return tests


def plain_test(name: str, effect: Effect, **extra: Any) -> dict[str, Any]:
    return {"test": name, **effect.to_dict(), **extra}


def verdict_counts(verdicts: Sequence[tuple[str, Verdict]]) -> str:
    words = defaultdict(list)
    for name, v in verdicts:
        words[v.word].append(name)
    return "; ".join(f"{w} in {len(names)}/{len(verdicts)} ({', '.join(names)})"
                     for w, names in words.items())


def headline(verdicts: Sequence[tuple[str, Verdict]], prefer: str) -> tuple[str, Verdict]:
    for name, v in verdicts:
        if name.endswith(prefer):
            return name, v
    return verdicts[0]


