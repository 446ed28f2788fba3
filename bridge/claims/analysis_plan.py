"""The pre-registered analysis plan of the verdict study: per claim, the primary test,
the thesis's effect with its own uncertainty, the family of tests the verdict rests
on, the decision rule and when the data cannot decide.

The plan is fixed here, in code, before any result is read: the claim analyses
(:mod:`bridge.claims.training`, :mod:`~bridge.claims.units`,
:mod:`~bridge.claims.baselines`, :mod:`~bridge.claims.biology`) implement exactly
these rules, ``thesis_claims.py --plan`` prints them without running anything, and
the report prints each claim's plan above its results.  (The sweeps each scale runs
are :mod:`bridge.claims.plan`'s.)

Rules shared by every claim (the verdict words of :data:`common.stats.VERDICTS`):

- the **primary** test is in the published mode (``reference`` backward, resampled
  masks: the MatConvNet layer that produced the thesis's numbers) and decides the
  headline alone;
- **secondary** tests (the other backward/mask modes) are Holm-adjusted within their
  own family and reported in their own table; they never change the headline;
- **descriptive** numbers (per-share differences, control comparisons) carry
  unadjusted p-values, are labelled so and decide nothing;
- a one-seed number of the thesis is given the noise that one seed has with our seed
  spread at least (:func:`common.stats.against`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALPHA", "CLAIMS", "COLLAPSE_RATE", "THESIS_STEPS", "Hypothesis", "PLAN",
           "plan_markdown", "plan_text"]

#: The level of every test (two-sided, family-wise after Holm).
ALPHA = 0.05
#: Claim 2 reads "training breaks down at 10 %" as: most runs collapse there.
COLLAPSE_RATE = 0.5
#: SGD steps of the thesis's MNIST runs: 60,000 images x 20 epochs / batch 100.
THESIS_STEPS = 12_000


#: The thesis's claims that the study judges, by number.
CLAIMS = {
    1: "Less overfitting: the test − train gap shrinks as the NegLU share grows",
    2: "Collapse: training breaks down at 10 % NegLUs (MNIST; 3 % on CIFAR-10)",
    3: "Table 8 dynamics: the 1 % net reaches low error earlier than ReLU, then leaves it",
    4: "No dying units and no large biases in MixLU nets, unlike ReLU nets",
    5: "The total NegLU count, not the share per layer, decides breakdown",
    6: "NegLU ≈ Noisy ReLU; useful Leaky/PReLU slopes ≈ the useful NegLU share",
    7: "NegLUs perform temporally-inverted updates",
    8: "Table 3's sign convention (∂C/∂a > 0 ⇔ the presynaptic unit fired first)",
    9: "A share of temporally-inverted STDP neurons reduces overfitting in a spiking "
       "network, as NegLUs are claimed to in LeNet",
}


@dataclass(frozen=True)
class Hypothesis:
    """One claim's pre-registered analysis, in words."""

    claim: int
    primary: str
    thesis_effect: str
    family: str
    rule: str
    untestable: str
    secondary: str

    def markdown(self) -> str:
        """The plan as a Markdown list (the report prints it above the claim's results)."""
        return "\n".join([
            f"- **Primary test.** {self.primary}",
            f"- **The thesis's effect.** {self.thesis_effect}",
            f"- **Family.** {self.family}",
            f"- **Decision rule.** {self.rule}",
            f"- **Untestable when.** {self.untestable}",
            f"- **Secondary, never deciding.** {self.secondary}",
        ])


_ADJUSTED = ("supported if it goes the thesis's way with Holm-adjusted p < 0.05; refuted "
             "if it is significantly opposite, or significantly smaller than the thesis's "
             "value with that value's noise counted (same adjustment); otherwise not "
             "distinguishable, with the n that would detect the thesis's effect at 80 % "
             "power at the adjusted level")

