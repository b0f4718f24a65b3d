"""3-D rotary position embedding of the Wan DiT with InSpatio's frame-index anchoring.

Each head of width ``d`` holds ``c = d/2`` complex pairs made of *adjacent* channels (2i, 2i+1). They are
split into a temporal part of ``c - 2·(c//3)`` pairs and height / width parts of ``c//3`` pairs each
(22/21/21 for head_dim 128). Every part has its own table ``θ^(-2j/d_sub)`` (θ = 10000) over
``max_positions`` integer positions. The rotation is applied in float64, as in the official code.

Positions of a token at (frame f, row h, col w) are ``(f + frame_offset, h, w)``. InSpatio anchors the
frame index every block: context tokens use 0..F_ctx-1 (reference 0-2, previous block 3-5), the block being
denoised always uses 6, 7, 8 (also in block 0, whose context only has 0-2).
"""

from __future__ import annotations

import torch


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """Number of complex pairs for (time, height, width) in a head of width ``head_dim``."""
    pairs = head_dim // 2
    spatial = pairs // 3
    return pairs - 2 * spatial, spatial, spatial


def rope_table(max_positions: int, pairs: int, theta: float = 10000.0) -> torch.Tensor:
    """Complex rotation table [max_positions, pairs] (complex128) with ``freq_j = θ^(-2j/(2·pairs))``."""
    d_sub = 2 * pairs
    inv = 1.0 / torch.pow(theta, torch.arange(0, d_sub, 2, dtype=torch.float64) / d_sub)
    angles = torch.outer(torch.arange(max_positions, dtype=torch.float64), inv)
    return torch.polar(torch.ones_like(angles), angles)


def rope_tables(head_dim: int, max_positions: int = 1024, theta: float = 10000.0) -> torch.Tensor:
    """Concatenated (time | height | width) tables, [max_positions, head_dim/2] complex128."""
    return torch.cat([rope_table(max_positions, p, theta) for p in rope_split(head_dim)], dim=1)


def rope_grid_freqs(
    tables: torch.Tensor, head_dim: int, grid: tuple[int, int, int], frame_offset: int = 0
) -> torch.Tensor:
    """Per-token rotations for a token grid in (frame, row, col) order.

    Args:
        tables: output of :func:`rope_tables`, [P, head_dim/2] complex.
        head_dim: width of one head.
        grid: (F, H, W) token grid (after patching).
        frame_offset: added to the frame index (0 for a context pass, 6 for a denoising pass).

    Returns:
        [F·H·W, head_dim/2] complex128.
    """
    f, h, w = grid
    ct, ch, cw = rope_split(head_dim)
    if frame_offset + f > tables.shape[0] or max(h, w) > tables.shape[0]:
        raise ValueError(
            f"token grid {grid} with frame offset {frame_offset} exceeds {tables.shape[0]} RoPE positions"
        )
    t_tab, h_tab, w_tab = tables.split([ct, ch, cw], dim=1)
    parts = (
        t_tab[frame_offset : frame_offset + f].view(f, 1, 1, ct).expand(f, h, w, ct),
        h_tab[:h].view(1, h, 1, ch).expand(f, h, w, ch),
        w_tab[:w].view(1, 1, w, cw).expand(f, h, w, cw),
    )
    return torch.cat(parts, dim=-1).reshape(f * h * w, ct + ch + cw)


def apply_rope(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent channel pairs ``(x_2i, x_2i+1)`` by the angles of ``freqs``.

    Args:
        x: [B, L, heads, head_dim] queries or keys.
        freqs: [L, head_dim/2] complex rotations (from :func:`rope_grid_freqs`), or the same as real
            [L, head_dim/2, 2] (cos, sin) pairs (``torch.view_as_real``), which keeps complex ops out of
            compiled graphs.

    Returns:
        [B, L, heads, head_dim] in the dtype of ``x`` (rotation done in float64).
    """
    b, length, n, d = x.shape
    cs = torch.view_as_real(freqs) if freqs.is_complex() else freqs
    cos, sin = cs[..., 0].view(1, length, 1, d // 2), cs[..., 1].view(1, length, 1, d // 2)
    pairs = x.to(torch.float64).reshape(b, length, n, d // 2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    out = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
    return out.reshape(b, length, n, d).to(x.dtype)
