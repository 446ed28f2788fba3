"""What ran a PyTorch result: :func:`common.environment.environment` plus torch's
threads and the GPU's name (saved beside every sweep and report)."""

from __future__ import annotations

from typing import Any

from common.environment import environment as common_environment

__all__ = ["environment"]


def environment(device: str | None = None) -> dict[str, Any]:
    """:func:`common.environment.environment` plus torch's threads and the GPU's name."""
    import torch

    extra: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    if device is not None and str(device).startswith("cuda") and torch.cuda.is_available():
        extra["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return common_environment(device, **extra)
