"""Sweep runner, resumable store, engines, CLI helpers, report tables and plots."""

import json
import os
import subprocess
import sys

import pytest
import torch

import ann.sweep
from ann.config import TRAINER_VERSION, TrainConfig
from ann.experiments.options import parse_percents
from ann.experiments.outputs import run_csv
from ann.experiments.runner import stored_results
from ann.report import (
    THESIS_MNIST,
    THESIS_MNIST_EPOCHS,
    epoch_table,
    final_table,
    gap_table,
    noise_lines,
    summarize,
)
from ann.run_store import RunStore, StoreError, SweepMismatch
from ann.specs import ActivationSpec, RunSpec, mixlu_grid, parse_activation
from ann.sweep import make_specs, run_sweep, sweep_meta
from ann.train import train_one
from common.cli import Interrupted, UserError
from common.files import atomic_write_json

from helpers import synthetic

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_builder(spec):
    """A small conv net with a last layer; weights from the spec's seed."""
    g = torch.Generator().manual_seed(spec.seed)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 5, stride=3), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(256, 10))
    for p in model.parameters():
        torch.nn.init.normal_(p, 0.0, 0.01, generator=g)
    return model


@pytest.fixture
def data():
    return synthetic(n_train=120, n_test=40)


CONFIG = TrainConfig(lr=0.01, momentum=0.9, epochs=2, batch_size=50)


def grid(percents, backwards=("exact",), mask="fixed"):
    return mixlu_grid(percents, backwards, mask)


def test_make_specs_order_dedupe_and_errors():
    specs = make_specs(grid([0, 1, 1.0], ["exact", "reference"]), 2)
    assert [s.key for s in specs] == [
        "lenet-mixlu0-exact-fixed-seed0", "lenet-mixlu0-exact-fixed-seed1",
        "lenet-mixlu1-exact-fixed-seed0", "lenet-mixlu1-exact-fixed-seed1",
        "lenet-mixlu0-reference-fixed-seed0", "lenet-mixlu0-reference-fixed-seed1",
        "lenet-mixlu1-reference-fixed-seed0", "lenet-mixlu1-reference-fixed-seed1"]
    assert [s.seed for s in make_specs(grid([0]), [7, 9])] == [7, 9]
    with pytest.raises(ValueError, match="seeds must be a positive count"):
        make_specs(grid([0]), 0)
    with pytest.raises(ValueError, match="activations must not be empty"):
        make_specs([], 1)
    with pytest.raises(ValueError, match=r"percent must be a number in \[0, 100\]"):
        grid([150])


def test_parse_percents():
    assert parse_percents("0, 1,2.5") == [0.0, 1.0, 2.5]
    assert parse_percents("1,1.0000001") == [1.0, 1.0000001]  # distinct values, distinct keys
    for bad, match in (("0,x", "'x' is not a number"), ("101", "101 is outside 0..100"),
                       ("-1", "outside"), ("", "comma-separated"),
                       ("nan", "'nan' is not a number"), ("1_0", "'1_0' is not a number"),
                       ("0x10", "'0x10' is not a number"), ("inf", "'inf' is not a number"),
                       ("1,", "comma-separated"), ("1,1.0", "lists 1.0 twice")):
        with pytest.raises(UserError, match=match):
            parse_percents(bad)


def meta_of(data, config=CONFIG, engine="loop", **extra):
    return sweep_meta("exp", data, config, engine, **extra)


def test_run_store_refuses_a_different_sweep_engine_version_and_layout(tmp_path, data):
    meta = meta_of(data, model="tiny")
    store = RunStore(tmp_path, meta, provenance={"git_commit": "abc"})
    assert store.meta_path.exists() and "provenance" in json.loads(store.meta_path.read_text())
    run = train_one(RunSpec.mixlu(0, "exact", 0), data, CONFIG, tiny_builder)
    store.save("k", run)
    assert RunStore(tmp_path, meta, provenance={"git_commit": "other"}).load("k") == run
    other = meta_of(data, TrainConfig(lr=0.01, momentum=0.9, epochs=3, batch_size=50),
                    model="tiny")
    with pytest.raises(SweepMismatch, match=r"a different sweep \(differs in: config\)"):
        RunStore(tmp_path, other)
    with pytest.raises(SweepMismatch, match="engine 'loop', not 'batched'; choose a new --out"):
        RunStore(tmp_path, meta_of(data, engine="batched", model="tiny"))
    with pytest.raises(SweepMismatch, match=f"trainer version '{TRAINER_VERSION}', not '0'"):
        RunStore(tmp_path, {**meta, "trainer_version": "0"})
    # the earlier layout: no trainer version in sweep.json
    old = tmp_path / "old"
    atomic_write_json(old / "sweep.json", {k: v for k, v in meta.items()
                                           if k not in ("engine", "trainer_version")})
    with pytest.raises(SweepMismatch, match="earlier layout.*--report-only"):
        RunStore(old, meta)


