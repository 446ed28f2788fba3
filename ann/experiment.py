"""Deprecated alias: the sweep scripts' scaffolding moved to :mod:`ann.experiments`
(options: :mod:`ann.experiments.options`, command line: :mod:`ann.experiments.cli`,
running: :mod:`ann.experiments.runner`, files: :mod:`ann.experiments.outputs`).  This
alias goes in the next release.
"""

import warnings

from ann.experiments.cli import add_sweep_arguments
from ann.experiments.options import (
    MAX_EPOCHS,
    MAX_SEEDS,
    backwards_of,
    make_executor,
    parse_percents,
    sweep_specs,
)
from ann.experiments.options import check_executor_options as check_executor_arguments
from ann.experiments.options import check_options as check_sweep_arguments
from ann.experiments.outputs import run_csv, write_outputs
from ann.experiments.runner import check_store_layout, stored_results

__all__ = [
    "MAX_EPOCHS",
    "MAX_SEEDS",
    "add_sweep_arguments",
    "backwards_of",
    "check_executor_arguments",
    "check_store_layout",
    "check_sweep_arguments",
    "make_executor",
    "parse_percents",
    "run_csv",
    "stored_results",
    "sweep_specs",
    "write_outputs",
]

warnings.warn("ann.experiment moved to ann.experiments; the old name goes in the next "
              "release", DeprecationWarning, stacklevel=2)
