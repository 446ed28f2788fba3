"""PyTorch negative-linear units (NegLU, MixLU) and the thesis's LeNet benchmarks.

This package never imports brian2.
"""

from ann.activations import MixLU, NegLU, neglu, smooth_neglu
from ann.models import LeNet, LeNet5

__all__ = ["MixLU", "NegLU", "neglu", "smooth_neglu", "LeNet", "LeNet5"]
