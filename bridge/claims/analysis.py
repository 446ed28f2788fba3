"""One analysis per thesis claim: stored runs in, tables, tests and a verdict out.

Every ``claimN`` function takes ``{sweep name: [run record, ...]}`` (the records of
:func:`ann.train.train_one`, as the sweep scripts store them) and the
:class:`~bridge.claims.plan.Sweep` list, and returns a JSON-ready :class:`Claim`
dict: the summary cells (thesis's evidence, ours, verdict, data), the section's
tables (Markdown), its tests (:class:`common.stats.Effect` dicts) and notes.
:func:`claim8` takes the Brian2 rate experiment's verdict rows instead, :func:`claim9`
the MixSTDP experiment's document.

Conventions (stated in the report):

- Errors are percentage points of the dataset the sweep names.
- A run *collapsed* if it diverged (non-finite loss or weights) or finished with a
  training error of at least :data:`COLLAPSE_ERROR`; collapsed runs enter as a rate
  (k/n, exact Clopper-Pearson interval), and every error statistic is over the runs that did not
  collapse (n shown).
- Each claim follows its pre-registered plan (:data:`bridge.claims.analysis_plan.PLAN`):
  the primary test decides, Holm-adjusted within its declared family; secondary modes
  form their own family; descriptive tests are not adjusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.claims.baselines import EQUIVALENCE_MARGIN, claim6
from bridge.claims.biology import INVERTED_EFFECT, claim7, claim8
from bridge.claims.plan import Sweep
from bridge.claims.records import (
    COLLAPSE_ERROR,
    by_share,
    collapsed,
    config_name,
    dead_share,
    finished,
    gap_of,
    is_relu,
    large_bias_share,
    mode_name,
    mode_of,
    modes,
    points,
    prelu_slopes,
)
from bridge.claims.sections import CLAIMS, Claim, Runs
from bridge.claims.spiking import claim9
from bridge.claims.training import THESIS_GAP, claim1, claim2, claim3
from bridge.claims.units import claim4, claim5

__all__ = [
    "COLLAPSE_ERROR",
    "CLAIMS",
    "EQUIVALENCE_MARGIN",
    "INVERTED_EFFECT",
    "THESIS_GAP",
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
    "claim9",
    "analyse",
]


def analyse(runs: Runs, sweeps: Sequence[Sweep], rate: dict[str, Any] | None,
            spiking: dict[str, Any] | None = None) -> list[Claim]:
    """Every claim, in order (``spiking``: the MixSTDP experiment's document, claim 9)."""
    return [claim1(runs, sweeps), claim2(runs, sweeps), claim3(runs, sweeps),
            claim4(runs, sweeps), claim5(runs, sweeps), claim6(runs, sweeps),
            claim7(runs, sweeps), claim8(rate), claim9(spiking)]
