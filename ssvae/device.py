"""Choice of the torch device, made once per process."""

from __future__ import annotations

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """Return the requested device, or CUDA when available, else the CPU."""
    if requested and requested != "auto":
        try:
            device = torch.device(requested)
        except RuntimeError as error:
            raise ValueError(
                f"invalid device {requested!r}: use cpu, cuda, cuda:N or auto"
            ) from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device {requested!r} requested but CUDA is not available on this "
                "machine: pass --device cpu or leave the device unset"
            )
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
