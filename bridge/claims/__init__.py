"""The verdict study: every claim of the 2015 thesis tested with seed statistics.

- :mod:`bridge.claims.plan`: the sweeps each scale runs (``smoke``, ``offline``,
  ``full``), as command lines of ``experiments/mixlu_mnist.py`` and
  ``experiments/mixlu_cifar.py``, and which claims use which sweep;
- :mod:`bridge.claims.analysis`: one function per claim, from stored runs to tables,
  tests (:mod:`common.stats`) and a verdict;
- :mod:`bridge.claims.figures`: the figures, with seed bands;
- :mod:`bridge.claims.report`: ``report.md`` and ``report.json``.

``experiments/thesis_claims.py`` runs the sweeps and writes the report.
"""
