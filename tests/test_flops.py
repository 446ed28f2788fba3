"""ann/flops.py: FLOPs counted from layer shapes, and the sgemm measurement."""

import pytest
from torch import nn

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


def test_sgemm_is_a_positive_rate():
    rate = sgemm_gflops("cpu", n=128, repeats=2)
    assert 0.01 < rate < 1e5
