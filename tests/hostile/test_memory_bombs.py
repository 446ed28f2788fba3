"""Memory bombs: data files that declare or expand to gigabytes, subsets larger than the
data, sweeps of thousands of runs.  Each is one ``error:`` line naming the file, option or
budget (exit 2) soon after startup, or, for a sweep that fits, a first stack trained in
seconds: never an allocator traceback, never gigabytes resident first.  Every script runs
under the harness's address-space limit (``MEMORY_GB``)."""

import re
import signal

import pytest

from harness import (
    BASE,
    TINY_MNIST,
    copy_dir,
    expect_no_problems,
    interrupted_problems,
    one_line_problems,
)
from writers import idx_bytes, sparse_file, tiny_mnist_arrays, zeros_gzip

pytestmark = pytest.mark.hostile

TI = "train-images-idx3-ubyte"
IMAGES = tiny_mnist_arrays(**TINY_MNIST)["train"][0]
BUDGET = "NEGLU_STDP_MEMORY_BUDGET"
#: 8 GiB of zeros in a few megabytes: 128 gzip members of 64 MiB each.
BOMB = {"nbytes": 64 * 2**20, "members": 128}
#: Images of 784 bytes in a raw file of 8.0 GiB.
SPARSE_IMAGES = 10_956_549


def header(count: int) -> bytes:
    """The header of a uint8 images file of ``count`` 28x28 images (no payload)."""
    import numpy as np

    return idx_bytes(np.zeros(0, np.uint8), shape=(count, 28, 28))


def gz_images(make_data):
    """Setup: the training images replaced by the gzip data ``make_data()``."""
    def make(d):
        (d / f"{TI}.gz").write_bytes(make_data())
    return make


def raw_images(head: bytes, size: int):
    """Setup: the training images replaced by a sparse raw file of ``size`` bytes."""
    def make(d):
        (d / f"{TI}.gz").unlink()
        sparse_file(d / TI, head, size)
    return make


# ---- data files that declare or expand to gigabytes ---------------------------------------
BOMBS = [  # id, description, setup of a copy of the tiny files, environment
    ("gz-declares-3M-images", "a small gzip whose valid header declares 3,000,000 images "
     "(2.2 GiB), budget 256 MiB", gz_images(lambda: zeros_gzip(2**20, 2, header(3_000_000))),
     {BUDGET: "256M"}),
    ("gz-headerless-8GiB", "8 GiB of zeros gzipped (no IDX header) in 8 MB",
     gz_images(lambda: zeros_gzip(**BOMB)), {}),
    ("gz-trailing-8GiB", "the real 200 images, then 8 GiB of zeros, gzipped",
     gz_images(lambda: zeros_gzip(**BOMB, prefix=idx_bytes(IMAGES))), {}),
    ("raw-8GiB", "a raw images file of 8 GiB (sparse) whose header declares its size",
     raw_images(header(SPARSE_IMAGES), 16 + SPARSE_IMAGES * 784), {}),
]


@pytest.mark.parametrize(("name", "description", "setup", "env"), BOMBS,
                         ids=[f"mnist:{case[0]}" for case in BOMBS])
def test_data_bomb_is_one_error_line(cli, name, description, setup, env):
    d = copy_dir(cli.tiny, cli.path("bombs", name))
    setup(d)
    res = cli.run("mnist", BASE["mnist"][:3] + ["--data-dir", str(d)] + BASE["mnist"][5:],
                  env=env, timeout=60)
    late = cli.startup.get("mnist", 3.0) + 8.0
    expect_no_problems(one_line_problems(res, [TI], "mnist", late), [res], description)


# ---- subsets larger than the data ----------------------------------------------------------
SUBSETS = [  # option, value, the data's size named in the message
    ("--train-subset", "1000000000", TINY_MNIST["n_train"]),
    ("--test-subset", "1000000000", TINY_MNIST["n_test"]),
]


@pytest.mark.parametrize(("option", "value", "size"), SUBSETS,
                         ids=[f"mnist:{case[0][2:]}-larger-than-data" for case in SUBSETS])
def test_subset_larger_than_the_data_is_one_error_line(cli, option, value, size):
    args = ["--dataset", "mnist", "--data-dir", "@TINY", "--epochs", "1", "--no-progress",
            "--percents", "0", option, value]
    res = cli.run("mnist", args, timeout=60)
    problems = one_line_problems(res, [option], "mnist", cli.startup.get("mnist", 3.0) + 8.0)
    if res.rc == 2 and f"{size}" not in res.stderr:
        problems.append(f"the message does not give the data's size ({size})")
    expect_no_problems(problems, [res], f"{option} {value} on {size} images")


# ---- sweeps of thousands of runs -------------------------------------------------------------
TABLE6 = ",".join(str(p) for p in range(11))
#: 5,000 distinct NegLU shares (0.00 .. 99.98 %).
DISTINCT = ",".join(f"{p / 50:g}" for p in range(5000))
SWEEPS = [  # id, description, arguments
    ("11000-runs", "--seeds 1000 x the 11 Table 6 shares", ["--seeds", "1000", "--percents",
                                                              TABLE6]),
    ("5000-distinct", "5,000 distinct shares", ["--percents", DISTINCT]),
]


@pytest.mark.parametrize(("name", "description", "args"), SWEEPS,
                         ids=[f"mnist:{case[0]}-over-budget" for case in SWEEPS])
def test_sweep_whose_member_exceeds_the_budget_is_one_error_line(cli, name, description,
                                                                  args):
    """A budget (4 MiB) below one LeNet member: refused from the plan, in one line naming
    the budget, before any of the thousands of models is built."""
    res = cli.run("mnist", BASE["mnist"] + args, env={BUDGET: "4M"}, timeout=60)
    late = cli.startup.get("mnist", 3.0) + 8.0
    expect_no_problems(one_line_problems(res, [BUDGET], "mnist", late), [res],
                       f"{description}, {BUDGET}=4M")


def test_sweep_of_11000_runs_trains_its_first_stack_at_once(cli):
    """mnist:11000-runs-start: --seeds 1000 x 11 shares (11,000 LeNets, about 19 GB if
    built at once) under the address-space limit: the first stack's runs finish within
    seconds of startup; Ctrl-C then stops it with one line (exit 130)."""
    proc = cli.start("mnist", BASE["mnist"] + ["--seeds", "1000", "--percents", TABLE6])
    finished = re.compile(r"seed\d+\s+ok\b")
    started = proc.wait_for(lambda: bool(finished.search(proc.stdout)),
                            cli.startup.get("mnist", 3.0) + 30.0)
    proc.signal(signal.SIGINT)
    res = proc.wait(30)
    res.note = f"SIGINT at {res.seconds:.1f} s"
    problems = [] if started else ["no run finished before the deadline"]
    problems += [f"on SIGINT: {p}" for p in interrupted_problems(res)]
    expect_no_problems(problems, [res], "11,000 runs: first stack, then Ctrl-C")
