"""Sinusoidal timestep embedding of Wan (``[cos | sin]``, cos first, computed in float64)."""

from __future__ import annotations

import torch


def sinusoidal_embedding_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """Embed scalar timesteps.

    Args:
        dim: embedding width (even); ``dim/2`` frequencies ``10000^(-i/(dim/2))``.
        positions: [B] timesteps (any float dtype; promoted to float64).

    Returns:
        [B, dim] float64, ``cat(cos(t·f), sin(t·f))``.
    """
    if dim % 2:
        raise ValueError(f"sinusoidal embedding width must be even, got {dim}")
    half = dim // 2
    pos = positions.to(torch.float64)
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64, device=pos.device) / half)
    angles = torch.outer(pos, freqs)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
