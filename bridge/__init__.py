"""Maps ANN gradient signs to the STDP regimes and measures them during training."""
