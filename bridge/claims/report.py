"""``report.md`` and ``report.json`` of the verdict study.

:func:`build_report` turns the claims of :func:`bridge.claims.analysis.analyse` and
the sweeps that fed them into a Markdown report (the summary table first, then one
section per claim with the commands that reproduce it, its tables, figures, tests
and notes) and a JSON document holding the same facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ann.report import markdown_table
from bridge.claims.records import COLLAPSE_ERROR
from common.stats import VERDICTS

__all__ = ["summary_table", "build_report", "label_scale", "SMOKE_LABEL", "STATISTICS"]

#: What a smoke study's verdicts are: tiny sweeps that run every step of the study,
#: too small to decide anything (printed beside each of its verdicts).
SMOKE_LABEL = "machinery check, not evidence"

#: How the report's statistics are computed (printed in it).
STATISTICS = (
    "Mean ± sd over seeds with 95 % Student-t intervals (no bootstrap); differences of "
    "groups by Welch's t-test (interval and p), of runs matched by seed by a paired "
    "t-test, trends by the least-squares slope with its t interval; each claim's verdict "
    "follows the plan printed above its results: the primary test in the published mode "
    "decides, Holm-adjusted within its declared family (p_holm in report.json), and so is "
    "the test against the thesis's one-seed value with that value's noise counted "
    "(p_thesis_holm); secondary modes are adjusted within their own family and never "
    "decide; descriptive tests carry unadjusted p-values. A run collapsed if it "
    f"diverged or ended with a training error of {100 * COLLAPSE_ERROR:g} % or more: "
    "collapses enter as a rate k/n with an exact (Clopper–Pearson) 95 % interval, and "
    "every error statistic is over the runs that did not collapse (n shown), except "
    "claim 6's equivalence, which counts a collapse with its error."
)


def label_scale(claims: Sequence[dict[str, Any]], scale: str) -> list[dict[str, Any]]:
    """The claims as a study of ``scale`` reports them: at ``smoke`` every verdict text
    carries :data:`SMOKE_LABEL` (the verdict word itself is kept, for the tests)."""
    if scale != "smoke":
        return list(claims)
    return [{**c, "verdict_text": f"{c['verdict_text']} ({SMOKE_LABEL})"} for c in claims]


def summary_table(claims: Sequence[dict[str, Any]]) -> str:
    """claim | thesis's evidence | ours | verdict | data used."""
    rows = [[f"{c['claim']}. {c['title']}", c["thesis"], c["ours"], c["verdict_text"],
             c["data"]] for c in claims]
    return markdown_table(["claim", "thesis's evidence", "ours (mean ± sd / 95 % CI, n)",
                           "verdict", "data used"], rows)


def build_report(claims: Sequence[dict[str, Any]], sweeps: Sequence[dict[str, Any]], *,
                 scale: str, command: str, wall_seconds: float, environment: dict[str, Any],
                 rate_command: str | None = None) -> tuple[str, dict[str, Any]]:
    """The Markdown report and its JSON document.

    Args:
        claims: :func:`~bridge.claims.analysis.analyse`'s list.
        sweeps: per sweep ``name``, ``command``, ``data``, ``claims``, ``runs`` (stored),
            ``expected`` (planned) and ``seconds`` (training time of its stored runs).
        scale: ``smoke``, ``offline`` or ``full``.
        command: the ``thesis_claims.py`` command line.
        wall_seconds: wall time of the study over all its (resumed) invocations.
        environment: provenance (commit, versions, hardware).
        rate_command: how the Brian2 rate experiment of claim 8 was run.
    """
    lines = [
        "# The thesis's claims, tested",
        "",
        f"Scale **{scale}**; `{command}`; wall time {wall_seconds / 60:.1f} min over all "
        f"invocations (resumed runs not recomputed); "
        f"{sum(s['runs'] for s in sweeps)} runs stored of {sum(s['expected'] for s in sweeps)} "
        "planned.",
        "",
        *([f"**Smoke scale: a {SMOKE_LABEL}.** Its sweeps are too small to decide any "
           "claim; run `--scale offline` or `full` for verdicts.", ""]
          if scale == "smoke" else []),
        "## Summary",
        "",
        summary_table(claims),
        "",
        "Verdicts: " + "; ".join(f"**{w}**: {d}" for w, d in VERDICTS.items()) + ".",
        "",
        "Statistics: " + STATISTICS,
        "",
        "## Sweeps",
        "",
        markdown_table(["sweep", "data", "claims", "runs", "training s", "command"],
                       [[s["name"], s["data"], ",".join(map(str, s["claims"])),
                         f"{s['runs']}/{s['expected']}", f"{s['seconds']:.0f}",
                         f"`{s['command']}`"] for s in sweeps]),
        "",
    ]
    by_name = {s["name"]: s for s in sweeps}
    for c in claims:
        lines += [f"## Claim {c['claim']}: {c['title']}", ""]
        if c.get("plan"):
            lines += ["The plan, fixed before any result was read:", "", c["plan"], ""]
        lines += [f"**Verdict: {c['verdict_text']}.** Thesis: {c['thesis']}. Ours: {c['ours']}. "
                  f"Data: {c['data']}.", ""]
        runs_of = [by_name[n] for n in c["sweeps"] if n in by_name]
        if runs_of:
            lines += ["What was run (each command resumes or extends its sweep alone):", ""]
            lines += [f"    {s['command']}" for s in runs_of]
            lines.append("")
        if c["claim"] == 8 and rate_command:
            lines += ["What was run:", "", f"    {rate_command}", ""]
        for table in c["tables"]:
            lines += [table, ""]
        for figure in c["figures"]:
            lines += [f"![{figure}]({figure})", ""]
        lines += [f"- {note}" for note in c["notes"]]
        if c["notes"]:
            lines.append("")
    document = {"scale": scale, "evidence": scale != "smoke",
                "command": command, "wall_seconds": wall_seconds,
                "verdict_words": VERDICTS, "statistics": STATISTICS,
                "collapse_error": COLLAPSE_ERROR, "sweeps": list(sweeps),
                "claims": list(claims), "environment": environment}
    return "\n".join(lines).rstrip() + "\n", document
