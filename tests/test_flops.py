"""ann/flops.py: FLOPs counted from layer shapes, and the sgemm measurement."""

import types

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import ann.flops as flops_module
from ann.flops import count_flops, sgemm_gflops
from ann.models import build_model
from ann.specs import RunSpec

pytestmark = pytest.mark.usefixtures("one_thread")


def test_lenet_flops_by_hand():
    # conv1 20x24x24 outputs x 25; conv2 50x8x8 x 20*25; conv3 500 x 50*16; conv4 10 x 500
    macs = 20 * 24 * 24 * 25 + 50 * 8 * 8 * 500 + 500 * 800 + 10 * 500
    flops = count_flops(build_model(RunSpec.mixlu(5.0)), (1, 28, 28))
    assert flops.forward == 2 * macs == 4_586_000
    assert flops.training == 3 * flops.forward
    assert sorted(flops.layers.values()) == sorted([288_000, 1_600_000, 400_000, 5_000])


def test_groups_linear_and_mode_restored():
    model = nn.Sequential(nn.Conv2d(4, 8, 3, groups=2, padding=1), nn.Flatten(),
                          nn.Linear(8 * 5 * 5, 3)).train()
    flops = count_flops(model, (4, 5, 5))
    assert flops.layers == {"0": 8 * 5 * 5 * 2 * 9, "2": 200 * 3}
    assert model.training


def test_counts_agree_with_torchs_flop_counter():
    # an independent measurement: torch counts the FLOPs the operators actually ran
    model = build_model(RunSpec.mixlu(5.0)).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    assert count_flops(model, (1, 28, 28)).forward == counter.get_total_flops()


def test_sgemm_rate_is_the_products_flops_over_the_fastest_timed_product(monkeypatch):
    """An n x n product is 2 n^3 FLOPs (n multiply-adds per output element); the rate
    divides them by the fastest of ``repeats`` timed products, the warm-up untimed."""
    n, repeats = 16, 3
    ticks = iter([0.0, 0.5, 1.0, 1.2, 2.0, 2.3])  # timed products: 0.5 s, 0.2 s, 0.3 s
    clock = types.SimpleNamespace(perf_counter=lambda: next(ticks))
    monkeypatch.setattr(flops_module, "time", clock)
    with FlopCounterMode(display=False) as counter:
        rate = sgemm_gflops("cpu", n=n, repeats=repeats)
    assert counter.get_total_flops() == (1 + repeats) * 2 * n**3 == 32_768  # warm-up + timed
    assert rate == pytest.approx(2 * n**3 / 0.2 / 1e9)
    assert next(ticks, None) is None  # two clock readings per timed product, none more
