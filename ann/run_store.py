"""The sweeps' store of finished runs (a sweep's output directory).

Layout of a sweep's output directory (``--out DIR``)::

    DIR/sweep.json          what the runs share (checked on resume) and provenance
    DIR/runs/<key>.json     one finished run each (``RunSpec.key``), written atomically
    DIR/.lock               the process writing DIR (PID), while it runs
    DIR/checkpoints/*.pt    epoch checkpoints of unfinished stacks and runs
                            (:mod:`ann.checkpoint`), deleted as their runs finish

A rerun of the same sweep skips every run already in ``runs/``.  ``sweep.json``
holds the sweep's identity (experiment, dataset and its fingerprint, configuration,
model, engine, :data:`~ann.config.TRAINER_VERSION`), which a rerun must match, and its
provenance (toolkit commit, torch/brian2/numpy versions, hardware: recorded, not
checked).  A directory holding a different sweep, runs of another engine or trainer
version, or runs of the earlier layout (no trainer version) is refused in one line
rather than mixed; the earlier layout can still be read with ``--report-only``
(:meth:`RunStore.open`).

The directory handling, the lock and resume are :mod:`common.run_store`'s; this module
adds what a sweep's run record holds.
"""

from __future__ import annotations

from typing import Any

from common.checks import is_integer, is_real, is_within
from common.run_store import RunStore as _Store
from common.run_store import StoreError, SweepMismatch

__all__ = ["SweepMismatch", "StoreError", "RunStore", "RUN_FIELDS", "run_problem"]

#: Keys every stored run has (the published fields of a run record).
RUN_FIELDS = ("neg_percent", "backward", "seed", "status", "train_error", "test_error",
              "epochs")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(name: str, value: Any, low: float, high: float, what: str) -> str:
    """``""`` if ``value`` is a finite number in ``[low, high]``, else what it is."""
    if not is_real(value):
        return f"{name} is {_short(value)}, not a number"
    if not is_within(value, low, high):
        return f"{name} is {_short(value)}, not {what}"
    return ""


def _fraction(name: str, value: Any, optional: bool = False) -> str:
    if optional and value is None:
        return ""
    return _number(name, value, 0.0, 1.0, "a fraction in [0, 1]")


def _epoch_problem(e: Any) -> str:
    if not isinstance(e, dict) or not all(
            is_real(e.get(k)) for k in ("epoch", "train_error", "test_error", "loss")):
        return f"epoch record {str(e)[:60]!r} lacks numeric epoch, errors or loss"
    where = f"epoch {_short(e['epoch'])}"
    if not is_integer(e["epoch"]) or e["epoch"] < 1:
        return f"{where} is not an epoch number (1, 2, ...)"
    problem = (_fraction(f"{where} train_error", e["train_error"])
               or _fraction(f"{where} test_error", e["test_error"])
               or _number(f"{where} loss", e["loss"], 0.0, float("inf"), "a loss (>= 0)"))
    if problem or e.get("diagnostics") is None:
        return problem
    problem = _diagnostics_problem(e["diagnostics"])
    return f"{where} diagnostics: {problem}" if problem else ""


def _counts(value: Any) -> bool:
    return isinstance(value, dict) and all(is_integer(v) and v >= 0 for v in value.values())


def _diagnostics_problem(d: Any) -> str:
    """The parts of :func:`ann.diagnostics.unit_diagnostics`'s record that the reports
    read (positions' unit counts and fractions, NegLUs per image, layer biases)."""
    if not isinstance(d, dict):
        return "not an object"
    positions = d.get("positions")
    if not isinstance(positions, list) or not positions:
        return "positions is not a non-empty list"
    for p in positions:
        if not isinstance(p, dict) or not _counts(p.get("units")) or not _counts(p.get("dead")):
            return f"position {str(p)[:60]!r} lacks unit counts"
        prelu = p.get("prelu")
        problem = (_fraction("active_fraction", p.get("active_fraction"))
                   or _fraction("large_negative_bias_share",
                                p.get("large_negative_bias_share"), optional=True)
                   or ("" if prelu is None or isinstance(prelu, dict) and is_within(
                       prelu.get("mean")) else f"prelu {str(prelu)[:60]!r} lacks a mean"))
        if problem:
            return problem
    problem = _number("neglu_per_image", d.get("neglu_per_image"), 0.0, float("inf"),
                      "a count (>= 0)")
    if problem:
        return problem
    layers = d.get("layers", {})
    if not isinstance(layers, dict) or not all(
            isinstance(v, dict) and ("bias" not in v or isinstance(v["bias"], dict)
                                     and is_within(v["bias"].get("mean")))
            for v in layers.values()):
        return "layers is not a record of layers (bias mean, weight norm)"
    return ""


