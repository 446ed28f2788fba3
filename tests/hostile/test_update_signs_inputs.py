"""experiments/update_signs.py refuses bad options, folders and data in one line."""

import shutil

import pytest

from harness import HUGE, bad, bad_values, check_bad_input, data_dir, out_with

pytestmark = pytest.mark.hostile

#: Cases that may reach Brian2 (a compiled simulation) before they are refused.
SLOW = 90


def t10k_images_only(h):
    return data_dir("signs-images-only",
                    lambda d: shutil.copy(h.tiny / "t10k-images-idx3-ubyte.gz", d))(h)


def mnist_files_absent(h):
    return ["--dataset", "mnist"] + data_dir("signs-empty", lambda d: None)(h)


CASES = [
    *bad_values("signs", "--epochs", ["-1", "0", "abc"]),
    *bad_values("signs", "--neg-percent", ["0", "101", "nan"]),
    *bad_values("signs", "--train-size", ["99", "abc"]),
    *bad_values("signs", "--seed", ["-1"], timeout=SLOW),
    *bad_values("signs", "--synapses", ["1", "abc", HUGE], timeout=SLOW),
    *bad_values("signs", "--ramp-duration-s", ["0", "nan", "1e300"], timeout=SLOW),
    bad("signs", "convention=bogus", ["--convention", "bogus"], ["--convention"]),
    bad("signs", "dataset=nope", ["--dataset", "nope"], ["--dataset"]),
    *bad_values("signs", "--device", ["mps", "cuda:7"], ["--device", "device"]),
    bad("signs", "out=/proc/x", ["--out", "/proc/x"], ["--out"]),
    bad("signs", "out=file/sub", ["--out", "@REGULAR/sub"], ["--out"]),
    bad("signs", "out: update_signs.json is a directory", names=["update_signs.json", "--out"],
        setup=out_with("signs-json-dir", lambda d: (d / "update_signs.json").mkdir()),
        timeout=SLOW),
    bad("signs", "data-dir missing", ["--data-dir", "@WORK/no-such-dir"], ["--data-dir"]),
    bad("signs", "data-dir: t10k images but no labels", names=["t10k-labels", "t10k-images"],
        setup=t10k_images_only, timeout=SLOW),
    bad("signs", "dataset mnist, files absent (no download)", names=["mnist", "train-images"],
        setup=mnist_files_absent, timeout=SLOW),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_is_one_error_line(cli, case):
    check_bad_input(cli, case)