@pytest.mark.parametrize("content, match", [
    ("{", "not a readable stored run"),
    ("[]", "not a stored run .a JSON list"),
    ('{"neg_percent": 0}', "missing backward, seed"),
    ('{"neg_percent": 0, "backward": null, "seed": "0", "status": "ok", "train_error": 0,'
     ' "test_error": 0, "epochs": []}', "seed is '0', not a non-negative integer"),
    ('{"neg_percent": "5", "backward": null, "seed": 0, "status": "ok", "train_error": 0,'
     ' "test_error": 0, "epochs": []}', "neg_percent is '5', not a number"),
    ('{"neg_percent": 0, "backward": null, "seed": 0, "status": "ok", "train_error": 0,'
     ' "test_error": 0, "epochs": [3]}', "epoch record '3' lacks numeric"),
    ('{"neg_percent": 0, "backward": null, "seed": 0, "status": "ok", "train_error": 0,'
     ' "test_error": 0, "epochs": [], "activation_spec": {"kind": "tanh"}}',
     "activation_spec .* is not a spec"),
    ('{"neg_percent": 0, "backward": null, "seed": 0, "status": "maybe", "train_error": 0,'
     ' "test_error": 0, "epochs": []}', "status is 'maybe'"),
])
def test_corrupt_stored_run_is_one_line_naming_the_file(tmp_path, data, content, match):
    store = RunStore(tmp_path, meta_of(data))
    store.runs_dir.joinpath("bad.json").write_text(content)
    with pytest.raises(StoreError, match=match) as info:
        store.load("bad")
    assert "bad.json" in str(info.value) and "move it aside" in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_sweep_json_is_one_line(tmp_path, data):
    (tmp_path / "sweep.json").write_text('{"experiment": ')
    with pytest.raises(StoreError, match="sweep.json is not a readable sweep.json"):
        RunStore(tmp_path, meta_of(data))


def test_lock_refuses_a_live_writer_and_takes_over_a_dead_ones(tmp_path, data):
    store = RunStore(tmp_path, meta_of(data))
    (tmp_path / ".lock").write_text("1\n")  # PID 1 is always alive
    with pytest.raises(StoreError, match=r"another process \(PID 1\) is writing"):
        store.lock()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / ".lock").write_text(dead + "\n")  # a killed process's stale lock
    with store:
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    assert not (tmp_path / ".lock").exists()


def _race_for_the_lock(directory, start, held, out):
    """One process of the race below: lock at ``start``, keep it a moment, report."""
    store = RunStore(directory, {}, _check=False)
    start.wait()
    try:
        store.lock()
    except StoreError:
        out.put("refused")
        return
    out.put("locked")
    held.wait()  # every process has tried before anyone lets go
    store.unlock()