def _signs_problem(signs: Any) -> str:
    """The parts of :class:`bridge.sign_observer.SignObserver`'s record that the signs
    reports read."""
    if not isinstance(signs, dict) or not is_integer(signs.get("every")) \
            or signs["every"] < 1 or not isinstance(signs.get("by_unit_type"), dict):
        return "signs lacks its step interval or unit types"
    for unit, row in signs["by_unit_type"].items():
        if not isinstance(row, dict) or not isinstance(row.get("shares"), dict):
            return f"signs of {_short(unit)} lack their shares"
        for name, value in [*row["shares"].items(),
                            *((k, row.get(k)) for k in ("inverted_fraction", "silent_fraction",
                                                         "normal_fraction", "agreement"))]:
            problem = _fraction(f"signs {unit} {name}", value, optional=True)
            if problem:
                return problem
    return ""


def run_problem(result: Any) -> str:
    """What makes ``result`` not a run record of a sweep (:func:`ann.train.train_one`'s
    schema), or ``""``: the one check of a stored run, which every reader of the run
    store goes through (:meth:`RunStore.load`), so that what the reports and the
    verdict study (:mod:`bridge.claims`) compute from is a record they can read.

    Checked: the published fields (:data:`RUN_FIELDS`) and their types; error rates
    (final and per epoch) finite and in [0, 1], ``neg_percent`` in [0, 100], losses,
    ``seconds`` and NegLUs per image finite and >= 0, ``seed`` and ``parameters``
    non-negative integers, epochs numbered from 1; the activation spec; the unit
    diagnostics and update signs the reports read (their fractions in [0, 1])."""
    if not isinstance(result, dict):
        return f"a JSON {type(result).__name__}, not an object"
    missing = [f for f in RUN_FIELDS if f not in result]
    if missing:
        return f"missing {', '.join(missing)}"
    return _run_problem(result)


def _run_problem(result: dict[str, Any]) -> str:
    """:func:`run_problem` of ``result``, which has every field of :data:`RUN_FIELDS`."""
    problem = (_number("neg_percent", result["neg_percent"], 0.0, 100.0,
                       "a percent in [0, 100]")
               or _fraction("train_error", result["train_error"])
               or _fraction("test_error", result["test_error"]))
    if problem:
        return problem
    if not is_integer(result["seed"]) or result["seed"] < 0:
        return f"seed is {_short(result['seed'])}, not a non-negative integer"
    if result["backward"] is not None and not isinstance(result["backward"], str):
        return f"backward is {_short(result['backward'])}, not a name"
    if result["status"] not in ("ok", "diverged"):
        return f"status is {_short(result['status'])}, not 'ok' or 'diverged'"
    if "seconds" in result:
        problem = _number("seconds", result["seconds"], 0.0, float("inf"), "a duration (>= 0)")
        if problem:
            return problem
    if "parameters" in result and (not is_integer(result["parameters"])
                                   or result["parameters"] < 0):
        return f"parameters is {_short(result['parameters'])}, not a count"
    epochs = result["epochs"]
    if not isinstance(epochs, list):
        return "epochs is not a list"
    for e in epochs:
        problem = _epoch_problem(e)
        if problem:
            return problem
    if "signs" in result:
        problem = _signs_problem(result["signs"])
        if problem:
            return problem
    spec = result.get("activation_spec")
    if spec is not None:
        from ann.specs import ActivationSpec

        try:
            if not isinstance(spec, dict):
                raise ValueError("not an object")
            ActivationSpec.from_dict(spec)
        except (ValueError, KeyError, TypeError) as exc:
            return f"activation_spec {str(spec)[:60]!r} is not a spec ({exc})"
    return ""


class RunStore(_Store):
    """Finished runs of one sweep (see :class:`common.run_store.RunStore`): each run
    record has :data:`RUN_FIELDS`, and ``sweep.json`` names the engine and the
    trainer version."""

    fields = RUN_FIELDS
    named_keys = (("engine", "engine"), ("trainer_version", "trainer version"))
    version_key = "trainer_version"

    def problem(self, result: dict[str, Any]) -> str:
        return _run_problem(result)
