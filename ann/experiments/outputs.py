"""What a sweep experiment writes: ``STEM.json`` (the document), ``STEM.csv`` (one row
per run and epoch) and ``STEM.png`` (the error or accuracy curves)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.files import atomic_write_json, atomic_write_text

__all__ = ["run_csv", "write_outputs"]


def run_csv(results: Sequence[dict[str, Any]], dataset: str) -> str:
    """Long-format CSV: one row per run and epoch (new columns after the published ones)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "neg_percent", "backward", "seed", "status", "epoch",
                     "train_error", "test_error", "loss", "final_train_error",
                     "final_test_error", "seconds", "activation", "model", "engine",
                     "dead_relu_side", "dead_neglu", "active_fraction", "neglu_per_image"])
    for r in results:
        for e in r["epochs"] or [{"epoch": 0, "train_error": "", "test_error": "", "loss": ""}]:
            writer.writerow([dataset, f"{r['neg_percent']:g}", r["backward"], r["seed"],
                             r["status"], e["epoch"], e["train_error"], e["test_error"],
                             e["loss"], r["train_error"], r["test_error"],
                             _seconds_cell(r), r.get("activation", ""),
                             r.get("model", ""), r.get("engine", ""),
                             *_diagnostic_cells(e.get("diagnostics"))])
    return buf.getvalue()


def _seconds_cell(r: dict[str, Any]) -> str:
    """A run's seconds (blank for a stored run that has none: ``seconds`` is not one of
    the fields every run record has, :data:`ann.run_store.RUN_FIELDS`)."""
    return "" if r.get("seconds") is None else f"{r['seconds']:.3f}"


def _diagnostic_cells(diag: dict[str, Any] | None) -> list[Any]:
    """Dead ReLU-side (and resampled) units, dead NegLUs, mean active fraction over the
    positions, NegLUs per image (:mod:`ann.diagnostics`); blanks without diagnostics."""
    if not diag:
        return ["", "", "", ""]
    positions = diag["positions"]
    dead = lambda *types: sum(p["dead"].get(t, 0) for p in positions for t in types)  # noqa: E731
    active = sum(p["active_fraction"] for p in positions) / max(len(positions), 1)
    return [dead("relu", "resampled"), dead("neglu"), f"{active:.6g}",
            f"{diag['neglu_per_image']:g}"]


def write_outputs(out: Path, stem: str, document: dict[str, Any], metric: str, title: str
                  ) -> list[Path]:
    """Write ``stem.json`` (``document``), ``stem.csv`` and the ``stem.png`` curves."""
    from ann.plots import plot_curves

    runs = document["runs"]
    written = [
        atomic_write_json(out / f"{stem}.json", document),
        atomic_write_text(out / f"{stem}.csv", run_csv(runs, document["dataset"])),
    ]
    written.append(plot_curves(runs, out / f"{stem}.png", metric=metric, title=title))
    return written
