"""The experiments as library functions (:mod:`ann.experiments`): the same sweep as the
command line, options that map one to one onto its arguments, and registries that do
not depend on what was imported before."""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ann.experiments import (
    EXPERIMENTS,
    MNIST_LENET_SWEEP,
    SweepOptions,
    experiment,
    table6,
)
from ann.experiments.options import check_options
from bridge.claims.plan import SCALES, scale_sweeps
from common.cli import UserError

from helpers import load_script
from writers import write_tiny_mnist

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
MNIST_SCRIPT = ROOT / "experiments" / "mixlu_mnist.py"


def strip_seconds(document):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in document["runs"]]


def test_table6_from_python_equals_the_command_line(tmp_path, capsys):
    data_dir = write_tiny_mnist(tmp_path / "data", n_train=100, n_test=20)
    ours = table6(quick=True, percents=[0, 5], epochs=1, data_dir=data_dir,
                  no_progress=True, out=tmp_path / "py")
    script = load_script(MNIST_SCRIPT)
    argv = ["--quick", "--percents", "0,5", "--epochs", "1", "--data-dir", str(data_dir),
            "--no-progress", "--out", str(tmp_path / "cli")]
    theirs = script.run(script.build_parser().parse_args(argv))
    assert len(ours["runs"]) == 2
    assert strip_seconds(ours) == strip_seconds(theirs)
    assert ours["config"] == theirs["config"] and ours["dataset"] == theirs["dataset"]
    # the recorded command of a library call is the equivalent command line
    python, path, *recorded = shlex.split(ours["command"])
    assert (python, path) == ("python", "experiments/mixlu_mnist.py")
    assert MNIST_LENET_SWEEP.resolve(SweepOptions.from_namespace(
        script.build_parser().parse_args(recorded))) == MNIST_LENET_SWEEP.resolve(SweepOptions(
            quick=True, percents="0,5", epochs=1, data_dir=data_dir, no_progress=True,
            out=tmp_path / "py"))
    assert (tmp_path / "py" / "mixlu_mnist.json").is_file()


def test_options_round_trip_through_the_command_line():
    script = load_script(MNIST_SCRIPT)
    options = SweepOptions(percents=[0, 2.5], seeds=3, backward="all", epochs=4,
                           dataset="mnist-5k", out=Path("o"), engine="loop",
                           train_subset=100, no_progress=True, mask="resample")
    parsed = SweepOptions.from_namespace(script.build_parser().parse_args(options.argv()))
    assert parsed == options
    assert SweepOptions().argv() == []
    # numbers given from Python keep every digit (a key of 15 significant digits)
    assert SweepOptions(percents=[0.123456789, 5]).percents == "0.123456789,5"


@pytest.mark.parametrize("scale", SCALES)
def test_every_study_sweep_runs_the_options_its_command_states(scale):
    """The verdict study runs each sweep from its options and prints its command: parsing
    that command with the script's own parser gives the same options."""
    for sweep in scale_sweeps(scale):
        parser = load_script(ROOT / "experiments" / f"{sweep.script}.py").build_parser()
        args = parser.parse_args(sweep.argv(Path("out"), Path("data"), device="cpu"))
        cli = SweepOptions.from_namespace(args)
        options = sweep.options(Path("out"), Path("data"), device="cpu")
        defaults = experiment(sweep.script).defaults
        assert cli == options.with_defaults(dataset=defaults["dataset"],
                                             mask=defaults["mask"]), sweep.name
        assert (args.signs, args.signs_every if args.signs else None) == (
            sweep.signs_every is not None, sweep.signs_every)


@pytest.mark.parametrize(("changes", "message"), [
    ({"seeds": 0}, "--seeds must be an integer in 1..1000, got 0"),
    ({"seeds": True}, "--seeds must be an integer"),
    ({"backward": "forward"}, "--backward must be one of exact, reference, inverted, all"),
    ({"engine": "fast"}, "--engine must be one of auto, batched, loop"),
    ({"percents": "1,x"}, "--percents: 'x' is not a number"),
    ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
])
def test_bad_options_from_python_name_the_option(changes, message):
    with pytest.raises(UserError, match=message.replace(".", r"\.").replace("(", r"\(")):
        table6(**{"quick": True, **changes})


def test_options_are_checked_after_the_experiments_defaults():
    with pytest.raises(UserError, match="--mask must be one of"):
        check_options(SweepOptions(dataset="mnist-5k"))  # no experiment: mask not filled
    for name in EXPERIMENTS:
        resolved = experiment(name).resolve(SweepOptions(dataset="mnist-5k", quick=True))
        assert resolved.mask == experiment(name).defaults["mask"]
        assert resolved.epochs == experiment(name).quick["epochs"]
    with pytest.raises(ValueError, match="experiment must be one of mixlu_mnist, mixlu_cifar"):
        experiment("mixlu_imagenet")


@pytest.mark.parametrize("code", [
    # a model name is checked without ann.models having been imported
    "from ann.specs import ActivationSpec, RunSpec\n"
    "try:\n    RunSpec(ActivationSpec.make('relu'), 0, 'vgg')\n"
    "except ValueError as e:\n    assert 'lenet, lenet5' in str(e), e\n"
    "else:\n    raise SystemExit(1)\n"
    "import sys\nassert 'ann.models' not in sys.modules",
    # cifar10 is a dataset without importing its loader
    "import sys\nfrom ann.data import dataset_names\nassert 'cifar10' in dataset_names()\n"
    "assert 'ann.data.cifar' not in sys.modules",
    # the package is lazy: importing a leaf loads no trainer
    "import sys, ann, ann.specs, ann.config\n"
    "assert not {'ann.train', 'ann.batched.engine', 'ann.sweep'} & set(sys.modules)\n"
    "assert ann.TrainConfig is ann.config.TrainConfig",
])
def test_registries_are_filled_where_they_are_defined(code):
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