def test_exactly_one_of_simultaneous_writers_gets_the_lock(tmp_path):
    """Processes that call lock() at the same moment: one wins, the others are refused
    (an empty lock file, created but not yet holding a PID, used to count as stale and
    let several through)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for trial in range(8):
        directory = tmp_path / f"t{trial}"
        start, held, out = ctx.Barrier(4), ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_race_for_the_lock, args=(directory, start, held, out))
                 for _ in range(4)]
        for proc in procs:
            proc.start()
        outcomes = sorted(out.get(timeout=60) for _ in procs)
        held.set()
        for proc in procs:
            proc.join(60)
        assert outcomes == ["locked", "refused", "refused", "refused"], trial
        assert not (directory / ".lock").exists()


class Interrupt(Exception):
    pass


def test_interrupted_sweep_resumes_without_recomputing(tmp_path, data):
    specs = make_specs(grid([0, 5, 10]), 1)
    meta = meta_of(data)
    built = []

    def failing_builder(spec):
        built.append(spec.key)
        if len(built) == 3:
            raise Interrupt("killed")
        return tiny_builder(spec)

    with pytest.raises(Interrupt):
        run_sweep(specs, data, CONFIG, failing_builder, store=RunStore(tmp_path, meta),
                  progress=False, log=lambda s: None)
    store = RunStore(tmp_path, meta)
    assert not (tmp_path / ".lock").exists()  # released on the way out
    assert store.keys() == sorted(["lenet-relu-seed0", "lenet-mixlu5-exact-fixed-seed0"])
    first = {k: store.path(k).read_bytes() for k in store.keys()}

    built.clear()
    lines = []

    def counting_builder(spec):
        built.append(spec.key)
        return tiny_builder(spec)

    results = run_sweep(specs, data, CONFIG, counting_builder, store=store, progress=False,
                        log=lines.append)
    assert built == ["lenet-mixlu10-exact-fixed-seed0"]  # only the unfinished run was trained
    assert lines[0].startswith("resuming: 2 of 3 runs already finished")
    assert [r["neg_percent"] for r in results] == [0.0, 5.0, 10.0]
    assert {k: store.path(k).read_bytes() for k in first} == first  # untouched
    # Resumed results equal an uninterrupted sweep's (deterministic runs).
    fresh = run_sweep(specs, data, CONFIG, tiny_builder, progress=False, log=lambda s: None)
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert [strip(r) for r in results] == [strip(r) for r in fresh]


def test_ctrl_c_says_what_is_kept(tmp_path, data):
    specs = make_specs(grid([0, 5]), 1)
    store = RunStore(tmp_path, meta_of(data))

    def builder(spec):
        if spec.neg_percent == 5:
            raise KeyboardInterrupt
        return tiny_builder(spec)

    with pytest.raises(Interrupted, match="interrupted; 1 finished runs kept in .*rerun the "
                                          "same command to resume"):
        run_sweep(specs, data, CONFIG, builder, store=store, progress=False, log=lambda s: None)


def test_identical_runs_are_trained_once_and_reported_under_every_spec(data):
    specs = make_specs(grid([0, 5], ["exact", "reference", "inverted"]), 1)
    built, lines = [], []

    def builder(spec):
        built.append(spec.key)
        return tiny_builder(spec)

    results = run_sweep(specs, data, CONFIG, builder, progress=False, log=lines.append)
    assert built.count("lenet-relu-seed0") == 1 and len(built) == 4
    assert any("6 runs requested, 4 distinct networks" in line for line in lines)
    zeros = [r for r in results if r["neg_percent"] == 0]
    assert [r["backward"] for r in zeros] == ["exact", "reference", "inverted"]
    assert all(r["trained_as"] == "relu" and r["epochs"] == zeros[0]["epochs"] for r in zeros)
    assert [r["activation"] for r in zeros] == [
        "mixlu0-exact-fixed", "mixlu0-reference-fixed", "mixlu0-inverted-fixed"]


def test_unknown_engine(data):
    specs = make_specs(grid([0]), 1)
    with pytest.raises(ValueError, match="engine must be one of"):
        run_sweep(specs, data, CONFIG, tiny_builder, engine="turbo", progress=False)


def test_batched_engine_plugs_in(monkeypatch, tmp_path, data):
    calls = []

    def train_batched(specs, data, config, build_model, device, progress=True,
                      checkpoints=None, observer=None):
        calls.append([s.key for s in specs])
        for spec in reversed(specs):  # finish in any order
            yield spec, train_one(spec, data, config, build_model, device)

    monkeypatch.setattr(ann.sweep, "train_batched", train_batched)
    specs = make_specs(grid([0, 10], ["reference"]), 1)
    store = RunStore(tmp_path, meta_of(data, engine="batched"))
    relu = RunSpec(ActivationSpec.make("relu"), 0)
    store.save(relu.key, train_one(relu, data, CONFIG, tiny_builder))
    results = run_sweep(specs, data, CONFIG, tiny_builder, engine="batched", store=store,
                        progress=False, log=lambda s: None)
    assert calls == [["lenet-mixlu10-reference-fixed-seed0"]]  # finished runs are not passed on
    assert [r["neg_percent"] for r in results] == [0.0, 10.0]
    assert store.keys() == sorted([relu.key, specs[1].key])


def test_only_plain_relu_stands_for_the_zero_percent_mixlu(tmp_path, data):
    """A ReLU with dropout is a baseline of its own, not the 0 % of every MixLU mode."""
    store = RunStore(tmp_path, meta_of(data, engine="loop"))
    for spec in (RunSpec(ActivationSpec.make("relu"), 0),
                 RunSpec(parse_activation("relu:dropout=0.5"), 0),
                 RunSpec.mixlu(5.0, "reference", 0, "fixed", "lenet")):
        store.save(spec.key, train_one(spec, data, CONFIG, tiny_builder))
    results = stored_results(store, "lenet")
    zero = [r for r in results if r["neg_percent"] == 0.0 and "mixlu" in r["activation"]]
    assert len(zero) == 1 and zero[0]["activation_spec"]["kind"] == "mixlu"
    assert sum("dropout" in r["activation"] for r in results) == 1


def test_report_only_reads_a_store_of_the_earlier_layout(tmp_path, data):
    old = {"experiment": "mixlu_mnist", "dataset": "synthetic", "mask": "resample",
           "mask_draw": "subset-v2"}
    atomic_write_json(tmp_path / "sweep.json", old)
    for p in (0, 5):
        atomic_write_json(tmp_path / "runs" / f"neg{p}-reference-seed0.json",
                          fake_result(p, 0, 0.03, 0.0))
    store = RunStore.open(tmp_path)
    results = stored_results(store, "lenet")
    assert [(r["neg_percent"], r["activation"], r["layout"]) for r in results] == [
        (0.0, "mixlu0-reference-resample", "earlier"), (5.0, "mixlu5-reference-resample",
                                                        "earlier")]
    assert all("trainer_version" not in r for r in results)  # not labelled as this version


def fake_result(p, seed, test, train, backward="reference", status="ok", epochs=3):
    return {"neg_percent": float(p), "backward": backward, "seed": seed, "status": status,
            "train_error": train, "test_error": test, "seconds": 1.0,
            "epochs": [{"epoch": e + 1, "train_error": train + 0.01 * (epochs - e),
                        "test_error": test + 0.01 * (epochs - e), "loss": 1.0}
                       for e in range(epochs)]}


def row_cells(table, first):
    """Cells of the Markdown row whose first cell is ``first``."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in\n{table}")


