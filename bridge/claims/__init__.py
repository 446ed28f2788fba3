"""The verdict study: every claim of the 2015 thesis tested with seed statistics.

- :mod:`bridge.claims.plan`: the sweeps each scale runs (``smoke``, ``offline``,
  ``full``), as command lines of ``experiments/mixlu_mnist.py`` and
  ``experiments/mixlu_cifar.py``, and which claims use which sweep;
- :mod:`bridge.claims.analysis_plan`: the pre-registered analysis plan (primary test,
  the thesis's effect with its noise, family, decision rule, when untestable), printed
  by ``thesis_claims.py --plan`` and above each claim of the report;
- :mod:`bridge.claims.analysis`: every claim in order (:func:`~bridge.claims.analysis.analyse`);
  one function per claim, from stored runs to tables, tests (:mod:`common.stats`) and a
  verdict, in :mod:`~bridge.claims.training` (claims 1-3), :mod:`~bridge.claims.units`
  (4, 5), :mod:`~bridge.claims.baselines` (6) and :mod:`~bridge.claims.biology` (7, 8);
  they are built from :mod:`~bridge.claims.records` (what one run says) and
  :mod:`~bridge.claims.sections` (cells, claim dicts, tests decided after Holm);
- :mod:`bridge.claims.figures`: the figures, with seed bands;
- :mod:`bridge.claims.report`: ``report.md`` and ``report.json``;
- :mod:`bridge.claims.calibration`: the study's own false-verdict rates, from run stores
  simulated under known truths (``benchmarks/verdict_calibration.py``).

``experiments/thesis_claims.py`` runs the sweeps and writes the report.
"""
