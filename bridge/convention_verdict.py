"""Decide, from simulated biology, which timing convention a rule supports.

The rate experiment (:mod:`stdp_sim.rate_ramp`) gives, per rule preset, the mean
weight change under a postsynaptic rate that ramps up, stays flat or ramps down.
A rising postsynaptic rate is what a positive descent signal (``-∂C/∂a > 0``)
asks for.  The *effect of the ramp* is ``dw(up) - dw(flat)`` (and
``dw(down) - dw(flat)``, which must have the opposite sign).

- The ``"rate"`` convention reads a positive descent signal as pre-before-post
  timing, so it predicts that a rising rate changes ``w`` with the sign of the
  rule's pre-before-post amplitude.
- The ``"literal"`` convention reads it as post-before-pre, and predicts the sign
  of the post-before-pre amplitude.

When both amplitudes have the same sign (one-sided rules) the two conventions
predict the same thing and the preset cannot decide between them.
"""

from __future__ import annotations

import math

__all__ = ["ramp_effect", "convention_verdict"]

#: an effect counts as measured when it exceeds this many standard errors
SIGNIFICANCE = 3.0


def ramp_effect(rows: list[dict], preset: str, ramp: str) -> tuple[float, float]:
    """``dw(ramp) - dw(flat)`` for one preset and its standard error."""
    by_ramp = {r["ramp"]: r for r in rows if r["preset"] == preset}
    missing = {"flat", ramp} - set(by_ramp)
    if missing:
        raise ValueError(f"rate results for preset {preset!r} lack ramp(s) {sorted(missing)}")
    a, b = by_ramp[ramp], by_ramp["flat"]
    return a["dw_mean"] - b["dw_mean"], math.hypot(a["dw_sem"], b["dw_sem"])


def convention_verdict(rows: list[dict], pre_post_sign: int, post_pre_sign: int, preset: str):
    """Which convention the measured ramp effects of ``preset`` support.

    Parameters
    ----------
    rows : list of dict
        Rate-experiment rows with keys ``preset``, ``ramp`` (``"up"``, ``"flat"``,
        ``"down"``), ``dw_mean``, ``dw_sem``.
    pre_post_sign, post_pre_sign : int
        Signs (+1 / -1) of the rule's window for pre-before-post and
        post-before-pre pairings.

    Returns
    -------
    dict
        ``preset``, ``effect_up``, ``effect_up_sem``, ``effect_down``,
        ``effect_down_sem``, ``rising_sign`` (sign of the measured effect of a
        rising rate, 0 if not significant or if up and down disagree) and
        ``supports``: ``"rate"``, ``"literal"``, ``"either"`` (both conventions
        predict the same sign) or ``"undecided"`` (no significant, consistent
        effect).
    """
    up, up_sem = ramp_effect(rows, preset, "up")
    down, down_sem = ramp_effect(rows, preset, "down")
    rising = 0
    if abs(up) > SIGNIFICANCE * up_sem and abs(down) > SIGNIFICANCE * down_sem:
        if (up > 0) != (down > 0):
            rising = 1 if up > 0 else -1
    if pre_post_sign == post_pre_sign:
        supports = "either"
    elif rising == 0:
        supports = "undecided"
    elif rising == pre_post_sign:
        supports = "rate"
    else:
        supports = "literal"
    return {
        "preset": preset,
        "effect_up": up,
        "effect_up_sem": up_sem,
        "effect_down": down,
        "effect_down_sem": down_sem,
        "rising_sign": rising,
        "supports": supports,
    }
