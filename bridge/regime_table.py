"""Table 4 of ``experiments/stdp_table.py``: the ANN sign patterns that map to each regime.

For each STDP regime, the artificial sign patterns (descent signal ``-∂C/∂a``, local
derivative ``f'``) that map to it under a timing convention, per synapse effect, and
which unit types (ReLU; NegLU under each backward mode) can produce them
(:func:`bridge.patterns.sign_patterns`).  Nothing is simulated: the table joins the
Brian2 tables of :mod:`stdp_sim.tables` through the same :class:`~stdp_sim.tables.Table`
interface, with no conditions.

Its patterns are computed with PyTorch.  Importing this module imports neither torch
nor Brian2.
:func:`load_bridge_table` returns the table, or for a Brian2 user without PyTorch the
reason instead, so the script prints one line (:func:`skipped_line`) and the other
tables as usual.  The script starts :func:`start_background_patterns` first thing: a
child Python process computes the patterns while the script imports Brian2 and
simulates, so that the child's ``import torch`` (seconds) costs no wall time; its
result is the same data, through JSON, as :func:`bridge_data` here.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.sign_mapping import DEFAULT_CONVENTION, check_convention

if TYPE_CHECKING:
    from stdp_sim.tables import Table

__all__ = [
    "KEY",
    "TITLE",
    "bridge_data",
    "bridge_markdown",
    "BackgroundPatterns",
    "bridge_table",
    "load_bridge_table",
    "start_background_patterns",
    "skipped_line",
    "torch_unavailable",
]

KEY = "bridge"
TITLE = "Table 4 — the artificial side: ANN update signs that map to each regime"


def torch_unavailable() -> str | None:
    """``None`` when PyTorch imports here, else why not (one line)."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        return f"import torch failed: {exc}"
    return None


def bridge_data(convention: str, patterns: Callable[[str], list[dict]] | None = None) -> dict:
    """``{"convention": ..., "regimes": sign_patterns(convention)}`` (imports torch)."""
    if patterns is None:
        from bridge.patterns import sign_patterns as patterns
    return {"convention": convention, "regimes": patterns(convention)}


def _sign(value: int) -> str:
    return "+" if value > 0 else "−"


def bridge_markdown(data: dict) -> str:
    """Per regime: (descent, derivative) signs per synapse effect and the units giving them."""
    head = (
        "| regime (Table 5) | legacy name | excitatory synapse: −∂C/∂a, f′ | units "
        "| inhibitory synapse: −∂C/∂a, f′ | units |\n|---|---|:---:|---|:---:|---|\n"
    )
    lines = []
    for row in data["regimes"]:
        cells = []
        for synapse in ("excitatory", "inhibitory"):
            (pat,) = [p for p in row["patterns"] if p["synapse"] == synapse]
            cells.append(f"{_sign(pat['descent'])}, {_sign(pat['derivative'])}")
            cells.append(", ".join(pat["unit_types"]))
        lines.append(f"| {row['regime']} | {row['legacy_name']} | " + " | ".join(cells) + " |")
    note = (
        f"Timing convention: **{data['convention']}** (`--convention`; see `bridge.sign_mapping`). "
        "−∂C/∂a is the descent signal at the postsynaptic unit, f′ the local derivative "
        "its backward pass applies (probed, not assumed); synapse effect = sign(a_pre)·sign(w). "
        "Potentiation means the descent update grows |w|.\n\n"
    )
    return note + head + "\n".join(lines)


def _table(summarize: Callable[[object, list], dict]) -> Table:
    from stdp_sim.tables import Table  # Brian2: not imported by BackgroundPatterns' child

    return Table(key=KEY, json_key=KEY, title=TITLE, conditions=lambda cfg: [],
                 summarize=summarize, markdown=bridge_markdown)


def bridge_table(convention: str = DEFAULT_CONVENTION) -> Table:
    """Table 4 under ``convention`` (``ValueError`` for an unknown one); imports torch."""
    check_convention(convention)
    from bridge.patterns import sign_patterns

    return _table(lambda cfg, results: bridge_data(convention, sign_patterns))


class BackgroundPatterns:
    """Table 4's data for every convention, computed by a child Python process that
    starts on creation (:func:`start_background_patterns`)."""

    def __init__(self):
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        code = ("import json; from bridge.sign_mapping import CONVENTIONS; "
                "from bridge.regime_table import bridge_data; "
                "print(json.dumps({c: bridge_data(c) for c in CONVENTIONS}))")
        self.process = subprocess.Popen([sys.executable, "-c", code], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True)
        self._data: dict | None = None
        atexit.register(self.close)

    def data(self, convention: str) -> dict:
        """:func:`bridge_data` of ``convention`` from the child (waits for it); if the
        child failed, computed here instead (so that a broken torch raises its own
        error in this process)."""
        if self._data is None:
            out, _ = self.process.communicate()
            atexit.unregister(self.close)
            self._data = json.loads(out) if self.process.returncode == 0 else {}
        if convention in self._data:
            return self._data[convention]
        return bridge_data(convention)

    def close(self) -> None:
        """Stop the child if it still runs (this process ends without its result)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _torch_blocked_or_missing() -> bool:
    blocked = "torch" in sys.modules and sys.modules["torch"] is None
    return blocked or importlib.util.find_spec("torch") is None


def start_background_patterns() -> BackgroundPatterns | None:
    """Start computing Table 4 in a child process now, so that its ``import torch``
    (seconds) overlaps this process's Brian2 import and simulation; ``None`` where that
    cannot help: torch missing, or imported here already.  For a script's start, before
    it imports Brian2 (``experiments/stdp_table.py``)."""
    if _torch_blocked_or_missing() or "torch" in sys.modules:
        return None
    return BackgroundPatterns()


def load_bridge_table(convention: str = DEFAULT_CONVENTION, *,
                      background: BackgroundPatterns | None = None
                      ) -> tuple[Table | None, str | None]:
    """``(bridge_table(convention), None)``, or ``(None, reason)`` when torch is missing.

    Only a failing ``import torch`` is a reason; any other error propagates.  With
    ``background`` (:func:`start_background_patterns`), the table's ``summarize`` takes
    its data from that child instead of importing torch here.
    """
    check_convention(convention)
    if _torch_blocked_or_missing():
        return None, torch_unavailable()
    if background is not None:
        return _table(lambda cfg, results: background.data(convention)), None
    reason = torch_unavailable()
    if reason is not None:
        return None, reason
    return bridge_table(convention), None


def skipped_line(reason: str) -> str:
    """The one line printed instead of Table 4 when PyTorch is missing."""
    return (
        f"{TITLE.split(' — ')[0]} (the artificial side) skipped: it needs PyTorch "
        f"(pip install torch); {reason}"
    )
