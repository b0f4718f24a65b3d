"""Agreement between generated (world-model) frames and the geometric render on its valid pixels."""

from __future__ import annotations

import torch
from torch import Tensor


def render_agreement(generated: Tensor, rendered: Tensor, valid: Tensor) -> Tensor:
    """Mean absolute rgb difference on valid render pixels.

    Args:
        generated: ``[K, T, C, 3, H, W]`` generated frames (uint8, or float in [0, 1]).
        rendered: ``[K, T, C, 3, H, W]`` geometric render, same convention.
        valid: ``[K, T, C, H, W]`` (or ``[K, T, C, 1, H, W]``) render validity mask.

    Returns:
        ``[K]`` mean absolute error in [0, 1] (rgb scaled to [0, 1]); NaN where no pixel is valid.
    """
    generated, rendered, valid = torch.as_tensor(generated), torch.as_tensor(rendered), torch.as_tensor(valid)
    if valid.ndim == 6 and valid.shape[3] == 1:
        valid = valid.squeeze(3)
    if generated.ndim != 6 or generated.shape != rendered.shape or generated.shape[3] != 3:
        raise ValueError(
            f"generated/rendered: expected equal shapes [K, T, C, 3, H, W], got {tuple(generated.shape)}, {tuple(rendered.shape)}"
        )
    K, T, C, _, H, W = generated.shape
    if valid.shape != (K, T, C, H, W):
        raise ValueError(f"valid: expected [{K}, {T}, {C}, {H}, {W}], got {tuple(valid.shape)}")

    def unit(x: Tensor) -> Tensor:
        return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()

    diff = (unit(generated) - unit(rendered)).abs().mean(dim=3)  # [K, T, C, H, W]
    m = valid.bool()
    n = m.flatten(1).sum(1).double()
    total = (diff * m).flatten(1).sum(1).double()
    return torch.where(n > 0, total / n.clamp_min(1), torch.full_like(n, float("nan")))
