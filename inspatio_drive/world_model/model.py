"""The causal Wan2.1 DiT of InSpatio-World (36 input channels, block-wise K/V cache).

Module names equal the official generator's DiT (``wan/modules/causal_model.py:CausalWanModel``), so its
state dict is exactly the checkpoint's with the ``model.`` prefix removed (see :mod:`.checkpoint`).

Tensor layout: the DiT works on BCTHW latents, ``x`` = [B, in_dim, F, H, W] with
``in_dim = [noisy 16 | mask 4 | render 16]``; F, H, W must be divisible by the patch size. Any resolution
works: the token grid (and the number of tokens per latent frame) is derived from the input shape.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .attention import SelfAttentionContext
from .block import CausalWanBlock
from .config import WanDiTConfig
from .head import Head, unpatchify
from .kv_cache import KVCache
from .rope import rope_grid_freqs, rope_tables
from .timestep_embedding import sinusoidal_embedding_1d

TextKV = list[tuple[torch.Tensor, torch.Tensor]]


class CausalWanDiT(nn.Module):
    """Wan2.1 T2V DiT with InSpatio's context-pass / denoising-pass cache protocol.

    Args:
        config: sizes (:class:`WanDiTConfig`).
    """

    def __init__(self, config: WanDiTConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.patch_embedding = nn.Conv3d(c.in_dim, c.dim, kernel_size=c.patch_size, stride=c.patch_size)
        self.text_embedding = nn.Sequential(
            nn.Linear(c.text_dim, c.dim), nn.GELU(approximate="tanh"), nn.Linear(c.dim, c.dim)
        )
        self.time_embedding = nn.Sequential(nn.Linear(c.freq_dim, c.dim), nn.SiLU(), nn.Linear(c.dim, c.dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(c.dim, 6 * c.dim))
        self.blocks = nn.ModuleList(
            CausalWanBlock(c.dim, c.ffn_dim, c.num_heads, c.qk_norm, c.cross_attn_norm, c.eps)
            for _ in range(c.num_layers)
        )
        self.head = Head(c.dim, c.out_dim, c.patch_size, c.eps)
        # complex128 RoPE tables; kept out of the state dict and out of Module.to(dtype) (which would
        # drop the imaginary part), moved lazily to the device of the input.
        self._rope: dict[torch.device, torch.Tensor] = {}
        #: training only: recompute each block's activations in the backward pass (``torch.utils.checkpoint``)
        self.gradient_checkpointing = False

    # ----------------------------------------------------------------------------------------- pieces
    def rope(self, device: torch.device) -> torch.Tensor:
        """[max_positions, head_dim/2] complex128 RoPE tables on ``device``."""
        if device not in self._rope:
            c = self.config
            self._rope[device] = rope_tables(c.head_dim, c.rope_max_positions, c.rope_theta).to(device)
        return self._rope[device]

    def embed_text(self, context: torch.Tensor) -> torch.Tensor:
        """Zero-pad text-encoder embeddings to ``text_len`` rows, then apply the text MLP.

        Args:
            context: [B, Lt, text_dim] with Lt <= text_len (umT5 output, padding rows removed or zero).

        Returns:
            [B, text_len, dim]. The padding rows become ``MLP(0)`` and are attended (no mask), as in the
            official model.
        """
        c = self.config
        if context.ndim != 3 or context.shape[-1] != c.text_dim:
            raise ValueError(f"text context must be [B, L, {c.text_dim}], got {tuple(context.shape)}")
        if context.shape[1] > c.text_len:
            raise ValueError(f"text context has {context.shape[1]} rows, more than text_len={c.text_len}")
        pad = c.text_len - context.shape[1]
        if pad:
            context = torch.cat([context, context.new_zeros(context.shape[0], pad, c.text_dim)], dim=1)
        dtype = self.text_embedding[0].weight.dtype
        return self.text_embedding(context.to(dtype))

    def text_kv(self, context: torch.Tensor) -> TextKV:
        """Per-block cross-attention K/V of the text, [B, text_len, heads, head_dim] each.

        Depends only on the caption: compute once per scene and reuse for every pass and every stream.
        """
        text = self.embed_text(context)
        return [blk.cross_attn.text_kv(text) for blk in self.blocks]

    def time_embed(
        self, t: torch.Tensor | float, batch: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Timestep conditioning (one t per sample; a [B, F] input uses ``t[:, 0]``).

        Returns:
            ``e`` [B, dim] (for the head) and ``e0`` [B, 6, dim] (block modulation).
        """
        t = torch.as_tensor(t, device=device)
        if t.ndim == 0:
            t = t.expand(batch)
        elif t.ndim == 2:
            t = t[:, 0]
        dtype = self.time_embedding[0].weight.dtype
        e = self.time_embedding(sinusoidal_embedding_1d(self.config.freq_dim, t).to(dtype))
        e0 = self.time_projection(e).unflatten(1, (6, self.config.dim))
        return e, e0

    def token_grid(self, x: torch.Tensor) -> tuple[int, int, int]:
        """Token grid (F, H, W) of a BCTHW latent; raises if not divisible by the patch size."""
        sizes = x.shape[2:]
        if any(s % p for s, p in zip(sizes, self.config.patch_size)):
            raise ValueError(
                f"latent size {tuple(sizes)} (F, H, W) is not divisible by the patch size {self.config.patch_size}"
            )
        return tuple(s // p for s, p in zip(sizes, self.config.patch_size))  # type: ignore[return-value]

    # ---------------------------------------------------------------------------------------- forward
    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor | float,
        text_kv: TextKV,
        cache: KVCache | None = None,
        write_cache: bool = False,
        frame_offset: int = 0,
    ) -> torch.Tensor:
        """One DiT pass.

        Args:
            x: [B, in_dim, F, H, W] latent input (BCTHW).
            t: timestep(s): scalar, [B] or [B, F] (``[:, 0]`` is used).
            text_kv: from :meth:`text_kv` (batch B or 1).
            cache: K/V cache; None = plain bidirectional pass over ``x``.
            write_cache: True for the t = 0 context pass (writes K/V of all tokens, rows [0, L)); False for a
                denoising pass that attends to ``cache.context_len`` cached tokens plus its own.
            frame_offset: RoPE frame index of the first latent frame (0 for context, 6 for denoising).

        Returns:
            [B, out_dim, F, H, W] prediction (flow ``v`` for the distilled sampler).
        """
        if x.shape[1] != self.config.in_dim:
            raise ValueError(f"DiT input must have {self.config.in_dim} channels, got {x.shape[1]}")
        grid = self.token_grid(x)
        dtype = self.patch_embedding.weight.dtype
        tokens = self.patch_embedding(x.to(dtype)).flatten(2).transpose(1, 2)  # [B, L, dim], (f, h, w) order
        e, e0 = self.time_embed(t, x.shape[0], x.device)
        freqs = torch.view_as_real(
            rope_grid_freqs(self.rope(x.device), self.config.head_dim, grid, frame_offset)
        )
        for i, blk in enumerate(self.blocks):
            ctx = SelfAttentionContext(freqs=freqs, cache=cache, layer=i, write=write_cache)
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                tokens = checkpoint(blk, tokens, e0, text_kv[i], ctx, use_reentrant=False)
            else:
                tokens = blk(tokens, e0, text_kv[i], ctx)
        if cache is not None and write_cache:
            cache.context_len = tokens.shape[1]
        return unpatchify(self.head(tokens, e), grid, self.config.patch_size)
