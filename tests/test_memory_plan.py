"""The batched engine's memory plan: stacks planned from specs, models built one stack at a
time, and a sweep whose single member does not fit the budget refused in one line."""

import warnings
import weakref

import pytest
import torch
from torch import nn

from ann.batched.memory import (
    CPU_SOLO_BYTES,
    CPU_STACK_BYTES,
    member_bytes,
    memory_budget_bytes,
    stack_cap,
)
from ann.config import MNIST_LENET
from ann.models import build_model
from ann.specs import RunSpec, parse_activations
from ann.sweep import make_specs, run_sweep
from ann.sweep_plan import plan_units, train_batched
from common.cli import UserError
from common.data.budget import MEMORY_BUDGET_ENV, MemoryBudgetError

from helpers import synthetic

pytestmark = pytest.mark.usefixtures("one_thread")

#: The 11 NegLU shares of Table 6 x 1000 seeds: 11,000 runs, the documented maximum.
TABLE6 = parse_activations(",".join(f"mixlu:{p}" for p in range(11)))
CONFIG = MNIST_LENET.replace(epochs=1, batch_size=10)
CPU = torch.device("cpu")


class Tiny(nn.Module):
    """A small stackable net for 8x8 images (conv, activation, pool, linear)."""

    def __init__(self, activation: nn.Module, extra: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.act = activation
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 3 * 3, 10)
        if extra:
            self.fc2 = nn.Linear(10, 10)

    def forward(self, x):
        out = self.fc(self.pool(self.act(self.conv(x))).flatten(1))
        return self.fc2(out) if hasattr(self, "fc2") else out


class Counting:
    """``spec -> Tiny`` that counts the models it built and the most alive at once."""

    def __init__(self, structure_of_seed=None):
        self.built = 0
        self.live: weakref.WeakSet = weakref.WeakSet()
        self.most_live = 0
        self.structure_of_seed = structure_of_seed

    def __call__(self, spec: RunSpec) -> nn.Module:
        extra = bool(self.structure_of_seed and self.structure_of_seed(spec.seed))
        model = Tiny(spec.activation.build(4, spec.seed), extra)
        g = torch.Generator().manual_seed(spec.seed)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        self.built += 1
        self.live.add(model)
        self.most_live = max(self.most_live, len(self.live))
        return model


@pytest.fixture
def data():
    return synthetic(20, 10, size=8)


def _stack_budget(data, members: int) -> int:
    """A memory budget that holds ``members`` members of Tiny, not one more."""
    per = member_bytes(Counting()(RunSpec.mixlu(0)), data.train_x[:4].clone(),
                       CONFIG.batch_size)
    return members * per + per // 2


def test_plan_of_11000_runs_builds_one_model_per_activation(data):
    specs = make_specs(TABLE6, 1000)
    build = Counting()
    units = plan_units(specs, data, CONFIG, build, CPU, memory_budget=_stack_budget(data, 4))
    assert build.built == len(TABLE6) and build.most_live == 1
    assert all(u.kind == "stack" and len(u.specs) == 4 for u in units)
    assert [s for u in units for s in u.specs] == specs  # every run, in spec order, once


def test_training_11000_runs_builds_one_stack_of_models_at_a_time(data):
    """The first results of an 11,000-run sweep come after the plan's 11 models and the
    first stack's 4 (not 11,000), and never more than one stack's models are alive."""
    specs = make_specs(TABLE6, 1000)
    build = Counting()
    results = train_batched(specs, data, CONFIG, build, CPU, progress=False,
                            memory_budget=_stack_budget(data, 4))
    try:
        first = [next(results) for _ in range(4)]
        assert [spec for spec, _ in first] == specs[:4]
        assert all(r["status"] == "ok" and len(r["epochs"]) == 1 for _, r in first)
        assert build.built == len(TABLE6) + 4
        next(results)  # the second stack's first member: its models are built now
        assert build.built == len(TABLE6) + 8
        assert build.most_live <= 4
    finally:
        results.close()


def test_member_over_the_budget_is_refused_in_one_line(data, monkeypatch):
    """A budget below one member: refused after building one model, in one line naming
    the budget's variable, through the sweep too (a UserError: exit 2 in a script)."""
    specs = make_specs(TABLE6, 1000)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1000")
    build = Counting()
    with pytest.raises(MemoryBudgetError) as exc:
        plan_units(specs, data, CONFIG, build, CPU)
    message = str(exc.value)
    assert message.startswith("one lenet run needs about ") and "\n" not in message
    assert "more than the memory budget of 1000 bytes (NEGLU_STDP_MEMORY_BUDGET sets it)" \
        in message
    assert build.built == 1 and issubclass(MemoryBudgetError, UserError)
    with pytest.raises(MemoryBudgetError):
        run_sweep(specs, data, CONFIG, Counting(), engine="batched", progress=False,
                  log=lambda s: None)


def test_explicit_stack_budget_below_a_member_gives_stacks_of_one(data):
    """``memory_budget`` sizes the stacks only: below one member, one member a stack (the
    process's budget, which one member must fit, is the machine's)."""
    specs = make_specs(TABLE6[:2], 3)
    units = plan_units(specs, data, CONFIG, Counting(), CPU, memory_budget=1)
    assert [len(u.specs) for u in units] == [1] * 6


def test_cpu_stacks_hold_several_lenets_and_one_lenet5():
    """The measured CPU caps (ann/batched/memory.py): LeNet's members stack by seven or
    so, LeNet5's train one to a stack; a GPU is capped by memory only."""
    caps = {}
    for model, shape in (("lenet", (4, 1, 28, 28)), ("lenet5", (4, 3, 32, 32))):
        for activation in ("relu", "mixlu:1:reference:resample"):
            spec = RunSpec(parse_activations(activation)[0], 0, model)
            per_member = member_bytes(build_model(spec), torch.zeros(shape), 100)
            caps[model, activation] = stack_cap(per_member, CPU, None)
            assert stack_cap(per_member, torch.device("cuda"), None) is None
            assert stack_cap(per_member, CPU, 3) == 3  # an explicit cap wins
    assert all(6 <= cap <= 8 if m == "lenet" else cap == 1 for (m, _), cap in caps.items())
    assert stack_cap(CPU_SOLO_BYTES - 1, CPU, None) == CPU_STACK_BYTES // (CPU_SOLO_BYTES - 1)
    assert stack_cap(CPU_SOLO_BYTES, CPU, None) == 1


def test_cpu_budget_is_the_process_budget(monkeypatch):
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "3G")
    assert memory_budget_bytes(CPU) == 3 * 2**30


def test_stack_whose_members_differ_after_all_is_trained_by_the_loop(data):
    """The plan takes a model's structure from its model and activation; a builder whose
    structure also depends on the seed gets its stack trained by the loop, one warning."""
    specs = make_specs(TABLE6[:1], 2)
    build = Counting(structure_of_seed=lambda seed: seed % 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = dict(train_batched(specs, data, CONFIG, build, CPU, progress=False))
    assert set(results) == set(specs)
    assert all(r["status"] == "ok" and r["engine"] == "loop" for r in results.values())
    assert any("differs in structure" in str(w.message) for w in caught)
