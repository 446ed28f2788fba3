"""Helpers every package and script of the toolkit shares (one copy each).

- :mod:`common.files` — atomic writes (text, JSON, bytes, or any writer), JSON
  reading with one-line errors, checking that an output directory is writable;
- :mod:`common.environment` — versions, hardware and git commit saved beside results;
- :mod:`common.cli` — the one error policy of every command-line script.

Imports neither torch nor brian2, so ``stdp_sim`` (no torch) and ``ann`` (no brian2)
can both use it.
"""
