"""experiments/mixlu_cifar.py refuses bad options, folders and data in one line."""

import shutil

import pytest

from harness import HUGE, bad, bad_values, check_bad_input, data_dir, store

pytestmark = pytest.mark.hostile


def copy_all_but_batch_3(h):
    def make(d):
        for f in h.cifar.iterdir():
            shutil.copy(f, d)
        (d / "data_batch_3").unlink()
    return data_dir("cifar-lacks-3", make)(h)


CASES = [
    *bad_values("cifar", "--epochs", ["31", "0", "abc", HUGE]),
    *bad_values("cifar", "--percents", ["101", "1,1"]),
    bad("cifar", "activations bad mask", ["--activations", "mixlu:5:reference:sometimes"],
        ["--activations"]),
    *bad_values("cifar", "--device", ["mps", "cuda:7"]),
    bad("cifar", "out=/proc/x", ["--out", "/proc/x"], ["--out"]),
    bad("cifar", "out=regular-file", ["--out", "@REGULAR"], ["--out"]),
    bad("cifar", "data-dir missing", ["--data-dir", "@WORK/no-such-dir"], ["--data-dir"]),
    bad("cifar", "dataset=nope", ["--dataset", "nope"], ["dataset"]),
    bad("cifar", "seeds=0", ["--seeds", "0"], ["--seeds"]),
    bad("cifar", "train-subset=0", ["--train-subset", "0"], ["--train-subset"]),
    bad("cifar", "data-dir lacks data_batch_3", names=["data_batch_3", "cifar-10"],
        setup=copy_all_but_batch_3),
    bad("cifar", "report-only on a mixlu_mnist store", names=["mixlu_mnist", "--out"],
        setup=store("mnist-for-cifar"),
        note="a store of another experiment read as CIFAR results"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_is_one_error_line(cli, case):
    check_bad_input(cli, case)
