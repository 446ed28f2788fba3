"""Corrupt MNIST and CIFAR-10 files, hostile pickles and a corrupt preprocessing cache:
one line naming the file (exit 2), never a traceback, never code from a pickle."""

import gzip
import pickle

import numpy as np
import pytest

from harness import (
    TINY_MNIST,
    TRACEBACK,
    copy_dir,
    expect_no_problems,
    one_line_problems,
    success_problems,
)
from writers import (
    cifar_batch_bytes,
    cifar_meta_bytes,
    idx_bytes,
    tiny_mnist_arrays,
    write_idx_file,
)

pytestmark = pytest.mark.hostile

# ---- corrupt MNIST files --------------------------------------------------------------
TI = "train-images-idx3-ubyte.gz"
TL = "train-labels-idx1-ubyte.gz"
N = TINY_MNIST["n_train"]
IMAGES, LABELS = tiny_mnist_arrays(**TINY_MNIST)["train"]  # the session's tiny files
GOOD = idx_bytes(IMAGES)


def raw_images(data: bytes, gz=True):
    """Mutation: the training images file replaced by ``data`` (gzipped or raw)."""
    def mutate(d):
        (d / TI).unlink()
        if gz:
            (d / TI).write_bytes(gzip.compress(data, mtime=0))
        else:
            (d / "train-images-idx3-ubyte").write_bytes(data)
    return mutate