PLAN: dict[int, Hypothesis] = {h.claim: h for h in (
    Hypothesis(
        1,
        primary="least-squares slope of the gap (test − training error, points) on the NegLU "
                "share, over the shares below the collapse share, in the published mode of "
                "the LeNet MNIST sweep; runs that collapsed are left out (claim 2 counts "
                "them).",
        thesis_effect="Table 7's slope over 0–9 %, −0.010 pts/% from ten one-seed points; "
                      "its standard error is the larger of its own (0.021 pts/%, 95 % interval "
                      "[−0.058, +0.038]) and our residual sd over √82.5 (ten one-seed shares).",
        family="the primary slope alone (Holm over one test).",
        rule=_ADJUSTED + ".",
        untestable="every run of the primary arms ends at 0.00 % training error: the gap is "
                   "then the test error, and the thesis's mechanism (training error "
                   "catching up with test error) cannot show.",
        secondary="the slope in each other backward/mask mode (Holm over those modes); the "
                  "gap at each share against 0 % and the test-error change (descriptive)."),
    Hypothesis(
        2,
        primary="collapse rate k/n at 10 % NegLUs (3 % for LeNet5) in the published mode of "
                f"the sweep whose SGD steps match the thesis's ({THESIS_STEPS:,}: 60,000 "
                "images, 20 epochs, batch 100); a run collapsed if it diverged or ended at ≥ "
                "80 % training error; exact binomial test against 50 % (scipy binomtest) "
                "and its Clopper–Pearson 95 % interval.",
        thesis_effect="one run, which collapsed (90.13 % training error), against ≤ 2.09 % at "
                      "9 %. Read as 'most runs collapse at 10 %': the threshold is 50 % "
                      "because a single run is evidence about the typical run, and the "
                      "typical run collapses exactly when the rate exceeds one half.",
        family="the primary test alone.",
        rule="supported if the Clopper–Pearson interval lies above 50 %; refuted if it lies "
             "below 50 % (0 of 6 is the smallest such result: exact p = 0.031); otherwise "
             "not distinguishable, with the n at which the observed rate would decide.",
        untestable="no sweep matches the thesis's step count (fewer steps can bring no "
                   "collapse for a reason the thesis does not make).",
        secondary="the collapse rate at every share and mode of the other sweeps (mnist-5k: "
                  "12× fewer steps), with exact intervals, and whether each mode reproduces "
                  "the thesis's pattern (descriptive)."),
    Hypothesis(
        3,
        primary="epochs until the test error first reaches the thesis's 1.5 % level rescaled "
                "to our ReLU's final test error (1.5 / 0.92 of it), 1 % net − ReLU net, "
                "paired by seed, published mode, epochs 1–9; a net that never reaches the "
                "level counts as epoch 10 (censored pairs are kept); a paired t-test of the "
                "direction (earlier or not), its sd taken as at least 0.41 epochs (√(2/12): "
                "what rounding two crossing times to whole epochs adds; equal whole-epoch "
                "differences would otherwise give a zero-width interval).",
        thesis_effect="−1 epoch (epoch 2 vs 3, Table 8): one pair, so its standard error is "
                      "our sd of the paired differences (at least 0.41 epochs).",
        family="the primary test alone.",
        rule=_ADJUSTED + ".",
        untestable="the ReLU net reaches the level at epoch 1 in every pair (no earlier epoch "
                   "exists), or no net reaches it within 9 epochs (every pair censored).",
        secondary="the same test in the other modes (Holm over those); roughness over epochs "
                  "1–9, 1 % − ReLU (descriptive)."),
    Hypothesis(
        4,
        primary="dead ReLU-side units (%) and the share of hidden units with a large negative "
                "bias (%) at the last epoch, MixLU 5 % in the published mode − ReLU (Welch).",
        thesis_effect="stated without numbers: MixLU nets show none, so the effect is ReLU's "
                      "own level, less (its size sets the power only).",
        family="the two measures (Holm over two tests); an untestable measure is left out; "
               "the verdict is supported when every testable one is, refuted when any is, "
               "untestable when both are.",
        rule=_ADJUSTED + " (no published value: refuted only when significantly opposite).",
        untestable="per measure: ReLU nets' 95 % interval holds 0 (they show no dying units "
                   "or large biases, so MixLU nets have nothing to avoid).",
        secondary="every other share and mode against ReLU (Holm over those)."),
    Hypothesis(
        5,
        primary="LeNet5 breakdown (collapse) with MixLU at all four positions vs at position "
                "1 only, in the published mode: at matched shares (the count hypothesis "
                "predicts more collapses with four positions) and at matched totals (the "
                "per-layer-share hypothesis predicts more with position 1 alone, which then "
                "holds the larger share); Fisher's exact test, one-sided in each predicted "
                "direction.",
        thesis_effect="stated: the four-MixLU CIFAR net broke down at 3 %, the one-MixLU MNIST "
                      "net at 10 % (two nets, one seed each; no number to compare with).",
        family="the matched-share and matched-total tests of every planned pair (Holm).",
        rule="supported if four positions collapse significantly more at a matched share; "
             "refuted if position 1 collapses significantly more at a matched total (the "
             "share, not the count, then decides); otherwise not distinguishable. No linear "
             "model of damage is assumed.",
        untestable="no run of any arm broke down: without a breakdown neither hypothesis "
                   "says anything.",
        secondary="training error of the runs that did not collapse, at the same pairs "
                  "(Welch, descriptive)."),
    Hypothesis(
        6,
        primary="test error, MixLU 5 % in the published mode − Noisy ReLU (σ = 1), "
                "pre-specified (no selection on the test data); collapsed runs count with "
                "their error as failures; equivalence by two one-sided tests at 5 % (the 90 % "
                "Welch interval inside ±0.34 points).",
        thesis_effect="stated without numbers: NegLUs behave like Noisy ReLUs. The margin, "
                      "±0.34 points, is the thesis's own 'nearly unchanged' test-error change "
                      "from 0 to 5 % NegLUs (Table 6).",
        family="the primary equivalence test alone.",
        rule="supported (equivalent) if the 90 % interval lies inside ±0.34; refuted if it "
             "lies outside (a difference beyond the margin at 5 %); otherwise not "
             "distinguishable.",
        untestable="no finished run in either arm.",
        secondary="the same test for ReLU vs Noisy ReLU (a control: if it passes too, the "
                  "test cannot tell NegLUs from ReLUs); every configuration vs ReLU on test "
                  "error and gap (Holm over that table); learned PReLU slopes beside the "
                  "NegLU share (descriptive)."),
    Hypothesis(
        7,
        primary="NegLU updates opposite to steepest descent (applied local derivative < 0), "
                "published mode.",
        thesis_effect="stated: NegLU units receive updates opposite to steepest descent.",
        family="none: decided by construction under the exact and reference backwards; under "
               "the inverted backward a one-sample t-test of the inverted share against 0 "
               "(secondary).",
        rule="false by construction under the exact and reference backwards (their local "
             "derivatives are 0 or 1, never negative; the measured share confirms the code); "
             "under the inverted backward (the thesis's stated intent, derivative −1) "
             "measured.",
        untestable="—",
        secondary="the measured inverted share per mode and share, and the inverted "
                  "backward's test."),
    Hypothesis(
        8,
        primary="Table 3 read literally (∂C/∂a > 0 ⇔ the presynaptic unit fired first) "
                "against the rate correspondence (a rising postsynaptic rate acts as "
                "pre-before-post timing), in Brian2's rate-ramp experiment per STDP preset.",
        thesis_effect="a sign convention, not a measured effect: data cannot refute it, only "
                      "show whether it agrees with the rate correspondence.",
        family="none: reported as a finding, with the number of independent STDP windows "
               "behind it (a window and its mirror are one).",
        rule="a preset decides when |z| > 3 for both ramps and its two windows differ in "
             "sign; the finding names the reading all deciding presets agree with.",
        untestable="never: when no preset decides, the verdict is not distinguishable, with "
                   "the synapses per preset that would decide.",
        secondary="every preset's effect and z."),
    Hypothesis(
        9,
        primary="least-squares slope of the gap (training − test accuracy, points) on the "
                "share (%) of excitatory neurons under the mirror of Diehl & Cook's rule (the "
                "share actually drawn: whole neurons), over every run of the MixSTDP "
                "experiment (experiments/mixstdp_mnist.py) at shares below 100 % (a share is "
                "a minority mixed in; the all-mirror network is reported only); both "
                "accuracies use neuron labels fitted on the other half of the training "
                "images (labels fitted on the scored images would inflate the training "
                "accuracy the more, the more neurons are unselective); shares whose mean "
                "test accuracy is at chance (≤ 20 %) count as collapsed and are left out, "
                "as claim 1 leaves out collapsed runs.",
        thesis_effect="the thesis states no spiking number: the claim carries claim 1's "
                      "direction (the gap shrinks) and its size, Table 7's −0.010 points "
                      "per %, which sets the power only (no comparison with a thesis value).",
        family="the primary slope alone.",
        rule="supported if the slope is negative with p < 0.05; refuted only if it is "
             "significantly positive (the gap grows); otherwise not distinguishable, with "
             "the runs per share that would detect −0.010 points per % at 80 % power.",
        untestable="the plain network (0 %) does not learn (mean test accuracy ≤ 20 %, "
                   "chance 10 %), fewer than two shares below 100 %, or fewer than two seeds "
                   "per share.",
        secondary="the test-accuracy slope on the share, and the slopes including the 100 % "
                  "network (descriptive); per share, accuracies, gap, dead neurons and the "
                  "applied-update regime shares per neuron kind."),
)}


def plan_markdown(claim: int) -> str:
    """The plan of one claim as Markdown."""
    return PLAN[claim].markdown()


def plan_text() -> str:
    """The whole plan, claim by claim (``thesis_claims.py --plan``)."""
    parts = ["# The verdict study's analysis plan (fixed before any result is read)", ""]
    for number, h in PLAN.items():
        parts += [f"## Claim {number}: {CLAIMS[number]}", "", h.markdown(), ""]
    return "\n".join(parts).rstrip() + "\n"
