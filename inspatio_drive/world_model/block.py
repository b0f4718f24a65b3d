"""One causal Wan transformer block: AdaLN-modulated self-attention, text cross-attention, FFN."""

from __future__ import annotations

import torch
from torch import nn

from .attention import CrossAttention, SelfAttention, SelfAttentionContext
from .norms import FP32LayerNorm


class CausalWanBlock(nn.Module):
    """State-dict names: ``modulation [1,6,dim]``, ``self_attn.*``, ``norm3.*`` (affine, cross-attn pre-norm),
    ``cross_attn.*``, ``ffn.0`` / ``ffn.2``. ``norm1`` / ``norm2`` have no parameters.

    With ``m = modulation + e0`` split into (shift1, scale1, gate1, shift2, scale2, gate2)::

        x += gate1 · SelfAttn(LN(x)·(1+scale1) + shift1)
        x += CrossAttn(LN_affine(x), text)            # no gate
        x += gate2 · FFN(LN(x)·(1+scale2) + shift2)   # FFN = Linear → GELU(tanh) → Linear
    """

    def __init__(
        self, dim: int, ffn_dim: int, num_heads: int, qk_norm: bool, cross_attn_norm: bool, eps: float
    ) -> None:
        super().__init__()
        self.norm1 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.self_attn = SelfAttention(dim, num_heads, qk_norm, eps)
        self.norm3 = FP32LayerNorm(dim, eps, elementwise_affine=True) if cross_attn_norm else nn.Identity()
        self.cross_attn = CrossAttention(dim, num_heads, qk_norm, eps)
        self.norm2 = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(ffn_dim, dim)
        )
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)

    def forward(
        self,
        x: torch.Tensor,
        e0: torch.Tensor,
        text_kv: tuple[torch.Tensor, torch.Tensor],
        attn_ctx: SelfAttentionContext,
    ) -> torch.Tensor:
        """
        Args:
            x: [B, L, dim] tokens.
            e0: [B or 1, 6, dim] projected timestep embedding.
            text_kv: this block's cross-attention K/V (see :meth:`CrossAttention.text_kv`).
            attn_ctx: RoPE rotations and cache mode.

        Returns:
            [B, L, dim].
        """
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.modulation + e0).unbind(dim=1)
        h = self.norm1(x) * (1 + scale1[:, None]) + shift1[:, None]
        x = x + self.self_attn(h, attn_ctx) * gate1[:, None]
        x = x + self.cross_attn(self.norm3(x), text_kv)
        h = self.norm2(x) * (1 + scale2[:, None]) + shift2[:, None]
        return x + self.ffn(h) * gate2[:, None]