def test_tables_put_thesis_beside_ours():
    results = [fake_result(0, 0, 0.0300, 0.0000), fake_result(5, 0, 0.0400, 0.0200),
               fake_result(10, 0, 0.9, 0.9, status="diverged", epochs=1)]
    summary = summarize(results)
    t6 = final_table(summary, THESIS_MNIST, neg_counts={0: 0, 5: 25, 10: 50})
    assert row_cells(t6, "5") == ["5", "25", "1.26", "4.00"]
    assert "90.00 (1/1 diverged)" in t6
    t7 = gap_table(summary, THESIS_MNIST)
    cells = row_cells(t7, "5")
    # thesis: test 1.26 train 0.48 gap 0.78, increases 0.34 / 0.48, ratio 1.41
    assert cells[1:7] == ["1.26", "0.48", "0.78", "0.34", "0.48", "1.41"]
    # ours: test 4.00 train 2.00 gap 2.00, increases 1.00 / 2.00, ratio 2.00
    assert cells[7:13] == ["4.00", "2.00", "2.00", "1.00", "2.00", "2.00"]
    t8 = epoch_table(summarize([fake_result(0, 0, 0.03, 0.0), fake_result(1, 0, 0.04, 0.0)]),
                     THESIS_MNIST_EPOCHS, epochs=3)
    assert row_cells(t8, "1") == ["1", "0.0207", "0.0222", "0.0600", "0.0700"]


def test_noise_lines_separate_real_differences_from_seed_noise():
    results = []
    for seed, jitter in enumerate((-0.001, 0.0, 0.001)):
        results.append(fake_result(0, seed, 0.030 + jitter, 0.0))
        results.append(fake_result(1, seed, 0.0302 - jitter, 0.0))  # within noise
        results.append(fake_result(8, seed, 0.060 + jitter, 0.02))  # far beyond
    results.append(fake_result(5, 0, 0.05, 0.0))  # one seed only: cannot be tested
    lines = noise_lines(summarize(results), results, THESIS_MNIST)
    assert "beyond seed noise (Welch t-test, p < 0.05): 8 % (+3.00" in lines[0]
    assert "within noise: 1 % (+0.02" in lines[0]
    assert lines[0].endswith("not tested (fewer than 2 seeds): 5 %.")
    assert "median seed sd of our test error is 0.10 points" in lines[1]
    assert "0→1 (+0.03)" in lines[1]  # the thesis's 0.92 vs 0.95 is below 2 sd
    one = noise_lines(summarize(results[:3:3]), results[:3:3])
    assert "one seed per configuration" in one[0]


