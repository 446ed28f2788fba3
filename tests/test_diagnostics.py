"""Unit diagnostics on nets whose answer is known; stacked = plain; dynamics."""

import copy

import pytest
import torch
from torch import nn

from ann.activations import MixLU
from ann.batched.stacking import stack_models
from ann.diagnostics import LARGE_NEGATIVE_SD, unit_diagnostics
from ann.models import build_model
from ann.report import diagnostics_table, dynamics
from ann.specs import RunSpec, parse_activation

pytestmark = pytest.mark.usefixtures("one_thread")


class Tiny(nn.Module):
    position_layers = ("fc",)

    def __init__(self, act):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = act
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.act(self.fc(x)))


def hand_built(act):
    """fc unit 0: large negative bias (never > 0); unit 1: zero weights and bias (input
    0 throughout); unit 2: input x0; unit 3: large positive bias (never < 0)."""
    model = Tiny(act)
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.zero_()
        model.fc.weight[0, 0] = 1.0
        model.fc.bias[0] = -100.0
        model.fc.weight[2, 0] = 1.0
        model.fc.weight[3, 0] = 1.0
        model.fc.bias[3] = 100.0
    return model


def probe(n=400):
    return torch.randn(n, 4, generator=torch.Generator().manual_seed(0))


def test_dead_relu_units_and_large_negative_biases():
    x = probe()
    (d,) = unit_diagnostics(hand_built(nn.ReLU()), x)
    (pos,) = d["positions"]
    assert pos["units"] == {"relu": 4} and pos["dead"] == {"relu": 2}  # units 0 and 1
    assert pos["large_negative_bias_share"] == 0.25  # unit 0 only (1 has sd 0 and bias 0)
    # active: unit 2 when x0 > 0, unit 3 always; per image, over the 4 units
    expected = float(((x[:, 0] > 0).double() + 1.0).mean()) / 4
    assert pos["active_fraction"] == pytest.approx(expected)
    assert d["layers"]["fc"]["bias"] == {"mean": 0.0, "sd": pytest.approx(81.65, abs=0.01),
                                         "min": -100.0, "max": 100.0}
    assert d["layers"]["fc"]["weight_norm"] == pytest.approx(3 ** 0.5)
    assert d["neglu_per_image"] == 0.0


def test_dead_neglu_units_are_never_negative():
    act = MixLU(4, 0.5, backward="exact", seed=0)
    act.neg_mask.copy_(torch.tensor([False, True, False, True]))
    (d,) = unit_diagnostics(hand_built(act), probe())
    (pos,) = d["positions"]
    assert pos["units"] == {"relu": 2, "neglu": 2}
    # ReLU-side: unit 0 never > 0; NegLU: unit 1 (always 0) and unit 3 (always > 0)
    assert pos["dead"] == {"relu": 1, "neglu": 2}
    assert pos["neglu_per_image"] == 2.0


def test_threshold_is_in_sd_of_the_units_input():
    model = hand_built(nn.ReLU())
    with torch.no_grad():
        model.fc.bias[2] = -(LARGE_NEGATIVE_SD - 0.5)  # unit 2's input has sd ~1
    (d,) = unit_diagnostics(model, probe())
    assert d["positions"][0]["large_negative_bias_share"] == 0.25
    with torch.no_grad():
        model.fc.bias[2] = -(LARGE_NEGATIVE_SD + 0.5)
    (d,) = unit_diagnostics(model, probe())
    assert d["positions"][0]["large_negative_bias_share"] == 0.5


def test_probe_pass_leaves_resampled_draws_and_mode_as_they_were():
    model = build_model(RunSpec(parse_activation("mixlu:10:exact:resample"), 0))
    twin = copy.deepcopy(model)
    x = torch.randn(8, 1, 28, 28)
    model(x), twin(x)  # both generators started
    model.train()
    unit_diagnostics(model, torch.randn(20, 1, 28, 28))
    assert model.training
    assert torch.equal(model(x), twin(x))  # the next draw is the one it would have been


