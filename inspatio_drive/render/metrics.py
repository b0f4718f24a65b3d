"""Image metrics restricted to valid pixels (torch, batched).

``masked_psnr`` and ``masked_ssim`` compare a rendered view with a reference only where the render has
content: SSIM's local statistics use a Gaussian window re-normalised over the valid pixels inside it
(normalised convolution), so holes neither count as errors nor borrow reference pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _as_float_images(x: torch.Tensor) -> torch.Tensor:
    """uint8 or float ``[..., H, W, 3]`` → float64 in [0, 1]."""
    x = x.to(torch.float64)
    return x / 255.0 if x.amax() > 1.5 else x


def masked_psnr(pred: torch.Tensor, ref: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) over valid pixels.

    Args:
        pred, ref: ``[..., H, W, 3]`` uint8 (or float in [0, 1]); valid: bool ``[..., H, W]``.

    Returns:
        float64 ``[...]`` (NaN where a view has no valid pixel).
    """
    p, r = _as_float_images(pred), _as_float_images(ref)
    err = ((p - r) ** 2).mean(-1) * valid
    n = valid.sum((-1, -2))
    mse = err.sum((-1, -2)) / n.clamp(min=1)
    out = 10.0 * torch.log10(1.0 / mse.clamp(min=1e-12))
    return torch.where(n > 0, out, torch.full_like(out, float("nan")))


def _gaussian(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def masked_ssim(
    pred: torch.Tensor, ref: torch.Tensor, valid: torch.Tensor, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Mean SSIM (luma, Wang et al. 2004 constants) over valid pixels, with masked local statistics.

    Args:
        pred, ref: ``[..., H, W, 3]``; valid: bool ``[..., H, W]``.

    Returns:
        float64 ``[...]`` (NaN where a view has no valid pixel).
    """
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64, device=pred.device)
    batch = valid.shape[:-2]
    h, w = valid.shape[-2:]
    p = (_as_float_images(pred) @ weights).reshape(-1, 1, h, w)
    r = (_as_float_images(ref) @ weights).reshape(-1, 1, h, w)
    m = valid.reshape(-1, 1, h, w).to(torch.float64)
    g = _gaussian(window, sigma).to(p.device)
    pad = window // 2

    def conv(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, g, padding=pad)

    wsum = conv(m).clamp(min=1e-8)
    mu_p, mu_r = conv(p * m) / wsum, conv(r * m) / wsum
    var_p = conv(p * p * m) / wsum - mu_p**2
    var_r = conv(r * r * m) / wsum - mu_r**2
    cov = conv(p * r * m) / wsum - mu_p * mu_r
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mu_p * mu_r + c1) * (2 * cov + c2)) / ((mu_p**2 + mu_r**2 + c1) * (var_p + var_r + c2))
    n = m.sum((-1, -2, -3))
    out = (ssim * m).sum((-1, -2, -3)) / n.clamp(min=1)
    out = torch.where(n > 0, out, torch.full_like(out, float("nan")))
    return out.reshape(batch)


def coverage(valid: torch.Tensor) -> torch.Tensor:
    """Fraction of valid pixels per view ``[...]`` from ``valid`` ``[..., H, W]``."""
    return valid.to(torch.float64).mean((-1, -2))
