"""experiments/stdp_table.py refuses bad options and output folders in one line."""

import pytest

from harness import HUGE, bad, bad_values, check_bad_input, out_with

pytestmark = pytest.mark.hostile

OPTIONS = {
    "--delta-t-ms": ["0", "nan", "abc"],
    "--n-pairings": ["0", HUGE],
    "--pairing-rate-hz": ["0", "1e9"],
    "--jitter-ms": ["-1"],
    "--trials": ["0", str(10**9)],
    "--poisson-rate-hz": ["inf"],
    "--correlation": ["1.5"],
    "--poisson-duration-s": ["0", "1e12"],
    "--window-grid-ms": ["nan"],
    "--seed": ["-1"],
    "--dt-ms": ["50", "0"],
    "--rules": ["bogus"],
    "--window-presets": ["bogus"],
    "--convention": ["bogus"],
    "--target": ["bogus"],
}

CASES = [
    *[case for option, values in OPTIONS.items()
      for case in bad_values("stdp", option, values, timeout=30)],
    bad("stdp", "rules twice", ["--rules", "hebbian", "hebbian"], ["--rules"]),
    *[bad("stdp", f"out={name}", ["--out", value], ["--out"])
      for name, value in [("proc", "/proc/x"), ("regular-file", "@REGULAR"),
                          ("file/sub", "@REGULAR/sub")]],
    bad("stdp", "out: stdp_windows.png is a directory", names=["stdp_windows.png", "--out"],
        setup=out_with("stdp-png-dir", lambda d: (d / "stdp_windows.png").mkdir())),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_is_one_error_line(cli, case):
    check_bad_input(cli, case)