def test_stacked_diagnostics_equal_each_members():
    texts = ["relu", "mixlu:10:exact", "mixlu:10:reference:resample", "bipolar", "leaky:0.1"]
    models = [build_model(RunSpec(parse_activation(t), i)) for i, t in enumerate(texts)]
    x = torch.randn(300, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 50
    stacked = unit_diagnostics(stack_models(models), x, len(models))
    for model, d in zip(models, stacked, strict=True):
        close(unit_diagnostics(model, x)[0], d)


def close(a, b, path="diagnostics"):
    """Equal structure, equal counts, floats equal to rounding (a stacked layer sums in
    another order, which can move a pre-activation that is 0 to rounding)."""
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-6), path
    else:
        assert a == b, path


def test_lenet5_neglu_counts_per_position():
    model = build_model(RunSpec.mixlu(10, "exact", 0, "fixed", "lenet5"), positions={0, 3})
    (d,) = unit_diagnostics(model, torch.randn(10, 3, 32, 32))
    counts = [p["neglu_per_image"] for p in d["positions"]]
    assert counts == [3 * 16 * 16, 0.0, 0.0, 6 * 1 * 1]  # 3 of 32 and 6 of 64 channels
    assert d["neglu_per_image"] == sum(counts)
    resampled = build_model(RunSpec.mixlu(10, "exact", 0, "resample", "lenet5"))
    (d,) = unit_diagnostics(resampled, torch.randn(10, 3, 32, 32))
    assert d["positions"][1]["units"] == {"resampled": 32}
    assert d["positions"][1]["neglu_per_image"] == pytest.approx(0.1 * 32 * 16 * 16)


def test_prelu_slopes_are_recorded():
    model = build_model(RunSpec(parse_activation("prelu:0.1"), 0))
    (d,) = unit_diagnostics(model, torch.randn(10, 1, 28, 28))
    assert d["positions"][0]["prelu"]["mean"] == pytest.approx(0.1)


def run_of(errors, seed=0, column="relu"):
    return {"neg_percent": 0.0, "backward": None, "seed": seed, "status": "ok",
            "activation": column, "activation_spec": {"kind": column},
            "test_error": errors[-1], "train_error": 0.0,
            "epochs": [{"epoch": i + 1, "test_error": e,
                        "diagnostics": {"positions": [{"units": {"relu": 10},
                                                       "dead": {"relu": i},
                                                       "large_negative_bias_share": 0.1,
                                                       "neglu_per_image": 0.0}],
                                        "layers": {"a": {"bias": {"mean": -0.5}},
                                                   "b": {}},
                                        "neglu_per_image": 0.0}}
                       for i, e in enumerate(errors)]}


def test_dynamics_first_epoch_and_roughness():
    d = dynamics(run_of([0.03, 0.014, 0.016, 0.011, 0.013]), levels=(0.015, 0.012, 0.001))
    assert d["first_epoch"] == {"0.015": 2, "0.012": 4, "0.001": None}
    assert d["roughness"] == pytest.approx(0.002 + 0.002)


def test_diagnostics_table_over_seeds():
    runs = [run_of([0.03, 0.014, 0.011], seed=0), run_of([0.03, 0.02, 0.013], seed=1)]
    table = diagnostics_table(runs, levels=(0.015,))
    lines = table.splitlines()
    header = [c.strip() for c in next(ln for ln in lines if "% NegLU" in ln).strip("|").split("|")]
    row = [ln for ln in lines if ln.strip("| ").startswith("relu")][0]
    cells = dict(zip(header, (c.strip() for c in row.strip("|").split("|")), strict=True))
    assert [cells[h] for h in header[:4]] == ["relu", "0", "2", "20.0 ± 0.0"]  # 2 of 10 dead
    assert cells["large neg. bias %"] == "10.0 ± 0.0"
    assert cells["hidden bias mean"] == "-0.5000 ± 0.0000"
    assert cells["epochs to ≤1.5 %"] == "2.5 ± 0.7"  # epochs 2 and 3
    # a ReLU net has no NegLU units: the empty column is left out, and said to be
    assert "dead NegLU %" not in header
    assert "Left out, no value in any row: dead NegLU %, parameters." in table
    earlier = [{**runs[0], "epochs": [{"epoch": 1, "test_error": 0.1}]}]  # no diagnostics
    assert diagnostics_table(earlier).startswith("Unit diagnostics: none recorded")
