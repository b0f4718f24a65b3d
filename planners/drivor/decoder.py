"""DrivoR's transformer decoder blocks (``transformer_decoder.py``), same parameter names.

Each ``Block`` (pre-norm, LayerNorm eps 1e-5) does
``x += SA(LN(x)); x += CA(LN_q(x), LN_kv(ctx)); x += MLP(LN(x))`` with ``nn.MultiheadAttention``
(batch-first, packed ``in_proj_weight`` [q; k; v], biases), a GELU MLP, and no LayerScale in the released
config (``refiner_ls_values 0``). Dropout / drop-path act only in training and are not modelled (eval port).
"""

from __future__ import annotations

import torch
from torch import nn


class AttentionWrapper(nn.Module):
    """Holds ``attn`` = ``nn.MultiheadAttention`` (key names ``*.attn.in_proj_weight`` …)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)

    def forward(self, q: torch.Tensor, kv: torch.Tensor | None = None) -> torch.Tensor:
        kv = q if kv is None else kv
        return self.attn(q, kv, kv, need_weights=False)[0]


class DecoderMlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DecoderBlock(nn.Module):
    """Self-attention, cross-attention to ``context``, MLP; each pre-normed with its own LayerNorm."""

    def __init__(self, dim: int, num_heads: int = 1, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.self_attn_norm = nn.LayerNorm(dim)
        self.self_attn = AttentionWrapper(dim, num_heads)
        self.cross_attn_norm_kv = nn.LayerNorm(dim)
        self.cross_attn_norm_q = nn.LayerNorm(dim)
        self.cross_attn = AttentionWrapper(dim, num_heads)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = DecoderMlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``x [B, Q, D]``, ``context [B, S, D]`` -> ``[B, Q, D]``."""
        x = x + self.self_attn(self.self_attn_norm(x))
        x = x + self.cross_attn(self.cross_attn_norm_q(x), self.cross_attn_norm_kv(context))
        return x + self.mlp(self.mlp_norm(x))


class TransformerDecoder(nn.Module):
    """A stack of :class:`DecoderBlock` under ``layers.{i}``; returns every layer's output ``[L, B, Q, D]``."""

    def __init__(self, num_layers: int, dim: int, num_heads: int = 1) -> None:
        super().__init__()
        self.layers = nn.ModuleList([DecoderBlock(dim, num_heads) for _ in range(num_layers)])

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        outs = []
        for layer in self.layers:
            x = layer(x, context)
            outs.append(x)
        return torch.stack(outs)
