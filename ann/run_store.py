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

from common.checks import is_real
from common.run_store import RunStore as _Store
from common.run_store import StoreError, SweepMismatch

__all__ = ["SweepMismatch", "StoreError", "RunStore", "RUN_FIELDS"]

#: Keys every stored run has (the published fields of a run record).
RUN_FIELDS = ("neg_percent", "backward", "seed", "status", "train_error", "test_error",
              "epochs")


def _run_problem(result: dict[str, Any]) -> str:
    """What makes ``result`` (with every field of :data:`RUN_FIELDS`) not a run record,
    or ``""``: the published fields' types, the epoch records, the activation spec."""
    for name in ("neg_percent", "train_error", "test_error"):
        if not is_real(result[name]):
            return f"{name} is {result[name]!r}, not a number"
    if not isinstance(result["seed"], int) or isinstance(result["seed"], bool) \
            or result["seed"] < 0:
        return f"seed is {result['seed']!r}, not a non-negative integer"
    if result["backward"] is not None and not isinstance(result["backward"], str):
        return f"backward is {result['backward']!r}, not a name"
    if result["status"] not in ("ok", "diverged"):
        return f"status is {result['status']!r}, not 'ok' or 'diverged'"
    epochs = result["epochs"]
    if not isinstance(epochs, list):
        return "epochs is not a list"
    for e in epochs:
        if not isinstance(e, dict) or not all(
                is_real(e.get(k)) for k in ("epoch", "train_error", "test_error", "loss")):
            return f"epoch record {str(e)[:60]!r} lacks numeric epoch, errors or loss"
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
