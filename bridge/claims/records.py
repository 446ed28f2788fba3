"""What one stored run says: its mode, share, gap, collapse, and unit diagnostics.

Run records are those of :func:`ann.train.train_one` as the sweep scripts store
them, each checked by :func:`ann.run_store.run_problem` as the run store loads it
(:meth:`~common.run_store.RunStore.load`: types, finite error rates in [0, 1],
percents in [0, 100], the diagnostics these functions read), so every function here
reads a valid record; each reads one run (or filters many) and computes nothing across
seeds.  The study's other stored documents, claim 8's rate experiment and claim 9's
MixSTDP summary, are checked by :func:`rate_problem` and :func:`spiking_problem`
before the claims read them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ann.specs import is_plain_relu
from bridge.claims.plan import PUBLISHED_MODE
from common.checks import is_integer, is_within

#: A finished run whose final training error is at least this is a collapse (chance
#: is 0.9 for ten classes).
COLLAPSE_ERROR = 0.8

def collapsed(run: dict[str, Any]) -> bool:
    """Diverged, or finished at or above :data:`COLLAPSE_ERROR` training error."""
    return run["status"] == "diverged" or run["train_error"] >= COLLAPSE_ERROR


def activation_of(run: dict[str, Any]) -> dict[str, Any]:
    return run.get("activation_spec", {"kind": "mixlu"})


def mode_of(run: dict[str, Any]) -> tuple[str, str] | None:
    """``(backward, mask)`` of a MixLU run without dropout, else ``None``."""
    s = activation_of(run)
    if s["kind"] != "mixlu" or s.get("dropout"):
        return None
    return (s.get("backward", run.get("backward")), s.get("mask", "fixed"))


def is_relu(run: dict[str, Any]) -> bool:
    """A plain ReLU run (no dropout): the 0 % reference of every MixLU mode."""
    return is_plain_relu(activation_of(run))


def modes(runs: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """The MixLU modes present, the published one first."""
    order = {PUBLISHED_MODE: -1}
    found = {m for r in runs if (m := mode_of(r)) is not None}
    return sorted(found, key=lambda m: (order.get(m, 0), m))


def mode_name(mode: tuple[str, str]) -> str:
    """``reference/resample``."""
    return f"{mode[0]}/{mode[1]}"


def points(fraction: float) -> float:
    """A fraction in percentage points."""
    return 100.0 * fraction


def gap_of(run: dict[str, Any]) -> float:
    """Test − training error of a run, in points."""
    return points(run["test_error"] - run["train_error"])


def by_share(runs: Iterable[dict[str, Any]], mode: tuple[str, str] | None
              ) -> dict[float, list[dict[str, Any]]]:
    """Runs of ``mode`` (MixLU) by share, with the ReLU runs as share 0."""
    out: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        if is_relu(r) or (mode is not None and mode_of(r) == mode):
            out[float(r["neg_percent"])].append(r)
    return dict(sorted(out.items()))


def finished(runs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs that did not collapse."""
    return [r for r in runs if not collapsed(r)]


def final_diagnostics(r: dict[str, Any]) -> dict[str, Any] | None:
    epochs = r.get("epochs") or []
    return epochs[-1].get("diagnostics") if epochs else None


def dead_share(r: dict[str, Any]) -> float | None:
    """Dead ReLU-side units (% of them) at the last epoch, ``None`` without diagnostics."""
    d = final_diagnostics(r)
    if not d:
        return None
    units = sum(p["units"].get(t, 0) for p in d["positions"] for t in ("relu", "resampled"))
    dead = sum(p["dead"].get(t, 0) for p in d["positions"] for t in ("relu", "resampled"))
    return 100.0 * dead / units if units else None


def large_bias_share(r: dict[str, Any]) -> float | None:
    """Hidden units with a large negative bias (%) at the last epoch, or ``None``."""
    d = final_diagnostics(r)
    if not d:
        return None
    value = d["positions"][-1].get("large_negative_bias_share")
    return None if value is None else 100.0 * value


def config_name(r: dict[str, Any]) -> str:
    """``mixlu 5 % reference/fixed`` for a MixLU run, else the activation key."""
    mode = mode_of(r)
    if mode is not None:
        return f"mixlu {r['neg_percent']:g} % {mode_name(mode)}"
    return str(r.get("activation", activation_of(r)["kind"]))


def prelu_slopes(r: dict[str, Any]) -> float | None:
    """The mean learned PReLU slope of the hidden position at the last epoch."""
    d = final_diagnostics(r)
    if not d:
        return None
    found = [p["prelu"]["mean"] for p in d["positions"] if "prelu" in p]
    return found[-1] if found else None


def _entries(value: Any, what: str) -> str:
    return "" if isinstance(value, list) and all(isinstance(v, dict) for v in value) \
        else f"{what} is not a list of records"


def rate_problem(document: dict[str, Any]) -> str:
    """What makes ``document`` (``DIR/rate_experiment.json``) not one that claim 8 can
    read (:func:`bridge.claims.biology.claim8`), or ``""``."""
    params = document.get("params")
    if not isinstance(params, dict) or not is_within(params.get("n_synapses"), 1) \
            or not is_within(params.get("duration_s"), 0) \
            or not is_integer(params.get("seed")):
        return "params lacks n_synapses, duration_s or seed"
    problem = _entries(document.get("verdicts"), "verdicts")
    if problem:
        return problem
    from stdp_sim import preset

    for v in document["verdicts"]:
        name = v.get("preset")
        try:
            preset(name)
        except (ValueError, KeyError, TypeError):
            return f"verdict preset {str(name)[:40]!r} is not a preset"
        if not isinstance(v.get("supports"), str) or not all(
                is_within(v.get(k)) for k in ("effect_up", "effect_down")) or not all(
                is_within(v.get(k), 0) for k in ("effect_up_sem", "effect_down_sem")):
            return f"verdict of {name} lacks finite effects, their sem (>= 0) or supports"
    return ""


def spiking_problem(document: dict[str, Any]) -> str:
    """What makes ``document`` (``DIR/mixstdp/mixstdp_mnist.json``) not one that claim 9
    can read (:func:`bridge.claims.spiking.claim9`), or ``""``: its runs' shares and
    accuracies fractions in [0, 1], their counts non-negative."""
    meta = document.get("meta")
    if not isinstance(meta, dict) or not all(is_within(meta.get(k), 1) for k in
                                             ("n_exc", "n_train", "n_test")) \
            or not all(isinstance(meta.get(k), str) for k in ("rule", "by")):
        return "meta lacks n_exc, n_train, n_test, rule or by"
    if not isinstance(document.get("options"), dict):
        return "options is not an object"
    problem = _entries(document.get("runs"), "runs")
    if problem:
        return problem
    for r in document["runs"]:
        settings, mixed = r.get("settings", {}), r.get("n_mixed_neurons")
        if not all(is_within(r.get(k), 0, 1) for k in ("share", "train_accuracy",
                                                       "test_accuracy")):
            return (f"run {str(r.get('key', '?'))[:40]!r}: share or accuracies are not "
                    f"fractions in [0, 1]")
        if not is_within(r.get("dead_neurons"), 0) \
                or not (mixed is None or is_integer(mixed) and mixed >= 0) \
                or not isinstance(settings, dict) \
                or not (settings.get("n_exc") is None or is_within(settings["n_exc"], 1)):
            return (f"run {str(r.get('key', '?'))[:40]!r}: dead_neurons, n_mixed_neurons or "
                    f"settings are not counts")
    return ""
