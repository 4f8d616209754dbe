"""``--device auto|cpu|cuda|cuda:N|mps`` -> a torch.device that exists, or a one-line error."""

from __future__ import annotations

import torch

from pixelboard.errors import PixelboardError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PixelboardError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise PixelboardError(f"device {name!r} requested but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise PixelboardError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise PixelboardError(f"device {name!r} requested but MPS is not available on this machine")
    return device
