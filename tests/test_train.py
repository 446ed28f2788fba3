"""The loop trainer: the documented contract, learning, determinism, divergence."""

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ann.config import CIFAR_LENET5, MNIST_LENET
from ann.epoch import CHANCE_ERROR
from ann.models import LeNet5, build_model
from ann.specs import RunSpec
from ann.train import (
    TRAINER_VERSION,
    TrainConfig,
    evaluate,
    param_groups,
    resolve_device,
    train_one,
)

from helpers import synthetic

pytestmark = pytest.mark.usefixtures("one_thread")


class Tiny(nn.Module):
    """A small model with a last layer, for fast contract tests."""

    def __init__(self, seed):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5, stride=3)
        self.fc = nn.Linear(4 * 8 * 8, 10)
        g = torch.Generator().manual_seed(seed)
        for p in self.parameters():
            nn.init.normal_(p, 0.0, 0.01, generator=g)

    @property
    def last_layer(self):
        return self.fc

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).flatten(1))


def tiny_builder(spec):
    return Tiny(spec.seed)


def strip_seconds(result):
    return {k: v for k, v in result.items() if k != "seconds"}


def test_train_config_defaults_validation_and_dict():
    c = TrainConfig()  # neutral: torch.optim.SGD's defaults
    assert (c.lr, c.momentum, c.weight_decay, c.batch_size, c.epochs) == (1e-3, 0.0, 0.0, 100, 1)
    m = MNIST_LENET  # docs/reference.md#lenet-on-mnist
    assert (m.lr, m.momentum, m.weight_decay, m.batch_size, m.epochs) == (1e-3, 0.9, 5e-4, 100, 20)
    assert CIFAR_LENET5.epochs == 30 and CIFAR_LENET5.flip
    assert CIFAR_LENET5.lr_schedule == (0.05,) * 15 + (0.005,) * 10 + (0.0005,) * 5
    assert MNIST_LENET.replace(epochs=3).epochs == 3 and MNIST_LENET.epochs == 20
    with pytest.raises(dataclasses.FrozenInstanceError):
        MNIST_LENET.epochs = 3
    d = TrainConfig(epochs=2, lr_schedule=[0.1, 0.01, 0.001]).to_dict()
    assert d["lr_schedule"] == [0.1, 0.01] and json.loads(json.dumps(d)) == d
    with pytest.raises(ValueError, match="lr_schedule has 1 entries"):
        TrainConfig(epochs=2, lr_schedule=[0.1])
    with pytest.raises(ValueError, match=r"batch_size .* got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match=r"lr .* got -1"):
        TrainConfig(lr=-1)
    with pytest.raises(ValueError, match="last_bias_lr_mult"):
        TrainConfig(last_bias_lr_mult=float("nan"))


def test_param_groups_follow_multipliers_and_last_layer():
    model = LeNet5()
    config = TrainConfig(lr=0.05, weight_lr_mult=0.1, bias_lr_mult=2,
                         last_weight_lr_mult=0.01, last_bias_lr_mult=0.2)
    groups = {g["name"]: g for g in param_groups(model, config)}
    assert {n: g["lr_mult"] for n, g in groups.items()} == {
        "weight": 0.1, "bias": 2, "last_weight": 0.01, "last_bias": 0.2}
    assert groups["last_weight"]["params"] == [model.conv5.weight]
    assert groups["last_bias"]["params"] == [model.conv5.bias]
    assert len(groups["weight"]["params"]) == 4 and len(groups["bias"]["params"]) == 4
    assert groups["bias"]["lr"] == pytest.approx(0.1)
    default = {g["name"]: g["lr_mult"] for g in param_groups(model, TrainConfig(bias_lr_mult=3))}
    assert default["last_bias"] == 3 and default["last_weight"] == 1.0


def reference_loop(spec, data, config, build_model):
    """An independent transcription of the procedure in ann/train.py's docstring."""
    model = build_model(spec)
    last = set(map(id, model.last_layer.parameters()))
    mult = config.lr_mults()
    groups = []
    for name, p in model.named_parameters():
        kind = ("last_" if id(p) in last else "") + ("bias" if name.endswith("bias") else "weight")
        groups.append({"params": [p], "m": mult[kind]})
    opt = torch.optim.SGD(groups, lr=1.0, momentum=config.momentum,
                          weight_decay=config.weight_decay)
    g = torch.Generator().manual_seed(spec.seed)
    n, epochs = data.train_size, []
    for e in range(config.epochs):
        lr = config.lr_schedule[e] if config.lr_schedule else config.lr
        for group in opt.param_groups:
            group["lr"] = lr * group["m"]
        perm = torch.randperm(n, generator=g)
        wrong, loss_sum = 0, 0.0
        for start in range(0, n, config.batch_size):
            idx = perm[start : start + config.batch_size]
            xb, yb = data.train_x[idx], data.train_y[idx]
            if config.flip and torch.rand((), generator=g).item() < 0.5:
                xb = torch.flip(xb, dims=[3])
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            wrong += int((out.argmax(1) != yb).sum())
            loss_sum += loss.item() * len(yb)
        model.eval()
        with torch.no_grad():
            test_wrong = int((model(data.test_x).argmax(1) != data.test_y).sum())
        model.train()
        epochs.append({"epoch": e + 1, "train_error": wrong / n,
                       "test_error": test_wrong / data.test_size, "loss": loss_sum / n})
    return epochs, model


def test_train_one_matches_the_documented_procedure():
    data = synthetic(n_train=250, n_test=60)  # 250 = 2 full batches + a partial one
    config = TrainConfig(lr=0.01, batch_size=100, epochs=3, lr_schedule=[0.02, 0.01, 0.005],
                         flip=True, weight_lr_mult=0.5, bias_lr_mult=2.0,
                         last_weight_lr_mult=0.25, last_bias_lr_mult=0.1)
    spec = RunSpec.mixlu(0, "reference", 3)
    result = train_one(spec, data, config, tiny_builder)
    expected, _ = reference_loop(spec, data, config, tiny_builder)
    assert len(result["epochs"]) == 3
    for got, want in zip(result["epochs"], expected, strict=True):
        assert got["epoch"] == want["epoch"]
        assert got["train_error"] == want["train_error"]
        assert got["test_error"] == want["test_error"]
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-6)
    assert result["status"] == "ok"
    assert result["train_error"] == expected[-1]["train_error"]
    assert result["test_error"] == expected[-1]["test_error"]
    assert set(result) == {"neg_percent", "backward", "seed", "status", "train_error",
                           "test_error", "epochs", "seconds", "model", "activation",
                           "activation_spec", "engine", "trainer_version", "parameters"}
    assert (result["engine"], result["trainer_version"]) == ("loop", TRAINER_VERSION)
    assert result["activation_spec"] == {"kind": "mixlu", "percent": 0.0,
                                         "backward": "reference", "mask": "fixed"}


