"""Update signs of every run of a sweep: the bridge monitor as an :mod:`ann.step_observer` observer.

:class:`SignObserver` attaches an :class:`~bridge.monitor.UpdateSignMonitor` to the model
of every run or stack that the sweep engines train — plain models in the loop, stacked
ones (counted per member) in the batched engine — on one optimizer step in ``every``
(steps ``0, every, 2 every, ...`` of each run), and adds to each run's result::

    "signs": {
        "every": K, "convention": "rate", "steps": watched steps,
        "by_unit_type": {unit type: {"events", "counts", "shares", "agreement",
                                     "agreement_by_regime", "normal_fraction",
                                     "inverted_fraction", "silent_fraction", "steps",
                                     "derivatives": {"normal", "inverted", "silent"}}}
    }

(the keys of :meth:`UpdateSignMonitor.summary`, summed over layers; ``null`` where a
share has no denominator).  The observer also times every step, watched or not (but
the first of each run or stack, a warm-up), so a sweep reports what watching cost
(:meth:`SignObserver.overhead`), measured in the same process.  Checkpoints keep the
counts, so a resumed run counts what an uninterrupted one does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from torch import nn

from ann.step_observer import Observer, RunObserver
from bridge.monitor import REGIME_LABELS, StepRecord, UpdateSignMonitor, summarise
from bridge.sign_mapping import DEFAULT_CONVENTION, check_convention
from common.checks import is_integer

__all__ = ["SignObserver", "DEFAULT_EVERY", "summarise_records", "share_series"]

#: Default ``--signs-every``: one step in 10 (measured overhead in
#: ``docs/update-signs.md#update-signs-in-every-sweep``).
DEFAULT_EVERY = 10
_FIELDS = ("step", "layer", "unit_type", "normal", "inverted", "silent")


def _plain(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


def summarise_records(records: Sequence[StepRecord]) -> dict[str, dict[str, Any]]:
    """Per unit type, the monitor's summary of ``records`` (NaN as ``None``), with
    ``derivatives``: the counts of normal, inverted and silent local derivatives."""
    out = {}
    for row in summarise(records, by=("unit_type",)):
        unit = row.pop("unit_type")
        out[unit] = {k: ({kk: _plain(vv) for kk, vv in v.items()} if isinstance(v, dict)
                         else _plain(v)) for k, v in row.items()}
        out[unit]["derivatives"] = {
            k: sum(getattr(r, k) for r in records if r.unit_type == unit)
            for k in ("normal", "inverted", "silent")}
    return out


def share_series(records: Sequence[StepRecord], unit_type: str) -> dict[str, list]:
    """Per watched step, the share of each regime among the events of ``unit_type``
    units: ``{"step": [...], label: [...], ...}``; steps without events are left out."""
    per_step: dict[int, dict[str, int]] = {}
    for rec in records:
        if rec.unit_type == unit_type:
            acc = per_step.setdefault(rec.step, dict.fromkeys(REGIME_LABELS, 0))
            for k in REGIME_LABELS:
                acc[k] += rec.counts[k]
    steps = sorted(s for s, c in per_step.items() if sum(c.values()))
    out: dict[str, list] = {"step": steps}
    for k in REGIME_LABELS:
        out[k] = [per_step[s][k] / sum(per_step[s].values()) for s in steps]
    return out


def _to_dict(rec: StepRecord) -> dict[str, Any]:
    return {**{f: getattr(rec, f) for f in _FIELDS}, "counts": dict(rec.counts),
            "agree": dict(rec.agree)}


def _from_dict(d: dict[str, Any]) -> StepRecord:
    return StepRecord(**{f: d[f] for f in _FIELDS}, counts=dict(d["counts"]),
                      agree=dict(d["agree"]))


class SignObserver(Observer):
    """Count STDP-regime events on one step in ``every`` of every run (module docstring).

    Args:
        every: watch steps ``0, every, 2 every, ...`` of each run (1: every step).
        convention: timing convention of :mod:`bridge.sign_mapping`.
        series: also add ``signs["series"]``: per unit type, the regime shares of every
            watched step (:func:`share_series`), for plots over training.

    Attributes:
        step_seconds: ``{"watched": [count, seconds], "plain": [count, seconds]}``
            over every step of the sweep, for :meth:`overhead`.
    """

    def __init__(self, every: int = DEFAULT_EVERY, convention: str = DEFAULT_CONVENTION,
                 series: bool = False):
        if not is_integer(every) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.every = every
        self.series = series
        self.convention = check_convention(convention)
        self.step_seconds = {"watched": [0, 0.0], "plain": [0, 0.0]}

    def identity(self) -> dict[str, Any]:
        return {"signs_every": self.every, "convention": self.convention}

    def start(self, model: nn.Module, keys: Sequence[str]) -> RunObserver:
        return _RunSigns(self, model, list(keys))

    def overhead(self) -> dict[str, float] | None:
        """What watching cost, from the step times of the whole sweep: the mean seconds
        of a watched and of an unwatched step, their ratio, and ``sweep_ratio``, the
        steps' total time over what it would have been unwatched.  ``None`` until both
        kinds of step were seen."""
        (nw, sw), (nu, su) = self.step_seconds["watched"], self.step_seconds["plain"]
        if not nw or not nu:
            return None
        plain = su / nu
        return {"watched_step_s": sw / nw, "plain_step_s": plain,
                "watched_over_plain": sw / nw / plain,
                "sweep_ratio": (sw + su) / ((nw + nu) * plain),
                "watched_steps": nw, "plain_steps": nu}

    def report(self) -> str:
        return self.overhead_line()

    def merge(self, other: Observer) -> None:
        for kind, (n, seconds) in other.step_seconds.items():
            self.step_seconds[kind][0] += n
            self.step_seconds[kind][1] += seconds

    def overhead_line(self) -> str:
        """One line for the sweep's log: what watching cost."""
        o = self.overhead()
        if o is None:
            return f"signs: one step in {self.every} watched; overhead not measured (too few steps)"
        return (f"signs: one step in {self.every} watched ({o['watched_steps']} of "
                f"{o['watched_steps'] + o['plain_steps']} steps); a watched step took "
                f"{o['watched_over_plain']:.2f}x an unwatched one; overhead "
                f"{100 * (o['sweep_ratio'] - 1):.1f} % of the unwatched steps' time "
                f"(ratio {o['sweep_ratio']:.3f}, timed in this process)")


