"""Which torch device a configuration names: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """The device ``name`` stands for; ``auto`` is the first GPU when torch sees one, else the CPU.

    A named GPU that torch cannot see is an error here, not at the first tensor moved to it.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no GPU (torch.cuda.is_available() "
                         f"is False); use 'cpu' or 'auto'")
    return device
