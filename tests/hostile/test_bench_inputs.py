"""benchmarks/bench_sweep.py and benchmarks/stdp_bench.py refuse bad options in one line."""

import pytest

from harness import HUGE, bad, bad_values, check_bad_input

pytestmark = pytest.mark.hostile

BENCH_OPTIONS = {
    "--seeds": ["0"],
    "--batch-size": ["0", HUGE],
    "--steps": ["0", HUGE],
    "--test-size": [HUGE],
    "--epochs": ["0"],
    "--max-members": ["0"],
    "--threads": ["0", str(10**6)],
    "--percents": ["", "1,1"],
    "--backward": ["bogus", "reference,reference"],
    "--engines": ["turbo"],
    "--device": ["mps"],
    "--timer": ["bogus"],
}
STDP_BENCH_OPTIONS = {
    "--n-pairings": ["0"],
    "--pairing-rate-hz": ["nan"],
    "--poisson-duration-s": ["0"],
    "--trials": ["0"],
    "--target": ["cpp_standalone", "bogus"],
    "--repeats": ["0"],
}

BENCH = [
    *[case for option, values in BENCH_OPTIONS.items()
      for case in bad_values("bench", option, values)],
    bad("bench", "rounding-floor with one engine", ["--rounding-floor", "--engines", "loop"],
        ["--rounding-floor"]),
    bad("bench", "checkpoint-cost with 1 epoch", ["--checkpoint-cost"], ["--checkpoint-cost"]),
    bad("bench", "json is a directory", ["--json", "@WORK"], ["--json"]),
    bad("bench", "json=/proc/x/y.json", ["--json", "/proc/x/y.json"], ["--json"]),
]
STDP_BENCH = [case for option, values in STDP_BENCH_OPTIONS.items()
              for case in bad_values("sbench", option, values, timeout=60)]


@pytest.mark.parametrize("case", BENCH + STDP_BENCH, ids=lambda case: case.id)
def test_bad_input_is_one_error_line(cli, case):
    check_bad_input(cli, case)