def gz_truncated(d):
    b = (d / TI).read_bytes()
    (d / TI).write_bytes(b[: len(b) // 2])


def gz_corrupt(d):
    b = bytearray((d / TI).read_bytes())
    for i in range(len(b) // 2, len(b) // 2 + 64):
        b[i] ^= 0x5A
    (d / TI).write_bytes(bytes(b))


MNIST_FAULTS = [  # id, description, mutation of a copy of the tiny files, names
    ("idx-gz-truncated", "train images .gz cut in half", gz_truncated, [TI]),
    ("idx-gz-corrupt", "64 bytes of the deflate stream flipped", gz_corrupt, [TI]),
    ("idx-wrong-magic", "raw file with magic 08 03 00 00",
     raw_images(b"\x08\x03\x00\x00" + GOOD[4:], gz=False), ["train-images"]),
    ("idx-unknown-type", "IDX type code 0x07", raw_images(GOOD[:2] + b"\x07" + GOOD[3:]), [TI]),
    ("idx-payload-truncated", f"header says {N} images, 150 present",
     raw_images(GOOD[: 16 + 150 * 784]), [TI]),
    ("idx-trailing-bytes", "1000 bytes after the declared shape",
     raw_images(GOOD + b"\0" * 1000), [TI]),
    ("idx-count-mismatch", f"{N - 1} labels for {N} images",
     lambda d: write_idx_file(d / TL, LABELS[: N - 1]), ["labels", "images"]),
    ("idx-label-12", "a label 12", lambda d: write_idx_file(
        d / TL, np.where(np.arange(N) == 7, 12, LABELS).astype(np.uint8)), [TL, "label"]),
    ("idx-32x32", "images of 32x32",
     lambda d: write_idx_file(d / TI, np.zeros((N, 32, 32), np.uint8)), [TI]),
    ("idx-int32", "int32 images", lambda d: write_idx_file(d / TI, IMAGES.astype(np.int32)),
     [TI]),
    ("idx-empty-file", "zero-byte images file", lambda d: (d / TI).write_bytes(b""), [TI]),
    ("idx-huge-dims", "header declares 4294967295 x 28 x 28",
     raw_images(GOOD[:4] + (2**32 - 1).to_bytes(4, "big") + GOOD[8:]), [TI]),
]


@pytest.mark.parametrize(("name", "description", "mutate", "names"), MNIST_FAULTS,
                         ids=[f"mnist:{case[0]}" for case in MNIST_FAULTS])
def test_corrupt_mnist_file_is_one_error_line(cli, name, description, mutate, names):
    d = copy_dir(cli.tiny, cli.path("faults", "mnist-" + name))
    mutate(d)
    res = cli.run("mnist", ["--quick", "--dataset", "mnist", "--data-dir", str(d), "--epochs",
                            "1", "--no-progress"], timeout=60)
    expect_no_problems(one_line_problems(res, names, "mnist"), [res], description)


# ---- corrupt and hostile CIFAR batches ----------------------------------------------------
IMGS = np.random.default_rng(5).integers(0, 255, size=(40, 3, 32, 32)).astype(np.uint8)


def write(name: str, data: bytes):
    """Mutation: ``name`` replaced by ``data``."""
    return lambda d: (d / name).write_bytes(data)


def fuzz(seed):
    """Mutation: 12 random bytes among data_batch_2's first 400."""
    def mutate(d):
        rng = np.random.default_rng(seed)
        b = bytearray((d / "data_batch_2").read_bytes())
        for i in rng.integers(2, 400, size=12):
            b[i] = int(rng.integers(0, 256))
        (d / "data_batch_2").write_bytes(bytes(b))
    return mutate


def truncated_batch_3(d):
    (d / "data_batch_3").write_bytes((d / "data_batch_3").read_bytes()[:60000])


def evil_pickle(d):
    """test_batch a pickle that would run ``touch d/PWNED`` when loaded."""
    (d / "test_batch").write_bytes(
        b"cos\nsystem\n(S'touch " + str(d / "PWNED").encode() + b"'\ntR.")


def bad_archive(d):
    for f in list(d.iterdir()):
        f.unlink()
    (d / "cifar-10-python.tar.gz").write_bytes(np.random.default_rng(2).bytes(10000))


CIFAR_FAULTS = [  # id, description, mutation of a copy of the tiny files, names
    ("pickle-truncated", "data_batch_3 cut in half", truncated_batch_3, ["data_batch_3"]),
    ("pickle-random-bytes", "data_batch_1 = 4 KB of random bytes",
     write("data_batch_1", np.random.default_rng(1).bytes(4096)), ["data_batch_1"]),
    *[(f"pickle-fuzz-{s}", f"12 random bytes of data_batch_2's first 400 (seed {s})", fuzz(s),
       ["data_batch_2"]) for s in (1, 2, 3)],
    ("pickle-deep", "a list nested 100,000 deep",
     write("data_batch_4", b"\x80\x02" + b"]" * 100000 + b"a" * 99999 + b"."), ["data_batch_4"]),
    ("pickle-evil-global", "a pickle calling os.system", evil_pickle, ["test_batch"]),
    ("pickle-cycle", "a list containing itself", write("data_batch_5", b"\x80\x02]q\x00h\x00a."),
     ["data_batch_5"]),
    ("batch-no-labels", "dict without labels",
     write("data_batch_1", pickle.dumps({b"data": IMGS.reshape(40, 3072)}, protocol=2)),
     ["data_batch_1"]),
    ("batch-float-data", "float64 data (40, 3072)",
     write("data_batch_1", pickle.dumps({b"data": IMGS.reshape(40, 3072).astype(float),
                                         b"labels": [0] * 40}, protocol=2)), ["data_batch_1"]),
    ("batch-label-10", "a label 10",
     write("data_batch_1", cifar_batch_bytes(IMGS, [10] + [0] * 39)), ["data_batch_1"]),
    ("meta-3-names", "batches.meta with 3 class names",
     write("batches.meta", cifar_meta_bytes(["a", "b", "c"])), ["batches.meta"]),
    ("archive-corrupt", "only a corrupt cifar-10-python.tar.gz", bad_archive,
     ["cifar-10-python.tar.gz"]),
]
#: Mutations that may leave a loadable batch: a run that finishes cleanly is fine too.
HARMLESS_MAYBE = {"pickle-fuzz-1", "pickle-fuzz-2", "pickle-fuzz-3"}


@pytest.mark.parametrize(("name", "description", "mutate", "names"), CIFAR_FAULTS,
                         ids=[f"cifar:{case[0]}" for case in CIFAR_FAULTS])
def test_corrupt_cifar_file_is_one_error_line(cli, name, description, mutate, names):
    d = copy_dir(cli.cifar, cli.path("faults", "cifar-" + name))
    mutate(d)
    res = cli.run("cifar", ["--quick", "--data-dir", str(d), "--epochs", "1", "--no-progress",
                            "--no-cache"], timeout=90)
    if name in HARMLESS_MAYBE and res.rc == 0 and TRACEBACK not in res.stderr:
        return
    problems = one_line_problems(res, names, "cifar")
    if (d / "PWNED").exists():
        problems.append("the pickle's code RAN (PWNED file created)")
    expect_no_problems(problems, [res], description)


# ---- the preprocessing cache (NEGLU_STDP_CACHE) ------------------------------------------
QUICK_CIFAR = ["--quick", "--data-dir", "@CIFAR", "--epochs", "1", "--no-progress"]


def test_truncated_preprocess_cache_is_recomputed(cli):
    """cifar:preprocess-cache-truncated: cached preprocessing truncated to a third; the
    next run says so, recomputes and finishes."""
    env = {"NEGLU_STDP_CACHE": str(cli.work / "cache-corrupt")}
    first = cli.run("cifar", QUICK_CIFAR, env=env, timeout=90)
    files = sorted((cli.work / "cache-corrupt" / "preprocessed").glob("*.pt"))
    if first.rc != 0 or not files:
        expect_no_problems(["setup run failed or wrote no cache file"], [first])
    for f in files:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
    res = cli.run("cifar", QUICK_CIFAR, env=env, timeout=90)
    problems = success_problems(res)
    if "recomputing" not in res.stdout + res.stderr:
        problems.append("no line saying the cache was unreadable")
    expect_no_problems(problems, [first, res], "cached preprocessing truncated to a third")


def test_cache_that_is_a_file_is_an_error_or_ignored(cli):
    """cifar:cache-is-a-file: NEGLU_STDP_CACHE names a regular file: a one-line error
    naming it, or a run without the cache."""
    cache = cli.work / "cache-is-a-file"
    cache.write_text("x")
    res = cli.run("cifar", QUICK_CIFAR, env={"NEGLU_STDP_CACHE": str(cache)}, timeout=90)
    if res.rc == 2:
        problems = one_line_problems(res, ["NEGLU_STDP_CACHE", str(cache)], "cifar")
    else:
        problems = success_problems(res)
    expect_no_problems(problems, [res], "NEGLU_STDP_CACHE names a regular file")
