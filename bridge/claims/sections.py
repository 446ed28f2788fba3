"""The pieces every claim's analysis is built from: summary and table cells, the
claim dict, and tests whose verdicts are decided after Holm within their family
(:mod:`bridge.claims.analysis_plan`: ``primary`` decides the headline, ``secondary``
is reported beside it, ``descriptive`` tests carry unadjusted p-values only).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from ann.report import markdown_table
from bridge.claims.analysis_plan import ALPHA, CLAIMS, plan_markdown
from bridge.claims.plan import Sweep
from common.stats import (
    Effect,
    Verdict,
    against,
    holm,
    seed_stat,
    verdict,
)

Runs = dict[str, list[dict[str, Any]]]
Claim = dict[str, Any]


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
            "tests": public, "notes": list(notes), "figures": list(figures),
            "plan": plan_markdown(number)}


class Later:
    """A table cell holding a test's verdict text, known once :func:`decide` ran."""

    def __init__(self, test: dict[str, Any]):
        self.test = test

    def __str__(self) -> str:
        return self.test["verdict"]


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return markdown_table(header, [[str(c) for c in r] for r in rows])


def judged_test(name: str, effect: Effect, thesis_effect: float, *, family: str = "primary",
                thesis_se: float | None = None, paired_design: bool = False,
                power: Callable[[float], int | None] | None = None,
                **extra: Any) -> dict[str, Any]:
    """A test of ``family`` whose verdict against ``thesis_effect`` :func:`decide` fills
    in; ``thesis_se``: the standard error of the thesis's published value (then our
    estimate is also tested against it, :func:`common.stats.against`); ``power``: the
    n needed at a given level (default: :func:`common.stats.n_for_power`)."""
    test = {**plain_test(name, effect, **extra), "family": family,
            "thesis_effect": thesis_effect, "_paired": paired_design, "_power": power}
    if thesis_se is not None:
        versus = against(effect, thesis_effect, thesis_se)
        test.update(thesis_se=thesis_se, versus_thesis=versus.to_dict(), _versus=versus)
    return test


def decide(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Holm within each family of judged tests (against zero, and separately against the
    thesis's value), then each judged test's verdict (:func:`common.stats.verdict`);
    tests outside any family are ``descriptive`` (no adjustment)."""
    families: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in tests:
        if "thesis_effect" in t:  # a judged test
            families[t["family"]].append(t)
        else:
            t.setdefault("family", "descriptive")
            t.setdefault("p_holm", None)
    for members in families.values():
        nan = math.nan
        zero = holm([nan if t["p"] is None else t["p"] for t in members])
        thesis = holm([t["_versus"].p if "_versus" in t else nan for t in members])
        level = ALPHA / len(members)  # the strictest Holm step, for the n needed
        for t, a, b in zip(members, zero, thesis, strict=True):
            t["p_holm"] = None if math.isnan(a) else a
            if "_versus" in t:
                t["p_thesis_holm"] = None if math.isnan(b) else b
            v = verdict(t["_effect"], t["thesis_effect"], p_adjusted=t["p_holm"],
                        versus_thesis=t.get("_versus"), p_thesis_adjusted=t.get("p_thesis_holm"),
                        alpha=ALPHA, family_size=len(members), paired_design=t["_paired"],
                        n_needed=t["_power"](level) if t["_power"] else None)
            t["_verdict"], t["verdict"] = v, v.text()
    return tests


def set_verdict(test: dict[str, Any], v: Verdict) -> dict[str, Any]:
    """A test decided without a p-value (untestable, by construction, exact rules)."""
    test["_verdict"], test["verdict"] = v, v.text()
    return test


def no_data(number: int, reason: str) -> Claim:
    return make_claim(number, thesis="—", ours="—", verdict_text="not tested", data="—",
                  sweeps=[], sections=[], tests=[], notes=[reason], verdict_word="not tested")


def sweeps_for(number: int, sweeps: Sequence[Sweep], runs: Runs) -> list[Sweep]:
    return [s for s in sweeps if number in s.claims and runs.get(s.name)]


def with_holm(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    adjusted = holm([t["p"] if t.get("p") is not None else math.nan for t in tests])
    for t, a in zip(tests, adjusted, strict=True):
        t["p_holm"] = None if math.isnan(a) else a
    return tests


def plain_test(name: str, effect: Effect, **extra: Any) -> dict[str, Any]:
    """A test dict: the effect's JSON fields, and the :class:`Effect` itself (``_effect``,
    left out of the report)."""
    return {"test": name, **effect.to_dict(), **extra, "_effect": effect}


def family_rows(rows: Sequence[tuple[str, list[Any]]], family: str) -> list[list[Any]]:
    """The table rows tagged ``family``."""
    return [r for f, r in rows if f == family]


def verdict_counts(verdicts: Sequence[tuple[str, Verdict]]) -> str:
    words = defaultdict(list)
    for name, v in verdicts:
        words[v.word].append(name)
    return "; ".join(f"{w} in {len(names)}/{len(verdicts)} ({', '.join(names)})"
                     for w, names in words.items())