class _RunSigns(RunObserver):
    """The monitor of one run or stack; counts are kept per member key."""

    def __init__(self, owner: SignObserver, model: nn.Module, keys: list[str]):
        self.owner, self.model, self.keys = owner, model, keys
        self.records: dict[str, list[StepRecord]] = {k: [] for k in keys}
        self.steps: dict[str, int] = dict.fromkeys(keys, 0)
        self.monitor: UpdateSignMonitor | None = None
        self._watching = False
        self._started = 0.0
        self._timed = False

    def _watched(self, step: int) -> bool:
        return step % self.owner.every == 0

    def before_step(self, step: int) -> None:
        self._started = time.perf_counter()
        if self._watched(step):
            if self.monitor is None:
                self.monitor = UpdateSignMonitor(self.model, self.owner.convention,
                                                 members=len(self.keys))
            self.monitor.records.clear()
            self.monitor.step = step
            self.monitor.attach()
            self._watching = True

    def after_step(self, step: int) -> None:
        if self._watching:
            self.monitor.detach()
            self._watching = False
            for rec in self.monitor.records:
                self.records[self.keys[rec.member]].append(rec)
            for key in self.keys:
                self.steps[key] += 1
            kind = "watched"
        else:
            kind = "plain"
        if self._timed:  # the first step of a run or stack (warm-up) is not timed
            spent = self.owner.step_seconds[kind]
            spent[0] += 1
            spent[1] += time.perf_counter() - self._started
        self._timed = True

    def drop(self, keep: Sequence[int]) -> None:
        self.close()
        self.keys = [self.keys[i] for i in keep]
        self.monitor = None  # the next watched step monitors the new layout

    def result(self, key: str) -> dict[str, Any]:
        records = self.records.get(key, [])
        signs = {"every": self.owner.every, "convention": self.owner.convention,
                 "steps": self.steps.get(key, 0), "by_unit_type": summarise_records(records)}
        if self.owner.series:
            signs["series"] = {unit: share_series(records, unit) for unit in
                               signs["by_unit_type"]}
        return {"signs": signs}

    def state(self) -> dict[str, Any]:
        return {"records": {k: [_to_dict(r) for r in v] for k, v in self.records.items()},
                "steps": dict(self.steps)}

    def load_state(self, state: Any) -> None:
        if not state:
            return
        for key, recs in state["records"].items():
            self.records[key] = [_from_dict(r) for r in recs]
        self.steps.update(state["steps"])

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.detach()
        self._watching = False