def test_run_csv_rows(tmp_path):
    text = run_csv([fake_result(0, 0, 0.03, 0.0, epochs=2)], "mnist-5k")
    rows = text.strip().splitlines()
    assert rows[0].startswith("dataset,neg_percent,backward,seed,status,epoch")
    assert len(rows) == 3 and rows[1].startswith("mnist-5k,0,reference,0,ok,1,")


def test_plot_draws_every_mode_and_percent_with_both_curves(tmp_path, monkeypatch):
    """The figure, caught as it is saved: one panel per (backward mode, percent) with the
    seeds' mean train (solid) and test (dotted) error per epoch; the PNG is that figure."""
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    from ann.plots import plot_curves

    saved, savefig = [], Figure.savefig

    def keep(fig, *args, **kwargs):
        saved.append(fig)
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    results = [fake_result(p, 0, 0.03, 0.01, backward=b) for p in (0, 1, 5)
               for b in ("exact", "reference")]
    results.append(fake_result(5, 1, 0.05, 0.03))  # a second seed of reference 5 %
    path = plot_curves(results, tmp_path / "fig.png", title="t")
    (fig,) = saved
    assert fig.get_suptitle() == "t"
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["0 %", "1 %", "5 %"] * 2  # rows: modes
    assert [ax.get_ylabel() for ax in axes] == ["exact\nerror %", "", "", "reference\nerror %",
                                                "", ""]  # fmt: skip
    assert [ax.get_xlabel() for ax in axes] == [""] * 3 + ["epoch"] * 3
    # fake_result: train error 1 % + 1 point per epoch left, test 3 % + the same
    one_seed = ([4.0, 3.0, 2.0], [6.0, 5.0, 4.0])
    two_seeds = ([5.0, 4.0, 3.0], [7.0, 6.0, 5.0])  # means with (6, 5, 4) and (8, 7, 6)
    for k, ax in enumerate(axes):
        train, test = ax.get_lines()
        assert (train.get_linestyle(), test.get_linestyle()) == ("-", ":")
        assert list(train.get_xdata()) == list(test.get_xdata()) == [1, 2, 3]
        expected = two_seeds if k == 5 else one_seed
        assert list(train.get_ydata()) == pytest.approx(expected[0])
        assert list(test.get_ydata()) == pytest.approx(expected[1])
        # one y range for all panels: 0 to 1.15 x the largest value drawn (epoch 1 too)
        assert ax.get_ylim() == pytest.approx((0.0, 1.15 * two_seeds[1][0]))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["train", "test"]
    # 7.25 x 4.8 inches (3 panels of 2.25 in + 0.5, 2 rows of 1.9 in + 1.0) at 150 dpi,
    # not blank: the train curves' blue (C0) and the test curves' red (C3) are drawn in it
    image = imread(path)
    assert image.shape == (720, 1088, 4)

    def pixels(rgb):
        return int((abs(image[..., :3] - [c / 255 for c in rgb]) < 0.05).all(axis=-1).sum())

    assert pixels((0x1F, 0x77, 0xB4)) > 300 and pixels((0xD6, 0x27, 0x28)) > 100
    with pytest.raises(ValueError, match="metric"):
        plot_curves(results, tmp_path / "x.png", metric="loss")


def test_plot_ranges_stay_on_the_scale():
    from ann.plots import _limits

    # accuracy panels bracket the values and never reach past 100 %
    low, high = _limits([84.1, 78.2, 99.9], "accuracy")
    assert low < 78.2 and 99.9 < high <= 100.0
    low, high = _limits([50.0], "accuracy")  # a one-epoch run: a finite window around it
    assert low < 50.0 < high
    assert _limits([3.0, 1.0], "error") == (0.0, pytest.approx(3.45))


def test_json_round_trip_of_results(data):
    r = train_one(RunSpec.mixlu(0, "exact", 0), data, CONFIG, tiny_builder)
    assert json.loads(json.dumps(r, allow_nan=False)) == r


def test_a_line_break_or_bar_in_a_value_cannot_break_a_table():
    from ann.report import markdown_table

    table = markdown_table(["sweep", "command"], [["a", "python x.py --out 'dir\nwith|bar'"]])
    lines = table.splitlines()
    assert len(lines) == 3 and all(line.count(" | ") == 1 for line in lines[::2])
    assert "dir with\\|bar" in table