def test_flip_changes_the_run():
    data = synthetic(n_train=200, n_test=50)
    spec = RunSpec.mixlu(0, "exact", 0)
    a = train_one(spec, data, TrainConfig(lr=0.01, epochs=2), tiny_builder)
    b = train_one(spec, data, TrainConfig(lr=0.01, epochs=2, flip=True), tiny_builder)
    assert a["epochs"][-1]["loss"] != b["epochs"][-1]["loss"]


def test_trainer_lowers_loss_on_tiny_data():
    data = synthetic(n_train=300, n_test=100)
    result = train_one(RunSpec.mixlu(1, "reference", 0), data,
                       MNIST_LENET.replace(epochs=4, batch_size=20),
                       build_model)
    losses = [e["loss"] for e in result["epochs"]]
    assert result["status"] == "ok"
    assert losses[-1] < 0.5 * losses[0]
    assert result["epochs"][-1]["train_error"] < result["epochs"][0]["train_error"]
    assert result["test_error"] < 0.5  # chance is 0.9


def test_same_seed_same_numbers_different_seed_different_numbers():
    data = synthetic(n_train=200, n_test=50)
    config = MNIST_LENET.replace(epochs=2)
    a = train_one(RunSpec.mixlu(5, "reference", 1), data, config, build_model)
    b = train_one(RunSpec.mixlu(5, "reference", 1), data, config, build_model)
    c = train_one(RunSpec.mixlu(5, "reference", 2), data, config, build_model)
    assert strip_seconds(a) == strip_seconds(b)
    assert a["epochs"] != c["epochs"]


def test_divergence_is_recorded_not_raised():
    data = synthetic(n_train=200, n_test=50)
    result = train_one(RunSpec.mixlu(0, "exact", 0), data, TrainConfig(lr=1e12, epochs=3),
                       tiny_builder)
    assert result["status"] == "diverged"
    assert result["train_error"] == result["test_error"] == CHANCE_ERROR
    assert len(result["epochs"]) < 3
    assert all(math.isfinite(e["loss"]) for e in result["epochs"])
    json.dumps(result, allow_nan=False)


def test_a_last_step_that_leaves_non_finite_weights_is_a_divergence():
    # one step per epoch whose update overflows float32: its loss (computed before the
    # update) is finite, so only the check after the epoch's last step can see it
    data = synthetic(n_train=50, n_test=20)
    config = TrainConfig(lr=3e38, epochs=1, batch_size=50)  # x |grad| up to 2.4: inf
    spec = RunSpec.mixlu(0, "exact", 0)
    assert torch.isfinite(F.cross_entropy(tiny_builder(spec)(data.train_x), data.train_y))
    result = train_one(spec, data, config, tiny_builder)
    assert result["status"] == "diverged" and result["epochs"] == []
    assert result["test_error"] == CHANCE_ERROR


def test_evaluate_chunks_and_restores_mode():
    data = synthetic(n_train=10, n_test=37)
    model = Tiny(0)
    model.train()
    assert evaluate(model, data.test_x, data.test_y, chunk=5) == evaluate(
        model, data.test_x, data.test_y, chunk=1000)
    assert model.training


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="'gpu-please'"):
        resolve_device("gpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
