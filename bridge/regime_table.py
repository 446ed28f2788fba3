"""Table 4 of ``experiments/stdp_table.py``: the ANN sign patterns that map to each regime.

For each STDP regime, the artificial sign patterns (descent signal ``-∂C/∂a``, local
derivative ``f'``) that map to it under a timing convention, per synapse effect, and
which unit types (ReLU; NegLU under each backward mode) can produce them
(:func:`bridge.patterns.sign_patterns`).  Nothing is simulated: the table joins the
Brian2 tables of :mod:`stdp_sim.tables` through the same :class:`~stdp_sim.tables.Table`
interface, with no conditions.

Its patterns are computed with PyTorch.  Importing this module does not import torch.
:func:`load_bridge_table` returns the table, or for a Brian2 user without PyTorch the
reason instead, so the script prints one line (:func:`skipped_line`) and the other
tables as usual.  With ``background=True`` (the script's choice) the patterns are
computed by a child Python process started at once, so that its ``import torch``
(seconds) overlaps this process's Brian2 import and simulation; the child's result is
the same data, through JSON, as :func:`bridge_data` here.
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

from bridge.mapping import DEFAULT_CONVENTION, check_convention
from stdp_sim.tables import Table

__all__ = [
    "KEY",
    "TITLE",
    "bridge_data",
    "bridge_markdown",
    "bridge_table",
    "load_bridge_table",
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
        f"Timing convention: **{data['convention']}** (`--convention`; see `bridge.mapping`). "
        "−∂C/∂a is the descent signal at the postsynaptic unit, f′ the local derivative "
        "its backward pass applies (probed, not assumed); synapse effect = sign(a_pre)·sign(w). "
        "Potentiation means the descent update grows |w|.\n\n"
    )
    return note + head + "\n".join(lines)


def _table(summarize: Callable[[object, list], dict]) -> Table:
    return Table(key=KEY, json_key=KEY, title=TITLE, conditions=lambda cfg: [],
                 summarize=summarize, markdown=bridge_markdown)


def bridge_table(convention: str = DEFAULT_CONVENTION) -> Table:
    """Table 4 under ``convention`` (``ValueError`` for an unknown one); imports torch."""
    check_convention(convention)
    from bridge.patterns import sign_patterns

    return _table(lambda cfg, results: bridge_data(convention, sign_patterns))


class _ChildPatterns:
    """:func:`bridge_data` computed by a child Python process, started on creation."""

    def __init__(self, convention: str):
        self.convention = convention
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        code = ("import json, sys; from bridge.regime_table import bridge_data; "
                "print(json.dumps(bridge_data(sys.argv[1])))")
        self.process = subprocess.Popen([sys.executable, "-c", code, convention], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True)
        atexit.register(self.close)

    def result(self) -> dict:
        """The child's :func:`bridge_data`; if the child failed, computed here instead
        (so that a broken torch raises its own error in this process)."""
        out, _ = self.process.communicate()
        atexit.unregister(self.close)
        if self.process.returncode == 0:
            return json.loads(out)
        return bridge_data(self.convention)

    def close(self) -> None:
        """Stop the child if it still runs (this process ends without its result)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def load_bridge_table(convention: str = DEFAULT_CONVENTION, *, background: bool = False
                      ) -> tuple[Table | None, str | None]:
    """``(bridge_table(convention), None)``, or ``(None, reason)`` when torch is missing.

    Only a failing ``import torch`` is a reason; any other error propagates.  With
    ``background`` and torch installed but not yet imported here, the patterns are
    computed by a child process started now, and the table's ``summarize`` waits for it.
    """
    check_convention(convention)
    blocked = "torch" in sys.modules and sys.modules["torch"] is None
    if blocked or importlib.util.find_spec("torch") is None:
        return None, torch_unavailable()
    if not background or "torch" in sys.modules:
        reason = torch_unavailable()
        if reason is not None:
            return None, reason
        return bridge_table(convention), None
    child = _ChildPatterns(convention)
    return _table(lambda cfg, results: child.result()), None


def skipped_line(reason: str) -> str:
    """The one line printed instead of Table 4 when PyTorch is missing."""
    return (
        f"{TITLE.split(' — ')[0]} (the artificial side) skipped: it needs PyTorch "
        f"(pip install torch); {reason}"
    )
