"""Per-layer self-attention K/V buffers of the block-wise rollout.

Layout per layer: ``k``/``v`` [B, capacity, heads, head_dim]. A t = 0 context pass writes the context tokens
(post-RMSNorm, post-RoPE K and raw V) to rows ``[0, context_len)``. A denoising pass writes its own K/V right
after them, rows ``[context_len, context_len + L)``, and attends to rows ``[0, context_len + L)``. This equals
the official ``cat(cache[0:kv_size], own)`` (same key order) without concatenating on every step. The
context rows are rebuilt every block; nothing accumulates across blocks (official semantics).
"""

from __future__ import annotations

import torch


class KVCache:
    """Self-attention cache for all layers of one batch of streams.

    Args:
        num_layers: transformer blocks.
        batch: number of streams B.
        capacity: token rows per layer (max context tokens + tokens of one denoised block).
        heads, head_dim: attention geometry.
        dtype, device: storage.
    """

    def __init__(
        self,
        num_layers: int,
        batch: int,
        capacity: int,
        heads: int,
        head_dim: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        shape = (batch, capacity, heads, head_dim)
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.context_len = 0
        self.capacity = capacity
        self.active = batch

    @property
    def batch(self) -> int:
        """Number of streams currently using the cache (rows ``[0, active)`` of the allocated batch)."""
        return self.active

    @property
    def allocated_batch(self) -> int:
        return self.k[0].shape[0]

    def set_active(self, batch: int) -> None:
        """Use the first ``batch`` rows (a smaller last chunk of streams reuses the same buffers)."""
        if not 1 <= batch <= self.allocated_batch:
            raise ValueError(f"cache allocated for {self.allocated_batch} streams, asked for {batch}")
        self.active = batch

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.k, *self.v))

    def write_context(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store context K/V [B or 1, L, heads, head_dim] in rows [0, L); a batch of 1 is broadcast."""
        length = k.shape[1]
        if length > self.capacity:
            raise ValueError(f"context of {length} tokens exceeds the cache capacity {self.capacity}")
        n = self.active
        self.k[layer][:n, :length].copy_(k.expand(n, -1, -1, -1))
        self.v[layer][:n, :length].copy_(v.expand(n, -1, -1, -1))

    def attend_window(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Place a denoising pass's own K/V after the context and return the K/V it attends to.

        Args:
            k, v: [B, L, heads, head_dim] of the current (noisy) tokens.

        Returns:
            (keys, values), each [B, context_len + L, heads, head_dim] (context first, then own tokens).
        """
        start, stop = self.context_len, self.context_len + k.shape[1]
        if stop > self.capacity:
            raise ValueError(f"{stop} tokens exceed the cache capacity {self.capacity}")
        n = self.active
        if k.shape[0] != n:
            raise ValueError(f"denoising batch {k.shape[0]} != {n} streams using the cache")
        self.k[layer][:n, start:stop].copy_(k)
        self.v[layer][:n, start:stop].copy_(v)
        return self.k[layer][:n, :stop], self.v[layer][:n, :stop]
