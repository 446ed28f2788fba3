"""Brian2 simulations of the four STDP regimes.

Sign convention: ``delta_t = t_pre - t_post`` (negative when the presynaptic
neuron fires first); see :mod:`stdp_sim.regime`.  This package never imports torch.
"""

from stdp_sim.regime import Regime, classify

__all__ = ["Regime", "classify"]
