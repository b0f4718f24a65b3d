"""Self- and cross-attention of the causal Wan block (state-dict names ``q, k, v, o, norm_q, norm_k``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .kv_cache import KVCache
from .norms import RMSNorm
from .rope import apply_rope


def full_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Unmasked ``softmax(q kᵀ/√d) v``.

    Args:
        q: [B, Lq, heads, d]; k, v: [B, Lk, heads, d], or [1, Lk, heads, d] shared by all B queries (then
            the B query sets are folded into one sequence, which is exact: attention rows are independent).

    Returns:
        [B, Lq, heads, d].
    """
    b, lq = q.shape[:2]
    if k.shape[0] != b:
        if k.shape[0] != 1:
            raise ValueError(f"keys batch {k.shape[0]} must be 1 or the query batch {b}")
        q = q.reshape(1, b * lq, *q.shape[2:])
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2)
    return out.reshape(b, lq, *out.shape[2:])


@dataclass
class SelfAttentionContext:
    """How a self-attention call uses the cache.

    Attributes:
        freqs: [L, head_dim/2, 2] float64 (cos, sin) RoPE rotations of the current tokens.
        cache: K/V cache, or None for a plain bidirectional pass.
        layer: index of this block in the cache.
        write: True for the t = 0 context pass (write K/V, attend within the context only); False for a
            denoising pass (attend to cached context + own tokens, write nothing that persists).
    """

    freqs: torch.Tensor
    cache: KVCache | None = None
    layer: int = 0
    write: bool = False


class SelfAttention(nn.Module):
    """Multi-head self-attention with qk RMSNorm over the full width, 3-D RoPE and the InSpatio K/V cache."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)
        self.norm_q = RMSNorm(dim, eps) if qk_norm else nn.Identity()
        self.norm_k = RMSNorm(dim, eps) if qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor, ctx: SelfAttentionContext) -> torch.Tensor:
        """x: [B, L, dim] -> [B, L, dim]."""
        b, length, _ = x.shape
        shape = (b, length, self.num_heads, self.head_dim)
        q = apply_rope(self.norm_q(self.q(x)).view(shape), ctx.freqs)
        k = apply_rope(self.norm_k(self.k(x)).view(shape), ctx.freqs)
        v = self.v(x).view(shape)
        if ctx.cache is not None:
            if ctx.write:
                ctx.cache.write_context(ctx.layer, k, v)
            else:
                k, v = ctx.cache.attend_window(ctx.layer, k, v)
        out = full_attention(q, k.to(q.dtype), v.to(q.dtype))
        return self.o(out.flatten(2))


class CrossAttention(nn.Module):
    """Text cross-attention (Wan T2V): qk RMSNorm, no RoPE, no mask over the padded text."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)
        self.norm_q = RMSNorm(dim, eps) if qk_norm else nn.Identity()
        self.norm_k = RMSNorm(dim, eps) if qk_norm else nn.Identity()

    def text_kv(self, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys/values of the embedded text [B, Lt, dim] -> two [B, Lt, heads, head_dim].

        They depend only on the text, so a rollout computes them once and reuses them for every pass.
        """
        b, length, _ = text.shape
        shape = (b, length, self.num_heads, self.head_dim)
        return self.norm_k(self.k(text)).view(shape), self.v(text).view(shape)

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """x: [B, L, dim]; kv from :meth:`text_kv` (batch B or 1) -> [B, L, dim]."""
        b, length, _ = x.shape
        q = self.norm_q(self.q(x)).view(b, length, self.num_heads, self.head_dim)
        return self.o(full_attention(q, *kv).flatten(2))
