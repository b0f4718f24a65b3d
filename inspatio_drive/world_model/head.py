"""Output head of the Wan DiT and the inverse of the patch embedding."""

from __future__ import annotations

import math

import torch
from torch import nn

from .norms import FP32LayerNorm


class Head(nn.Module):
    """``Linear(LN(x)·(1+scale) + shift)`` with ``(shift, scale) = modulation [1,2,dim] + e``.

    State-dict names: ``head.weight`` [pt·ph·pw·out_dim, dim], ``head.bias``, ``modulation``.
    """

    def __init__(self, dim: int, out_dim: int, patch_size: tuple[int, int, int], eps: float) -> None:
        super().__init__()
        self.norm = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.head = nn.Linear(dim, math.prod(patch_size) * out_dim)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """x: [B, L, dim]; e: [B or 1, dim] time embedding -> [B, L, pt·ph·pw·out_dim]."""
        shift, scale = (self.modulation + e[:, None]).unbind(dim=1)
        return self.head(self.norm(x) * (1 + scale[:, None]) + shift[:, None])


def unpatchify(
    tokens: torch.Tensor, grid: tuple[int, int, int], patch_size: tuple[int, int, int]
) -> torch.Tensor:
    """Tokens to a latent video.

    Args:
        tokens: [B, F·H·W, pt·ph·pw·C], features ordered (pt, ph, pw, C) with C innermost.
        grid: token grid (F, H, W).
        patch_size: (pt, ph, pw).

    Returns:
        [B, C, F·pt, H·ph, W·pw].
    """
    b = tokens.shape[0]
    f, h, w = grid
    p, q, r = patch_size
    c = tokens.shape[-1] // (p * q * r)
    u = tokens.reshape(b, f, h, w, p, q, r, c)
    return u.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(b, c, f * p, h * q, w * r)
