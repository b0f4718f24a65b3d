"""A differentiable stand-in for the rollout's K/V cache, used by teacher-forced training.

The inference :class:`~inspatio_drive.world_model.kv_cache.KVCache` writes K/V into preallocated buffers in place.
That is right for a rollout but not for autograd (a buffer reused by later passes) or gradient checkpointing (the
recomputation writes again). :class:`ConcatKVCache` keeps the same protocol — the context pass stores its K/V,
a denoising pass attends to ``cat(context, own)`` in that key order — without in-place writes, so the model's
own attention code path (:class:`~inspatio_drive.world_model.attention.SelfAttention`) runs unchanged and the
keys it attends to are exactly those of the rollout.
"""

from __future__ import annotations

import torch

from ..kv_cache import KVCache


class ConcatKVCache(KVCache):
    """Per-layer context K/V held as tensors (may carry gradients); one context pass, then denoising passes.

    Args:
        num_layers: transformer blocks of the DiT.
    """

    def __init__(self, num_layers: int) -> None:
        self.k: list[torch.Tensor | None] = [None] * num_layers  # type: ignore[assignment]
        self.v: list[torch.Tensor | None] = [None] * num_layers  # type: ignore[assignment]
        self.context_len = 0
        self.capacity = 0
        self.active = 0

    @property
    def allocated_batch(self) -> int:
        return 0 if self.k[0] is None else self.k[0].shape[0]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.k, *self.v) if t is not None)

    def write_context(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Keep the context K/V [B, L, heads, head_dim] of ``layer``."""
        self.k[layer], self.v[layer] = k, v
        self.active = k.shape[0]

    def attend_window(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(keys, values) [B, context_len + L, heads, head_dim]: the context first, then the own tokens."""
        ck, cv = self.k[layer], self.v[layer]
        if ck is None or cv is None:
            raise RuntimeError("ConcatKVCache: run the context pass (write_cache=True) before denoising")
        b = k.shape[0]
        return torch.cat([ck.expand(b, -1, -1, -1), k], dim=1), torch.cat([cv.expand(b, -1, -1, -1), v], dim=1)
